"""The device training would use, found without importing TensorFlow (which takes seconds)."""

from __future__ import annotations

import os
import shutil
import subprocess


def describe_device() -> str:
    """``"GPU: NVIDIA ..."`` when ``nvidia-smi`` lists a GPU, else ``"CPU (N cores)"``."""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=3, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        gpus = [line.split("(")[0].strip() for line in out.splitlines() if line.startswith("GPU")]
        if gpus:
            return "GPU: " + "; ".join(gpus)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU ({cores} cores, no GPU found)"
