"""Learning-rate schedules as pure functions: warmup then cosine / step / plateau / constant."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .config import TrainConfig


def lr_at(config: TrainConfig, epoch: int, step: int, steps_per_epoch: int, plateau_scale: float = 1.0) -> float:
    """Learning rate for 0-based ``epoch`` and ``step`` within it. Pure; tested by value.

    Linear warmup over the first ``warmup_epochs`` (per step), then the schedule. Cosine runs
    per step over the remaining epochs and reaches 0 only after the last step.
    """
    warmup_steps = config.warmup_epochs * steps_per_epoch
    t = epoch * steps_per_epoch + step
    if t < warmup_steps:
        return config.lr * (t + 1) / warmup_steps
    if config.schedule == "cosine":
        total = (config.epochs - config.warmup_epochs) * steps_per_epoch
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * (t - warmup_steps) / total))
    if config.schedule == "step":
        return config.lr * config.gamma ** sum(m <= epoch for m in config.milestones)
    if config.schedule == "plateau":
        return config.lr * plateau_scale
    return config.lr


@dataclass(frozen=True)
class Plateau:
    """State of the plateau rule: best metric so far, epochs since, current lr multiplier."""

    best: float = math.inf
    bad_epochs: int = 0
    scale: float = 1.0


def plateau_update(
    state: Plateau, metric: float, *, factor: float, patience: int, threshold: float = 1e-4
) -> Plateau:
    """One epoch of torch's ReduceLROnPlateau (mode "min", threshold_mode "rel", cooldown 0).

    A metric counts as better when below ``best * (1 - threshold)``; after more than
    ``patience`` epochs without that, the scale is multiplied by ``factor``.
    """
    if metric < state.best * (1.0 - threshold):
        return Plateau(metric, 0, state.scale)
    if state.bad_epochs + 1 > patience:
        return Plateau(state.best, 0, state.scale * factor)
    return Plateau(state.best, state.bad_epochs + 1, state.scale)
