"""Entry point for ``python -m cnnlib``."""

import sys

from cnnlib.cli import main

if __name__ == "__main__":
    sys.exit(main())
