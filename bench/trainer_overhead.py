"""Our trainer (``nas.train.train``) against a minimal hand-written PyTorch loop, on digits.

Same model (built from the same architecture string with the same seed), same training
split, batch size 128, the same optimizer (SGD, momentum 0.9, Nesterov, weight decay 5e-4),
the same number of steps per epoch (drop-last), one torch thread in both (as in a search
trial with ``cpus_per_trial=1``). The hand loop does only: ``randperm``, index a batch,
forward, cross-entropy, ``zero_grad``, ``backward``, ``step``.

Our trainer also sets the lr every step (cosine), keeps loss/accuracy sums, checks the loss
for NaN each step and validates after every epoch. Its training-phase time per epoch (from
the ``images_per_sec`` that ``on_epoch`` receives: validation excluded) is compared with
the hand loop's epoch time (the ``ratio``); the full epoch with validation is reported too.
Each rep trains a fresh model for ``epochs`` epochs with both loops, interleaved; a rep's
figure is its median epoch, and the median over reps is reported.

The hand loop also runs a second time with an (untimed) eval-mode forward over the
validation split after each epoch, as our trainer validates: a validation pass makes the
next epoch's training slower (caches), so ``ratio_vs_hand_with_validation`` isolates the
cost of our loop's own per-step bookkeeping.
"""
from __future__ import annotations

import statistics
import time
from typing import Iterator

try:
    from . import _common as c
except ImportError:  # run as a script
    import _common as c

BENCH = "trainer_overhead"
ARCHS = {
    "small": "conv(16,3) basic(32) basic(64,stride=2) gap",
    "tiny": "conv(16,3) conv(32,3,stride=2) gap",
}


def hand_loop(model, x, y, *, epochs: int, batch_size: int, lr: float, seed: int, val_x=None) -> list[float]:
    """The minimal loop; returns each epoch's wall time (training only). With ``val_x``, a
    forward pass over it in eval mode follows each epoch, untimed, as our trainer validates."""
    import torch
    import torch.nn.functional as F

    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    g = torch.Generator().manual_seed(seed)
    n = len(y)
    steps = max(1, n // batch_size)
    model.train()
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        perm = torch.randperm(n, generator=g)
        for step in range(steps):
            idx = perm[step * batch_size:(step + 1) * batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t)
        if val_x is not None:
            model.eval()
            with torch.inference_mode():
                model(val_x)
            model.train()
    return times


def run(quick: bool) -> Iterator[dict]:
    import torch

    import nas
    from nas.train import data
    from nas.train import TrainConfig, train

    splits = data.load("digits", val_fraction=0.2, seed=0)
    epochs, reps = (3, 5) if quick else (5, 9)
    bs = 128
    cfg = TrainConfig(epochs=epochs, batch_size=bs, threads=1, seed=0)
    steps = len(splits.train_y) // bs
    before = torch.get_num_threads()
    for name, arch in ARCHS.items():
        ours_train, ours_epoch, hand, hand_val = [], [], [], []

        def fresh():
            torch.manual_seed(0)
            return nas.build(arch, splits.input_shape, splits.num_classes)

        torch.set_num_threads(1)
        try:
            hand_loop(fresh(), splits.train_x, splits.train_y, epochs=1, batch_size=bs, lr=cfg.lr, seed=0,
                      val_x=splits.val_x)  # warm-up
            train(fresh(), splits, TrainConfig(epochs=1, threads=1))
            for _ in range(reps):
                per_epoch: list[float] = []  # training phase of each epoch, from on_epoch's images_per_sec
                r = train(fresh(), splits, cfg,
                          on_epoch=lambda e, m: per_epoch.append(steps * bs / m["images_per_sec"]))
                assert r.status == "ok", r.reason
                ours_train.append(statistics.median(per_epoch))
                ours_epoch.append(statistics.median(r.epoch_seconds))
                hand.append(statistics.median(
                    hand_loop(fresh(), splits.train_x, splits.train_y, epochs=epochs, batch_size=bs, lr=cfg.lr, seed=0)))
                hand_val.append(statistics.median(
                    hand_loop(fresh(), splits.train_x, splits.train_y, epochs=epochs, batch_size=bs, lr=cfg.lr, seed=0,
                              val_x=splits.val_x)))
        finally:
            torch.set_num_threads(before)
        ours_m, hand_m, hand_val_m, full_m = (statistics.median(v) for v in (ours_train, hand, hand_val, ours_epoch))
        base = dict(quick=quick, n=reps, arch=arch, model=name, batch_size=bs, steps_per_epoch=steps, threads=1,
                    epochs_per_rep=epochs, loadavg_1m=c.loadavg())
        yield c.result(BENCH, "train_epoch_seconds_ours_vs_hand", ours_m, unit="s", ratio=ours_m / hand_m,
                       ours_s=ours_m, hand_s=hand_m, ours_spread=c.spread(ours_train), hand_spread=c.spread(hand),
                       per_step_overhead_ms=1000 * (ours_m - hand_m) / steps,
                       hand_with_validation_s=hand_val_m, ratio_vs_hand_with_validation=ours_m / hand_val_m,
                       hand_with_validation_spread=c.spread(hand_val), **base)
        yield c.result(BENCH, "epoch_with_validation_seconds", full_m, unit="s", ratio=full_m / hand_m,
                       ratio_of="our full epoch (train + validation) vs hand loop's training epoch",
                       spread=c.spread(ours_epoch), val_images=len(splits.val_y), **base)


if __name__ == "__main__":
    import json
    import sys

    for rec in run("--quick" in sys.argv):
        print(json.dumps(rec), flush=True)
