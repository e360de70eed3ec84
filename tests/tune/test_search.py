"""``nas search``: the driver's bookkeeping (no Ray), then real searches through Ray Tune on
digits: every strategy, a trial that raises and one that goes NaN, ASHA, resume after a
SIGKILL, and bad input that leaves nothing behind."""
import json

import pytest
import torch

import nas.strategies
from nas.cli import main
from nas.cli.search import ConsoleEvents
from nas.tune import SearchConfig, SearchDriver, SearchEvents, StrategySearcher, resolve, run_search


def _run(tmp_path, **kw):
    cfg = SearchConfig(runs_dir=str(tmp_path), **kw)
    cfg, space, store = resolve(cfg, resume=False)
    store.write_config({"search": cfg.to_dict(), "space_file": str(space.path), "space_hash": space.hash},
                       space.path.read_bytes())
    return SearchDriver(cfg, space, store)


def _searcher(driver):
    return StrategySearcher(driver=driver, metric="val_acc", mode="max")


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
    # A space of two architectures: by the third proposal one must come again.
    space = tmp_path / "two.yaml"
    space.write_text("input: [1, 8, 8]\nclasses: 10\ndataset: digits\nstem: conv(8,3)\n"
                     "stages:\n  - {block: conv, width: [8, 16]}\n")
    run = _run(tmp_path, space=str(space), trials=3, epochs=3, strategy="random")
    configs = []
    while isinstance(cfg := run.next_config(f"t{len(configs)}"), dict):
        configs.append(cfg)
        run.complete(f"t{len(configs) - 1}", _result(run.config, acc=0.5 + 0.1 * len(configs)))
    recs = run.store.read_trials()
    trained = [r for r in recs if not r["reused"]]
    reused = [r for r in recs if r["reused"]]
    assert len(recs) == 3 and len(configs) == len(trained) == len({r["arch"] for r in recs}) == 2
    for r in reused:  # the earlier trial's result, and no training config was handed out for it
        earlier = recs[r["reused"] - 1]
        assert r["arch"] == earlier["arch"] and r["reward"] == earlier["reward"] and r["seconds"] == 0.0
    assert len(run.strategy.history) == 3 and not run.strategy.pending


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
    run2 = SearchDriver(run.config, run.space, run.store, attempt=2)
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
    searcher = _searcher(run)
    searcher.suggest("a")
    searcher.suggest("b")
    searcher.on_trial_complete("a", _result(run.config))
    path = tmp_path / "searcher.pt"
    searcher.save(str(path))
    torch.load(path, weights_only=True)
    other = _run(tmp_path / "other", trials=4, epochs=3, strategy="evolution")
    restored = _searcher(other)
    restored.restore(str(path))
    assert set(restored.driver.live) == {"b"}
    assert restored.driver.strategy.state_dict().keys() == run.strategy.state_dict().keys()
    assert restored.driver.strategy.history == run.strategy.history
    assert searcher.suggest("c") == restored.suggest("c")


# ---------------------------------------------------------------------------- through Ray

@pytest.mark.parametrize("strategy", nas.strategies.names())
def test_end_to_end_search_on_digits(tmp_path, ray_local, strategy, capsys):
    run = run_search(SearchConfig(runs_dir=str(tmp_path), trials=4, concurrency=2, epochs=2, strategy=strategy),
                     events=ConsoleEvents())
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


def test_a_trial_that_raises_and_one_that_goes_nan(tmp_path, ray_local):
    import functools

    from nas.testing import faulty_trial

    run = run_search(SearchConfig(runs_dir=str(tmp_path), trials=4, concurrency=2, epochs=2, strategy="random",
                                  max_failures=0), trainable=functools.partial(faulty_trial, faults={1: "raise", 2: "nan"}))
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


