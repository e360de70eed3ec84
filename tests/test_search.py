"""``nas search``: the driver's bookkeeping (no Ray), then real searches through Ray Tune on
digits: every strategy, a trial that raises and one that goes NaN, ASHA, resume after a
SIGKILL, and bad input that leaves nothing behind."""
import json
import os
from pathlib import Path

import pytest
import torch

import nas.strategies
from nas.cli import main
from nas.runconfig import SearchConfig

from nas.search import SearchRun, _searcher_class, resolve, run_search


REPO = Path(__file__).resolve().parents[1]


def _run(tmp_path, **kw):
    cfg = SearchConfig(runs_dir=str(tmp_path), **kw)
    cfg, space, store = resolve(cfg, resume=False)
    store.write_config({"search": cfg.to_dict(), "space_file": str(space.path), "space_hash": space.hash})
    return SearchRun(cfg, space, store, out=open(os.devnull, "w"))


def _result(cfg, acc=0.9, status="ok", epochs=None):
    n = epochs if epochs is not None else 3
    return {"val_accs": [acc] * n, "params": 1000, "macs": 5000, "status": status, "seconds": 0.1,
            "reason": None if status == "ok" else "boom"}


# ---------------------------------------------------------------------------- driver only

def test_budget_is_exact_with_trials_in_flight(tmp_path):
    run = _run(tmp_path, trials=5, epochs=3, strategy="random")
    cfgs = {f"t{i}": run.next_config(f"t{i}") for i in range(3)}
    assert all(isinstance(c, dict) for c in cfgs.values())
    for tid in ["t1", "t0", "t2"]:  # out of order
        run.complete(tid, _result(run.config))
    assert isinstance(run.next_config("t3"), dict) and isinstance(run.next_config("t4"), dict)
    assert run.next_config("t5") is None  # budget spent, trials still running: wait
    run.complete("t3", _result(run.config, status="failed"))
    run.complete("t4", None, error=True)
    assert run.next_config("t6") == "FINISHED"
    recs = run.store.read_trials()
    assert [r["trial"] for r in recs] == [1, 2, 3, 4, 5]
    assert [r["status"] for r in recs] == ["ok"] * 3 + ["failed"] * 2
    assert recs[4]["reason"] and recs[3]["reward"] == 0.0
    assert len(run.strategy.history) == 5 and not run.strategy.pending


def test_reused_architecture_is_not_trained_again(tmp_path):
    run = _run(tmp_path, trials=6, epochs=3, strategy="random")
    first = run.next_config("a")
    run.complete("a", _result(run.config, acc=0.8))
    # Make the strategy propose the same architecture again.
    run.strategy.ask = lambda orig=run.strategy.ask: _same(run, orig, first["arch"])
    nxt = run.next_config("b")
    recs = run.store.read_trials()
    assert recs[1]["reused"] == 1 and recs[1]["arch"] == first["arch"] and recs[1]["reward"] == 0.8
    assert nxt is None or nxt["arch"] != first["arch"]


def _same(run, orig, arch):
    p = orig()
    from nas.strategies.base import Proposal

    fake = Proposal(p.id, arch, run.space.encode(arch))
    run.strategy._pending[p.id] = fake
    run.strategy.ask = orig
    return fake


def test_early_stopped_trial_is_scored_on_its_epochs(tmp_path):
    run = _run(tmp_path, trials=2, epochs=4, strategy="random", asha=True)
    run.next_config("a")
    rec = run.complete("a", _result(run.config, acc=0.5, epochs=2))
    assert rec["stopped_early"] and rec["status"] == "ok" and rec["reward"] == 0.5 and rec["epochs"] == 2


@pytest.mark.parametrize("kill_point", ["after_record", "after_state", "after_ask"])
def test_resume_reconciles_state_with_the_trial_log(tmp_path, kill_point):
    """Whatever the kill point, no trial is lost or counted twice."""
    run = _run(tmp_path, trials=6, epochs=3, strategy="reinforce", strategy_options={"batch_size": 2})
    c = [run.next_config(f"t{i}") for i in range(3)]
    run.complete("t0", _result(run.config, acc=0.7))
    if kill_point == "after_record":  # trial 2 recorded, but the state on disk is older
        state_before = run.store.load_state()
        run.complete("t1", _result(run.config, acc=0.6))
        run.store.save_state(state_before)
    elif kill_point == "after_state":
        run.complete("t1", _result(run.config, acc=0.6))
    # t2 was running when the process died
    run2 = SearchRun(run.config, run.space, run.store, attempt=2, out=open(os.devnull, "w"))
    done = {r["proposal"] for r in run2.records}
    cfgs = []
    while (cfg := run2.next_config(f"r{len(cfgs)}")) not in (None, "FINISHED"):
        cfgs.append(cfg)
        run2.complete(f"r{len(cfgs) - 1}", _result(run2.config))
    recs = run2.store.read_trials()
    assert len(recs) == 6 and [r["trial"] for r in recs] == list(range(1, 7))
    assert len({r["proposal"] for r in recs}) == 6
    assert c[2]["proposal"] in {r["proposal"] for r in recs}  # the interrupted trial ran again
    assert not (done & {cfg["proposal"] for cfg in cfgs})  # nothing recorded ran twice
    assert len(run2.strategy.history) == 6


def test_searcher_save_restore_round_trip(tmp_path):
    run = _run(tmp_path, trials=4, epochs=3, strategy="evolution")
    searcher = _searcher_class()(run)
    searcher.suggest("a")
    searcher.suggest("b")
    searcher.on_trial_complete("a", _result(run.config))
    path = tmp_path / "searcher.pt"
    searcher.save(str(path))
    torch.load(path, weights_only=True)
    other = _run(tmp_path / "other", trials=4, epochs=3, strategy="evolution")
    restored = _searcher_class()(other)
    restored.restore(str(path))
    assert set(restored.run.live) == {"b"}
    assert restored.run.strategy.state_dict().keys() == run.strategy.state_dict().keys()
    assert restored.run.strategy.history == run.strategy.history
    assert searcher.suggest("c") == restored.suggest("c")


