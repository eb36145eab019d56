"""Keep native libraries' chatter off the console, unless something fails.

TensorFlow's C++ start-up lines and the TFLite converter's dumps (every TensorSpec of the
exported signature, the quantizer's settings) are written below Python, straight to file
descriptors 1 and 2, so neither ``TF_CPP_MIN_LOG_LEVEL`` nor ``contextlib.redirect_stdout``
hides them. Inside ``native_output_captured`` both descriptors point at a temporary file;
if the body raises, what was captured is written to stderr after all, so a failure still
shows its cause.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def native_output_captured() -> Iterator[None]:
    """Send file descriptors 1 and 2 to a temporary file for the body; replay it on error."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile() as captured:
        for fd in saved:
            os.dup2(captured.fileno(), fd)
        failed = False
        printed = io.StringIO()  # Python-level prints (Keras' export lists its endpoints) too
        try:
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            if failed:
                captured.seek(0)
                sys.stderr.write(captured.read().decode("utf-8", "replace") + printed.getvalue())
