"""Search quality on synthetic rewards with a known optimum (no training, no Ray).

``reinforce``, ``random`` and ``evolution`` (default options each) get the same budget of
evaluations on ``SyntheticSpace(8, 4, seed=s)`` (4^8 = 65,536 architectures, a unique
optimum of reward 1.0), for seeds s = 0..S-1; seed s fixes both the landscape and the
strategy's seed. Proposals are asked and told one at a time.

Per strategy: the fraction of seeds that found the optimum within the budget, the best
reward found, the mean reward of the last quarter of the evaluations (where the search
ends up, not just its luckiest draw) and the evaluations needed to reach the optimum;
median and spread (min, max, quartiles) over seeds. ``ratio`` compares each strategy's
median with random search's, measured in the same run.
"""
from __future__ import annotations

import statistics
import time
from typing import Iterator

try:
    from . import _common as c
except ImportError:  # run as a script
    import _common as c

BENCH = "search_synthetic"
STRATEGIES = ("reinforce", "random", "evolution")
N_DECISIONS, N_OPTIONS = 8, 4


def one_search(strategy: str, seed: int, budget: int) -> dict:
    import nas.strategies
    from nas.testing import SyntheticSpace

    space = SyntheticSpace(N_DECISIONS, N_OPTIONS, seed=seed)
    s = nas.strategies.get(strategy, space, seed=seed)
    rewards, first_hit = [], None
    start = time.perf_counter()
    with _threads(1):  # the controller's tiny ops are fastest on one thread
        for i in range(budget):
            p = s.ask()
            r = space.reward(p.choices)
            s.tell(p.id, r)
            rewards.append(r)
            if first_hit is None and tuple(p.choices) == tuple(space.optimum):
                first_hit = i + 1
    q = max(1, budget // 4)
    return {"found": first_hit is not None, "first_hit": first_hit, "best": max(rewards),
            "last_quarter": statistics.mean(rewards[-q:]), "seconds": time.perf_counter() - start}


class _threads:
    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        import torch

        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.before)


def run(quick: bool) -> Iterator[dict]:
    seeds = range(5 if quick else 10)
    budget = 300 if quick else 600
    space = f"SyntheticSpace({N_DECISIONS}, {N_OPTIONS}, seed=s), {N_OPTIONS ** N_DECISIONS} archs"
    results = {name: [one_search(name, s, budget) for s in seeds] for name in STRATEGIES}
    summary = {}
    for name, rs in results.items():
        summary[name] = {
            "found": sum(r["found"] for r in rs) / len(rs),
            "best": c.spread([r["best"] for r in rs]),
            "last": c.spread([r["last_quarter"] for r in rs]),
            "hits": [r["first_hit"] for r in rs if r["found"]],
            "seconds": sum(r["seconds"] for r in rs),
        }
    rnd = summary["random"]
    for name, sm in summary.items():
        base = dict(quick=quick, n=len(seeds), strategy=name, budget=budget, space=space,
                    seeds=f"0..{len(seeds) - 1}")
        yield c.result(BENCH, "found_optimum_fraction", sm["found"], unit="fraction of seeds",
                       random=rnd["found"],
                       evals_to_optimum=c.spread(sm["hits"]) if sm["hits"] else None, **base)
        yield c.result(BENCH, "best_reward", sm["best"]["median"], unit="reward (optimum 1.0)",
                       spread=sm["best"], ratio=c.ratio(sm["best"]["median"], rnd["best"]["median"]),
                       ratio_of="median vs random's", **base)
        yield c.result(BENCH, "last_quarter_mean_reward", sm["last"]["median"], unit="reward (optimum 1.0)",
                       spread=sm["last"], ratio=c.ratio(sm["last"]["median"], rnd["last"]["median"]),
                       ratio_of="median vs random's", strategy_seconds=sm["seconds"], **base)


if __name__ == "__main__":
    import json
    import sys

    for rec in run("--quick" in sys.argv):
        print(json.dumps(rec), flush=True)
