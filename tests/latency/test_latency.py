"""Latency measurement: settings, every registered target, threads and RNG left as found."""
from __future__ import annotations

import math
import os
import tempfile

import pytest
import torch

import nas
from nas.errors import ArchError, ConfigError
from nas.latency import (
    SEED,
    TARGETS,
    Latency,
    LatencyConfig,
    MeasureError,
    check_target,
    measure_arch,
    measure_model,
)
from nas.latency import targets as targets_module
from nas.latency.targets import MIN_BLOCKS, time_calls

ARCH = "conv(8,3) basic(8,stride=2) gap"
SHAPE = (1, 8, 8)
FAST = 0.01  # seconds of timing per measurement: enough to exercise every step


def fast(**kw) -> LatencyConfig:
    return LatencyConfig(min_run_time=FAST, **kw)


def runnable(target: str) -> bool:
    try:
        check_target(LatencyConfig(target=target))
    except ConfigError:
        return False
    return True


# ---- settings


def test_defaults_are_cpu_batch_1_one_thread():
    c = LatencyConfig()
    assert (c.target, c.batch_size, c.threads, c.min_run_time, c.warmup) == ("cpu", 1, 1, 0.2, 1)
    assert LatencyConfig.from_dict(c.to_dict()) == c


def test_from_dict_converts_and_round_trips():
    c = LatencyConfig.from_dict({"target": "onnxruntime", "batch_size": 8, "threads": 2, "min_run_time": 1})
    assert c == LatencyConfig(target="onnxruntime", batch_size=8, threads=2, min_run_time=1.0)
    assert type(c.min_run_time) is float


@pytest.mark.parametrize("data, key, message", [
    ({"target": "vulkan"}, "target", "expected one of cpu, cuda, onnxruntime"),
    ({"target": "gpu"}, "target", "did you mean"),
    ({"target": "onnxrutime"}, "target", "did you mean 'onnxruntime'"),
    ({"target": 3}, "target", None),
    ({"batch_size": 0}, "batch_size", "1 to 1024"),
    ({"batch_size": 5000}, "batch_size", "1 to 1024"),
    ({"batch_size": 2.5}, "batch_size", "whole number"),
    ({"batch_size": True}, "batch_size", "whole number"),
    ({"threads": 0}, "threads", "1 to 256"),
    ({"threads": "2"}, "threads", "whole number"),
    ({"min_run_time": 0}, "min_run_time", "more than 0"),
    ({"min_run_time": -1}, "min_run_time", "more than 0"),
    ({"min_run_time": 61}, "min_run_time", "at most 60"),
    ({"min_run_time": math.inf}, "min_run_time", "finite"),
    ({"min_run_time": math.nan}, "min_run_time", "finite"),
    ({"warmup": -1}, "warmup", "0 to 100"),
    ({"warmpu": 1}, "warmpu", "did you mean 'warmup'"),
])
def test_bad_settings_are_one_line_naming_the_key(data, key, message):
    with pytest.raises(ConfigError) as e:
        LatencyConfig.from_dict(data)
    text = str(e.value)
    assert repr(key) in text and "\n" not in text
    if message:
        assert message in text


def test_settings_need_a_mapping():
    with pytest.raises(ConfigError, match="mapping"):
        LatencyConfig.from_dict(["cpu"])


# ---- measuring on every registered target


