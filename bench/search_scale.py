"""Search quality at the scale of the shipped spaces, on synthetic rewards (no training, no Ray).

Landscapes: ``SyntheticSpace.like(SearchSpace.load(name), seed=s, ...)`` for the shipped
spaces ``digits`` (10 decisions), ``cifar10`` (19) and ``zoph2017`` (136: 45 four-way and
91 binary anchors): the same number, arity, names, kinds and anchors (unit, source) of
decisions as the real space, and a synthetic reward with a unique optimum of 1.0:

- ``separable`` (interaction=0.0, margin=1.0): the fraction of decisions that match a
  hidden target;
- ``interacting`` (interaction=1.0, margin=1.0): neighbouring pairs of decisions add terms
  as large as the per-decision ones (normalized to [0, 1] again).

``reinforce``, ``evolution`` and ``random`` (default options each, built as
``nas.strategies.get(name, space, seed=s)``) are asked and told one proposal at a time,
under one torch thread, for seeds s = 0..S-1; seed s fixes both the landscape and the
strategy. Budgets 200, 800 and 3200 evaluations: each (space, reward, strategy, seed) runs
once, for the largest budget, and the smaller budgets are its prefixes; a strategy does not
know its budget, so the first 200 proposals of a 3200 run are exactly a 200 run.

Per space, reward, strategy and budget: the mean reward of the last quarter of the
evaluations (where the search ends up, not just its luckiest draw) and the best reward;
median and spread (min, max, quartiles) over seeds. ``ratio`` is a strategy's median over
evolution's, ``ratio_random`` over random search's, measured in the same run. The
last-quarter records also carry ``strategy_seconds`` and ``strategy_cpu_seconds``, the
median over seeds of the wall and CPU time of the first ``budget`` evaluations (building
the strategy, ask, tell and the cheap synthetic reward).

``ablation`` records: the zoph2017 structure, separable reward, budget 800: REINFORCE with
each option set of ``ABLATION`` (``nas.strategies.get("reinforce", space, seed=s,
**options)``) and evolution with defaults as the reference; last-quarter mean and best
(median, spread) and ``ratio``, the last-quarter median over evolution's. Runs that are
the same as one above (REINFORCE defaults, evolution) are shared with it.

Full: seeds 0..4, all three spaces, both rewards, budgets 200/800/3200. Quick: seeds 0..1,
budgets 200/800, the separable reward only, and the first two ablation entries. The
independent runs go through 2 worker processes (longest first); each is deterministic from
its seed, so the figures do not depend on the scheduling (the times do, a little).

    python bench/search_scale.py [--quick]           # JSON lines
    python bench/search_scale.py --small             # only the 40-evaluation part
    python bench/search_scale.py --markdown FILE.jsonl   # tables from those lines
"""
from __future__ import annotations

import concurrent.futures
import functools
import statistics
import time
from typing import Iterator

try:
    from . import _common as c
except ImportError:  # run as a script
    import _common as c

BENCH = "search_scale"
SPACES = ("digits", "cifar10", "zoph2017")  # smallest first
REWARDS = {"separable": {"interaction": 0.0, "margin": 1.0}, "interacting": {"interaction": 1.0, "margin": 1.0}}
STRATEGIES = ("reinforce", "evolution", "random")
BUDGETS, QUICK_BUDGETS = (200, 800, 3200), (200, 800)
SEEDS, QUICK_SEEDS = 5, 2
WORKERS = 2

# (label, options for nas.strategies.get("reinforce", space, seed=s, **options))
ABLATION: list[tuple[str, dict]] = [
    ("defaults", {}),
    # The controller and update before the levers below were added: one softmax head per kind,
    # no position input, plain REINFORCE on r - b, batch 5, lr 0.02, temperature 5, entropy 0.03.
    ("earlier defaults", {"heads": "kind", "position_input": False, "advantage": "baseline", "ppo_clip": None,
                          "ppo_epochs": 1, "batch_size": 5, "lr": 0.02, "temperature": 5.0,
                          "entropy_weight": 0.03}),
    ("kind heads, no position input", {"heads": "kind", "position_input": False}),
    ("no position input", {"position_input": False}),
    ("no advantage scaling", {"advantage": "baseline"}),
    ("plain REINFORCE (no PPO clip, 1 pass)", {"ppo_clip": None, "ppo_epochs": 1}),
    ("lr 0.02", {"lr": 0.02}),
    ("entropy bonus 0.03", {"entropy_weight": 0.03}),
    ("zoph2017 preset", {"preset": "zoph2017"}),
    ("enas preset", {"preset": "enas"}),
]
ABLATION_SPACE, ABLATION_REWARD, ABLATION_BUDGET = "zoph2017", "separable", 800
QUICK_ABLATION = 2  # entries of ABLATION in quick mode


