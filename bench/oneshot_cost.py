"""Cost and quality of searching without training every proposal, on digits through Ray Tune.

Four searches over the shipped ``digits`` space with REINFORCE's defaults and the same
number of proposals, for 3 seeds, interleaved so that load changes hit every arm alike:

* ``full``: every proposal trained from scratch in a Ray trial (10 epochs, 2 at a time);
* ``shared``: proposals scored by a weight-sharing supernet (``--evaluation shared``, its
  default schedule), then the best 3 retrained from scratch in Ray trials;
* ``proxy``: proposals scored by NASWOT (``--evaluation proxy:naswot``), best 3 retrained;
* ``prefilter``: as ``full``, each proposal the best of 10 candidates by NASWOT.

Per arm: the search's wall time (Ray is started once beforehand, for all of them) and the
quality of what it picked: the architecture in its best.json, trained again from scratch
with a seed no search used, on the same split (validation and test accuracy). ``ratio`` is
the arm's median wall time over ``full``'s. Quick: 2 seeds x 20 proposals x 3 epochs.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from typing import Iterator

try:
    from . import _common as c
except ImportError:  # run as a script
    import _common as c

BENCH = "oneshot_cost"
ARMS = {
    "full": {},
    "shared": {"evaluation": "shared"},
    "proxy": {"evaluation": "proxy:naswot"},
    "prefilter": {"prefilter": "naswot:10"},
}
FRESH_SEED = 9_999  # the final retraining's seed: none of the searches trains with it


def retrain(arch: str, seed: int, epochs: int) -> tuple[float, float]:
    """(val, test) accuracy of ``arch`` trained from scratch as a search trial is, new seed."""
    import nas
    from nas.train import TrainConfig, data, train
    from nas.tune import SearchConfig

    splits = data.load("digits", None, val_fraction=SearchConfig().val_fraction, seed=seed)
    import torch

    torch.manual_seed(FRESH_SEED)
    model = nas.build(arch, splits.input_shape, splits.num_classes)
    result = train(model, splits, TrainConfig(epochs=epochs, seed=FRESH_SEED, threads=2), evaluate_test=True)
    return result.val_acc, result.test_acc


def run(quick: bool, seeds: int | None = None, arms: tuple[str, ...] = tuple(ARMS)) -> Iterator[dict]:
    seeds = range(seeds if seeds is not None else 2 if quick else 3)
    proposals, epochs = (20, 3) if quick else (100, 10)
    init_s = c.ensure_ray()
    if init_s:
        yield c.result(BENCH, "ray_init_seconds", init_s, unit="s", quick=quick)
    out: dict[str, list[dict]] = {a: [] for a in arms}
    with tempfile.TemporaryDirectory(prefix="nas-bench-oneshot-") as tmp:
        for seed in seeds:
            for arm in arms:
                extra = ARMS[arm]
                run_, wall, _, _ = c.search(tmp, name=f"{arm}-{seed}", space="digits", trials=proposals, epochs=epochs,
                                            strategy="reinforce", seed=seed, concurrency=2, cpus_per_trial=1.0,
                                            **extra)
                best = run_.best()
                t0 = time.perf_counter()
                val, test = retrain(best["arch"], seed, epochs)
                out[arm].append({"wall": wall, "arch": best["arch"], "search_val": best["val_acc"], "val": val,
                                 "test": test, "retrain_s": time.perf_counter() - t0,
                                 "trained": sum(1 for r in run_.records if r.get("evaluation", "full") == "full")})
    full_wall = statistics.median(r["wall"] for r in out["full"]) if "full" in out else None
    for arm, rows in out.items():
        wall = statistics.median(r["wall"] for r in rows)
        yield c.result(BENCH, f"{arm}_wall_seconds", wall, unit="s", quick=quick, n=len(rows),
                       ratio=c.ratio(wall, full_wall) if full_wall else None, spread=c.spread([r["wall"] for r in rows]),
                       proposals=proposals, epochs=epochs, trained=[r["trained"] for r in rows])
        for what in ("val", "test"):
            yield c.result(BENCH, f"{arm}_best_retrained_{what}_acc", statistics.median(r[what] for r in rows),
                           unit="accuracy", quick=quick, n=len(rows), per_seed=[r[what] for r in rows],
                           spread=c.spread([r[what] for r in rows]))
        yield c.result(BENCH, f"{arm}_best_archs", len(rows), unit="runs", quick=quick,
                       archs=[r["arch"] for r in rows], search_val=[r["search_val"] for r in rows])


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default: 3, quick 2)")
    ap.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of {', '.join(ARMS)} (default: all)")
    args = ap.parse_args()
    try:
        for line in run(args.quick, args.seeds, tuple(a for a in args.arms.split(",") if a)):
            print(json.dumps(line), flush=True)
    finally:
        c.shutdown_ray()
