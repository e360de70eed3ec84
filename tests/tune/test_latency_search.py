"""Measured latency in a search (no Ray): measured once per architecture before it trains,
cached in the run folder and recorded, used by the MnasNet reward, enforced as a space's
``max_latency_ms``, and told to a strategy that optimises it."""
from __future__ import annotations

import json

import pytest

from nas.cli.search import config_from_args
from nas.errors import ConfigError
from nas.tune import SearchConfig, SearchDriver, resolve

FAST = {"target": "cpu", "min_run_time": 0.01}


def _driver(tmp_path, *, space="digits", resume=False, **kw) -> SearchDriver:
    cfg = SearchConfig(runs_dir=str(tmp_path), name="lat", space=space, **kw)
    cfg, space_, store = resolve(cfg, resume=resume)
    if resume:
        return SearchDriver.resume(cfg, space_, store)
    store.write_config({"search": cfg.to_dict(), "space_file": str(space_.path), "space_hash": space_.hash},
                       space_.path.read_bytes())
    driver = SearchDriver(cfg, space_, store)
    store.save_state(driver.strategy.state_dict())
    return driver


def _play(driver, n, acc=0.9):
    """Hand out and complete ``n`` trials as Ray would, one at a time; returns their configs."""
    configs = []
    for i in range(n):
        cfg = driver.next_config(f"t{i}")
        if not isinstance(cfg, dict):
            break
        configs.append(cfg)
        driver.complete(f"t{i}", {"val_accs": [acc], "params": 1000, "macs": 5000, "status": "ok", "seconds": 0.1})
    return configs


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_no_latency_setting_measures_nothing(tmp_path):
    driver = _driver(tmp_path, trials=2, strategy="random")
    assert driver.latency_config is None
    _play(driver, 2)
    assert all("latency_ms" not in r for r in driver.store.read_trials())
    assert not driver.store.latency_path.exists()


def test_latency_is_measured_once_per_architecture_recorded_and_cached(tmp_path, monkeypatch):
    driver = _driver(tmp_path, trials=4, strategy="random", latency=FAST, reuse=False)
    _play(driver, 4)
    recs = driver.store.read_trials()
    assert len(recs) == 4 and all(r["latency_ms"] > 0 for r in recs)
    cached = _lines(driver.store.latency_path)
    assert len(cached) == len({r["arch"] for r in recs})
    # Resume: every architecture is in the cache, so nothing is measured again.
    from nas.latency import cache as cache_module

    def boom(*a, **k):
        raise AssertionError("measured again after a resume")

    monkeypatch.setattr(cache_module, "measure_arch", boom)
    again = _driver(tmp_path, trials=4, strategy="random", latency=FAST, reuse=False, resume=True)
    for r in recs:
        assert again.latency_ms(r["arch"]) == r["latency_ms"]


def test_reward_cost_latency_uses_the_measured_latency(tmp_path):
    from nas.tune.reward import RewardConfig, compute_reward

    reward = {"cost": "latency", "target": 0.01}
    driver = _driver(tmp_path, trials=2, strategy="random", latency=FAST, reward=reward)
    _play(driver, 2, acc=0.8)
    for r in driver.store.read_trials():
        want = compute_reward(RewardConfig.from_dict(reward), [0.8], 1000, 5000, False, latency_ms=r["latency_ms"])
        assert r["reward"] == pytest.approx(want) and r["reward"] != pytest.approx(0.8)


def test_reward_cost_latency_turns_measuring_on(tmp_path):
    driver = _driver(tmp_path, trials=1, strategy="random", reward={"cost": "latency", "target": 1.0})
    assert driver.latency_config is not None and driver.latency_config.target == "cpu"


def _space_with_latency_limit(tmp_path, limit):
    from nas.space import shipped

    src = shipped()["digits"].read_text()
    path = tmp_path / "space.yaml"
    path.write_text(src.replace("constraints: {max_params: 200_000, max_macs: 5_000_000}",
                                f"constraints: {{max_params: 200_000, max_macs: 5_000_000, max_latency_ms: {limit}}}"))
    return str(path)


def test_max_latency_refuses_slow_proposals_before_training(tmp_path):
    space = _space_with_latency_limit(tmp_path, "0.000001")  # nothing is that fast
    driver = _driver(tmp_path, space=space, trials=3, strategy="random", latency=FAST)
    assert driver.next_config("t0") == "FINISHED"  # every proposal was refused: nothing to train
    recs = driver.store.read_trials()
    assert len(recs) == 3 and all(r["status"] == "failed" for r in recs)
    assert all("over the space's max_latency_ms" in r["reason"] and r["latency_ms"] > 1e-6 for r in recs)
    assert [h["failed"] for h in driver.strategy.history] == [True] * 3


def test_a_generous_latency_limit_trains_everything(tmp_path):
    space = _space_with_latency_limit(tmp_path, "1000000.0")
    driver = _driver(tmp_path, space=space, trials=2, strategy="random")
    assert driver.latency_config is not None  # the constraint turns measuring on
    assert len(_play(driver, 2)) == 2


def test_nsga2_is_told_accuracy_and_latency(tmp_path):
    driver = _driver(tmp_path, trials=3, strategy="nsga2", strategy_options={"population_size": 2})
    assert driver.latency_config is not None
    _play(driver, 3, acc=0.7)
    hist = driver.strategy.history
    assert len(hist) == 3
    for h, r in zip(hist, driver.store.read_trials()):
        assert h["metrics"]["accuracy"] == pytest.approx(0.7)
        assert h["metrics"]["latency_ms"] == pytest.approx(r["latency_ms"])


def test_the_latency_flag_and_bad_settings(tmp_path):
    import argparse

    from nas.cli.main import make_parser

    args = make_parser().parse_args(["search", "--latency", "onnxruntime"])
    assert config_from_args(args).latency == {"target": "onnxruntime"}
    with pytest.raises(ConfigError, match="LatencyConfig key .target. is .abacus"):
        SearchConfig(latency={"target": "abacus"}).validate()
    with pytest.raises(ConfigError, match="batch_size"):
        SearchConfig(latency={"batch_size": 0}).validate()
    assert isinstance(args, argparse.Namespace)


def test_a_latency_target_this_machine_lacks_is_refused_before_anything_starts(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        resolve(SearchConfig(runs_dir=str(tmp_path / "runs"), latency={"target": "cuda"}), resume=False)
    assert not (tmp_path / "runs").exists()
