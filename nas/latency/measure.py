"""Measure one network's inference latency: :func:`measure_arch` (an architecture string,
built here) and :func:`measure_model` (a network already built).

The network is built with fixed weights and timed on a fixed random input (seed
:data:`SEED`), with the caller's random state forked and restored, so a measurement never
shifts the random stream of the search or the training around it. The values of weights
and input barely matter to the time of dense float32 kernels; fixing them removes even
that. The timing itself is the target's (:mod:`nas.latency.targets`).
"""
from __future__ import annotations

import operator
import time

import torch
from torch import nn

from ..errors import ArchError
from ..lang import Arch
from ..nn import build
from .config import Latency, LatencyConfig
from .targets import TARGETS, check_target

SEED = 0


def _input(input_shape, batch_size: int) -> torch.Tensor:
    try:
        shape = tuple(operator.index(d) for d in input_shape)
    except TypeError:
        raise ArchError(f"input shape must be (C, H, W) of whole numbers, got {input_shape!r}") from None
    g = torch.Generator().manual_seed(SEED)  # its own generator: the global RNG is not touched
    return torch.randn((batch_size, *shape), generator=g)


def measure_model(model: nn.Module, input_shape, config: LatencyConfig | None = None) -> Latency:
    """The latency of ``model`` on inputs of ``(config.batch_size, *input_shape)``.

    The model is timed in eval mode and handed back in the mode it came in; a model on
    another device than the target's is copied, never moved. ``ConfigError`` when the
    target cannot run here (:func:`~nas.latency.check_target`), ``MeasureError`` when the
    target's library refuses the network.

    >>> from nas import build
    >>> lat = measure_model(build("conv(8,3) gap", (1, 8, 8), 10), (1, 8, 8),
    ...                     LatencyConfig(min_run_time=0.01))
    >>> lat.ms > 0 and lat.target == "cpu"
    True
    """
    config = config or LatencyConfig()
    check_target(config)
    start = time.perf_counter()
    x = _input(input_shape, config.batch_size)
    training = model.training
    try:
        timing = TARGETS.get(config.target).time(model, x, config)
    finally:
        model.train(training)
    return Latency(ms=timing.median_s * 1e3, iqr_ms=timing.iqr_s * 1e3, runs=timing.runs, target=config.target,
                   batch_size=config.batch_size, threads=config.threads, seconds=time.perf_counter() - start,
                   setup_seconds=timing.setup_seconds)


def measure_arch(arch: Arch | str, input_shape, num_classes: int, config: LatencyConfig | None = None) -> Latency:
    """Build ``arch`` for ``input_shape`` and ``num_classes`` (:func:`nas.build`, weights from
    seed :data:`SEED`, the caller's RNG untouched), measure it, and free it. An architecture
    that cannot be built raises the builder's ``ArchError`` unchanged. ``seconds`` and
    ``setup_seconds`` include the build.

    >>> lat = measure_arch("conv(8,3) gap", (1, 8, 8), 10, LatencyConfig(min_run_time=0.01))
    >>> (lat.batch_size, lat.threads)
    (1, 1)
    """
    config = config or LatencyConfig()
    check_target(config)  # before building: a target that cannot run here costs nothing
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):  # the CPU generator only: the model is built on the CPU
        torch.manual_seed(SEED)
        model = build(arch, input_shape, num_classes)
    built = time.perf_counter() - start
    try:
        lat = measure_model(model, input_shape, config)
    finally:
        del model  # the last reference: its memory goes back now, not when the caller's frame ends
    return Latency(ms=lat.ms, iqr_ms=lat.iqr_ms, runs=lat.runs, target=lat.target, batch_size=lat.batch_size,
                   threads=lat.threads, seconds=time.perf_counter() - start,
                   setup_seconds=built + lat.setup_seconds)
