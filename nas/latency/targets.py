"""Measurement backends (``TARGETS``): where and how a network's inference is timed.

Every backend times its calls the same way: ``warmup`` untimed calls, one more call timed
to size the blocks, then blocks of ``number`` calls, each timed with torch.utils.benchmark's
clock (``torch.utils.benchmark.utils.timer.timer``, which synchronizes an accelerator before
each reading), until ``min_run_time`` seconds have been timed and at least :data:`MIN_BLOCKS`
blocks. ``number`` is chosen so that about :data:`BLOCKS` blocks fit in ``min_run_time``.
The latency is the median over the blocks of the time per call, and the spread their
interquartile range, both computed by ``torch.utils.benchmark.Measurement``. One clock, one
statistic: the numbers of two targets can be compared.

Why not ``Timer.blocked_autorange``, which does all this in one call: it grows its blocks
until the timer's own overhead is below 0.01 % of a block, which suits microsecond kernels
but leaves a whole network with a handful of blocks (2 to 4 blocks of 100 calls in 0.2 s for
0.6 to 1.2 ms digits networks on this project's 2-core machine), so its median is nearly one
block's mean and its IQR is 0 whenever there are fewer than 4 blocks; its block-size search
also runs 1 + 10 + 100 untimed calls first (0.37 to 0.44 s per measurement at 0.2 s of
timing, against 0.25 s here). Blocks of
``min_run_time / 20`` (10 ms at the default 0.2 s) keep the clock's overhead (about a
microsecond a block) under 0.1 % and give the median 20 blocks to be robust over: a block
slowed by another process's burst moves it little.

* ``cpu``: PyTorch eager on this machine's CPU, eval mode, under ``torch.inference_mode()``
  (no autograd bookkeeping), with ``threads`` intra-op threads (``torch.set_num_threads``
  through :func:`nas._util.torch_threads`: the caller's count is restored afterwards).
* ``onnxruntime``: the network exported to ONNX as ``nas export`` writes it (torch.onnx's
  dynamo exporter, its default opset, a dynamic batch dimension traced at batch 2) into a
  temporary folder, deleted afterwards, then an ``onnxruntime.InferenceSession`` on the
  ``CPUExecutionProvider`` with ``intra_op_num_threads=threads`` and ``inter_op_num_threads=1``
  (one operator at a time, as a sequential CNN runs anyway), timed over ``session.run``, which includes the few microseconds of handing a NumPy array across,
  as a Python deployment pays them. ONNX Runtime's own profiler (``enable_profiling``)
  times operators inside the session, not the call, and would give statistics in another
  form than the other targets'; timing the call gives both targets the same statistic. ``nas export`` folds batch norm into the convolutions before
  exporting; ONNX Runtime's default graph optimizations do the same fusion when the session
  starts ("Conv BatchNorm Fusion", a basic-level optimization, all levels on by default:
  onnxruntime.ai/docs/performance/model-optimizations/graph-optimizations.html), so the
  session runs the graph a deployment runs. The export costs seconds (median 2.1 s, 1.3 to
  4.4 s, for digits networks on 2 shared cores; bench/latency.py): it is reported in
  ``setup_seconds``, apart from the timing.
* ``cuda``: PyTorch eager on the first GPU, as ``cpu`` otherwise. CUDA kernels run
  asynchronously; torch.utils.benchmark's clock calls ``torch.accelerator.synchronize()``
  before each reading when an accelerator is present (the Timer's docstring: "otherwise it
  will synchronize accelerators before measuring the time"), so a block's time includes its
  kernels. cuDNN's autotuner is left as the process has it.

What changes the numbers (docs/latency.md): the thread count and the batch size (both in
the cache key); other processes on the machine (a search trains trials on the other cores
while the driver measures, so latencies measured during a search are slower and noisier
than on an idle machine: comparable with each other, not absolute); and warm-up.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import importlib.util
import io
import logging
import os
import sys
import tempfile
import time
import timeit
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

# Importing torch.utils.benchmark imports torch.utils.cpp_extension, which logs a warning
# ("No CUDA runtime is found, using CUDA_HOME=...") on a machine with a CUDA build of torch,
# a CUDA toolkit folder and no GPU. Nothing here compiles extensions: keep it off the console.
_cpp_log = logging.getLogger("torch.utils.cpp_extension")
_cpp_level = _cpp_log.level
_cpp_log.setLevel(logging.ERROR)
try:
    from torch.utils.benchmark import Measurement
    from torch.utils.benchmark.utils.common import TaskSpec
    from torch.utils.benchmark.utils.timer import timer as benchmark_clock
finally:
    _cpp_log.setLevel(_cpp_level)

from .._util import first_line, torch_threads
from ..errors import ConfigError, NasError
from ..registry import Registry
from .config import LatencyConfig

# The names ``nas export`` gives the ONNX program's input and output (nas/export/programs.py).
ONNX_INPUT, ONNX_OUTPUT = "input", "logits"


class MeasureError(NasError):
    """A network that was built but could not be measured on the target (the ONNX exporter
    refused it, the session failed to start, the device ran out of memory): one line."""


@dataclass(frozen=True)
class Timing:
    """What a backend returns: seconds per call (median and IQR over the timed blocks),
    the timed calls, and the seconds it spent before timing (export, session, device copy)."""

    median_s: float
    iqr_s: float
    runs: int
    setup_seconds: float


@dataclass(frozen=True)
class Backend:
    """One measurement target: ``time(model, x, config)`` times ``model`` on the input ``x``
    (on the CPU); ``needs`` are the modules it imports beyond torch; ``unavailable()`` is why
    it cannot run on this machine, or None."""

    time: Callable[[nn.Module, torch.Tensor, LatencyConfig], Timing]
    needs: tuple[str, ...] = ()
    unavailable: Callable[[], str | None] = lambda: None


TARGETS: Registry[Backend] = Registry("latency target", ConfigError)


def check_target(config: LatencyConfig) -> None:
    """Refuse, with one ``ConfigError`` line, a target this machine cannot measure on: a
    missing module (with the pip command), no GPU for ``cuda``, or more threads than this
    process may run on (oversubscribed threads time the scheduler, not the network). Call it
    before a search starts, so a search never stops at its first measurement."""
    backend = TARGETS.get(config.target)
    missing = [m for m in backend.needs if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"latency target {config.target!r} needs {', '.join(missing)}, which this environment "
                          f"lacks (install with: {sys.executable} -m pip install {' '.join(missing)})")
    reason = backend.unavailable()
    if reason:
        raise ConfigError(reason)
    cpus = _usable_cpus()
    if config.threads > cpus:
        raise ConfigError(f"latency threads={config.threads} is more than the {cpus} CPU"
                          f"{'s' if cpus != 1 else ''} this process may run on")


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


# About this many timed blocks per measurement, and never fewer than MIN_BLOCKS (a network
# slower than min_run_time / 3 per call is timed 3 times, not once): see the module doc.
BLOCKS = 20
MIN_BLOCKS = 3


def time_calls(call: Callable[[], object], config: LatencyConfig) -> tuple[float, float, int]:
    """(median s, IQR s, timed calls) of ``call``, per call, after ``config.warmup`` untimed
    calls, with ``config.threads`` torch threads (the caller's count restored); pure timing,
    what every backend shares."""
    clock = benchmark_clock  # torch.utils.benchmark's: synchronizes an accelerator before each reading
    with torch_threads(config.threads):
        for _ in range(config.warmup):
            call()
        start = clock()
        call()  # one more warm-up call, timed to size the blocks
        per_call = max(clock() - start, 1e-7)
        number = max(1, int(config.min_run_time / BLOCKS / per_call))
        timer = timeit.Timer(call, timer=clock)  # timeit switches the garbage collector off while it times
        times: list[float] = []
        while sum(times) < config.min_run_time or len(times) < MIN_BLOCKS:
            times.append(timer.timeit(number))
    m = Measurement(number, times, TaskSpec("call()", "", num_threads=config.threads))
    return m.median, m.iqr, number * len(times)


def _on(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in eval mode on ``device``: itself when it is there already, else a copy, so
    measuring never moves the caller's model (its mode is restored by the caller)."""
    if all(t.device == device for t in [*model.parameters(), *model.buffers()]):
        return model.eval()
    return copy.deepcopy(model).to(device).eval()


# What torch raises when it cannot run or export a network: RuntimeError (out of memory, a
# kernel's refusal; torch.onnx.OnnxExporterError is one too), and the ValueError, TypeError
# and AssertionError that torch.export's tracing raises on what it does not support.
_TORCH_ERRORS = (RuntimeError, ValueError, TypeError, OSError, AssertionError)


@contextlib.contextmanager
def _failures(target: str, errors: tuple[type[BaseException], ...] = _TORCH_ERRORS):
    """The backend's library errors (exporter, runtime, device) as one MeasureError line."""
    try:
        yield
    except NasError:
        raise
    except errors as e:
        raise MeasureError(f"cannot measure on {target}: {type(e).__name__}: {first_line(e)}") from None


def _ort_errors(ort) -> tuple[type[BaseException], ...]:
    """onnxruntime's exceptions (Fail, InvalidGraph, RuntimeException, ...: each derives from
    Exception directly, none from RuntimeError), with torch's."""
    state = ort.capi.onnxruntime_pybind11_state
    own = tuple(v for v in vars(state).values() if isinstance(v, type) and issubclass(v, Exception))
    return _TORCH_ERRORS + own


def _eager(device: str) -> Callable[[nn.Module, torch.Tensor, LatencyConfig], Timing]:
    def time_eager(model: nn.Module, x: torch.Tensor, config: LatencyConfig) -> Timing:
        dev = torch.device(device, 0) if device == "cuda" else torch.device(device)
        with _failures(config.target):
            start = time.perf_counter()
            call = functools.partial(_on(model, dev), x.to(dev))
            setup = time.perf_counter() - start
            try:
                with torch.inference_mode():
                    median, iqr, runs = time_calls(call, config)
            finally:
                del call  # the device copy and the input
                if device == "cuda":
                    torch.cuda.empty_cache()  # give the memory back to the trials sharing the GPU
        return Timing(median, iqr, runs, setup)

    return time_eager


def _no_cuda() -> str | None:
    if not torch.cuda.is_available():
        return "latency target 'cuda' needs a CUDA GPU; this machine has none"
    return None


def export_onnx(model: nn.Module, x: torch.Tensor, path: Path) -> None:
    """``model`` as an ONNX file at ``path``, with the settings of ``nas export``
    (nas/export/programs.py ``write_onnx``): the dynamo exporter, its default opset, named
    input and output, a dynamic batch dimension, one file. ``x`` is one input of the model."""
    # Traced at batch 2 as nas export does: a batch of 1 invites specializations on the batch size.
    example = x[:1].expand(2, *x.shape[1:]).contiguous()
    batch = torch.export.Dim("batch")
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
        torch.onnx.export(model, (example,), str(path), dynamo=True, input_names=[ONNX_INPUT],
                          output_names=[ONNX_OUTPUT], dynamic_shapes=({0: batch},), external_data=False,
                          verbose=False)


def time_onnxruntime(model: nn.Module, x: torch.Tensor, config: LatencyConfig) -> Timing:
    import onnxruntime as ort

    with _failures(config.target, _ort_errors(ort)):
        start = time.perf_counter()
        net = _on(model, torch.device("cpu"))
        with tempfile.TemporaryDirectory(prefix="nas-latency-") as folder:
            path = Path(folder) / "model.onnx"
            export_onnx(net, x, path)
            options = ort.SessionOptions()
            options.intra_op_num_threads = config.threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3  # errors only: no per-session warnings on stderr
            # The session reads the file while it starts; the folder can go once it has.
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {ONNX_INPUT: x.detach().cpu().numpy()}
        setup = time.perf_counter() - start
        median, iqr, runs = time_calls(functools.partial(session.run, [ONNX_OUTPUT], feed), config)
    return Timing(median, iqr, runs, setup)


TARGETS.register("cpu", Backend(_eager("cpu")))
TARGETS.register("onnxruntime", Backend(time_onnxruntime, needs=("onnx", "onnxscript", "onnxruntime")))
TARGETS.register("cuda", Backend(_eager("cuda"), unavailable=_no_cuda))
