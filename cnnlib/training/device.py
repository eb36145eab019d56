"""Device detection and the distribution strategy.

Training must use a GPU when there is one with no code change, and just work
on a CPU. On GPU, mixed float16 roughly doubles throughput on tensor cores,
so it is the default there; on CPU it only slows things down, so it is off.
The model builders keep the softmax in float32 (``dtype="float32"`` on the
``predictions`` layer) so mixed precision does not hurt the loss.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DeviceInfo:
    """What training will run on."""

    kind: str  # "GPU" or "CPU"
    gpus: tuple[str, ...]
    cpu: str
    cores: int

    def describe(self) -> str:
        if self.gpus:
            return f"{len(self.gpus)} GPU(s): {', '.join(self.gpus)}"
        return f"CPU: {self.cpu} ({self.cores} cores)"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (falls back to platform)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def detect_devices() -> DeviceInfo:
    """List the GPUs TensorFlow sees (imports TensorFlow)."""
    import tensorflow as tf

    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(device)
            gpus.append(str(details.get("device_name") or device.name))
        except (RuntimeError, ValueError):
            gpus.append(device.name)
    return DeviceInfo(kind="GPU" if gpus else "CPU", gpus=tuple(gpus), cpu=cpu_model(), cores=os.cpu_count() or 1)


def configure_precision(mode: str, device: DeviceInfo) -> str:
    """Set the global Keras dtype policy; returns the policy name used.

    Args:
        mode: "auto" (mixed_float16 on GPU, float32 on CPU), "mixed" or "off".
        device: from ``detect_devices``.
    """
    import keras

    policy = "float32"
    if mode == "mixed" or (mode == "auto" and device.kind == "GPU"):
        policy = "mixed_float16" if device.kind == "GPU" else "mixed_bfloat16"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def make_strategy(device: DeviceInfo) -> Any:
    """``MirroredStrategy`` over several GPUs, else the default strategy."""
    import tensorflow as tf

    if len(device.gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
