"""Training: configs, schedules, callbacks and the trainer that fills a run directory."""

from cnnlib.training.config import AUGMENTATIONS, OPTIMIZERS, SCHEDULES, TrainConfig
from cnnlib.training.launcher import Job, get_job, launch_training, list_jobs
from cnnlib.training.request import TrainRequest, resolve_defaults, validate_request
from cnnlib.training.trainer import TrainResult, resume, train, train_request

__all__ = ["Job", "get_job", "launch_training", "list_jobs", "AUGMENTATIONS", "OPTIMIZERS", "SCHEDULES", "TrainConfig", "TrainResult", "resume", "train",
           "TrainRequest", "resolve_defaults", "validate_request", "train_request"]
