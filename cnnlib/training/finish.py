"""How long the end of a budgeted run takes, measured on the run's own model before training.

After the last epoch a run calibrates on the validation split, fits its familiarity score
(a bank of training images and the validation split again) and evaluates the test split,
every image through each test-time view. A time budget keeps those seconds back so the whole
command ends on time. They are estimated from the forward rate of the model being trained,
timed here on a few validation images: the rate differs by model (236 against 40 MFLOPs),
machine, precision and device, so a constant per FLOP kept back 283 s for a 60-minute
airbench run whose finish took 164.5 s (docs/BENCHMARKS.md, issue 11).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlib.training import clock

#: Images the probe runs through the model: once to trace (the epochs' validation reuses
#: that trace), once timed. 512 takes 0.2-0.7 s on 2 CPU cores.
PROBE_IMAGES = 512


def finish_images(val_count: int, train_count: int, test_count: int, views: int) -> int:
    """View-images the finish runs: validation twice, the familiarity bank, the test split.

    Args:
        val_count: Validation images.
        train_count: Training images (the bank samples at most ``cnnlib.ood.BANK_SIZE``).
        test_count: Test images.
        views: Test-time views per image.
    """
    from cnnlib.ood import BANK_SIZE

    return (2 * val_count + min(BANK_SIZE, train_count) + test_count) * max(1, views)


def forward_images_per_second(model: Any, images: np.ndarray) -> float:
    """Images per second of ``model``'s compiled inference pass on up to ``PROBE_IMAGES`` of ``images``.

    Args:
        model: A Keras classifier taking raw pixels (``cnnlib.predict.predict_probabilities``).
        images: At least one image of the model's input shape.
    """
    from cnnlib.predict import predict_probabilities

    sample = np.asarray(images[:PROBE_IMAGES])
    predict_probabilities(model, sample)  # trace and warm up
    begin = clock.now()
    predict_probabilities(model, sample)
    return len(sample) / max(1e-6, clock.now() - begin)


def float32_twin(model: Any, model_config: Any) -> Any:
    """The model the finish will run: ``model`` itself in float32, else a float32 build of it.

    The finish evaluates the saved float32 model (``trainer._finalize_model``), so a run trained
    in mixed precision is timed on a float32 build of the same layout (its weights do not
    change the time).
    """
    import keras

    policy = keras.mixed_precision.global_policy()
    if policy.name == "float32":
        return model
    from cnnlib.models import build_model

    keras.mixed_precision.set_global_policy("float32")
    try:
        return build_model(model_config)
    finally:
        keras.mixed_precision.set_global_policy(policy)
