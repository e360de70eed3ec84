"""Measured inference latency: the cost MnasNet optimizes (Tan et al. 2019, Sec. 3, Eq. 2:
"real-world inference latency by executing the model on mobile phones"), here on the targets
this machine has: PyTorch eager on the CPU, ONNX Runtime on the CPU, PyTorch on a CUDA GPU.

>>> from nas.latency import LatencyConfig, measure_arch
>>> lat = measure_arch("conv(16,3) basic(32,stride=2) gap", (1, 8, 8), 10,
...                    LatencyConfig(target="cpu", min_run_time=0.01))
>>> lat.ms > 0
True

What is measured and how to read it: docs/latency.md.
"""
from .cache import FILE, MAX_ENTRIES, MAX_LINE_BYTES, LatencyCache, cache_key
from .config import Latency, LatencyConfig
from .measure import SEED, measure_arch, measure_model
from .targets import TARGETS, Backend, MeasureError, Timing, check_target, export_onnx

__all__ = ["FILE", "MAX_ENTRIES", "MAX_LINE_BYTES", "SEED", "TARGETS", "Backend", "Latency", "LatencyCache",
           "LatencyConfig", "MeasureError", "Timing", "cache_key", "check_target", "export_onnx", "measure_arch",
           "measure_model"]
