"""Per-trial overhead of a search through Ray Tune.

N trials of one fixed-cost architecture (``bench/fixed_arch.yaml`` with ``reuse: false``:
every trial trains, and every training costs the same) are run

* ``c1``: through ``run_search``, one trial at a time, ``reuse_actors=True`` (the default);
* ``fresh``: the same with ``reuse_actors=False`` (a new actor process per trial);
* ``c2``: two trials at a time (``concurrency=2``, ``reuse_actors=True``) on Ray's 2 CPUs;
* ``plain``: in a plain loop in this process, ``nas.tune.trial.run_trial`` (summarize, build,
  train) on the very (arch, seed, train config) the ``c1`` search trained, with the same
  torch threads (1). It runs warm (one untimed trial first): what Ray adds per process
  (spawning it, imports, first calls) counts as Ray's overhead.
* ``procs``: the control for ``c2``: the same training in 1, then 2 plain processes at once
  (no Ray), which shows how much a second trial can gain on this machine at all.

Each search's progress lines are time-stamped, which splits its wall time into a start-up
(until the first trial is recorded, less that trial's own time; of it, ``to_first_run_trial_s``
passes before the first trial's ``run_trial`` starts), the steady per-trial overhead (gap
between consecutive records less the trial's own time, median) and the rest.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

try:
    from . import _common as c
except ImportError:  # run as a script
    import _common as c

BENCH = "trial_overhead"
SPACE = str(Path(__file__).with_name("fixed_arch.yaml"))
ARCH = "conv(16,3) basic(32,norm=ln)*2 gap"  # one of fixed_arch.yaml's two (equal-cost) architectures


def _trial_config(arch: str, proposal: int, epochs: int, search_seed: int = 0) -> dict[str, Any]:
    """The config ``SearchDriver.next_config`` gives a trial (nas/tune/driver.py), for ``run_trial``."""
    from nas.train import TrainConfig

    train = TrainConfig.from_dict({"epochs": epochs})
    seed = train.seed + search_seed * 100_003 + proposal
    return {"arch": arch, "proposal": proposal, "train": dict(train.to_dict(), seed=seed, threads=1),
            "report_every_epoch": False}


def plain_loop(records: list[dict], epochs: int, splits) -> float:
    """Run the trials of ``records`` one after the other in this process; wall seconds."""
    from nas.tune.trial import run_trial

    run_trial(_trial_config(records[0]["arch"], records[0]["proposal"], epochs), splits, report=lambda m: None)
    start = time.perf_counter()
    for r in records:
        out = run_trial(_trial_config(r["arch"], r["proposal"], epochs), splits, report=lambda m: None)
        assert out["status"] == "ok", out
    return time.perf_counter() - start


def _proc_worker(barrier, queue, k: int, epochs: int) -> None:
    from nas.train import data
    from nas.tune.trial import run_trial

    splits = data.load("digits", val_fraction=0.2, seed=0)
    t = time.perf_counter()
    run_trial(_trial_config(ARCH, 0, epochs), splits, report=lambda m: None)  # warm-up
    first = time.perf_counter() - t
    barrier.wait()
    start = time.perf_counter()
    for i in range(k):
        run_trial(_trial_config(ARCH, i, epochs), splits, report=lambda m: None)
    queue.put({"wall": time.perf_counter() - start, "first": first, "ray_imported": "ray" in sys.modules})


def plain_processes(n_procs: int, k: int, epochs: int) -> list[dict]:
    """``n_procs`` plain processes, each training ``k`` trials once all are warm: per process,
    the wall time of the ``k`` (``wall``), its first ``run_trial`` (``first``, untimed warm-up
    of the k) and whether Ray got imported (``run_trial`` outside Ray must not start one)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(n_procs), ctx.Queue()
    procs = [ctx.Process(target=_proc_worker, args=(barrier, queue, k, epochs)) for _ in range(n_procs)]
    for p in procs:
        p.start()
    walls = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return walls


def breakdown(run, wall: float, stamps, start: float, concurrency: int) -> dict[str, float]:
    """Start-up, steady per-trial overhead and steady throughput of one search from its stamps."""
    inside = [r["seconds"] for r in run.records]
    done = [t - start for t in stamps.done]
    gaps = [b - a for a, b in zip(done, done[1:])]
    out = {"wall_s": wall, "trial_inside_s": statistics.mean(inside), "first_recorded_s": done[0],
           "startup_s": done[0] - inside[0], "first_trial_inside_s": inside[0], "after_last_s": wall - done[-1]}
    first_start = run.records[0].get("started_at")  # wall clock when run_trial began (nas/tune/trial.py)
    if first_start is not None and stamps.start_wall is not None:
        # run_search called -> the first trial's run_trial starts: config checks, data, Tune's set-up,
        # the actor's process start and imports.
        out["to_first_run_trial_s"] = first_start - stamps.start_wall
    if concurrency == 1:
        out["steady_overhead_s"] = statistics.median(g - i for g, i in zip(gaps, inside[1:]))
    out["steady_trials_per_min"] = 60 * len(gaps) / (done[-1] - done[0]) if len(gaps) else None
    return out


