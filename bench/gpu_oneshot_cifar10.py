"""One-shot (ENAS-style, weight-sharing) search on CIFAR-10 over ``search_spaces/cifar10.yaml``
within a wall-clock budget, then the best architectures retrained from scratch.

Target it measures (it reports whether it was met, it assumes nothing): at least 94%
CIFAR-10 test accuracy with at most one GPU-hour of search. Results on a GPU: not yet
measured (written on a machine without one; only the CPU smoke test has run).

    python bench/gpu_oneshot_cifar10.py --data-dir ~/data --out results.jsonl
    python bench/gpu_oneshot_cifar10.py --data-dir ~/data --quick --device cpu   # smoke test

Needs the real CIFAR-10 files in torchvision's layout under ``--data-dir``
(``cifar-10-batches-py/data_batch_1..5``, ``test_batch``, ``batches.meta``, md5-checked by
torchvision; nothing is downloaded), torch and torchvision. No Ray: it never imports
``nas.tune`` (whose package imports Ray); it runs the search loop itself.

How:

1. Data: ``nas.train.data.load("cifar10", --data-dir, val_fraction=0.1, seed=--seed)``:
   45,000 training, 5,000 validation (carved from the official train set by the seed) and
   the official 10,000 test images; ``--limit-train N`` keeps N training images (a seeded
   subset, classes dealt in turn). The space's supernet plan (``plan_supernet``: its
   parameters and float32 bytes with gradients and one momentum slot) is printed, and the
   run refused (one line on stderr, exit status 2) when ``check_fits`` says it does not fit
   the device; so is any missing or corrupt data file.
2. Search (timed: ``search_seconds`` runs from building the supernet to the last score): a
   ``SharedTrainer`` (``SharedConfig`` defaults, ENAS's child settings, unless a flag says
   otherwise) and a REINFORCE controller (its defaults, one policy update per round:
   ``batch_size = --proposals-per-round``). As ``nas/tune/inprocess.py`` alternates them:
   ``warmup_epochs`` supernet epochs, then rounds of ``epochs_per_round`` (1) epoch of
   shared training on paths from ``strategy.sample_path`` followed by
   ``--proposals-per-round`` proposals (``ask``, ``trainer.score`` = validation accuracy with
   the shared weights after batch-norm recalibration, ``tell``); the first round is scored
   right after the warm-up. The budget (``--search-minutes``, wall clock) decides when to
   stop: a new round (or warm-up epoch) is started only while the time so far plus the mean
   time of one round (epoch) so far stays within it, so the search ends just before the
   budget rather than one round after it; the first warm-up epoch and the first round
   always run. The shared weights' cosine schedule spans the epochs projected to fit the
   budget (re-projected before every epoch from the measured epoch and scoring times). Per round:
   the supernet epoch, its loss and seconds, the round's scoring seconds, the best shared
   accuracy so far, and the controller's mean reward, baseline and greedy architecture
   (with its shared accuracy when it is valid; that score counts in the search time).
3. The ``--top`` (3) distinct architectures by shared-weight accuracy (the earlier proposal
   on ties) are reported; the first ``--retrain-top`` of them are trained from scratch
   (``nas.train.train_final``: train split only, validation each epoch, test once at the
   end), unless ``--retrain-epochs 0``. The one with the best final validation accuracy
   is the search's result: its test accuracy decides the target (never the best test
   accuracy of several, which would select on the test set).

Retraining recipe (``--retrain-preset cifar``, the default; another name takes that nas
preset with only epochs, seed and device replaced): the ``resnet`` preset (He et al. 2015:
SGD momentum 0.9, lr 0.1, cosine) with the settings short CIFAR-10 schedules use for
ResNet-18-class networks (the space's constraints admit up to 15M parameters and 1G MACs):
``--retrain-epochs`` (50) epochs, batch 256 at lr 0.1 (Goyal et al. 2017's 0.1 per 256),
Nesterov, weight decay 5e-4 (the value of CIFAR ResNet/WRN recipes at 100-200 epochs,
Zagoruyko & Komodakis 2016; 1e-4, the ImageNet value, under-regularizes a short run), one
epoch of linear warm-up (the space holds bottleneck, dense and layer-norm networks with up
to 1,024-feature classifiers, which can diverge at lr 0.1 from the first step; see the
``resnet-deep`` preset's note), flip-crop augmentation (``augment="auto"`` for CIFAR), bf16
autocast on CUDA, cudnn.benchmark on during retraining (fixed shapes; off in the search,
whose every step is another path). 50 epochs: public short-schedule CIFAR-10 recipes of
this kind report ResNet-18 at or above 94% from about 30 epochs (not measured here), so 50
leaves a margin for a searched network; retraining is not search time and is reported on
its own. ``--retrain-batch-size`` / ``--retrain-lr`` override.

JSON lines (``bench: "gpu_oneshot_cifar10"``, the ``bench/_common.py`` format; ``--out FILE``
appends them): ``machine``; ``supernet_plan_params``; ``warmup_epoch`` and ``search_round``
per epoch / round; ``search_seconds`` (proposals scored, supernet epochs, rounds, why it
stopped); ``top_shared_acc`` (the best proposals); ``retrain_test_acc`` per retrained
architecture; ``target_met``: a measured boolean (test accuracy of the chosen architecture
>= 0.94 and search seconds <= 3600; null when nothing was retrained), with both ratios to
the target.

``--quick``: a smoke test (search 0.2 minutes, 1 warm-up epoch, 1 retraining epoch, 512
training images, 512 validation images per score); its numbers mean nothing. ``--space
PATH`` replaces the shipped cifar10 space (the CPU smoke test passes a narrower copy);
``--device cpu`` forces the CPU.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from typing import Any, Callable, TextIO

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # `python bench/gpu_oneshot_cifar10.py` puts bench/, not the repository, on the path
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import nas.strategies  # noqa: E402
from bench import _common as c  # noqa: E402
from nas.errors import NasError  # noqa: E402
from nas.nn import check_size  # noqa: E402
from nas.oneshot.shared import PATHS, SharedConfig, SharedTrainer  # noqa: E402
from nas.oneshot.supernet import check_fits, plan_supernet  # noqa: E402
from nas.space import SearchSpace  # noqa: E402
from nas.train import PRESETS, TrainConfig, data, preset, resolve_device, train_final  # noqa: E402
from nas.train.data import Splits  # noqa: E402

BENCH = "gpu_oneshot_cifar10"
TARGET_TEST_ACC = 0.94
TARGET_SEARCH_SECONDS = 3600.0
VAL_FRACTION = 0.1
RECIPE = "cifar"  # this script's retraining recipe (module docstring); other names are nas presets
RECIPE_EPOCHS = 50
QUICK = {"search_minutes": 0.2, "retrain_epochs": 1, "limit_train": 512, "warmup_epochs": 1, "eval_images": 512}
# The supernet's cosine schedule before the first epoch has been timed: long enough that the
# first epoch runs near the peak learning rate; re-projected from measured times after it.
FIRST_GUESS_ROUNDS = 50


class Refused(Exception):
    """Why the run cannot start: one line on stderr, exit status 2."""


# --------------------------------------------------------------------------------------
# pure helpers


def stratified_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` of the labels ``y``, as even across classes as their counts
    allow: a seeded permutation, then the classes dealt in turn (first of each class, second
    of each, ...). All of them when ``n >= len(y)``."""
    if n >= len(y):
        return np.arange(len(y))
    perm = np.random.default_rng(seed).permutation(len(y))
    ys = np.asarray(y)[perm]
    rank = np.empty(len(ys), dtype=np.int64)
    for label in np.unique(ys):
        where = np.flatnonzero(ys == label)
        rank[where] = np.arange(len(where))
    order = np.lexsort((ys, rank))  # by rank within the class, then by class
    return np.sort(perm[order[:n]])


