"""cnnlib.data: sources, folders, zips, splits and the tf.data pipeline."""

from __future__ import annotations

import numpy as np

from cnnlib.data import DataConfig, load_dataset


def test_digits_loads_with_stratified_split() -> None:
    dataset = load_dataset(DataConfig("digits"))
    assert dataset.image_size == (8, 8) and dataset.channels == 1
    assert sum(len(dataset.split(name)) for name in ("train", "val", "test")) == 1797
    assert dataset.train.images.dtype == np.uint8 and dataset.train.labels.dtype == np.int64
