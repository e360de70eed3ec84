"""A trial that fails on purpose, for the search's own tests: pass
``functools.partial(faulty_trial, faults={1: "raise", 2: "nan"})`` as ``run_search(trainable=...)``."""
from __future__ import annotations

from typing import Any
from unittest import mock

from torch import nn

from ..tune import trial


class _NanOutput(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x) * float("nan")


def faulty_trial(config: dict[str, Any], splits=None, faults: dict[int, str] | None = None, report=None):
    """``run_trial``, except that proposal ids in ``faults`` fail: ``"raise"`` raises inside the
    worker, ``"nan"`` trains a network whose every output is NaN."""
    fault = (faults or {}).get(int(config["proposal"]))
    if fault == "raise":
        raise RuntimeError(f"injected fault in proposal {config['proposal']}")
    if fault != "nan":
        return trial.run_trial(config, splits, report)
    real = trial.build_trial_model

    def nan_model(arch, splits):
        model, size = real(arch, splits)
        return _NanOutput(model), size

    with mock.patch.object(trial, "build_trial_model", nan_model):
        return trial.run_trial(config, splits, report)
