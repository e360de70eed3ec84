"""Shared-weight and proxy searches through the driver (no Ray): proposals scored in the
process and recorded as such, the best retrained as full trials that alone decide best.json,
checkpointed shared weights, resume at any record that continues exactly, and prefiltering."""
from __future__ import annotations

import json

import pytest
import torch

from nas.errors import ConfigError
from nas.oneshot.shared import SharedConfig
from nas.tune import RunStore, SearchConfig, SearchDriver, SearchEvents, resolve
from nas.tune.inprocess import evaluate_in_process

# A small shared schedule: one warm-up epoch, one more per round of 4 proposals.
SHARED = {"warmup_epochs": 1, "epochs_per_round": 1, "round_size": 4, "calibration_batches": 1}


class Stop(BaseException):
    """A kill at a record: raised from the progress hook, past the driver's side-output guard."""


class StopAfter(SearchEvents):
    def __init__(self, n: int):
        self.n = n

    def recorded(self, driver, record):
        if driver.done >= self.n:
            raise Stop


def _driver(tmp_path, splits, *, resume=False, events=None, name="c", **kw) -> SearchDriver:
    cfg = SearchConfig(runs_dir=str(tmp_path), name=name, **kw)
    cfg, space, store = resolve(cfg, resume=resume)
    if resume:
        return SearchDriver.resume(cfg, space, store, events=events, splits=splits)
    store.write_config({"search": cfg.to_dict(), "space_file": str(space.path), "space_hash": space.hash},
                       space.path.read_bytes())
    driver = SearchDriver(cfg, space, store, events=events, splits=splits)
    store.save_state(driver.strategy.state_dict())
    return driver


def _retrain_all(driver):
    """Finish the retraining as Ray would, one trial at a time, each later one more accurate;
    returns the configs handed out."""
    configs = []
    while isinstance(cfg := driver.next_config(f"r{len(configs)}"), dict):
        configs.append(cfg)
        driver.complete(f"r{len(configs) - 1}", {"val_accs": [0.5 + 0.01 * len(configs)], "params": 1, "macs": 1,
                                                  "status": "ok", "seconds": 0.1})
    return configs


@pytest.mark.parametrize("proxy", ["naswot", "synflow"])
def test_a_proxy_search_records_scores_and_retrains_the_best(tmp_path, search_digits, proxy):
    driver = _driver(tmp_path, search_digits, trials=8, strategy="random", evaluation=f"proxy:{proxy}", retrain=3)
    assert driver.cheap and driver.concurrency == 1 and not driver.finished()
    evaluate_in_process(driver, search_digits)
    recs = driver.store.read_trials()
    assert len(recs) == 8 and all(r["evaluation"] == f"proxy:{proxy}" for r in recs)
    assert all(r["reward"] == r["score"] and r["val_acc"] is None for r in recs if r["status"] == "ok")
    assert driver.best() is None and not driver.store.best_path.exists()  # nothing trained yet
    # The three best distinct architectures by score, best first, go to Ray trials.
    ranked = sorted({r["arch"]: r for r in sorted(recs, key=lambda r: (r["reward"], -r["trial"]))}.values(),
                    key=lambda r: (-r["reward"], r["trial"]))
    configs = _retrain_all(driver)
    assert [c["arch"] for c in configs] == [r["arch"] for r in ranked[:3]]
    assert driver.next_config("late") == "FINISHED" and driver.finished()
    retrained = driver.store.read_trials()[8:]
    assert [r["evaluation"] for r in retrained] == ["full"] * 3
    assert [r["retrain_of"] for r in retrained] == [r["trial"] for r in ranked[:3]]
    best = json.loads(driver.store.best_path.read_text())
    assert best["evaluation"] == "full" and best["trial"] == 11  # the highest retrained accuracy
    assert len(driver.strategy.history) == 8  # retraining is not told to the strategy


def test_a_shared_search_trains_scores_and_checkpoints(tmp_path, search_digits):
    driver = _driver(tmp_path, search_digits, trials=8, strategy="reinforce", evaluation="shared", shared=SHARED,
                     strategy_options={"batch_size": 4})
    evaluate_in_process(driver, search_digits)
    recs = driver.store.read_trials()
    assert [r["evaluation"] for r in recs] == ["shared"] * 8
    assert all(0 <= r["val_acc"] <= 1 and r["reward"] == r["val_acc"] and r["params"] > 0 for r in recs)
    state = torch.load(driver.store.supernet_path, weights_only=True)
    assert state["epochs_done"] == SharedConfig(**SHARED).epochs_before(1) == 2
    assert len(driver.strategy.updates) == 2  # REINFORCE learned from the shared-weight rewards
    assert len(_retrain_all(driver)) == 3 and driver.finished()


@pytest.mark.parametrize("stop_at", [1, 4, 6])
def test_a_shared_search_stopped_at_a_record_resumes_exactly(tmp_path, search_digits, stop_at):
    """Stopped after a record (mid-round, or at a round's end before its training), the
    resumed search records what an uninterrupted one records, score for score."""
    kw = dict(trials=8, strategy="reinforce", evaluation="shared", shared=SHARED, strategy_options={"batch_size": 4})
    whole = _driver(tmp_path, search_digits, name="whole", **kw)
    evaluate_in_process(whole, search_digits)
    cut = _driver(tmp_path, search_digits, name="cut", events=StopAfter(stop_at), **kw)
    with pytest.raises(Stop):
        evaluate_in_process(cut, search_digits)
    again = _driver(tmp_path, search_digits, name="cut", resume=True, **kw)
    assert again.done == stop_at
    evaluate_in_process(again, search_digits)
    a, b = whole.store.read_trials(), again.store.read_trials()
    assert [(r["arch"], r["val_acc"]) for r in a] == [(r["arch"], r["val_acc"]) for r in b]