# ---------------------------------------------------------------------------- through Ray

@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("strategy", nas.strategies.names())
def test_end_to_end_search_on_digits(tmp_path, ray_local, strategy, capsys):
    run = run_search(SearchConfig(runs_dir=str(tmp_path), trials=4, concurrency=2, epochs=2, strategy=strategy))
    root = run.store.root
    recs = [json.loads(line) for line in (root / "trials.jsonl").read_text().splitlines()]
    assert len(recs) == 4 and [r["trial"] for r in recs] == [1, 2, 3, 4]
    for r in recs:
        for key in ("trial", "arch", "reward", "val_acc", "params", "macs", "status", "seconds"):
            assert key in r
        assert r["status"] == "ok" and 0 < r["val_acc"] <= 1 and r["params"] > 0
    best = json.loads((root / "best.json").read_text())
    assert best["reward"] == max(r["reward"] for r in recs)
    assert (root / "config.yaml").exists() and (root / "strategy.pt").exists()
    assert (root / "ray" / "attempt-1").is_dir()
    state = torch.load(root / "strategy.pt", weights_only=True)
    assert len(state["history"]) == 4
    out = capsys.readouterr().out
    assert "[4/4]" in out and "ETA" in out


def test_a_trial_that_raises_and_one_that_goes_nan(tmp_path, ray_local, monkeypatch):
    monkeypatch.setenv("NAS_TEST_FAULTS", json.dumps({"1": "raise", "2": "nan"}))
    run = run_search(SearchConfig(runs_dir=str(tmp_path), trials=4, concurrency=2, epochs=2, strategy="random",
                                  max_failures=0))
    recs = {r["proposal"]: r for r in run.store.read_trials()}
    assert len(recs) == 4
    assert recs[1]["status"] == "failed" and "raised" in recs[1]["reason"]
    assert recs[2]["status"] == "failed" and "nan" in recs[2]["reason"]
    assert recs[0]["status"] == "ok" and recs[3]["status"] == "ok"
    assert recs[1]["reward"] == recs[2]["reward"] == 0.0
    told = {h["id"]: h for h in run.strategy.history}
    assert told[1]["failed"] and told[2]["failed"] and not told[0]["failed"]


def test_asha_search_completes(tmp_path, ray_local):
    run = run_search(SearchConfig(runs_dir=str(tmp_path), trials=5, concurrency=2, epochs=4, strategy="random",
                                  asha=True, asha_grace=1, asha_reduction=2))
    recs = run.store.read_trials()
    assert len(recs) == 5 and all(r["status"] == "ok" for r in recs)
    assert all(1 <= r["epochs"] <= 4 for r in recs)
    assert all(r["stopped_early"] == (r["epochs"] < 4) for r in recs)


# ---------------------------------------------------------------------------- bad input

BAD = [
    (["--trials", "0"], "at least 1"),
    (["--trials", "x"], "whole number"),
    (["--epochs", "-1"], "at least 1"),
    (["--strategy", "reinforse"], "did you mean 'reinforce'"),
    (["--dataset", "imagenet"], "unknown dataset"),
    (["no_such_space.yaml"], "no_such_space"),
    (["--name", "../escape"], "run name"),
    (["--resume", "--name", "nothing"], "no run 'nothing'"),
    (["--cpus-per-trial", "0"], "cpus_per_trial"),
    (["--gpus-per-trial", "abc"], "a number"),
    (["--concurrency", "0"], "at least 1"),
    (["--bogus"], "unrecognized arguments"),
]


@pytest.mark.parametrize("argv, words", BAD)
def test_bad_flags_one_line_exit_2_nothing_written(tmp_path, capsys, argv, words):
    runs = tmp_path / "runs"
    assert main(["search", "--runs-dir", str(runs), *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize("text, words", [
    ("trials: [", "invalid YAML"),
    ("trails: 3", "unknown setting 'trails'"),
    ("strategy_options: {population: 3}\nstrategy: evolution", "population"),
    ("reward: {cube: maybe}", "cube"),
    ("train: {lr: fast}", "lr"),
])
def test_bad_config_files(tmp_path, capsys, text, words):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(text)
    runs = tmp_path / "runs"
    assert main(["search", "--config", str(cfg), "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert not runs.exists() or not any(runs.iterdir())


def test_flags_override_config_file(tmp_path):
    from nas.commands.search import config_from_args
    from nas.cli import make_parser

    cfg = tmp_path / "run.yaml"
    cfg.write_text("trials: 9\nepochs: 3\nstrategy: evolution\n")
    args = make_parser().parse_args(["search", "--config", str(cfg), "--trials", "5"])
    c = config_from_args(args)
    assert (c.trials, c.epochs, c.strategy) == (5, 3, "evolution")


def test_existing_run_needs_resume(tmp_path, capsys):
    run = _run(tmp_path, name="taken", trials=2)
    assert run.store.exists()
    assert main(["search", "--runs-dir", str(tmp_path), "--name", "taken"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_default_names_are_numbered(tmp_path):
    a = _run(tmp_path, trials=2, strategy="random")
    b = _run(tmp_path, trials=2, strategy="random")
    assert (a.store.root.name, b.store.root.name) == ("digits-random", "digits-random-2")
    cfg, _, store = resolve(SearchConfig(runs_dir=str(tmp_path), strategy="random"), resume=True)
    assert store.root.name == "digits-random-2"
