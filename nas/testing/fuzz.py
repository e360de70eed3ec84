"""One harness for the fuzzers in ``tests/`` and their longer run in ``bench/fuzz.py``.

Every fuzzed input must end in success or in one of this package's errors (:class:`NasError`,
whose message is one line), within a time and a memory bound. :func:`settle` runs one input,
checks that, and returns the outcome's name; with ``$NAS_FUZZ_COUNTS`` set it also appends
``target<TAB>outcome`` to that file, which is how the benchmark counts outcomes.
``$NAS_FUZZ_EXAMPLES`` scales every fuzzer's number of examples (:func:`examples`).
"""
from __future__ import annotations

import os
import resource
import time
from typing import Any, Callable

from ..errors import NasError

COUNTS_ENV = "NAS_FUZZ_COUNTS"
EXAMPLES_ENV = "NAS_FUZZ_EXAMPLES"
GIB = 1 << 30


def examples(default: int) -> int:
    """A fuzzer's number of examples: ``default`` in the test suite, times the factor in
    ``$NAS_FUZZ_EXAMPLES`` (the benchmark's longer run)."""
    return max(1, int(default * float(os.environ.get(EXAMPLES_ENV, "1"))))


def _max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class FuzzFailure(AssertionError):
    """An input that ended neither in success nor in one of our one-line errors, or too slowly."""


def settle(target: str, fn: Callable[..., Any], *args: Any, seconds: float = 10.0,
           memory: int = 2 * GIB, **kwargs: Any) -> str:
    """Run ``fn(*args, **kwargs)``: ``"ok"``, or ``"refused"`` for a :class:`NasError` with a
    one-line message. Any other exception, a multi-line message, more than ``seconds`` of wall
    time or a peak-memory rise of more than ``memory`` bytes raises :class:`FuzzFailure`."""
    rss, start = _max_rss(), time.monotonic()
    try:
        fn(*args, **kwargs)
        outcome = "ok"
    except NasError as e:
        if "\n" in str(e) or not str(e).strip():
            raise FuzzFailure(f"{target}: error message is not one line: {str(e)!r}") from e
        outcome = "refused"
    except Exception as e:  # noqa: BLE001  (the point: anything else is a defect)
        raise FuzzFailure(f"{target}: {type(e).__name__} escaped: {e}") from e
    elapsed = time.monotonic() - start
    if elapsed > seconds:
        raise FuzzFailure(f"{target}: took {elapsed:.1f}s (bound {seconds}s)")
    grew = _max_rss() - rss
    if grew > memory:
        raise FuzzFailure(f"{target}: peak memory rose by {grew / GIB:.1f} GiB (bound {memory / GIB:.1f})")
    counts = os.environ.get(COUNTS_ENV)
    if counts:
        with open(counts, "a") as f:
            f.write(f"{target}\t{outcome}\n")
    return outcome