def test_a_missing_checkpoint_is_said_and_the_weights_trained_again(tmp_path, search_digits):
    kw = dict(trials=6, strategy="random", evaluation="shared", shared=SHARED)
    cut = _driver(tmp_path, search_digits, events=StopAfter(5), **kw)
    with pytest.raises(Stop):
        evaluate_in_process(cut, search_digits)
    cut.store.supernet_path.write_bytes(b"not a checkpoint")
    said = []

    class Events(SearchEvents):
        def warning(self, message):
            said.append(message)

    again = _driver(tmp_path, search_digits, resume=True, events=Events(), **kw)
    evaluate_in_process(again, search_digits)
    assert len(said) == 1 and "supernet.pt" in said[0] and "trained again from scratch" in said[0]
    assert again.done == 6


def test_prefilter_trains_the_best_of_k_by_the_proxy(tmp_path, search_digits):
    driver = _driver(tmp_path, search_digits, trials=3, strategy="random", prefilter="naswot:4")
    configs = [driver.next_config(f"t{i}") for i in range(3)]
    for i, cfg in enumerate(configs):
        rec = driver.complete(f"t{i}", {"val_accs": [0.5], "params": 1, "macs": 1, "status": "ok", "seconds": 0.1})
        assert rec["prefilter"]["proxy"] == "naswot" and rec["prefilter"]["candidates"] == 4
        assert rec["prefilter"]["score"] == driver.proxy_score("naswot", cfg["arch"])
    # 4 candidates scored per proposal (fewer when a draw repeats), the best by naswot kept.
    assert 3 < len(driver._proxy_scores) <= 12
    assert driver.next_config("t3") == "FINISHED"


def test_rebuild_strategy_replays_a_prefiltered_run(tmp_path, search_digits):
    kw = dict(trials=4, concurrency=1, strategy="evolution", prefilter="naswot:3", strategy_options={"population_size": 2, "sample_size": 2})
    driver = _driver(tmp_path, search_digits, **kw)
    for i in range(4):
        driver.next_config(f"t{i}")
        driver.complete(f"t{i}", {"val_accs": [0.1 * i], "params": 1, "macs": 1, "status": "ok", "seconds": 0.1})
    before = driver.strategy.state_dict()
    driver.store.state_path.unlink()
    cfg, space, store = resolve(SearchConfig(runs_dir=str(tmp_path), name="c", **kw), resume=True)
    again = SearchDriver.resume(cfg, space, store, rebuild_strategy=True, splits=search_digits)
    assert [h["arch"] for h in again.strategy.history] == [h["arch"] for h in before["history"]]


@pytest.mark.parametrize("setting, words", [
    ({"evaluation": "proxy:naswat"}, "did you mean 'naswot'"),
    ({"evaluation": "half"}, "evaluation must be full, shared or proxy:NAME"),
    ({"prefilter": "naswot:"}, "K in proxy spec .naswot:. must be a whole number"),
    ({"prefilter": "1naswot"}, "a proxy spec is NAME or NAME:K"),
    ({"prefilter": "naswot:0"}, "must be a whole number of at least 1"),
    ({"prefilter": "naswot:20000"}, "at most 10,000 candidates"),
    ({"prefilter": "snipp:3"}, "did you mean 'snip'"),
    ({"retrain": 0}, "retrain must be at least 1"),
    ({"evaluation": "shared", "shared": {"round_sise": 3}}, "round_sise"),
    ({"evaluation": "shared", "shared": {"paths": "all"}}, "paths must be one of"),
])
def test_bad_settings_are_one_clear_error(setting, words):
    with pytest.raises(ConfigError, match=words):
        SearchConfig.from_dict(setting)


def test_records_of_a_finished_cheap_run_read_back(tmp_path, search_digits):
    driver = _driver(tmp_path, search_digits, trials=4, strategy="random", evaluation="proxy:grad_norm", retrain=1)
    evaluate_in_process(driver, search_digits)
    _retrain_all(driver)
    snap = RunStore(driver.store.root).snapshot()
    assert [r["evaluation"] for r in snap.trials] == ["proxy:grad_norm"] * 4 + ["full"]


def test_a_proposal_refused_as_too_large_counts_as_scored(tmp_path, search_digits, monkeypatch):
    """Refused before scoring, it is a failed proposal of the search (told to the strategy),
    not a retraining."""
    driver = _driver(tmp_path, search_digits, trials=3, strategy="random", evaluation="proxy:snip", retrain=1)
    monkeypatch.setattr(driver, "_too_large", lambda arch: "refused before training: too large")
    evaluate_in_process(driver, search_digits)
    recs = driver.store.read_trials()
    assert [(r["status"], r["evaluation"]) for r in recs] == [("failed", "proxy:snip")] * 3
    assert driver.done == 3 and len(driver.strategy.history) == 3 and not driver.strategy.pending