def run(quick: bool) -> Iterator[dict]:
    from nas.train import data

    n, epochs = (10, 3) if quick else (30, 3)
    init_s = c.ensure_ray()
    if init_s:
        yield c.result(BENCH, "ray_init_seconds", init_s, unit="s", quick=quick,
                       note="ray.init(num_cpus=2), once per benchmark run; not in any search time")
    common = dict(space=SPACE, trials=n, epochs=epochs, strategy="random", seed=0, reuse=False, cpus_per_trial=1.0)
    b: dict[str, dict[str, float]] = {}
    runs = {}
    with tempfile.TemporaryDirectory(prefix="nas-bench-overhead-") as tmp:  # the run folders
        for name, kw in [("c1", dict(concurrency=1, reuse_actors=True)),
                         ("fresh", dict(concurrency=1, reuse_actors=False)),
                         ("c2", dict(concurrency=2, reuse_actors=True))]:
            run_, wall, stamps, start = c.search(tmp, name=name, **common, **kw)
            runs[name] = run_
            b[name] = breakdown(run_, wall, stamps, start, kw["concurrency"])
    splits = data.load("digits", val_fraction=0.2, seed=0)
    plain_s = plain_loop(runs["c1"].records, epochs, splits)
    k = 4 if quick else 10
    solo_p = plain_processes(1, k, epochs)[0]
    pair_p = plain_processes(2, k, epochs)
    solo, pair = solo_p["wall"], [p["wall"] for p in pair_p]

    load = c.loadavg()
    base = dict(quick=quick, n=n, epochs=epochs, arch=ARCH, space_file="bench/fixed_arch.yaml", loadavg_1m=load)
    c1, fresh, c2 = b["c1"], b["fresh"], b["c2"]
    yield c.result(BENCH, "search_vs_plain_loop_wall", c1["wall_s"] / plain_s, unit="x",
                   ratio=c1["wall_s"] / plain_s, search_s=c1["wall_s"], plain_s=plain_s,
                   plain_per_trial_s=plain_s / n, per_trial_overhead_s=(c1["wall_s"] - plain_s) / n,
                   setting="concurrency 1, reuse_actors=True", search=c1, **base)
    yield c.result(BENCH, "steady_per_trial_overhead_seconds", c1["steady_overhead_s"], unit="s",
                   startup_s=c1["startup_s"], trial_inside_s=c1["trial_inside_s"], plain_per_trial_s=plain_s / n,
                   setting="concurrency 1, reuse_actors=True; median gap between records less the trial's time",
                   **base)
    yield c.result(BENCH, "reuse_actors_false_vs_true_wall", fresh["wall_s"] / c1["wall_s"], unit="x",
                   ratio=fresh["wall_s"] / c1["wall_s"], reuse_false_s=fresh["wall_s"], reuse_true_s=c1["wall_s"],
                   per_trial_overhead_reuse_false_s=(fresh["wall_s"] - plain_s) / n,
                   per_trial_overhead_reuse_true_s=(c1["wall_s"] - plain_s) / n,
                   steady_overhead_reuse_false_s=fresh["steady_overhead_s"],
                   steady_overhead_reuse_true_s=c1["steady_overhead_s"],
                   trial_inside_reuse_false_s=fresh["trial_inside_s"], trial_inside_reuse_true_s=c1["trial_inside_s"],
                   setting="concurrency 1", **base)
    yield c.result(BENCH, "throughput_concurrency2_vs_1", c1["wall_s"] / c2["wall_s"], unit="x",
                   ratio=c1["wall_s"] / c2["wall_s"],
                   steady_ratio=c.ratio(c2["steady_trials_per_min"], c1["steady_trials_per_min"]),
                   trials_per_min_c1=60 * n / c1["wall_s"], trials_per_min_c2=60 * n / c2["wall_s"],
                   trial_inside_c1_s=c1["trial_inside_s"], trial_inside_c2_s=c2["trial_inside_s"],
                   setting="Ray on 2 CPUs, cpus_per_trial=1, reuse_actors=True", search_c2=c2, **base)
    yield c.result(BENCH, "first_run_trial_in_fresh_process_seconds", solo_p["first"], unit="s",
                   steady_run_trial_s=solo / k, ray_imported=solo_p["ray_imported"],
                   setting="no Ray: a new process's first nas.tune.trial.run_trial (imports done; first calls of "
                           "torch, e.g. torch._dynamo imported by torch.optim); the rest of what "
                           "reuse_actors=False pays per trial is Ray starting the actor process", **base)
    yield c.result(BENCH, "throughput_2_plain_processes_vs_1", k * 2 / max(pair) / (k / solo), unit="x",
                   ratio=k * 2 / max(pair) / (k / solo), solo_s=solo, pair_s=pair, trials_per_process=k,
                   setting="no Ray: the same trial in 1 vs 2 processes at once, 1 thread each (the machine's "
                           "own scaling, the control for throughput_concurrency2_vs_1)", **base)


if __name__ == "__main__":
    import json

    for rec in run("--quick" in sys.argv):
        print(json.dumps(rec), flush=True)
    c.shutdown_ray()