def test_a_space_without_a_dataset_needs_one(tmp_path, capsys):
    space = tmp_path / "nodata.yaml"
    space.write_text("input: [1, 8, 8]\nclasses: 10\nstages:\n  - {block: conv, width: 8}\n")
    runs = tmp_path / "runs"
    assert main(["search", str(space), "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert "names no dataset" in err and "--dataset" in err and err.count("\n") == 1
    assert not runs.exists()


def test_flags_override_config_file(tmp_path):
    from nas.cli.search import config_from_args
    from nas.cli import make_parser

    cfg = tmp_path / "run.yaml"
    cfg.write_text("trials: 9\nepochs: 3\nstrategy: evolution\n")
    args = make_parser().parse_args(["search", "--config", str(cfg), "--trials", "5"])
    c = config_from_args(args)
    assert (c.trials, c.epochs, c.strategy) == (5, 3, "evolution")


def test_controller_flag_sets_the_preset_over_the_config_files_options(tmp_path, capsys):
    from nas.cli import make_parser
    from nas.cli.search import _config_and_given

    cfg = tmp_path / "run.yaml"
    cfg.write_text("strategy_options: {lr: 0.01, preset: enas}\n")
    args = make_parser().parse_args(["search", "zoph2017", "--config", str(cfg), "--controller", "zoph2017"])
    c, given = _config_and_given(args)
    assert c.strategy_options == {"lr": 0.01, "preset": "zoph2017"} and "strategy_options" in given
    runs = tmp_path / "runs"
    assert main(["search", "--strategy", "evolution", "--controller", "enas", "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert "'preset'" in err and err.count("\n") == 1 and not runs.exists()
    assert main(["search", "--controller", "nasnet", "--runs-dir", str(runs)]) == 2
    assert "preset must be one of zoph2017, enas" in capsys.readouterr().err


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
    c = _run(tmp_path, trials=2, strategy="tune:optuna")  # a folder name has no colon
    assert c.store.root.name == "digits-tune-optuna"


# ---------------------------------------------------------------------------- durable state first

def _assert_consistent(root, trials, finished=True):
    """trials.jsonl, best.json and strategy.pt of a run folder agree with each other (a stopped
    run may still have proposals pending: the trials that were running)."""
    from nas.tune import RunStore

    recs = RunStore(root).read_trials()
    assert [r["trial"] for r in recs] == list(range(1, trials + 1))
    ok = [r for r in recs if r["status"] == "ok"]
    assert json.loads((root / "best.json").read_text()) == max(ok, key=lambda r: (r["reward"], -r["trial"]))
    state = torch.load(root / "strategy.pt", weights_only=True)
    assert len(state["history"]) == trials and (not finished or not state["pending"])
    return recs


def _play(run, accs):
    """Drive a SearchDriver without Ray: one trial at a time, with the given accuracies."""
    for i, acc in enumerate(accs):
        run.next_config(f"t{i}")
        run.complete(f"t{i}", _result(run.config, acc=acc))


@pytest.mark.parametrize("broken", ["logger", "progress"])
def test_a_failing_side_output_warns_once_and_the_durable_state_stays_whole(tmp_path, capsys, monkeypatch, broken):
    from nas.tune.tensorboard import ControllerLogger

    def boom(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'tensorboard'")

    monkeypatch.setattr(*((ControllerLogger, "log", boom) if broken == "logger" else (ConsoleEvents, "recorded", boom)))
    run = _run(tmp_path, trials=6, epochs=3, strategy="reinforce", strategy_options={"batch_size": 2})
    run.events = ConsoleEvents()
    _play(run, [0.5, 0.7, 0.6, 0.9, 0.8, 0.4])
    err = capsys.readouterr().err
    what = "TensorBoard logging" if broken == "logger" else "progress output"
    assert err == (f"nas: warning: {what} failed (ModuleNotFoundError: No module named 'tensorboard'); "
                   "the search goes on without it\n")
    recs = _assert_consistent(run.store.root, 6)
    assert max(recs, key=lambda r: r["reward"])["trial"] == 4
    assert len(run.strategy.updates) == 3  # every batch of 2 reached the controller


def test_the_durable_writes_come_in_order_record_best_state(tmp_path, monkeypatch):
    run = _run(tmp_path, trials=3, epochs=3, strategy="random")
    calls = []
    for name in ("append_trial", "write_best", "save_state"):
        real = getattr(run.store, name)
        monkeypatch.setattr(run.store, name, lambda *a, _n=name, _r=real: (calls.append(_n), _r(*a))[1])
    run.events = SearchEvents()
    monkeypatch.setattr(run.events, "recorded", lambda *a: calls.append("progress"))
    _play(run, [0.5, 0.4, 0.9])
    assert calls == ["append_trial", "write_best", "save_state", "progress",  # trial 1: a new best
                     "append_trial", "save_state", "progress",  # trial 2: best unchanged
                     "append_trial", "write_best", "save_state", "progress"]


def test_a_kill_between_the_record_and_best_json_is_caught_up_on_resume(tmp_path):
    run = _run(tmp_path, trials=4, epochs=3, strategy="random")
    _play(run, [0.5, 0.6])
    stale = (run.store.root / "best.json").read_text()
    run.next_config("t2")
    run.complete("t2", _result(run.config, acc=0.9))
    (run.store.root / "best.json").write_text(stale)  # as if killed right after the record
    again = SearchDriver(run.config, run.space, run.store, attempt=2)
    assert json.loads((run.store.root / "best.json").read_text())["trial"] == 3
    assert again.best()["trial"] == 3


def test_a_failed_state_write_raises_and_resume_loses_nothing(tmp_path, monkeypatch):
    run = _run(tmp_path, trials=4, epochs=3, strategy="reinforce", strategy_options={"batch_size": 2})
    _play(run, [0.5])
    monkeypatch.setattr(run.store, "save_state", lambda state: (_ for _ in ()).throw(OSError(28, "No space left")))
    run.next_config("t1")
    with pytest.raises(OSError, match="No space left"):
        run.complete("t1", _result(run.config, acc=0.8))
    monkeypatch.undo()
    assert len(run.store.read_trials()) == 2  # the record came first and stays
    assert json.loads((run.store.root / "best.json").read_text())["trial"] == 2
    again = SearchDriver(run.config, run.space, run.store, attempt=2)
    _play(again, [0.3, 0.2])
    _assert_consistent(run.store.root, 4)


def test_searcher_keeps_the_first_fatal_error_and_finishes(tmp_path, monkeypatch):
    from ray.tune.search import Searcher

    run = _run(tmp_path, trials=4, epochs=3, strategy="random")
    searcher = _searcher(run)
    searcher.suggest("a")
    searcher.suggest("b")
    monkeypatch.setattr(run.store, "append_trial", lambda rec: (_ for _ in ()).throw(OSError(28, "No space left")))
    searcher.on_trial_complete("a", _result(run.config))  # Tune would log and swallow a raise here
    assert isinstance(searcher.fatal, OSError) and searcher.stopper().stop_all()
    assert searcher.suggest("c") == Searcher.FINISHED
    searcher.on_trial_complete("b", _result(run.config))  # ignored once the search is stopping
    assert run.done == 0


def test_through_ray_a_failing_logger_is_one_warning(tmp_path, ray_local, monkeypatch, capfd):
    from nas.tune.tensorboard import ControllerLogger

    def boom(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'tensorboard'")

    monkeypatch.setattr(ControllerLogger, "log", boom)
    run = run_search(SearchConfig(runs_dir=str(tmp_path), trials=4, concurrency=2, epochs=1, strategy="reinforce",
                                  strategy_options={"batch_size": 2}), events=ConsoleEvents())
    out, err = capfd.readouterr()
    assert err.count("nas: warning: TensorBoard logging failed") == 1
    assert "Traceback" not in out + err and "Error stopping trial" not in out + err
    assert "[4/4]" in out
    _assert_consistent(run.store.root, 4)


def test_through_ray_a_full_disk_stops_the_search_with_one_error_and_resume_finishes(tmp_path, ray_local,
                                                                                      monkeypatch, capfd):
    from nas.tune import RunStore

    real = RunStore.append_trial
    writes = []

    def fills_up(self, record):
        writes.append(record["trial"])
        if len(writes) >= 3:
            raise OSError(28, "No space left on device", str(self.trials_path))
        real(self, record)

    monkeypatch.setattr(RunStore, "append_trial", fills_up)
    argv = ["search", "--runs-dir", str(tmp_path), "--name", "full", "--trials", "8", "--epochs", "1",
            "--strategy", "random"]
    assert main(argv) == 1
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Error stopping trial" not in out + err
    lines = [line for line in err.splitlines() if line.startswith("nas: ")]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "trials.jsonl" in lines[0]
    assert f"nas search --name full --runs-dir {tmp_path} --resume" in lines[0]
    assert len(writes) == 3  # the search stopped at the first failure instead of training on
    _assert_consistent(tmp_path / "full", 2, finished=False)
    monkeypatch.setattr(RunStore, "append_trial", real)
    assert main(argv[:-2] + ["--resume"]) == 0
    _assert_consistent(tmp_path / "full", 8)
