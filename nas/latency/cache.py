"""A per-architecture cache of latencies, kept as ``latency.jsonl`` in a run folder so that a
resumed search never measures an architecture twice.

One JSON object per line, appended, flushed and fsynced (as ``trials.jsonl``)::

    {"arch": "conv(16,3) ... gap", "input": [1, 8, 8], "classes": 10,
     "latency": {"ms": 0.41, "iqr_ms": 0.01, "runs": 480, "target": "cpu", "batch_size": 1,
                 "threads": 1, "seconds": 0.23, "setup_seconds": 0.01}}

The key is (canonical architecture string, target, batch size, threads, input shape,
classes): a latency measured under other conditions is another entry. Timing settings
(``min_run_time``, ``warmup``) change how precise a measurement is, not what it measures,
so they are not in the key. Nor is the machine: a run folder moved to another machine
keeps the first machine's numbers (delete ``latency.jsonl`` to measure again; it is only
a cache).

A crash mid-append leaves a torn last line: it is ignored on reading and cut off before the
next append. Any other damaged line is one ``ConfigError`` naming the file and the line.
The file has one writer, the search that holds the run folder's lock.

Bounds (a cache grows by one line per architecture, so it is not held to the size bound of
configuration files): a line is at most :data:`MAX_LINE_BYTES` (an architecture string of
``nas.limits``' ``max_arch_chars`` fits), and the file at most :data:`MAX_ENTRIES` lines;
Zoph & Le 2017 trained 12,800 architectures, so 100,000 is room for the longest searches.
Reading refuses a file past either bound; once full, new measurements are kept in memory
only (``put`` returns False) and a resume measures them again.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ConfigError
from ..lang import Arch, parse
from ..limits import LIMITS
from .config import Latency, LatencyConfig
from .measure import measure_arch

FILE = "latency.jsonl"
MAX_ENTRIES = 100_000
MAX_LINE_BYTES = LIMITS.max_arch_chars + 4096  # the architecture plus the key and the numbers
MAX_FILE_BYTES = MAX_ENTRIES * MAX_LINE_BYTES
DAMAGED_HINT = ("it is only a cache of measurements: remove that line, or the whole file, and the "
                "architectures are measured again")

Key = tuple[str, str, int, int, tuple[int, ...], int]


def cache_key(arch: Arch | str, input_shape, num_classes: int, target: str, batch_size: int, threads: int) -> Key:
    """The cache key of a measurement; the architecture in its canonical spelling."""
    return (str(parse(arch)), str(target), int(batch_size), int(threads), tuple(int(d) for d in input_shape),
            int(num_classes))


class LatencyCache:
    """Latencies by (architecture, conditions): in memory, and appended to ``path`` when one
    is given (``None``: memory only). The file is read on first use.

    >>> cache = LatencyCache(None)
    >>> lat = cache.measure("conv(8,3) gap", (1, 8, 8), 10, LatencyConfig(min_run_time=0.01))
    >>> cache.get("conv(8,3) gap", (1, 8, 8), 10, LatencyConfig()) == lat
    True
    """

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        self._entries: dict[Key, Latency] | None = None
        self._lines = 0  # lines in the file (the bound counts them)
        self._tail_checked = False

    def __len__(self) -> int:
        return len(self._loaded())

    def load(self) -> "LatencyCache":
        """Read the file now (it is otherwise read on first use), so that a damaged cache is
        refused before a search starts rather than at its first measurement."""
        self._loaded()
        return self

    # -- reading
    def _loaded(self) -> dict[Key, Latency]:
        if self._entries is None:
            self._entries = {}
            if self.path is not None and self.path.exists():
                self._read()
        return self._entries

    def _read(self) -> None:
        assert self.path is not None and self._entries is not None
        size = self.path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(f"{self.path}: {size:,} bytes, more than the latency cache's limit of "
                              f"{MAX_FILE_BYTES:,}; {DAMAGED_HINT}")
        lines = self.path.read_bytes().split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline; else a torn last line
        if len(lines) > MAX_ENTRIES:
            raise ConfigError(f"{self.path}: {len(lines):,} lines, more than the latency cache's limit of "
                              f"{MAX_ENTRIES:,}; {DAMAGED_HINT}")
        for number, line in enumerate(lines, start=1):
            if line.strip():
                key, lat = self._parse(line, number)
                self._entries[key] = lat  # a later line for the same key wins
        if tail.strip():
            try:  # a whole record that only lacks its newline is kept
                key, lat = self._parse(tail, len(lines) + 1)
                self._entries[key] = lat
            except ConfigError:
                pass  # torn by a crash mid-write: ignored, and cut off before the next append
        self._lines = len(lines) + (1 if tail.strip() else 0)

    def _parse(self, line: bytes, number: int) -> tuple[Key, Latency]:
        def damaged(why: str) -> ConfigError:
            return ConfigError(f"{self.path}: line {number} {why}; the file is damaged: {DAMAGED_HINT}")

        if len(line) > MAX_LINE_BYTES:
            raise damaged(f"is {len(line):,} bytes, more than the limit of {MAX_LINE_BYTES:,}")
        try:
            rec = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise damaged("is not valid JSON") from None
        if not isinstance(rec, dict) or set(rec) != {"arch", "input", "classes", "latency"}:
            raise damaged("is not a latency record (arch, input, classes, latency)")
        try:
            lat = Latency.from_dict(rec["latency"])
            shape = rec["input"]
            if (not isinstance(shape, list) or len(shape) != 3
                    or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)):
                raise ValueError(f"input {shape!r} is not [C, H, W]")
            classes = rec["classes"]
            if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
                raise ValueError(f"classes {classes!r} is not a whole number >= 1")
            if not isinstance(rec["arch"], str):
                raise ValueError("arch is not text")
            key = cache_key(rec["arch"], shape, classes, lat.target, lat.batch_size, lat.threads)
        except ValueError as e:  # ArchError is a ValueError too
            raise damaged(f"is not a valid latency record ({e})") from None
        return key, lat

    def get(self, arch: Arch | str, input_shape, num_classes: int, config: LatencyConfig) -> Latency | None:
        """The cached latency of ``arch`` under ``config``'s conditions, or None."""
        key = cache_key(arch, input_shape, num_classes, config.target, config.batch_size, config.threads)
        return self._loaded().get(key)

    # -- writing
    def put(self, arch: Arch | str, input_shape, num_classes: int, latency: Latency) -> bool:
        """Remember ``latency`` (measured under its own target, batch size and threads) and
        append it to the file; True when it was written durably, False when it is kept in
        memory only (no file, or the file is at its bound)."""
        entries = self._loaded()
        key = cache_key(arch, input_shape, num_classes, latency.target, latency.batch_size, latency.threads)
        entries[key] = latency
        if self.path is None:
            return False
        line = json.dumps({"arch": key[0], "input": list(key[4]), "classes": key[5],
                           "latency": latency.to_dict()}).encode() + b"\n"
        if len(line) > MAX_LINE_BYTES or self._lines >= MAX_ENTRIES:
            return False
        self._cut_torn_tail()
        with open(self.path, "ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self._lines += 1
        return True

    def _cut_torn_tail(self) -> None:
        """Before the first append: a last line without its newline is either a whole record
        (it gets its newline) or torn by a crash (it is cut off; it was ignored on reading),
        so the next record starts on a line of its own."""
        if self._tail_checked or self.path is None:
            return
        self._tail_checked = True
        if not self.path.exists():
            return
        raw = self.path.read_bytes()
        end = raw.rfind(b"\n") + 1
        tail = raw[end:]
        if not tail.strip():
            return
        try:
            self._parse(tail, raw.count(b"\n") + 1)
        except ConfigError:
            with open(self.path, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
            self._lines -= 1
        else:
            with open(self.path, "ab") as f:
                f.write(b"\n")
                os.fsync(f.fileno())

    def measure(self, arch: Arch | str, input_shape, num_classes: int, config: LatencyConfig | None = None
                ) -> Latency:
        """The cached latency of ``arch``, else measured (:func:`~nas.latency.measure_arch`) and put."""
        config = config or LatencyConfig()
        cached = self.get(arch, input_shape, num_classes, config)
        if cached is not None:
            return cached
        latency = measure_arch(arch, input_shape, num_classes, config)
        self.put(arch, input_shape, num_classes, latency)
        return latency
