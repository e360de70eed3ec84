"""Search quality on a real search: digits through Ray Tune (``nas.tune.run_search``).

``reinforce``, ``random`` and ``evolution`` each run the same budget of trials over the
shipped ``digits`` space, two trials at a time on 2 CPUs, for several seeds (the seed sets
the strategy, the validation split and the trials' training seeds). Quick: 2 seeds x 12
trials x 3 epochs; full: 3 seeds x 40 trials x 10 epochs (`nas search`'s defaults).

Strategy options: reinforce's defaults (batch 10: 1 controller update in 12 trials, 4 in
40); evolution's population is scaled to the budget (P = max(4, trials // 4), S = max(2,
P // 4)), since with its default P = 20 a 12-trial run would be random search.

Per strategy: the best validation accuracy found within the budget and the mean reward of
the last quarter of the trials, median and spread over seeds; ``ratio`` against random
search's median in the same run. With budgets this small the seeds' spread is as large as
the differences between strategies: read these as a smoke test of the whole loop.
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
STRATEGIES = ("reinforce", "random", "evolution")


def options(strategy: str, trials: int) -> dict:
    if strategy == "evolution":
        p = max(4, trials // 4)
        return {"population_size": p, "sample_size": max(2, p // 4)}
    return {}


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
                                            cpus_per_trial=1.0)
                recs = run_.records
                q = max(1, len(recs) // 4)
                ok = [r for r in recs if r["status"] == "ok"]
                out[strategy].append({
                    "best_val_acc": max((r["val_acc"] for r in ok), default=0.0),
                    "last_quarter": statistics.mean(r["reward"] for r in recs[-q:]),
                    "wall": wall, "failed": len(recs) - len(ok), "reused": sum(1 for r in recs if r["reused"]),
                })
    rnd = {k: c.spread([x[k] for x in out["random"]]) for k in ("best_val_acc", "last_quarter")}
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


if __name__ == "__main__":
    import json
    import sys

    for rec in run("--quick" in sys.argv):
        print(json.dumps(rec), flush=True)
    c.shutdown_ray()
