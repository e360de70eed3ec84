"""The latency cache: round trip through latency.jsonl, keys, torn and damaged lines, bounds."""
from __future__ import annotations

import json

import pytest

from nas.errors import ConfigError
from nas.latency import FILE, Latency, LatencyCache, LatencyConfig, cache_key
from nas.latency import cache as cache_module

ARCH = "conv(8,3) gap"
SHAPE = (1, 8, 8)


def lat(ms: float = 1.0, **kw) -> Latency:
    fields = dict(ms=ms, iqr_ms=0.01, runs=100, target="cpu", batch_size=1, threads=1, seconds=0.25,
                  setup_seconds=0.01)
    return Latency(**{**fields, **kw})


@pytest.fixture
def path(tmp_path):
    return tmp_path / FILE


@pytest.fixture
def no_measuring(monkeypatch):
    """Fail the test if the cache measures anything: what is cached must be served."""
    def refuse(*args, **kwargs):
        raise AssertionError("measured although cached")

    monkeypatch.setattr(cache_module, "measure_arch", refuse)


def test_round_trip_through_the_file(path, no_measuring):
    cache = LatencyCache(path)
    assert cache.get(ARCH, SHAPE, 10, LatencyConfig()) is None
    assert cache.put(ARCH, SHAPE, 10, lat(2.5)) is True
    again = LatencyCache(path)
    assert again.get(ARCH, SHAPE, 10, LatencyConfig()) == lat(2.5)
    assert len(again) == 1
    record = json.loads(path.read_text())
    assert record == {"arch": ARCH, "input": [1, 8, 8], "classes": 10, "latency": lat(2.5).to_dict()}


def test_measure_puts_once_and_then_serves_the_cache(path, monkeypatch):
    calls = []

    def fake(arch, input_shape, num_classes, config):
        calls.append(arch)
        return lat(3.0, target=config.target, batch_size=config.batch_size, threads=config.threads)

    monkeypatch.setattr(cache_module, "measure_arch", fake)
    config = LatencyConfig(min_run_time=0.01)
    first = LatencyCache(path).measure(ARCH, SHAPE, 10, config)
    # another spelling of the same network, after a "resume" (a new cache on the same file)
    second = LatencyCache(path).measure("conv(8, 3)  gap", SHAPE, 10, config)
    assert first == second and calls == [ARCH]
    assert len(path.read_text().splitlines()) == 1


def test_measure_really_measures_without_a_file():
    cache = LatencyCache(None)
    got = cache.measure(ARCH, SHAPE, 10, LatencyConfig(min_run_time=0.01))
    assert got.ms > 0 and cache.get(ARCH, SHAPE, 10, LatencyConfig()) == got
    assert cache.put(ARCH, SHAPE, 10, got) is False  # memory only: nothing written anywhere


@pytest.mark.parametrize("other", [
    {"target": "onnxruntime"},
    {"batch_size": 8},
    {"threads": 2},
])
def test_conditions_are_part_of_the_key(path, other, no_measuring):
    cache = LatencyCache(path)
    cache.put(ARCH, SHAPE, 10, lat(1.0))
    cache.put(ARCH, SHAPE, 10, lat(7.0, **other))
    for c in (cache, LatencyCache(path)):
        assert c.get(ARCH, SHAPE, 10, LatencyConfig()).ms == 1.0
        assert c.get(ARCH, SHAPE, 10, LatencyConfig(**other)).ms == 7.0
        # timing settings are not conditions: a longer measurement is the same quantity
        assert c.get(ARCH, SHAPE, 10, LatencyConfig(min_run_time=1.0, warmup=5)).ms == 1.0


def test_input_shape_and_classes_are_part_of_the_key(path):
    cache = LatencyCache(path)
    cache.put(ARCH, SHAPE, 10, lat(1.0))
    assert cache.get(ARCH, (1, 16, 16), 10, LatencyConfig()) is None
    assert cache.get(ARCH, SHAPE, 100, LatencyConfig()) is None
    assert cache.get("conv(8,3) conv(8,3) gap", SHAPE, 10, LatencyConfig()) is None
    assert cache_key(ARCH, [1, 8, 8], 10, "cpu", 1, 1) == cache_key("conv(8, 3) gap", SHAPE, 10, "cpu", 1, 1)


def test_a_later_line_for_the_same_key_wins(path):
    cache = LatencyCache(path)
    cache.put(ARCH, SHAPE, 10, lat(1.0))
    cache.put(ARCH, SHAPE, 10, lat(2.0))
    assert LatencyCache(path).get(ARCH, SHAPE, 10, LatencyConfig()).ms == 2.0


