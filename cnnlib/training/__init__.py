"""Training: configs, schedules, callbacks and the trainer that fills a run directory."""

from cnnlib.training.config import AUGMENTATIONS, OPTIMIZERS, SCHEDULES, TrainConfig
from cnnlib.training.trainer import TrainResult, resume, train

__all__ = ["AUGMENTATIONS", "OPTIMIZERS", "SCHEDULES", "TrainConfig", "TrainResult", "resume", "train"]