def limit_train(splits: Splits, n: int, seed: int) -> Splits:
    """``splits`` with ``n`` training images (:func:`stratified_subset`); validation, test
    and the normalization (from the full training split) unchanged."""
    idx = torch.from_numpy(stratified_subset(splits.train_y.numpy(), n, seed))
    sizes = dict(splits.meta.get("sizes", {}), train=len(idx))
    return replace(splits, train_x=splits.train_x[idx], train_y=splits.train_y[idx],
                   meta=dict(splits.meta, sizes=sizes, limit_train=n))


def projected_epochs(done: int, warmup: int, epochs_per_round: int, left_s: float, epoch_s: float,
                     score_s: float) -> int:
    """Supernet epochs a search is expected to reach: ``done``, the rest of the warm-up, then
    whole rounds (``epochs_per_round`` epochs of ``epoch_s`` plus ``score_s`` of scoring)
    while ``left_s`` seconds last; at least ``done + 1``.

    >>> projected_epochs(1, 3, 1, 100.0, 10.0, 5.0)   # 2 warm-up epochs, round 0, 5 rounds
    8
    """
    warm = max(0, warmup - done)
    left = left_s - warm * epoch_s - score_s
    total = done + warm
    round_s = epochs_per_round * epoch_s + score_s
    if left > 0 and round_s > 0:
        total += int(left // round_s) * epochs_per_round
    return max(total, done + 1)


def top_distinct(scored: list[dict], k: int) -> list[dict]:
    """The ``k`` best scored proposals by shared accuracy, one per architecture, the earlier
    proposal on ties; failed ones (accuracy None) never."""
    out, seen = [], set()
    for s in sorted((s for s in scored if s["shared_acc"] is not None), key=lambda s: (-s["shared_acc"], s["proposal"])):
        if s["arch"] not in seen:
            seen.add(s["arch"])
            out.append(s)
        if len(out) == k:
            break
    return out


def target(test_acc: float | None, search_seconds: float) -> dict[str, Any]:
    """Whether the measured run met the target (None: nothing was retrained), and by how much."""
    met = None if test_acc is None else bool(test_acc >= TARGET_TEST_ACC and search_seconds <= TARGET_SEARCH_SECONDS)
    return {"target_met": met, "test_acc": test_acc, "search_seconds": search_seconds,
            "ratio_test_acc_to_target": None if test_acc is None else test_acc / TARGET_TEST_ACC,
            "ratio_search_seconds_to_target": search_seconds / TARGET_SEARCH_SECONDS,
            "target": {"test_acc_at_least": TARGET_TEST_ACC, "search_seconds_at_most": TARGET_SEARCH_SECONDS}}


def retrain_config(name: str, epochs: int, *, seed: int, device: str, batch_size: int | None = None,
                   lr: float | None = None) -> TrainConfig:
    """The retraining ``TrainConfig``: this script's ``"cifar"`` recipe (module docstring) or
    the nas preset ``name``, at ``epochs`` epochs."""
    if name == RECIPE:
        base = TrainConfig.from_dict({"batch_size": 256, "lr": 0.1, "nesterov": True, "weight_decay": 5e-4,
                                      "schedule": "cosine", "warmup_epochs": 1, "augment": "auto"},
                                     base=preset("resnet"))
    else:
        base = preset(name)
    over: dict[str, Any] = {"epochs": epochs, "seed": seed, "device": device}
    if base.warmup_epochs >= epochs:
        over["warmup_epochs"] = 0
    if batch_size is not None:
        over["batch_size"] = batch_size
    if lr is not None:
        over["lr"] = lr
    return TrainConfig.from_dict(over, base=base)


# --------------------------------------------------------------------------------------
# the search


def search(space: SearchSpace, splits: Splits, config: SharedConfig, *, budget_s: float, seed: int,
           max_rounds: int | None, emit: Callable[[dict], None], quick: bool) -> dict[str, Any]:
    """The timed one-shot search (module docstring, step 2); the proposals it scored and its
    bookkeeping. The supernet is dropped when it returns."""
    start = time.perf_counter()

    def elapsed() -> float:
        return time.perf_counter() - start

    strategy = nas.strategies.get("reinforce", space, seed=seed, batch_size=config.round_size)
    guess = config.warmup_epochs + FIRST_GUESS_ROUNDS * config.epochs_per_round
    trainer = SharedTrainer(space, splits, config, total_epochs=guess, seed=seed)
    build_s = elapsed()
    epoch_times: list[float] = []
    score_times: list[float] = []
    scored: list[dict] = []
    best = None
    last: dict[str, float] = {}

    def epoch() -> dict[str, float]:
        if epoch_times:  # the cosine schedule over the epochs projected to fit the budget
            trainer.total_epochs = projected_epochs(
                trainer.epochs_done, config.warmup_epochs, config.epochs_per_round, budget_s - elapsed(),
                statistics.fmean(epoch_times), statistics.fmean(score_times) if score_times else 0.0)
        m = trainer.train_epoch(strategy.sample_path)
        epoch_times.append(m["seconds"])
        m["lr_end"] = trainer.optimizer.param_groups[0]["lr"]
        return m

    def fits(seconds: float) -> bool:
        return elapsed() + seconds <= budget_s

    # Warm-up: at least one epoch, the rest while an epoch still fits in the budget.
    warmup_done_all = True
    while trainer.epochs_done < config.warmup_epochs:
        if epoch_times and not fits(statistics.fmean(epoch_times)):
            warmup_done_all = False
            break
        last = epoch()
        emit(c.result(BENCH, "warmup_epoch", last["loss"], unit="loss", quick=quick, epoch=last["epoch"],
                      seconds=last["seconds"], lr_end=last["lr_end"], total_epochs=trainer.total_epochs,
                      elapsed_seconds=elapsed()))

    rounds, stopped = 0, "budget"
    while True:
        if rounds:
            if max_rounds is not None and rounds >= max_rounds:
                stopped = "max_rounds"
                break
            mean_epoch = statistics.fmean(epoch_times) if epoch_times else 0.0
            round_s = config.epochs_per_round * mean_epoch + statistics.fmean(score_times)
            if not fits(round_s):
                break
        train_s, loss = 0.0, last.get("loss")
        for _ in range(config.epochs_per_round if rounds else 0):
            last = epoch()
            train_s += last["seconds"]
            loss = last["loss"]
        t0 = time.perf_counter()
        accs, failed = [], 0
        for _ in range(config.round_size):
            p = strategy.ask()
            t1 = time.perf_counter()
            rec = {"proposal": p.id, "arch": p.arch, "choices": list(p.choices), "round": rounds,
                   "epoch": trainer.epochs_done, "shared_acc": None, "reason": None}
            try:
                check_size(p.arch, space.input_shape, space.num_classes)  # as the driver refuses one
                acc = trainer.score(p.choices)
            except NasError as e:
                failed += 1
                rec["reason"] = " ".join(str(e).split())
                strategy.tell(p.id, 0.0, failed=True)  # RewardConfig's failure_reward
            else:
                rec["shared_acc"] = acc
                accs.append(acc)
                strategy.tell(p.id, acc)
                if best is None or acc > best:
                    best = acc
            rec["seconds"] = time.perf_counter() - t1
            scored.append(rec)
        greedy = _greedy(strategy, space, trainer)
        score_s = time.perf_counter() - t0
        score_times.append(score_s)
        rounds += 1
        emit(c.result(BENCH, "search_round", best, unit="shared val accuracy (best so far)", quick=quick,
                      round=rounds - 1, epoch=trainer.epochs_done, loss=loss, train_seconds=train_s,
                      score_seconds=score_s, lr_end=last.get("lr_end"), total_epochs=trainer.total_epochs,
                      round_best=max(accs) if accs else None, round_mean=statistics.fmean(accs) if accs else None,
                      scored=config.round_size, failed=failed, elapsed_seconds=elapsed(), **greedy))
    seconds = elapsed()
    out = {"seconds": seconds, "build_seconds": build_s, "scored": scored, "rounds": rounds,
           "epochs": trainer.epochs_done, "stopped": stopped, "warmup_complete": warmup_done_all,
           "epoch_seconds": statistics.fmean(epoch_times) if epoch_times else None,
           "round_score_seconds": statistics.fmean(score_times) if score_times else None,
           "device": str(trainer.device)}
    return out


def _greedy(strategy, space: SearchSpace, trainer: SharedTrainer) -> dict[str, Any]:
    """The controller after its last update: mean reward of the batch, baseline, and its most
    likely architecture with that architecture's shared accuracy (when valid)."""
    updates = getattr(strategy, "updates", None)
    if not updates:
        return {"mean_reward": None, "baseline": None, "greedy_arch": None, "greedy_shared_acc": None}
    u = updates[-1]
    choices = tuple(u["greedy"])
    acc = None
    if space.is_valid(choices):
        try:
            acc = trainer.score(choices)
        except NasError:
            acc = None
    return {"mean_reward": u["mean_reward"], "baseline": u["baseline"], "greedy_arch": space.decode(choices),
            "greedy_shared_acc": acc}


# --------------------------------------------------------------------------------------
# the run


def parse_args(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, help="torchvision's root: holds cifar-10-batches-py/")
    ap.add_argument("--space", default="cifar10", help="search space file or shipped name (default: cifar10)")
    ap.add_argument("--search-minutes", type=float, help="wall-clock search budget (default 60; quick 0.2)")
    ap.add_argument("--max-rounds", type=int, help="also stop after this many scored rounds")
    ap.add_argument("--proposals-per-round", type=int, default=10, help="proposals scored per round (default 10)")
    ap.add_argument("--warmup-epochs", type=int, help=f"supernet epochs before the first round (default "
                    f"{SharedConfig.warmup_epochs}; quick {QUICK['warmup_epochs']})")
    ap.add_argument("--epochs-per-round", type=int, help=f"default {SharedConfig.epochs_per_round}")
    ap.add_argument("--shared-batch-size", type=int, help=f"default {SharedConfig.batch_size}")
    ap.add_argument("--shared-lr", type=float, help=f"default {SharedConfig.lr}")
    ap.add_argument("--eval-images", type=int, help="validation images per score (default: all; quick 512)")
    ap.add_argument("--paths", choices=PATHS, help="supernet training paths (default: strategy)")
    ap.add_argument("--top", type=int, default=3, help="distinct best proposals reported (default 3)")
    ap.add_argument("--retrain-top", type=int, help="how many of them to retrain (default: all --top)")
    ap.add_argument("--retrain-epochs", type=int, help=f"retraining epochs (default {RECIPE_EPOCHS}; quick 1; "
                    "0: no retraining)")
    ap.add_argument("--retrain-preset", default=RECIPE, help=f"{RECIPE!r} (this script's, see the docstring) or "
                    f"a nas preset: {', '.join(PRESETS.names())}")
    ap.add_argument("--retrain-batch-size", type=int)
    ap.add_argument("--retrain-lr", type=float)
    ap.add_argument("--limit-train", type=int, help="keep only N training images (quick: 512)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda or cuda:N")
    ap.add_argument("--out", help="also append the JSON lines to this file")
    ap.add_argument("--quick", action="store_true", help="tiny budgets, a smoke test; the numbers mean nothing")
    args = ap.parse_args(argv)
    for key, value in QUICK.items():
        if getattr(args, key) is None and args.quick:
            setattr(args, key, value)
    if args.search_minutes is None:
        args.search_minutes = 60.0
    if args.retrain_epochs is None:
        args.retrain_epochs = RECIPE_EPOCHS
    if args.retrain_top is None:
        args.retrain_top = args.top
    for key in ("proposals_per_round", "top"):
        if getattr(args, key) < 1:
            ap.error(f"--{key.replace('_', '-')} must be at least 1")
    for key in ("retrain_epochs", "retrain_top", "max_rounds", "limit_train"):
        if getattr(args, key) is not None and getattr(args, key) < 0:
            ap.error(f"--{key.replace('_', '-')} must be 0 or more")
    if not args.search_minutes > 0:
        ap.error("--search-minutes must be above 0")
    return args


def shared_config(args) -> SharedConfig:
    over = {"round_size": args.proposals_per_round, "device": args.device}
    for flag, key in (("warmup_epochs", "warmup_epochs"), ("epochs_per_round", "epochs_per_round"),
                      ("shared_batch_size", "batch_size"), ("shared_lr", "lr"), ("eval_images", "eval_images"),
                      ("paths", "paths")):
        if getattr(args, flag) is not None:
            over[key] = getattr(args, flag)
    if over.get("lr") is not None and over["lr"] < SharedConfig.lr_min:
        over["lr_min"] = over["lr"]
    return SharedConfig.from_dict(over)


def run(args, emit: Callable[[dict], None]) -> None:
    """Everything after the arguments; raises :class:`Refused` (or a NasError) before the
    first line when the data, the space or the device will not do."""
    q = args.quick
    device = resolve_device(args.device)
    t0 = time.perf_counter()
    splits = data.load("cifar10", args.data_dir, val_fraction=VAL_FRACTION, seed=args.seed, download=False)
    if args.limit_train is not None:
        if args.limit_train < 2:
            raise Refused("--limit-train must be at least 2 (batch norm)")
        splits = limit_train(splits, args.limit_train, args.seed)
    data_s = time.perf_counter() - t0
    space = SearchSpace.load(args.space)
    if (tuple(space.input_shape), space.num_classes) != (tuple(splits.input_shape), splits.num_classes):
        raise Refused(f"space {space.name!r} is for {space.input_shape} inputs and {space.num_classes} classes, "
                      f"CIFAR-10 has {splits.input_shape} and {splits.num_classes}")
    config = shared_config(args)
    recipe = retrain_config(args.retrain_preset, max(1, args.retrain_epochs), seed=args.seed, device=args.device,
                            batch_size=args.retrain_batch_size, lr=args.retrain_lr)
    t0 = time.perf_counter()
    plan = plan_supernet(space)
    plan_s = time.perf_counter() - t0
    states = 1 if config.momentum else 0
    check_fits(plan, device, states)  # SpaceError: one line naming the size and the bound

    emit(c.result(BENCH, "machine", None, unit="", quick=q, **c.machine()))
    emit(c.result(BENCH, "supernet_plan_params", plan.params, unit="params", quick=q, space=space.name,
                  space_source=args.space, space_hash=space.hash, bytes=plan.bytes(states), masters=len(plan.shapes),
                  device=str(device), fits=True, plan_seconds=plan_s, data_seconds=data_s,
                  data={"sizes": splits.meta.get("sizes"), "val_fraction": VAL_FRACTION, "seed": args.seed,
                        "limit_train": args.limit_train, "augment": splits.meta.get("augment")}))

    budget_s = args.search_minutes * 60.0
    s = search(space, splits, config, budget_s=budget_s, seed=args.seed, max_rounds=args.max_rounds, emit=emit,
               quick=q)
    gc.collect()  # the supernet, before the retraining allocates
    if device.type == "cuda":
        torch.cuda.empty_cache()
    ok = [r for r in s["scored"] if r["shared_acc"] is not None]
    emit(c.result(BENCH, "search_seconds", s["seconds"], unit="s", quick=q, budget_seconds=budget_s,
                  proposals_scored=len(s["scored"]), proposals_failed=len(s["scored"]) - len(ok),
                  distinct_archs=len({r["arch"] for r in ok}), supernet_epochs=s["epochs"], rounds=s["rounds"],
                  stopped=s["stopped"], warmup_complete=s["warmup_complete"], build_seconds=s["build_seconds"],
                  mean_epoch_seconds=s["epoch_seconds"], mean_round_score_seconds=s["round_score_seconds"],
                  device=s["device"], shared_config=config.to_dict(), strategy="reinforce",
                  strategy_options={"batch_size": config.round_size}))

    top = top_distinct(s["scored"], args.top)
    for rank, r in enumerate(top, 1):
        r["rank"] = rank
        r["params"], r["macs"] = space.cost(tuple(r["choices"]))
    emit(c.result(BENCH, "top_shared_acc", top[0]["shared_acc"] if top else None, unit="shared val accuracy",
                  quick=q, n=len(top), top=[{k: r[k] for k in ("rank", "proposal", "arch", "shared_acc", "round",
                                                                 "epoch", "params", "macs")} for r in top]))

    retrained = []
    if args.retrain_epochs > 0:
        before = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True  # fixed shapes from here on
        try:
            for r in top[:args.retrain_top]:
                _, res = train_final(r["arch"], splits, recipe)
                row = {"rank": r["rank"], "arch": r["arch"], "shared_acc": r["shared_acc"], "val_acc": res.val_acc,
                       "test_acc": res.test_acc, "seconds": res.seconds, "status": res.status}
                retrained.append(row)
                emit(c.result(BENCH, "retrain_test_acc", res.test_acc, unit="test accuracy", quick=q,
                              rank=r["rank"], proposal=r["proposal"], arch=r["arch"], shared_acc=r["shared_acc"],
                              val_acc=res.val_acc, seconds=res.seconds, epochs=len(res.val_accs),
                              status=res.status, reason=res.reason, params=r["params"], macs=r["macs"],
                              images_per_sec=res.images_per_sec, device=res.device, val_accs=list(res.val_accs),
                              warnings=list(res.warnings), recipe=args.retrain_preset, train_config=recipe.to_dict()))
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        finally:
            torch.backends.cudnn.benchmark = before
    good = [r for r in retrained if r["status"] == "ok" and r["val_acc"] is not None]
    chosen = max(good, key=lambda r: (r["val_acc"], -r["rank"])) if good else None
    t = target(chosen["test_acc"] if chosen else None, s["seconds"])
    emit(c.result(BENCH, "target_met", t.pop("target_met"), unit="bool", quick=q,
                  chosen=None if chosen is None else {k: chosen[k] for k in ("rank", "arch", "shared_acc", "val_acc",
                                                                              "test_acc")},
                  chosen_by="best final validation accuracy of the retrained architectures",
                  retrained=len(retrained), retrain_seconds=sum(r["seconds"] for r in retrained),
                  retrain_epochs=args.retrain_epochs,
                  note=("not retrained (--retrain-epochs 0)" if args.retrain_epochs == 0 else
                        "quick: a smoke test, the numbers mean nothing" if q else None), **t))


def main(argv=None) -> int:
    args = parse_args(argv)
    out: TextIO | None = None

    def emit(rec: dict) -> None:
        nonlocal out
        line = json.dumps(rec)
        print(line, flush=True)
        if args.out:
            if out is None:
                out = open(args.out, "a")
            out.write(line + "\n")
            out.flush()

    try:
        run(args, emit)
    except (Refused, NasError) as e:
        print(f"{BENCH}: {' '.join(str(e).split())}", file=sys.stderr, flush=True)
        return 2
    finally:
        if out is not None:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
