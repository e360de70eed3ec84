"""Run the benchmarks and print one JSON object per line.

    python bench/run_all.py --quick                 # every benchmark, small sizes (< 10 min on 2 cores)
    python bench/run_all.py                         # full sizes (about half an hour)
    python bench/run_all.py --only trial_overhead   # one benchmark (repeat --only for several)
    python bench/run_all.py --quick --out results.jsonl   # also append the lines to a file

Every line has ``bench``, ``metric``, ``value``, ``unit``, ``quick`` and, where two things
were compared side by side in the same run, ``ratio``. The first and last lines
(``bench: "run_all"``) record the machine, its load, the date and the total time.
A benchmark that raises prints an ``error`` line; the others still run (exit status 1).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # `python bench/run_all.py` puts bench/, not the repository, on the path
    sys.path.insert(0, ROOT)

from bench import _common as c  # noqa: E402

# name -> module with run(quick) -> Iterator[dict]; cheap ones first, the Ray ones together.
BENCHMARKS = {
    "search_synthetic": "bench.search_synthetic",
    "search_scale": "bench.search_scale",  # its own 2 worker processes, synthetic rewards (no Ray)
    "oneshot_rank": "bench.oneshot_rank",  # its own 2 worker processes and in-process supernet (no Ray)
    "latency": "bench.latency",  # in-process measurements, no Ray (quick: ~40 s; full: ~5 min)
    "machinery": "bench.machinery",
    "trainer_overhead": "bench.trainer_overhead",
    "attach": "bench.attach",  # before the in-process Ray of the next ones exists: its searches are subprocesses
    "trial_overhead": "bench.trial_overhead",
    "search_digits": "bench.search_digits",
    "oneshot_cost": "bench.oneshot_cost",
    "gpu": "bench.gpu",
    "fuzz": "bench.fuzz",
}
QUICK_BUDGET_S = 600


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run nas's benchmarks; one JSON object per line.")
    ap.add_argument("--quick", action="store_true", help="small sizes: every benchmark in under 10 minutes on 2 cores")
    ap.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                    help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    ap.add_argument("--out", metavar="FILE", help="also append the JSON lines to FILE")
    args = ap.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    out = open(args.out, "a") if args.out else None

    def emit(rec: dict) -> None:
        line = json.dumps(rec)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    start = time.perf_counter()
    failed = []
    emit(c.result("run_all", "machine", None, unit="", quick=args.quick, benchmarks=names, **c.machine()))
    try:
        for name in names:
            t = time.perf_counter()
            try:
                for rec in importlib.import_module(BENCHMARKS[name]).run(args.quick):
                    emit(rec)
            except Exception as e:  # report and go on with the next benchmark
                failed.append(name)
                emit(c.result(name, "error", None, unit="", quick=args.quick, error=f"{type(e).__name__}: {e}",
                              traceback=traceback.format_exc(limit=5)))
            emit(c.result(name, "bench_seconds", time.perf_counter() - t, unit="s", quick=args.quick,
                          loadavg_1m=c.loadavg()))
    finally:
        c.shutdown_ray()
        total = time.perf_counter() - start
        extra = {"within_quick_budget": total < QUICK_BUDGET_S} if args.quick and names == list(BENCHMARKS) else {}
        emit(c.result("run_all", "total_seconds", total, unit="s", quick=args.quick, failed=failed,
                      loadavg_1m=c.loadavg(), **extra))
        if out:
            out.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
