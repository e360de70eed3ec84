"""The cost and repeatability of measuring latency (``nas.latency``), on the shipped ``digits`` space.

``N`` distinct architectures are drawn uniformly from the valid ones (seed 0). Each is
measured ``R`` times on the ``cpu`` target (PyTorch eager) and the first ``N_ORT`` of them
``R_ORT`` times on ``onnxruntime``, every time afresh (``measure_arch``: build, export for
ONNX Runtime, warm-up, timing; no cache), with the defaults (batch 1, 1 thread,
``min_run_time`` 0.2 s). Per target:

* cost: seconds per measurement, everything included, and the part before timing (build,
  export, session);
* repeatability: the coefficient of variation (std / mean) of an architecture's R latencies,
  summarised over the architectures (median and max);
* rank agreement (Kendall's tau-b, ``nas.oneshot.rank``) of the median latencies with MACs
  and with parameters (would a static count have ranked the architectures the same?), and
  between the two targets; and of each target with itself, the medians of the odd-numbered
  repeats against those of the even-numbered ones (split halves): the ceiling the noise of
  measuring puts on every other agreement.

Then the cost/repeatability trade-off of ``min_run_time`` (0.05, 0.2, 1.0 s) on ``cpu``, over
the first ``N_ORT`` architectures, ``R_ORT`` times each. The load average is recorded at the
start and the end: the machine may be shared, and other processes slow and scatter latency.
Full: N = 20, R = 10, N_ORT = 10, R_ORT = 5 (about 5 minutes on 2 cores). Quick: 6, 3, 3, 2.
"""
from __future__ import annotations

import statistics
import time
from typing import Iterator

try:
    from . import _common as c
except ImportError:  # run as a script
    import _common as c

BENCH = "latency"
SWEEP = (0.05, 0.2, 1.0)


def _cv(xs: list[float]) -> float:
    return statistics.stdev(xs) / statistics.mean(xs) if len(xs) > 1 else 0.0


def _halves(ms: list[list[float]]) -> tuple[list[float], list[float]]:
    """Per architecture, the median of its odd-numbered repeats and of its even-numbered ones."""
    return [statistics.median(xs[0::2]) for xs in ms], [statistics.median(xs[1::2]) for xs in ms]


def _measure(space, archs: list[str], repeats: int, config) -> tuple[list[list[float]], list[float], list[float]]:
    """(latency ms per architecture per repeat, seconds per measurement, setup seconds per measurement)."""
    from nas.latency import measure_arch

    ms: list[list[float]] = [[] for _ in archs]
    seconds, setup = [], []
    for _ in range(repeats):  # repeats outermost: a slow spell of the machine hits every architecture alike
        for i, arch in enumerate(archs):
            lat = measure_arch(arch, space.input_shape, space.num_classes, config)
            ms[i].append(lat.ms)
            seconds.append(lat.seconds)
            setup.append(lat.setup_seconds)
    return ms, seconds, setup


def _summary(target: str, ms: list[list[float]], seconds: list[float], setup: list[float], quick: bool,
             repeats: int, load_start: float, **extra) -> Iterator[dict]:
    cvs = [_cv(xs) for xs in ms]
    medians = [statistics.median(xs) for xs in ms]
    yield c.result(BENCH, f"{target}_seconds_per_measurement", statistics.median(seconds), unit="s", quick=quick,
                   n=len(ms), repeats=repeats, spread=c.spread(seconds), setup_seconds=c.spread(setup), **extra)
    yield c.result(BENCH, f"{target}_cv_median", statistics.median(cvs), unit="std/mean", quick=quick, n=len(ms),
                   repeats=repeats, cv_max=max(cvs), cv_spread=c.spread(cvs), latency_ms=c.spread(medians),
                   loadavg_start=load_start, loadavg_end=c.loadavg(), **extra)


def run(quick: bool) -> Iterator[dict]:
    from nas.latency import LatencyConfig
    from nas.oneshot.rank import kendall_tau
    from nas.space import SearchSpace

    n, repeats, n_ort, repeats_ort = (6, 3, 3, 2) if quick else (20, 10, 10, 5)
    space = SearchSpace.load("digits")
    choices = c.distinct_samples(space, n)
    archs = [space.decode(ch) for ch in choices]
    params, macs = zip(*(space.cost(ch) for ch in choices))
    load_start = c.loadavg()
    yield c.result(BENCH, "machine", None, unit="", quick=quick, **c.machine())

    cpu = LatencyConfig(target="cpu")
    ms_cpu, sec, setup = _measure(space, archs, repeats, cpu)
    yield from _summary("cpu", ms_cpu, sec, setup, quick, repeats, load_start)
    ort = LatencyConfig(target="onnxruntime")
    load = c.loadavg()
    ms_ort, sec, setup = _measure(space, archs[:n_ort], repeats_ort, ort)
    yield from _summary("onnxruntime", ms_ort, sec, setup, quick, repeats_ort, load)

    med_cpu = [statistics.median(xs) for xs in ms_cpu]
    med_ort = [statistics.median(xs) for xs in ms_ort]
    for name, a, b in (("cpu_vs_macs", med_cpu, macs), ("cpu_vs_params", med_cpu, params),
                       ("onnxruntime_vs_macs", med_ort, macs[:n_ort]),
                       ("onnxruntime_vs_params", med_ort, params[:n_ort]),
                       ("cpu_vs_onnxruntime", med_cpu[:n_ort], med_ort),
                       ("cpu_split_half", *_halves(ms_cpu)), ("onnxruntime_split_half", *_halves(ms_ort))):
        yield c.result(BENCH, f"kendall_tau_{name}", kendall_tau(list(a), list(b)), unit="tau", quick=quick,
                       n=len(a))
    yield c.result(BENCH, "per_arch", None, unit="", quick=quick, n=n, archs=archs, macs=list(macs),
                   params=list(params), cpu_ms=med_cpu, onnxruntime_ms=med_ort, cpu_ms_runs=ms_cpu,
                   onnxruntime_ms_runs=ms_ort)

    for mrt in SWEEP[:2] if quick else SWEEP:
        load = c.loadavg()
        ms, sec, setup = _measure(space, archs[:n_ort], repeats_ort, LatencyConfig(target="cpu", min_run_time=mrt))
        cvs = [_cv(xs) for xs in ms]
        yield c.result(BENCH, f"cpu_min_run_time_{mrt:g}", statistics.median(cvs), unit="std/mean", quick=quick,
                       n=n_ort, repeats=repeats_ort, min_run_time=mrt, cv_max=max(cvs),
                       seconds_per_measurement=statistics.median(sec),
                       latency_ms=c.spread([statistics.median(xs) for xs in ms]), loadavg_start=load,
                       loadavg_end=c.loadavg())


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    start = time.perf_counter()
    for line in run(args.quick):
        print(json.dumps(line), flush=True)
    print(json.dumps(c.result(BENCH, "bench_seconds", time.perf_counter() - start, unit="s", quick=args.quick,
                              loadavg_1m=c.loadavg())))
