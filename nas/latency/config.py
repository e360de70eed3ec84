"""What a latency measurement is asked to do (:class:`LatencyConfig`) and what it found
(:class:`Latency`): two frozen dataclasses, no torch.

A latency is only meaningful with its conditions: the same network takes several times
longer with 1 intra-op thread than with 8, and a batch of 32 is not 32 times a batch of 1.
So the conditions that change the number (target, batch size, threads) travel with every
:class:`Latency`, and the cache (:mod:`nas.latency.cache`) keys on them.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

from ..config import from_dict
from ..errors import ConfigError
from ..registry import suggest

# Bounds on the settings. A batch is what one inference call sees: deployment batches are 1
# (a phone, a request) to a few hundred (a server); 1024 leaves room without letting a typo
# allocate a thousand times a trial's activations. 256 threads is past any single machine's
# useful intra-op parallelism. 60 s of timing per architecture would stall a search for
# minutes per proposal; 0.2 s (torch.utils.benchmark's default) is usually enough.
MAX_BATCH_SIZE = 1024
MAX_THREADS = 256
MAX_MIN_RUN_TIME = 60.0
MAX_WARMUP = 100


@dataclass(frozen=True)
class LatencyConfig:
    """How to measure the inference latency of a network.

    Example::

        LatencyConfig()                                        # PyTorch eager, this CPU, batch 1, 1 thread
        LatencyConfig(target="onnxruntime", threads=4)         # ONNX Runtime's CPU provider, 4 threads
        LatencyConfig.from_dict({"target": "cuda", "batch_size": 32})
    """

    target: str = "cpu"  # a name in nas.latency.TARGETS: "cpu", "onnxruntime", "cuda"
    batch_size: int = 1  # inputs per call: (batch_size, C, H, W)
    threads: int = 1  # intra-op threads (torch.set_num_threads / ORT intra_op_num_threads)
    # Seconds of timed calls per measurement (torch.utils.benchmark's blocked_autorange): longer
    # is more repeatable and costs more; bench/latency.py measures the trade-off.
    min_run_time: float = 0.2
    # Untimed calls before timing: the first calls allocate buffers, pick kernels (oneDNN
    # primitives, cuDNN algorithms) and fault memory in, and are several times slower.
    warmup: int = 1

    def __post_init__(self):
        # The registry of backends; imported here because its module imports this one.
        from .targets import TARGETS

        if self.target not in TARGETS:
            raise ConfigError(f"LatencyConfig key 'target' is {self.target!r}{suggest(self.target, TARGETS)}")
        for key, hi in (("batch_size", MAX_BATCH_SIZE), ("threads", MAX_THREADS)):
            v = getattr(self, key)
            if not 1 <= v <= hi:
                raise ConfigError(f"LatencyConfig key {key!r} must be 1 to {hi}, got {v}")
        if not (math.isfinite(self.min_run_time) and 0 < self.min_run_time <= MAX_MIN_RUN_TIME):
            raise ConfigError(f"LatencyConfig key 'min_run_time' must be more than 0 and at most "
                              f"{MAX_MIN_RUN_TIME:g} seconds, got {self.min_run_time}")
        if not 0 <= self.warmup <= MAX_WARMUP:
            raise ConfigError(f"LatencyConfig key 'warmup' must be 0 to {MAX_WARMUP}, got {self.warmup}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LatencyConfig":
        """``LatencyConfig.from_dict({"target": "onnxruntime"})``; errors name the key."""
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Latency:
    """One measurement: the median time per call and its spread, with its conditions.

    ``ms`` is the median over timed blocks of the time per call (a block is many calls timed
    together, torch.utils.benchmark's ``blocked_autorange``); the median, not the mean, so a
    block slowed by another process's burst moves it little. ``iqr_ms`` is the interquartile
    range of the same blocks: a large one next to ``ms`` means the machine was busy. ``runs``
    counts the timed calls. ``seconds`` is the whole cost of the measurement (building the
    network, exporting it for ONNX Runtime, warm-up and timing); ``setup_seconds`` is the part
    before timing (building, exporting, moving to the device, starting a session).
    """

    ms: float
    iqr_ms: float
    runs: int
    target: str
    batch_size: int
    threads: int
    seconds: float
    setup_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "Latency":
        """The Latency a :meth:`to_dict` wrote; ``ValueError`` saying what is wrong otherwise
        (the cache turns it into one line naming the file and line)."""
        if not isinstance(data, dict):
            raise ValueError(f"a latency is a JSON object, not {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown latency field {unknown[0]!r}")
        missing = [n for n in names[:7] if n not in data]  # setup_seconds is optional
        if missing:
            raise ValueError(f"the latency has no {missing[0]!r}")
        for key in ("ms", "iqr_ms", "seconds", "setup_seconds"):
            v = data.get(key, 0.0)
            number = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
            if not number or v < 0 or (key == "ms" and v == 0):
                raise ValueError(f"latency field {key!r} is {v!r}, not a number {'> 0' if key == 'ms' else '>= 0'}")
        for key in ("runs", "batch_size", "threads"):
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"latency field {key!r} is {v!r}, not a whole number >= 1")
        if not isinstance(data["target"], str):
            raise ValueError(f"latency field 'target' is {data['target']!r}, not a name")
        return cls(**{k: float(data[k]) if k in ("ms", "iqr_ms", "seconds", "setup_seconds") else data[k]
                      for k in names if k in data})
