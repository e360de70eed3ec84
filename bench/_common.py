"""Helpers shared by the benchmarks: result records, spread statistics, the machine, a local Ray.

Nothing here imports Ray at module level, so ``bench/gpu.py`` can use it on a machine
without Ray installed.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import platform
import statistics
import time
from typing import Any, Sequence

def result(bench: str, metric: str, value: Any, *, unit: str, quick: bool, n: int | None = None,
           **extra: Any) -> dict[str, Any]:
    """One benchmark figure: the JSON object ``run_all.py`` prints on one line."""
    rec: dict[str, Any] = {"bench": bench, "metric": metric, "value": _round(value), "unit": unit}
    if n is not None:
        rec["n"] = n
    rec["quick"] = quick
    rec.update({k: _round(v) for k, v in extra.items()})
    return rec


def _round(v: Any) -> Any:
    if isinstance(v, float):
        return float(f"{v:.4g}")
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_round(x) for x in v]
    return v


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and the quartiles (inclusive method) of ``values``."""
    xs = sorted(float(v) for v in values)
    if len(xs) == 1:
        q1 = q3 = xs[0]
    else:
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return {"median": statistics.median(xs), "min": xs[0], "max": xs[-1], "q1": q1, "q3": q3}


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def machine() -> dict[str, Any]:
    """Where and when: CPU count, load average, Python/torch versions, UTC date."""
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "loadavg_1m": round(load[0], 2),
        "loadavg_5m": round(load[1], 2),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def loadavg() -> float:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else float("nan")


# --------------------------------------------------------------------------------------
# Ray: one local instance for all benchmarks of a run (run_search reuses an initialised Ray
# and leaves it running), started on first use and shut down by run_all at the end.

RAY_CPUS = 2
_ray_started_here = False
ray_init_seconds: float | None = None


def ensure_ray(num_cpus: int = RAY_CPUS) -> float:
    """Start a local Ray with ``num_cpus`` CPUs unless one is running; returns the seconds it took."""
    global _ray_started_here, ray_init_seconds
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray

    if ray.is_initialized():
        return 0.0
    start = time.perf_counter()
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
             configure_logging=True)
    for name in ("ray", "ray.tune", "ray.train", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    _ray_started_here = True
    ray_init_seconds = time.perf_counter() - start
    return ray_init_seconds


def shutdown_ray() -> None:
    global _ray_started_here
    if _ray_started_here:
        import ray

        ray.shutdown()
        _ray_started_here = False


class Stamps:
    """Search events (``nas.tune.SearchEvents``) that note when each trial is recorded:
    ``done`` holds the ``time.perf_counter()`` of every recorded trial, in order."""

    def __init__(self):
        self.done: list[float] = []
        self.start_wall: float | None = None

    def started(self, driver) -> None:
        pass

    def recorded(self, driver, record) -> None:
        self.done.append(time.perf_counter())

    def warning(self, message: str) -> None:
        raise RuntimeError(f"the benchmarked search warned: {message}")


def search(runs_dir: str, **config: Any):
    """``nas.tune.run_search`` with the time each trial was recorded.

    Returns ``(SearchDriver, wall seconds, Stamps, start)``; ``Stamps.done[k] - start`` is when
    trial k + 1 was recorded.
    """
    from nas.tune import SearchConfig, run_search

    ensure_ray()
    cfg = SearchConfig(runs_dir=runs_dir, **config)
    stamps = Stamps()
    stamps.start_wall = time.time()  # for the records' wall-clock ``started_at``
    start = time.perf_counter()
    run = run_search(cfg, events=stamps)
    return run, time.perf_counter() - start, stamps, start


def distinct_samples(space, n: int, seed: int = 0) -> list[tuple[int, ...]]:
    """``n`` distinct valid choice vectors of ``space``, drawn uniformly with a seeded generator."""
    import random

    rng, seen, out = random.Random(seed), set(), []
    while len(out) < n:
        choices = space.sample(rng)
        if choices not in seen:
            seen.add(choices)
            out.append(choices)
    return out
