"""Loading image datasets: built-in sources, image folders and zips.

Importing this package is cheap: TensorFlow, Keras and scikit-learn are
imported only by the functions that need them.
"""

from cnnlib.data.config import SOURCES_BUILTIN, DataConfig, Dataset, Split
from cnnlib.data.decode import Decoded, decode_files
from cnnlib.data.folder import scan_image_folder
from cnnlib.data.loader import load_dataset
from cnnlib.data.pipeline import AUGMENTATIONS, make_tf_dataset
from cnnlib.data.summary import summarize
from cnnlib.data.zipfile_safe import safe_extract_zip

__all__ = [
    "AUGMENTATIONS",
    "SOURCES_BUILTIN",
    "DataConfig",
    "Dataset",
    "Decoded",
    "Split",
    "decode_files",
    "load_dataset",
    "make_tf_dataset",
    "safe_extract_zip",
    "scan_image_folder",
    "summarize",
]
