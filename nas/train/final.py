"""Final training, shared by ``nas export`` and ``nas train``: a network built from scratch and
trained on the train split only, the validation split held out (so val accuracy is
comparable with the search's), test accuracy measured once at the end. Many NAS papers
retrain on train + val (e.g. DARTS, Liu et al. 2019, Sec. 3.3); keeping val out measures
search results, exports and hand-designed baselines the same way.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

from ..errors import NasError
from ..nn import build
from .trainer import train

# ---------------------------------------------------------------------------------------


def train_final(arch: str, splits, config, *, on_epoch: Callable | None = None):
    """Build ``arch`` from scratch (initialized with ``config.seed``) and train it on the train
    split, validating each epoch and measuring test accuracy once at the end.

    Returns ``(model, TrainResult)``; a diverging model gives ``result.status == "failed"``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build(arch, splits.input_shape, splits.num_classes)
    result = train(model, splits, config, on_epoch=on_epoch, evaluate_test=True)
    return model, result


def training_meta(result, splits, config, source: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's part of meta.json after :func:`train_final`: accuracy, data, recipe, source."""
    m = splits.meta
    return {
        "val_acc": result.val_acc,
        "test_acc": result.test_acc,
        "val_accs": list(result.val_accs),
        "epochs": len(result.val_accs),
        "train_seconds": round(result.seconds, 2),
        "device": result.device,
        "dataset": splits.name,
        "dataset_splits": m.get("sizes"),
        "trained_on": "train split only; val held out for val_acc, test measured once at the end",
        "normalization": {
            "mean": m.get("mean"),
            "std": m.get("std"),
            "scale": m.get("scale"),
            "formula": "x = (pixel / scale - mean[c]) / std[c] per channel c, as float32 NCHW",
        },
        "seed": config.seed,
        "train_config": config.to_dict(),
        **dict(source),
    }


def example_batch(splits, n: int = 2) -> torch.Tensor:
    """Real (normalized) images to trace and check the programs with."""
    for x in (splits.val_x, splits.test_x, splits.train_x):
        if len(x) >= 1:
            return x[:n]
    raise NasError(f"dataset {splits.name!r} has no images")