@functools.cache
def _structure(name: str):
    from nas.space import SearchSpace

    return SearchSpace.load(name)


def one_search(space_name: str, reward: str, strategy: str, options: tuple, seed: int,
               checkpoints: tuple[int, ...]) -> dict:
    """One search of ``max(checkpoints)`` evaluations; the wall and CPU seconds at each checkpoint."""
    import random

    import numpy as np
    import torch

    import nas.strategies
    from nas.testing import SyntheticSpace

    # The strategies seed their own generators; this only keeps a stray global draw from
    # depending on which jobs ran before in the same worker.
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # the controller's tiny ops are fastest on one thread
    space = SyntheticSpace.like(_structure(space_name), seed=seed, **REWARDS[reward])
    rewards, wall, cpu = [], {}, {}
    start, start_cpu = time.perf_counter(), time.process_time()
    s = nas.strategies.get(strategy, space, seed=seed, **dict(options))
    for i in range(1, max(checkpoints) + 1):
        p = s.ask()
        r = space.reward(p.choices)
        s.tell(p.id, r)
        rewards.append(r)
        if i in checkpoints:
            wall[i], cpu[i] = time.perf_counter() - start, time.process_time() - start_cpu
    return {"rewards": rewards, "wall": wall, "cpu": cpu, "decisions": len(space.decisions)}


