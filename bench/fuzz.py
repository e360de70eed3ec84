"""The fuzzers of the test suite (``pytest -m fuzz``), run longer: how many inputs of each kind
ended in success and how many in one of nas's one-line errors, and how many in anything else.

Every fuzz test in ``tests/`` runs its inputs through ``nas.testing.fuzz.settle``, which fails
the test on a traceback, a multi-line message, a slow input or a memory blow-up, and appends
``target<TAB>outcome`` to ``$NAS_FUZZ_COUNTS``. ``$NAS_FUZZ_EXAMPLES`` multiplies each
fuzzer's number of examples: 1 in the test suite, ``QUICK`` / ``FULL`` here. Hypothesis runs
derandomized, so a run is reproducible; a failing input is printed by pytest in full.

    python bench/run_all.py --only fuzz [--quick]
"""
from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

try:
    from . import _common as c
except ImportError:  # run as a script
    import _common as c

BENCH = "fuzz"
QUICK, FULL = 3, 20  # times the test suite's examples
ROOT = Path(__file__).resolve().parents[1]


def run(quick: bool) -> Iterator[dict]:
    factor = QUICK if quick else FULL
    with tempfile.TemporaryDirectory() as tmp:
        counts = Path(tmp) / "counts.tsv"
        env = dict(os.environ, NAS_FUZZ_EXAMPLES=str(factor), NAS_FUZZ_COUNTS=str(counts))
        start = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "pytest", "-m", "fuzz", "-q", "-p", "no:cacheprovider",
                            "-o", "addopts=", "tests"], cwd=ROOT, env=env, capture_output=True, text=True,
                           check=False)
        seconds = time.perf_counter() - start
        seen = collections.Counter(tuple(line.split("\t")) for line in counts.read_text().splitlines()) \
            if counts.exists() else collections.Counter()
    failed = re.findall(r"^FAILED (\S+)", p.stdout, re.M)
    for target in sorted({t for t, _ in seen}):
        ok, refused = seen[(target, "ok")], seen[(target, "refused")]
        yield c.result(BENCH, f"{target}_inputs", ok + refused, unit="inputs", quick=quick, ok=ok, refused=refused,
                       factor=factor)
    yield c.result(BENCH, "inputs", sum(seen.values()), unit="inputs", quick=quick, factor=factor,
                   failed_tests=failed, pytest_exit=p.returncode, seconds=round(seconds, 1),
                   loadavg_1m=c.loadavg())
    if p.returncode != 0:  # pytest's "E" lines hold the assertion and the shrunk failing input
        why = "\n".join([line for line in p.stdout.splitlines() if line.startswith("E ")][:60])
        raise RuntimeError(f"fuzz tests failed ({len(failed)}): {', '.join(failed)}\n{why}")


if __name__ == "__main__":
    import json

    for rec in run("--quick" in sys.argv):
        print(json.dumps(rec), flush=True)
