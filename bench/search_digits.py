"""Search quality on a real search: digits through Ray Tune (``nas.tune.run_search``).

``reinforce``, ``random``, ``evolution``, ``tpe`` (Optuna's TPE), ``gp`` (Optuna's GP-based
Bayesian optimisation) and ``nsga2`` (Optuna's NSGA-II on validation accuracy and measured
latency) each run the same budget of trials over the shipped ``digits`` space, two trials at
a time on 2 CPUs, for several seeds (the seed sets the strategy, the validation split and the
trials' training seeds). Quick: 2 seeds x 12 trials x 3 epochs; full: 3 seeds x 40 trials x
10 epochs (`nas search`'s defaults). Every run measures each architecture's latency (PyTorch
on this CPU, batch 1, 1 thread, cached per architecture), so every strategy's front can be
compared; only nsga2 optimises it.

Strategy options: the defaults, with populations scaled to the budget: evolution's P =
max(4, trials // 4), S = max(2, P // 4), since with its default P = 20 a 12-trial run would
be random search; nsga2's population likewise max(4, trials // 4) (Optuna's default 50
would make any run of this budget its random first generation).

Per strategy: the best validation accuracy found within the budget, the mean reward of the
last quarter of the trials, and the hypervolume of the run's (validation accuracy, latency)
front: the area dominated by the front between accuracy 0 and the largest latency measured
in the whole benchmark (one reference for every run, so the numbers compare), over that
latency range; median and spread over seeds, ``ratio`` against random search's median in
the same run. With budgets this small the seeds' spread is as large as the differences
between strategies: read these as a smoke test of the whole loop.
"""
from __future__ import annotations

import statistics
import tempfile
from typing import Iterator

try:
    from . import _common as c
except ImportError:  # run as a script
    import _common as c

BENCH = "search_digits"
STRATEGIES = ("reinforce", "random", "evolution", "tpe", "gp", "nsga2")
LATENCY = {"target": "cpu", "batch_size": 1, "threads": 1}


def options(strategy: str, trials: int) -> dict:
    if strategy == "evolution":
        p = max(4, trials // 4)
        return {"population_size": p, "sample_size": max(2, p // 4)}
    if strategy == "nsga2":
        return {"population_size": max(4, trials // 4)}
    return {}


def hypervolume(records: list[dict], max_latency: float) -> float:
    """Area dominated by the ok records' (val_acc, latency_ms) front, from accuracy 0 up and from
    ``max_latency`` down, divided by ``max_latency`` (so 1.0 is accuracy 1 at zero latency)."""
    from nas.report.pareto import hypervolume_2d

    pts = [(r["val_acc"], r["latency_ms"]) for r in records
           if r["status"] == "ok" and r.get("val_acc") is not None and r.get("latency_ms") is not None]
    return hypervolume_2d(pts, (0.0, max_latency), ("max", "min")) / max_latency


def run(quick: bool) -> Iterator[dict]:
    seeds = range(2 if quick else 3)
    trials, epochs = (12, 3) if quick else (40, 10)
    init_s = c.ensure_ray()
    if init_s:
        yield c.result(BENCH, "ray_init_seconds", init_s, unit="s", quick=quick)
    out: dict[str, list[dict]] = {s: [] for s in STRATEGIES}
    with tempfile.TemporaryDirectory(prefix="nas-bench-digits-") as tmp:  # the run folders
        for seed in seeds:
            for strategy in STRATEGIES:  # interleaved, so load changes hit every strategy alike
                run_, wall, _, _ = c.search(tmp, name=f"{strategy}-{seed}", space="digits", trials=trials,
                                            epochs=epochs, strategy=strategy,
                                            strategy_options=options(strategy, trials), seed=seed, concurrency=2,
                                            cpus_per_trial=1.0, latency=dict(LATENCY))
                recs = run_.records
                q = max(1, len(recs) // 4)
                ok = [r for r in recs if r["status"] == "ok"]
                out[strategy].append({
                    "best_val_acc": max((r["val_acc"] for r in ok), default=0.0),
                    "last_quarter": statistics.mean(r["reward"] for r in recs[-q:]),
                    "wall": wall, "failed": len(recs) - len(ok), "reused": sum(1 for r in recs if r["reused"]),
                    "records": recs,
                })
    max_latency = max(r["latency_ms"] for xs in out.values() for x in xs for r in x["records"]
                      if r.get("latency_ms") is not None)
    for xs in out.values():
        for x in xs:
            x["hypervolume"] = hypervolume(x.pop("records"), max_latency)
    rnd = {k: c.spread([x[k] for x in out["random"]]) for k in ("best_val_acc", "last_quarter", "hypervolume")}
    for strategy, xs in out.items():
        best = c.spread([x["best_val_acc"] for x in xs])
        last = c.spread([x["last_quarter"] for x in xs])
        base = dict(quick=quick, n=len(xs), strategy=strategy, trials=trials, epochs=epochs, concurrency=2,
                    seeds=f"0..{len(xs) - 1}", strategy_options=options(strategy, trials), loadavg_1m=c.loadavg())
        yield c.result(BENCH, "best_val_acc", best["median"], unit="accuracy", spread=best,
                       ratio=c.ratio(best["median"], rnd["best_val_acc"]["median"]), ratio_of="median vs random's",
                       per_seed=[x["best_val_acc"] for x in xs], **base)
        yield c.result(BENCH, "last_quarter_mean_reward", last["median"], unit="reward", spread=last,
                       ratio=c.ratio(last["median"], rnd["last_quarter"]["median"]), ratio_of="median vs random's",
                       per_seed=[x["last_quarter"] for x in xs],
                       search_wall_s=c.spread([x["wall"] for x in xs]),
                       failed_trials=sum(x["failed"] for x in xs), reused_trials=sum(x["reused"] for x in xs), **base)
        hv = c.spread([x["hypervolume"] for x in xs])
        yield c.result(BENCH, "hypervolume_acc_latency", hv["median"], unit="fraction", spread=hv,
                       ratio=c.ratio(hv["median"], rnd["hypervolume"]["median"]), ratio_of="median vs random's",
                       per_seed=[x["hypervolume"] for x in xs], reference_latency_ms=max_latency,
                       latency=LATENCY, **base)


if __name__ == "__main__":
    import json
    import sys

    for rec in run("--quick" in sys.argv):
        print(json.dumps(rec), flush=True)
    c.shutdown_ray()
