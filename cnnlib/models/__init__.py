"""Model configs, the architecture registry, and tools to measure and inspect models.

Importing this package does not import TensorFlow; ``build_model`` and the
measuring functions import Keras when called. Models use only built-in Keras layers,
so a saved ``.keras`` file loads with plain ``keras.saving.load_model(path)`` and
needs no ``import cnnlib.models`` first.
"""

from cnnlib.models.config import ModelConfig
from cnnlib.models.factory import build_model
from cnnlib.models.flops import count_flops, count_params
from cnnlib.models.introspect import layer_table
from cnnlib.models.registry import ARCHITECTURES, ArchSpec, list_architectures

__all__ = [
    "ARCHITECTURES",
    "ArchSpec",
    "ModelConfig",
    "build_model",
    "count_flops",
    "count_params",
    "layer_table",
    "list_architectures",
]