def _metrics(rewards: list[float], budget: int) -> dict:
    prefix = rewards[:budget]
    return {"last": statistics.mean(prefix[-max(1, budget // 4):]), "best": max(prefix)}


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _run_jobs(jobs: dict[tuple, set[int]]) -> dict[tuple, dict]:
    """Every job (space, reward, strategy, options, seed) -> checkpoints, on WORKERS
    processes, longest first (REINFORCE, then the larger spaces and budgets)."""
    import multiprocessing as mp

    def cost(key):
        space, _, strategy, _, _ = key
        return (strategy == "reinforce", SPACES.index(space), max(jobs[key]))

    order = sorted(jobs, key=cost, reverse=True)
    with concurrent.futures.ProcessPoolExecutor(max_workers=WORKERS, mp_context=mp.get_context("spawn"),
                                                initializer=_init_worker) as pool:
        futures = {key: pool.submit(one_search, *key, tuple(sorted(jobs[key]))) for key in order}
        return {key: f.result() for key, f in futures.items()}


def _key(options: dict) -> tuple:
    return tuple(sorted(options.items()))


def run(quick: bool) -> Iterator[dict]:
    seeds = range(QUICK_SEEDS if quick else SEEDS)
    budgets = QUICK_BUDGETS if quick else BUDGETS
    rewards = ["separable"] if quick else list(REWARDS)
    ablation = ABLATION[:QUICK_ABLATION] if quick else ABLATION
    jobs: dict[tuple, set[int]] = {}
    for space in SPACES:
        for reward in rewards:
            for strategy in STRATEGIES:
                for s in seeds:
                    jobs.setdefault((space, reward, strategy, (), s), set()).update(budgets)
    reference = [("evolution (defaults)", "evolution", {})]
    for label, strategy, options in [(lb, "reinforce", o) for lb, o in ablation] + reference:
        for s in seeds:
            jobs.setdefault((ABLATION_SPACE, ABLATION_REWARD, strategy, _key(options), s),
                            set()).add(ABLATION_BUDGET)
    done = _run_jobs(jobs)

    def summary(space, reward, strategy, options, budget) -> dict:
        outs = [done[(space, reward, strategy, options, s)] for s in seeds]
        ms = [_metrics(o["rewards"], budget) for o in outs]
        return {"last": c.spread([m["last"] for m in ms]), "best": c.spread([m["best"] for m in ms]),
                "seconds": statistics.median(o["wall"][budget] for o in outs),
                "cpu_seconds": statistics.median(o["cpu"][budget] for o in outs),
                "decisions": outs[0]["decisions"]}

    unit = "reward (optimum 1.0)"
    for space in SPACES:
        for reward in rewards:
            for budget in budgets:
                sm = {name: summary(space, reward, name, (), budget) for name in STRATEGIES}
                evo, rnd = sm["evolution"], sm["random"]
                for name, m in sm.items():
                    base = dict(quick=quick, n=len(seeds), space=space, decisions=m["decisions"], reward=reward,
                                **REWARDS[reward], strategy=name, budget=budget, seeds=f"0..{len(seeds) - 1}")
                    yield c.result(BENCH, "last_quarter_mean_reward", m["last"]["median"], unit=unit,
                                   spread=m["last"], ratio=c.ratio(m["last"]["median"], evo["last"]["median"]),
                                   ratio_of="median vs evolution's",
                                   ratio_random=c.ratio(m["last"]["median"], rnd["last"]["median"]),
                                   strategy_seconds=m["seconds"], strategy_cpu_seconds=m["cpu_seconds"], **base)
                    yield c.result(BENCH, "best_reward", m["best"]["median"], unit=unit,
                                   spread=m["best"], ratio=c.ratio(m["best"]["median"], evo["best"]["median"]),
                                   ratio_of="median vs evolution's",
                                   ratio_random=c.ratio(m["best"]["median"], rnd["best"]["median"]), **base)

    rows = [(label, "reinforce", options) for label, options in ablation] + reference
    sms = [summary(ABLATION_SPACE, ABLATION_REWARD, strategy, _key(options), ABLATION_BUDGET)
           for _, strategy, options in rows]
    evo = sms[-1]
    for (label, strategy, options), m in zip(rows, sms):
        yield c.result(BENCH, "ablation", m["last"]["median"], unit=f"last-quarter mean {unit}", n=len(seeds),
                       quick=quick, label=label, strategy=strategy, options=options, space=ABLATION_SPACE,
                       decisions=m["decisions"], reward=ABLATION_REWARD, budget=ABLATION_BUDGET,
                       seeds=f"0..{len(seeds) - 1}", spread=m["last"], best_reward=m["best"],
                       ratio=c.ratio(m["last"]["median"], evo["last"]["median"]),
                       ratio_of="last-quarter median vs evolution's", strategy_seconds=m["seconds"],
                       strategy_cpu_seconds=m["cpu_seconds"])
    yield from small_budget(quick)


# The default search's size: `nas search` runs 40 trials over digits. Where the levers that
# help at 136 decisions cost something, it shows here.
SMALL_SPACE, SMALL_REWARD, SMALL_BUDGET, SMALL_SEEDS, QUICK_SMALL_SEEDS = "digits", "separable", 40, 20, 10
SMALL: list[tuple[str, str, dict]] = [
    ("reinforce defaults", "reinforce", {}),
    ("plain REINFORCE (no PPO clip, 1 pass)", "reinforce", {"ppo_clip": None, "ppo_epochs": 1}),
    ("earlier defaults", "reinforce", dict(ABLATION)["earlier defaults"]),
    ("batch 5, lr 0.01", "reinforce", {"batch_size": 5, "lr": 0.01}),
    ("evolution (defaults)", "evolution", {}),
    ("random", "random", {}),
]


def small_budget(quick: bool) -> Iterator[dict]:
    """REINFORCE's defaults against a few alternatives at the default search's budget."""
    seeds = range(QUICK_SMALL_SEEDS if quick else SMALL_SEEDS)
    jobs = {(SMALL_SPACE, SMALL_REWARD, strategy, _key(options), s): {SMALL_BUDGET}
            for _, strategy, options in SMALL for s in seeds}
    done = _run_jobs(jobs)
    ms = {label: [_metrics(done[(SMALL_SPACE, SMALL_REWARD, strategy, _key(options), s)]["rewards"], SMALL_BUDGET)
                  for s in seeds] for label, strategy, options in SMALL}
    evo = c.spread([m["last"] for m in ms["evolution (defaults)"]])
    for label, strategy, options in SMALL:
        last, best = c.spread([m["last"] for m in ms[label]]), c.spread([m["best"] for m in ms[label]])
        yield c.result(BENCH, "small_budget", last["median"], unit="last-quarter mean reward (optimum 1.0)",
                       n=len(seeds), quick=quick, label=label, strategy=strategy, options=_key(options),
                       space=SMALL_SPACE, reward=SMALL_REWARD, budget=SMALL_BUDGET, seeds=f"0..{len(seeds) - 1}",
                       spread=last, mean=statistics.mean(m["last"] for m in ms[label]), best_reward=best,
                       ratio=c.ratio(last["median"], evo["median"]), ratio_of="last-quarter median vs evolution's")


def markdown(lines: list[str]) -> str:
    """Markdown tables from this benchmark's JSON lines (a later record replaces an earlier one)."""
    import json

    recs = [r for r in (json.loads(x) for x in lines if x.strip()) if r.get("bench") == BENCH]
    cell = {(r["metric"], r["reward"], r["space"], r["strategy"], r["budget"]): r
            for r in recs if r["metric"] in ("last_quarter_mean_reward", "best_reward")}
    ablation = {r["label"]: r for r in recs if r["metric"] == "ablation"}
    small = {r["label"]: r for r in recs if r["metric"] == "small_budget"}

    def fmt(sp: dict | None) -> str:
        return f"{sp['median']:.3f} [{sp['min']:.3f}, {sp['max']:.3f}]" if sp else "-"

    out = []
    for reward in dict.fromkeys(k[1] for k in cell):
        keys = [k for k in cell if k[1] == reward]
        budgets = sorted({k[4] for k in keys})
        rows = sorted({(k[2], k[3]) for k in keys}, key=lambda x: (SPACES.index(x[0]) if x[0] in SPACES else 99,
                                                                   x[1]))
        r0 = cell[keys[0]]
        out += [(f"**{reward}** reward (interaction={r0.get('interaction')}, margin={r0.get('margin')}), "
                 f"n={r0.get('n')} seeds: last-quarter mean reward, median [min, max]"), "",
                "| space | strategy | " + " | ".join(f"last quarter @{b}" for b in budgets)
                + f" | best @{budgets[-1]} |",
                "|---|---|" + "---|" * (len(budgets) + 1)]
        for space, strategy in rows:
            last = [cell.get(("last_quarter_mean_reward", reward, space, strategy, b)) for b in budgets]
            best = cell.get(("best_reward", reward, space, strategy, budgets[-1]))
            out.append(f"| {space} | {strategy} | " + " | ".join(fmt(r and r["spread"]) for r in last)
                       + f" | {fmt(best and best['spread'])} |")
        out.append("")
    if ablation:
        r0 = next(iter(ablation.values()))
        out += [f"**ablation**: {r0['space']}, {r0['reward']} reward, budget {r0['budget']}, n={r0['n']} seeds",
                "", "| label | last-quarter mean | best | ratio to evolution |", "|---|---|---|---|"]
        for label, r in ablation.items():
            ratio = f"{r['ratio']:.3f}" if r.get("ratio") is not None else "-"
            out.append(f"| {label} | {fmt(r['spread'])} | {fmt(r['best_reward'])} | {ratio} |")
    if small:
        r0 = next(iter(small.values()))
        out += ["", f"**small budget**: {r0['space']}, {r0['reward']} reward, budget {r0['budget']}, n={r0['n']} seeds",
                "", "| label | last-quarter mean | best | ratio to evolution |", "|---|---|---|---|"]
        for label, r in small.items():
            out.append(f"| {label} | {fmt(r['spread'])} | {fmt(r['best_reward'])} | {r['ratio']:.3f} |")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    import json
    import sys

    if "--markdown" in sys.argv:
        with open(sys.argv[sys.argv.index("--markdown") + 1]) as f:
            print(markdown(f.readlines()), end="")
    else:
        part = small_budget if "--small" in sys.argv else run
        for rec in part("--quick" in sys.argv):
            print(json.dumps(rec), flush=True)