def test_a_torn_last_line_is_ignored_then_cut_before_the_next_append(path, no_measuring):
    LatencyCache(path).put(ARCH, SHAPE, 10, lat(1.0))
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"arch": "conv(16,3) gap", "input": [1, 8')  # a crash mid-write
    cache = LatencyCache(path)
    assert len(cache) == 1 and cache.get(ARCH, SHAPE, 10, LatencyConfig()).ms == 1.0
    assert cache.put("conv(16,3) gap", SHAPE, 10, lat(4.0))
    lines = path.read_bytes().splitlines()
    assert lines[0] + b"\n" == whole and len(lines) == 2
    reread = LatencyCache(path)
    assert len(reread) == 2 and reread.get("conv(16,3) gap", SHAPE, 10, LatencyConfig()).ms == 4.0


def test_a_whole_last_record_without_its_newline_is_kept(path):
    LatencyCache(path).put(ARCH, SHAPE, 10, lat(1.0))
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    cache = LatencyCache(path)
    assert cache.get(ARCH, SHAPE, 10, LatencyConfig()).ms == 1.0
    cache.put("conv(16,3) gap", SHAPE, 10, lat(2.0))
    assert len(path.read_text().splitlines()) == 2 and len(LatencyCache(path)) == 2


@pytest.mark.parametrize("line, why", [
    (b"not json", "is not valid JSON"),
    (b"[1, 2]", "is not a latency record"),
    (b'{"arch": "conv(8,3) gap", "input": [1, 8, 8], "classes": 10}', "is not a latency record"),
    (b'{"arch": "conv(8,3 gap", "input": [1, 8, 8], "classes": 10, "latency": LAT}', "is not a valid latency record"),
    (b'{"arch": "conv(8,3) gap", "input": [1, 8], "classes": 10, "latency": LAT}', "is not [C, H, W]"),
    (b'{"arch": "conv(8,3) gap", "input": [1, 8, 8], "classes": 0, "latency": LAT}', "classes 0"),
    (b'{"arch": 5, "input": [1, 8, 8], "classes": 10, "latency": LAT}', "arch is not text"),
    (b'{"arch": "conv(8,3) gap", "input": [1, 8, 8], "classes": 10, "latency": {"ms": 1}}', "no 'iqr_ms'"),
])
def test_a_damaged_earlier_line_is_one_error_naming_file_and_line(path, line, why):
    good = LatencyCache(path)
    good.put(ARCH, SHAPE, 10, lat(1.0))
    line = line.replace(b"LAT", json.dumps(lat().to_dict()).encode())
    path.write_bytes(path.read_bytes() + line + b"\n" + path.read_bytes())
    with pytest.raises(ConfigError) as e:
        LatencyCache(path).load()
    text = str(e.value)
    assert text.startswith(f"{path}: line 2 ") and why in text and "\n" not in text
    assert "the file is damaged" in text


def test_a_cache_too_long_is_refused_and_a_full_one_stops_appending(path, monkeypatch):
    monkeypatch.setattr(cache_module, "MAX_ENTRIES", 2)
    cache = LatencyCache(path)
    assert cache.put("conv(8,3) gap", SHAPE, 10, lat(1.0))
    assert cache.put("conv(16,3) gap", SHAPE, 10, lat(2.0))
    assert cache.put("conv(32,3) gap", SHAPE, 10, lat(3.0)) is False  # kept in memory only
    assert cache.get("conv(32,3) gap", SHAPE, 10, LatencyConfig()).ms == 3.0
    assert len(path.read_text().splitlines()) == 2
    path.write_text(path.read_text() * 2)
    with pytest.raises(ConfigError, match=r"4 lines, more than the latency cache's limit of 2"):
        LatencyCache(path).load()


def test_an_overlong_line_is_damage(path, monkeypatch):
    LatencyCache(path).put(ARCH, SHAPE, 10, lat(1.0))
    monkeypatch.setattr(cache_module, "MAX_LINE_BYTES", 50)
    fresh = path.with_name("other.jsonl")
    assert LatencyCache(fresh).put("conv(16,3) gap", SHAPE, 10, lat(2.0)) is False  # too long to write
    assert not fresh.exists()
    path.write_bytes(path.read_bytes() * 2)
    with pytest.raises(ConfigError, match=r"line 1 is \d+ bytes, more than the limit of 50"):
        LatencyCache(path).load()
