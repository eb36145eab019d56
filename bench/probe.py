"""``python -m bench.probe ARCH BATCH STEPS PRECISION``: one training-throughput figure as JSON.

Used by ``bench onednn``, which needs a fresh process per setting.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    import numpy as np

    from bench.throughput import _cached_dataset, _compiled_model, _images_per_second
    from cnnlib.data import Split

    arch, batch, steps, precision = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rng = np.random.default_rng(0)
    split = Split(
        images=rng.integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8),
        labels=rng.integers(0, 10, batch).astype(np.int64),
        ids=[],
    )
    model = _compiled_model(arch, precision, (32, 32, 3), 10)

    def factory():  # type: ignore[no-untyped-def]
        return _cached_dataset(split, batch, 10)

    _images_per_second(model, factory, 2, batch)
    img_s = _images_per_second(model, factory, steps, batch)
    print(json.dumps({"arch": arch, "batch": batch, "precision": precision, "img_s": img_s}))


if __name__ == "__main__":
    main()
