"""Rank agreement of cheap evaluations with stand-alone accuracy, on the shipped ``digits`` space.

``N`` distinct architectures are drawn uniformly from the valid ones (seed 0) and each is
trained from scratch as a search trial is (``nas search``'s defaults: 10 epochs, the reward's
window max of the validation accuracy, the search's split), two processes at a time. The same
architectures are then scored by:

* shared weights: one supernet (``nas.oneshot``) trained with uniformly sampled paths
  (single-path one-shot; a search's own supernet follows its strategy instead), each
  architecture scored by its path's validation accuracy after batch-norm recalibration, read
  after 5, 10, 20 and 40 epochs of shared training (one supernet, scored at each point);
* the zero-cost proxies NASWOT, synflow, grad-norm and snip at initialization, one minibatch
  of 64 (``nas.oneshot.proxies.score_arch``), and the parameter count as a baseline proxy
  (Abdelfattah et al. 2021 find it competitive).

Per method: Kendall's tau-b and Spearman's rho against the stand-alone reward over the N
architectures, and the stand-alone reward of the architecture the method ranks first, next to
the best of the N. Quick: N = 24, shared training read after 2 and 5 epochs.
"""
from __future__ import annotations

import multiprocessing as mp
import statistics
import time
from typing import Iterator

try:
    from . import _common as c
except ImportError:  # run as a script
    import _common as c

BENCH = "oneshot_rank"
PROXIES = ("naswot", "synflow", "grad_norm", "snip")


def _train_one(job: tuple[int, str]) -> tuple[int, float, float]:
    """Train one architecture as a search trial: (index, reward, seconds). In a worker process."""
    import torch

    import nas
    from nas.train import TrainConfig, data, train
    from nas.tune import SearchConfig
    from nas.tune.reward import RewardConfig, window_max

    i, arch = job
    torch.set_num_threads(1)
    splits = data.load("digits", None, val_fraction=SearchConfig().val_fraction, seed=0)
    cfg = TrainConfig(epochs=SearchConfig().epochs, seed=i)
    torch.manual_seed(i)
    model = nas.build(arch, splits.input_shape, splits.num_classes)
    start = time.perf_counter()
    result = train(model, splits, cfg)
    return i, window_max(list(result.val_accs), RewardConfig().window), time.perf_counter() - start


def _agreement(method: str, scores: list[float], truth: list[float], quick: bool, n: int, **extra) -> dict:
    from nas.oneshot.rank import kendall_tau, spearman

    top = max(range(len(scores)), key=lambda k: (scores[k], -k))
    return c.result(BENCH, f"{method}_kendall_tau", kendall_tau(scores, truth), unit="tau", quick=quick, n=n,
                    spearman=spearman(scores, truth), picked_reward=truth[top], best_reward=max(truth),
                    picked_rank=1 + sorted(truth, reverse=True).index(truth[top]), **extra)


def run(quick: bool) -> Iterator[dict]:
    import torch

    from nas.oneshot.proxies import score_arch
    from nas.oneshot.shared import SharedConfig, SharedTrainer
    from nas.space import SearchSpace
    from nas.train import data
    from nas.tune import SearchConfig

    n = 24 if quick else 120
    reads = (2, 5) if quick else (5, 10, 20, 40)
    space = SearchSpace.load("digits")
    archs = c.distinct_samples(space, n)
    strings = [space.decode(a) for a in archs]

    start = time.perf_counter()
    truth = [0.0] * n
    seconds = []
    with mp.get_context("spawn").Pool(2) as pool:
        for i, reward, s in pool.imap_unordered(_train_one, list(enumerate(strings))):
            truth[i] = reward
            seconds.append(s)
    yield c.result(BENCH, "standalone_training", time.perf_counter() - start, unit="s", quick=quick, n=n,
                   per_arch=c.spread(seconds), reward=c.spread(truth))

    splits = data.load("digits", None, val_fraction=SearchConfig().val_fraction, seed=0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        trainer = SharedTrainer(space, splits, SharedConfig(paths="uniform", device="cpu"), total_epochs=reads[-1],
                                seed=0)
        train_s = 0.0
        for epochs in reads:
            while trainer.epochs_done < epochs:
                train_s += trainer.train_epoch(None)["seconds"]  # uniform paths: the trainer draws them
            t0 = time.perf_counter()
            scores = [trainer.score(a) for a in archs]
            score_s = time.perf_counter() - t0
            yield _agreement(f"shared_{epochs}ep", scores, truth, quick, n, train_seconds=train_s,
                             score_seconds_per_arch=score_s / n, mean_shared_acc=statistics.mean(scores))
        for proxy in PROXIES:
            t0 = time.perf_counter()
            scores = [score_arch(proxy, a, splits, batch_size=64, seed=0) for a in strings]
            yield _agreement(proxy, scores, truth, quick, n, seconds_per_arch=(time.perf_counter() - t0) / n)
    finally:
        torch.set_num_threads(before)
    params = [float(space.cost(a)[0]) for a in archs]
    yield _agreement("params", params, truth, quick, n)


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    for line in run(args.quick):
        print(json.dumps(line), flush=True)