@pytest.mark.parametrize("target", TARGETS.names())
def test_every_target_measures_a_tiny_network_or_refuses_in_one_line(target):
    config = fast(target=target)
    if not runnable(target):  # e.g. cuda on a machine without a GPU: check_target's own test below
        with pytest.raises(ConfigError):
            measure_arch(ARCH, SHAPE, 10, config)
        return
    lat = measure_arch(ARCH, SHAPE, 10, config)
    assert isinstance(lat, Latency)
    assert (lat.target, lat.batch_size, lat.threads) == (target, 1, 1)
    assert 0 < lat.ms < 1000 and 0 <= lat.iqr_ms
    assert lat.runs >= MIN_BLOCKS
    # The cost covers building (and exporting), warm-up and timing: at least min_run_time of timing.
    assert lat.seconds >= lat.setup_seconds > 0 and lat.seconds >= FAST
    assert Latency.from_dict(lat.to_dict()) == lat


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_refused_before_anything_is_built():
    with pytest.raises(ConfigError) as e:
        check_target(LatencyConfig(target="cuda"))
    assert str(e.value) == "latency target 'cuda' needs a CUDA GPU; this machine has none"
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):  # not the ArchError of the bad string
        measure_arch("conv(8,3) gap gap(", SHAPE, 10, fast(target="cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_measures_and_leaves_the_model_on_the_cpu():
    model = nas.build(ARCH, SHAPE, 10)
    lat = measure_model(model, SHAPE, fast(target="cuda"))
    assert lat.target == "cuda" and lat.ms > 0
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_more_threads_than_cpus_is_refused(monkeypatch):
    monkeypatch.setattr(targets_module, "_usable_cpus", lambda: 2)
    with pytest.raises(ConfigError, match=r"latency threads=3 is more than the 2 CPUs"):
        check_target(LatencyConfig(threads=3))
    check_target(LatencyConfig(threads=2))


def test_a_missing_module_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(targets_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"needs onnx, onnxscript, onnxruntime, .* -m pip install onnx"):
        check_target(LatencyConfig(target="onnxruntime"))


def test_batch_size_is_the_batch_the_network_sees(monkeypatch):
    seen = []
    real = targets_module.time_calls

    def spy(call, config):
        seen.append(call.args[0].shape)  # functools.partial(model, x)
        return real(call, config)

    monkeypatch.setattr(targets_module, "time_calls", spy)
    lat = measure_arch(ARCH, SHAPE, 10, fast(batch_size=4))
    assert seen == [torch.Size([4, *SHAPE])] and lat.batch_size == 4


# ---- the timing loop


@pytest.mark.parametrize("threads", [1, 2])
def test_time_calls_uses_the_threads_and_restores_the_callers(threads):
    seen = []
    torch.set_num_threads(3)
    try:
        time_calls(lambda: seen.append(torch.get_num_threads()), LatencyConfig(threads=threads, min_run_time=0.001))
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(1)
    assert set(seen) == {threads}


def test_time_calls_counts_warmup_and_blocks():
    calls = []
    config = LatencyConfig(min_run_time=0.02, warmup=3)
    median, iqr, runs = time_calls(lambda: calls.append(1), config)
    # warm-up calls, the one sizing call, then whole blocks of timed calls
    assert len(calls) == config.warmup + 1 + runs
    assert runs >= MIN_BLOCKS and 0 < median < 0.001 and iqr >= 0


def test_time_calls_times_a_slow_call_at_least_min_blocks_times():
    import time

    calls = []
    median, _, runs = time_calls(lambda: (calls.append(1), time.sleep(0.004)), LatencyConfig(min_run_time=0.001,
                                                                                         warmup=0))
    assert runs == MIN_BLOCKS and len(calls) == 1 + MIN_BLOCKS
    assert 0.004 <= median < 0.1


def test_measuring_restores_the_callers_thread_count():
    torch.set_num_threads(2)
    try:
        measure_arch(ARCH, SHAPE, 10, fast(threads=1))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


# ---- what measuring leaves alone


def test_the_callers_rng_is_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    measure_arch(ARCH, SHAPE, 10, fast())
    assert torch.equal(torch.rand(3), expected)


def test_weights_come_from_the_fixed_seed(monkeypatch):
    built = []
    real = nas.latency.measure.build
    monkeypatch.setattr(nas.latency.measure, "build", lambda *a: built.append(real(*a)) or built[-1])
    torch.manual_seed(1)
    measure_arch(ARCH, SHAPE, 10, fast())
    torch.manual_seed(2)
    measure_arch(ARCH, SHAPE, 10, fast())
    torch.manual_seed(SEED)
    reference = nas.build(ARCH, SHAPE, 10)
    for model in built:
        for a, b in zip(model.parameters(), reference.parameters()):
            assert torch.equal(a, b)


def test_a_bad_architecture_raises_the_builders_error_unchanged():
    bad = "conv(8,3) fc(10) conv(8,3)"
    with pytest.raises(ArchError) as expected:
        nas.build(bad, SHAPE, 10)
    with pytest.raises(ArchError) as got:
        measure_arch(bad, SHAPE, 10, fast())
    assert str(got.value) == str(expected.value) and type(got.value) is type(expected.value)


def test_measure_model_keeps_mode_weights_and_statistics():
    model = nas.build("conv(8,3) gap", SHAPE, 10).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    lat = measure_model(model, SHAPE, fast())
    assert model.training and lat.ms > 0
    # eval mode while timing: batch-norm running statistics are not updated by the timed calls
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


# ---- ONNX Runtime specifics


@pytest.mark.skipif(not runnable("onnxruntime"), reason="onnxruntime is not installed")
def test_onnxruntime_session_settings_and_temporary_folder(monkeypatch, tmp_path):
    import onnxruntime as ort

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    sessions = []
    real = ort.InferenceSession

    def spy(path, options, providers):
        sessions.append((path, options.intra_op_num_threads, options.inter_op_num_threads, providers))
        return real(path, options, providers=providers)

    monkeypatch.setattr(ort, "InferenceSession", spy)
    monkeypatch.setattr(targets_module, "_usable_cpus", lambda: 2)
    lat = measure_model(nas.build("conv(4,3) gap", SHAPE, 10), SHAPE,
                        LatencyConfig(target="onnxruntime", threads=2, batch_size=3, min_run_time=FAST))
    assert lat.target == "onnxruntime" and lat.threads == 2 and lat.batch_size == 3 and lat.ms > 0
    ((path, intra, inter, providers),) = sessions
    assert (intra, inter, providers) == (2, 1, ["CPUExecutionProvider"])
    assert path.startswith(str(tmp_path)) and not os.path.exists(path)
    assert os.listdir(tmp_path) == []  # the exported file's folder is gone


def test_a_backend_failure_is_one_measure_error_line(monkeypatch):
    def refuse(model, x, path):
        raise RuntimeError("Failed to export the model\nwith a long traceback")

    monkeypatch.setattr(targets_module, "export_onnx", refuse)
    with pytest.raises(MeasureError) as e:
        measure_arch(ARCH, SHAPE, 10, fast(target="onnxruntime"))
    assert str(e.value) == "cannot measure on onnxruntime: RuntimeError: Failed to export the model"
    assert isinstance(e.value, nas.NasError)


@pytest.mark.skipif(not runnable("onnxruntime"), reason="onnxruntime is not installed")
def test_an_onnxruntime_error_is_one_measure_error_line(monkeypatch):
    # onnxruntime's exceptions derive from Exception, not RuntimeError: a file it cannot load
    # (InvalidProtobuf here) must still become one MeasureError line.
    monkeypatch.setattr(targets_module, "export_onnx", lambda model, x, path: path.write_bytes(b"not onnx"))
    with pytest.raises(MeasureError) as e:
        measure_arch(ARCH, SHAPE, 10, fast(target="onnxruntime"))
    assert str(e.value).startswith("cannot measure on onnxruntime: ") and "\n" not in str(e.value)


# ---- the Latency record


@pytest.mark.parametrize("change, why", [
    ({"ms": 0}, "'ms'"),
    ({"ms": -1.0}, "'ms'"),
    ({"ms": "1"}, "'ms'"),
    ({"iqr_ms": math.nan}, "'iqr_ms'"),
    ({"runs": 0}, "'runs'"),
    ({"threads": True}, "'threads'"),
    ({"batch_size": 1.5}, "'batch_size'"),
    ({"target": 1}, "'target'"),
    ({"extra": 1}, "unknown latency field 'extra'"),
])
def test_latency_records_are_checked(change, why):
    good = Latency(ms=1.0, iqr_ms=0.1, runs=10, target="cpu", batch_size=1, threads=1, seconds=0.3).to_dict()
    assert Latency.from_dict(good).ms == 1.0
    with pytest.raises(ValueError, match=why):
        Latency.from_dict({**good, **change})
    missing = dict(good)
    del missing["runs"]
    with pytest.raises(ValueError, match="no 'runs'"):
        Latency.from_dict(missing)
