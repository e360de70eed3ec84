"""Training: datasets (``nas.train.data``), settings and presets, the one trainer, and final
training of an architecture from scratch.

>>> from nas.train import TrainConfig, train, data
>>> result = train(model, data.load("digits"), TrainConfig(epochs=3))  # doctest: +SKIP
"""
from . import data
from .augment import random_crop_flip
from .config import AUGMENTS, PRESETS, SCHEDULES, TrainConfig, preset
from .final import example_batch, train_final, training_meta
from .schedule import Plateau, lr_at, plateau_update
from .trainer import StopTrial, TrainResult, chance_warning, evaluate, resolve_device, train

__all__ = ["AUGMENTS", "PRESETS", "SCHEDULES", "Plateau", "StopTrial", "TrainConfig", "TrainResult",
           "chance_warning", "data", "evaluate", "example_batch", "lr_at", "plateau_update", "preset",
           "random_crop_flip", "resolve_device", "train", "train_final", "training_meta"]
