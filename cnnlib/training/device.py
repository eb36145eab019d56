"""Device detection and the distribution strategy.

Training must use a GPU when there is one with no code change, and just work
on a CPU. On GPU, mixed float16 roughly doubles throughput on tensor cores,
so it is the default there; on a CPU with bfloat16 units mixed bfloat16 is the default,
and on other CPUs, which emulate it, precision stays float32.
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


#: CPU flags whose bfloat16 units make mixed_bfloat16 training faster than float32.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX-512 BF16 or AMX)."""
    return bool(cpu_flags() & set(BF16_FLAGS))


def configure_precision(mode: str, device: DeviceInfo) -> str:
    """Set the global Keras dtype policy; returns the policy name used.

    "auto" picks mixed_float16 on a GPU, mixed_bfloat16 on a CPU with bfloat16 units
    (``BF16_FLAGS``: cifar_fast trained 1.48x and simple_cnn 1.63x faster per image on such
    a Xeon, docs/BENCHMARKS.md) and float32 on other CPUs, where bfloat16 is emulated and
    was measured 17-30x slower.

    Args:
        mode: "auto", "mixed" or "off".
        device: from ``detect_devices``.
    """
    import keras

    policy = "float32"
    if mode == "mixed" or (mode == "auto" and (device.kind == "GPU" or cpu_has_bf16())):
        policy = "mixed_float16" if device.kind == "GPU" else "mixed_bfloat16"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def make_strategy(device: DeviceInfo) -> Any:
    """``MirroredStrategy`` over several GPUs, else the default strategy."""
    import tensorflow as tf

    if len(device.gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
