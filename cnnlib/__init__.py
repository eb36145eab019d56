"""cnnlib: build, train, evaluate, explain, export and compare CNN image classifiers.

Importing the package is cheap on purpose: TensorFlow is imported only by the
modules that need it, so the CLI's help and the app's pages that need no model
start fast.
"""

__version__ = "0.1.0"
