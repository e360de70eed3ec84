"""One search trial, inside a Ray worker: build the proposed architecture and train it.

It reports to Tune after every epoch when a scheduler (ASHA) needs it, else once at the
end; every report carries all the driver needs to score and record the trial, so a trial
stopped early still has a complete last result. A bad architecture or a diverging loss
ends as ``status: failed`` with a reason, never as an exception.
"""
from __future__ import annotations

import sys
import time
from typing import Any

import torch

from ..errors import NasError
from ..nn import build_counted
from ..train import TrainConfig, train


def _gpu_ids() -> list[str]:
    """The GPUs Ray assigned to this trial (a fraction of one is still its id); [] outside Ray."""
    # Outside Ray, ray.get_runtime_context() would start a whole local Ray instance (Ray's
    # auto-init): a first 1-epoch run_trial in a plain process took 4.6 s instead of 1.4 s
    # and left a Ray running (BENCHMARKS.md, "What is slow", 1). So only ask a Ray that is
    # already running; a Ray worker has imported and initialised ray before it runs us.
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return []
    try:
        return [str(g) for g in ray.get_runtime_context().get_accelerator_ids().get("GPU", [])]
    except Exception:  # a Ray too old or too new for this API
        return []


def build_trial_model(arch: str, splits) -> tuple[torch.nn.Module, dict[str, int]]:
    """The trial's network and its ``{"params", "macs"}``: parsed, counted and built once."""
    model, s = build_counted(arch, splits.input_shape, splits.num_classes)
    return model, {"params": s.params, "macs": s.macs}


def run_trial(config: dict[str, Any], splits=None, report=None) -> dict[str, Any]:
    """Train ``config["arch"]`` on ``splits``; ``report(metrics)`` is ``ray.tune.report``.

    Returns the last metrics reported (handy outside Ray).
    """
    if report is None:
        from ray import tune

        report = tune.report
    start = time.perf_counter()
    arch, pid = config["arch"], int(config["proposal"])
    base = {"proposal": pid, "arch": arch, "params": 0, "macs": 0, "epoch": 0, "val_acc": 0.0, "val_accs": [],
            "train_loss": None, "status": "ok", "reason": None, "started_at": time.time(),
            "gpu_ids": _gpu_ids(), "device": None, "warnings": []}
    last: dict[str, Any] = {}

    def send(**metrics):
        last.clear()
        last.update(base, seconds=round(time.perf_counter() - start, 3), **metrics)
        report(dict(last))

    try:
        tcfg = TrainConfig.from_dict(config["train"])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(tcfg.seed)
            model, size = build_trial_model(arch, splits)
        base.update(size)
    except NasError as e:
        send(status="failed", reason=f"cannot build: {e}")
        return last
    val_accs: list[float] = []
    losses: list[float] = []
    # Each report is a round trip through the Tune driver, so epochs are reported one by one
    # only when a scheduler (ASHA) needs them; otherwise once, at the end.
    every_epoch = bool(config.get("report_every_epoch"))

    def on_epoch(epoch: int, m: dict[str, float]):
        val_accs.append(float(m["val_acc"]))
        losses.append(float(m["train_loss"]))
        if every_epoch:
            send(epoch=epoch, val_acc=val_accs[-1], val_accs=list(val_accs), train_loss=losses[-1])

    result = train(model, splits, tcfg, on_epoch=on_epoch)
    base["device"] = result.device
    if result.failed or not every_epoch or not last:
        send(epoch=len(val_accs), val_acc=val_accs[-1] if val_accs else 0.0, val_accs=list(val_accs),
             train_loss=losses[-1] if losses else None, status=result.status, reason=result.reason,
             warnings=list(result.warnings))
    return last
