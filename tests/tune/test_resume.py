"""Resume is exact, a run folder has one writer, nothing foreign is overwritten, a failed start
leaves nothing behind, and a missing or damaged strategy state is the user's choice."""
from __future__ import annotations

import json

import pytest
import torch
import yaml

import nas.strategies
from nas.cli import main
from nas.errors import ConfigError, RunBusyError
from nas.tune import RunStore, SearchConfig, SearchDriver, resolve, resume_command, run_search


def _new_run(tmp_path, name="k", **kw) -> SearchDriver:
    """A run folder as `nas search` creates one (config, space copy, first state), no Ray."""
    cfg, space, store = resolve(SearchConfig(runs_dir=str(tmp_path), name=name, **kw), resume=False)
    store.write_config({"search": cfg.to_dict(), "space_file": str(space.path), "space_hash": space.hash},
                       space.path.read_bytes())
    driver = SearchDriver(cfg, space, store)
    store.save_state(driver.strategy.state_dict())
    return driver


def _result(acc):
    return {"val_accs": [acc], "params": 1000, "macs": 5000, "status": "ok", "seconds": 0.1}


def _play(driver, accs, concurrency=2, swap=False):
    """Drive trials as Ray does: ``concurrency`` in flight, each finished one replaced at once;
    ``swap`` finishes the two oldest in the other order. Trials still in flight when the
    accuracies run out are left running, as at a kill."""
    live, accs = [], list(accs)
    n = 0
    while accs:
        while len(live) < concurrency and isinstance(cfg := driver.next_config(f"t{n}"), dict):
            live.append((f"t{n}", cfg))
            n += 1
        if not live:
            break
        i = 1 if swap and len(live) > 1 else 0
        tid, _ = live.pop(i)
        driver.complete(tid, _result(accs.pop(0)))


# ------------------------------------------------------------------ resume continues the run as started

@pytest.mark.parametrize("flags, words", [
    (["--strategy", "evolution"], "was started with strategy 'random', not 'evolution'"),
    (["--epochs", "3"], "was started with epochs 1, not 3"),
    (["--seed", "5"], "was started with seed 0, not 5"),
    (["--concurrency", "1"], "was started with concurrency 2, not 1"),
    (["--val-fraction", "0.3"], "was started with val_fraction 0.2, not 0.3"),
    (["--cpus-per-trial", "2"], "was started with cpus_per_trial 1.0, not 2.0"),
    (["--trials", "2"], "has a budget of 4 trials; --resume can raise it"),
    (["--asha"], "was started with asha False, not True"),
    (["--no-reuse"], "was started with reuse True, not False"),
    (["SPACE"], "was started with the space 'digits'"),
    (["--config", "CFG"], "was started with train {}, not {'lr': 0.5}"),
])
def test_a_differing_setting_is_refused_with_what_the_run_was_started_with(tmp_path, capsys, flags, words):
    run = _new_run(tmp_path, trials=4, epochs=1, strategy="random")
    _play(run, [0.5])
    other = tmp_path / "other.yaml"
    other.write_text(run.space.path.read_text().replace("name: digits", "name: digits") + "\n# edited\n")
    (tmp_path / "cfg.yaml").write_text("train: {lr: 0.5}\n")
    flags = [str(other) if f == "SPACE" else str(tmp_path / "cfg.yaml") if f == "CFG" else f for f in flags]
    before = {p.name: p.read_bytes() for p in run.store.root.iterdir() if p.is_file()}
    assert main(["search", "--name", "k", "--runs-dir", str(tmp_path), "--resume", *flags]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert {p.name: p.read_bytes() for p in run.store.root.iterdir() if p.is_file()} == before


def test_the_same_settings_given_again_and_the_places_may_be_given(tmp_path):
    run = _new_run(tmp_path, trials=4, epochs=1, strategy="random")
    given = SearchConfig(runs_dir=str(tmp_path), name="k", epochs=1, strategy="random", trials=4,
                         data_dir=str(tmp_path / "elsewhere"))
    cfg, space, store = resolve(given, resume=True, explicit={"epochs", "strategy", "trials", "data_dir", "name"})
    assert cfg == run.config.__class__(**dict(run.config.to_dict(), data_dir=str(tmp_path / "elsewhere")))
    assert space.hash == run.space.hash and store.root == run.store.root


def test_resume_without_trials_keeps_the_runs_budget(tmp_path):
    """The old rule max(saved, given) let the flag's default of 40 win over a run of 4."""
    _new_run(tmp_path, trials=4, epochs=1, strategy="random")
    cfg, _, _ = resolve(SearchConfig(runs_dir=str(tmp_path), name="k"), resume=True, explicit={"name", "runs_dir"})
    assert cfg.trials == 4
    cfg, _, _ = resolve(SearchConfig(runs_dir=str(tmp_path), name="k"), resume=True)  # the Python API: same
    assert cfg.trials == 4


def test_resume_uses_the_runs_own_copy_of_its_space(tmp_path):
    space = tmp_path / "mine.yaml"
    space.write_text((SearchConfig().space and nas.space.SearchSpace.load("digits").path).read_text())
    run = _new_run(tmp_path, space=str(space), trials=4, epochs=1, strategy="random")
    space.write_text("garbage: [")  # the user edits or deletes the original afterwards
    cfg, own, _ = resolve(SearchConfig(runs_dir=str(tmp_path), name="k"), resume=True, explicit={"name"})
    assert own.hash == run.space.hash and own.name == run.space.name


@pytest.mark.parametrize("damage", ["edited", "fifo", "missing"])
def test_a_damaged_copy_of_the_space_stops_resume_with_one_error(tmp_path, damage):
    import os

    run = _new_run(tmp_path, trials=4, epochs=1, strategy="random")
    run.store.space_path.unlink()
    if damage == "edited":
        run.store.space_path.write_text(run.space.path.read_text() + "\n# edited\n")
    elif damage == "fifo":
        os.mkfifo(run.store.space_path)  # would block a plain read forever
    with pytest.raises(ConfigError) as e:
        resolve(SearchConfig(runs_dir=str(tmp_path), name="k"), resume=True)
    assert str(run.store.space_path) in str(e.value) and "\n" not in str(e.value)


def test_the_continue_line_reproduces_the_run(tmp_path):
    cfg = SearchConfig(name="k 1", runs_dir=str(tmp_path / "my runs"), address="10.0.0.1:6379", data_dir="/d")
    line = resume_command(cfg)
    assert line == (f"nas search --name 'k 1' --runs-dir '{tmp_path}/my runs' --address 10.0.0.1:6379 "
                    "--data-dir /d --resume")
    assert resume_command(SearchConfig(name="k")) == "nas search --name k --resume"


def test_a_raised_budget_is_recorded_and_kept(tmp_path, ray_local, capsys):
    base = ["search", "--runs-dir", str(tmp_path), "--name", "k", "--trials", "2", "--epochs", "1",
            "--strategy", "random"]
    assert main(base) == 0
    capsys.readouterr()
    assert main(["search", "--runs-dir", str(tmp_path), "--name", "k", "--resume"]) == 0
    assert "already has all 2 trials" in capsys.readouterr().out
    assert main(["search", "--runs-dir", str(tmp_path), "--name", "k", "--resume", "--trials", "3"]) == 0
    store = RunStore(tmp_path / "k")
    config = yaml.safe_load(store.config_path.read_text())
    assert config["search"]["trials"] == 3 and [b["trials"] for b in config["budget"]] == [3]
    assert len(store.read_trials()) == 3
    capsys.readouterr()
    assert main(["search", "--runs-dir", str(tmp_path), "--name", "k", "--resume"]) == 0
    assert "already has all 3 trials" in capsys.readouterr().out


# ------------------------------------------------------------------ one writer, nothing foreign touched

def test_a_second_search_on_a_locked_run_is_refused_naming_the_holder(tmp_path, capsys):
    run = _new_run(tmp_path, trials=4, epochs=1, strategy="random")
    lock = run.store.lock()  # a search is running on it
    try:
        assert main(["search", "--runs-dir", str(tmp_path), "--name", "k", "--resume"]) == 2
        err = capsys.readouterr().err
        assert "in use by another search" in err and "pid" in err
    finally:
        lock.release()


def test_two_new_searches_with_one_name_do_not_both_run(tmp_path):
    store = RunStore(tmp_path / "dup")
    lock = store.lock()  # the first one has claimed the folder and is starting
    try:
        with pytest.raises(RunBusyError):
            run_search(SearchConfig(runs_dir=str(tmp_path), name="dup", trials=1, epochs=1))
    finally:
        lock.release()
    assert sorted(p.name for p in store.root.iterdir()) == [".lock"]  # the first one's folder, untouched


def test_a_default_name_taken_by_a_starting_search_moves_on(tmp_path):
    from nas.tune.runs import claim

    first = RunStore(tmp_path / "digits-random")
    held = first.lock()
    try:
        lock, store = claim(first, new=True, base="digits-random")
        assert store.root.name == "digits-random-2"
        lock.release()
    finally:
        held.release()


def test_a_folder_that_is_not_a_run_is_never_overwritten(tmp_path, capsys):
    folder = tmp_path / "important"
    folder.mkdir()
    (folder / "trials.jsonl").write_text("my own notes\n")
    (folder / "thesis.tex").write_text("\\begin{document}")
    assert main(["search", "--runs-dir", str(tmp_path), "--name", "important", "--trials", "1"]) == 2
    err = capsys.readouterr().err
    assert "is not a run of nas" in err and "thesis.tex" in err
    assert (folder / "trials.jsonl").read_text() == "my own notes\n"
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.tex", "trials.jsonl"]


def test_a_default_name_skips_a_foreign_folder(tmp_path):
    (tmp_path / "digits-random").mkdir()
    (tmp_path / "digits-random" / "x.txt").write_text("mine")
    _, _, store = resolve(SearchConfig(runs_dir=str(tmp_path), strategy="random"), resume=False)
    assert store.root.name == "digits-random-2"


def test_a_search_that_fails_after_its_checks_leaves_no_folder(tmp_path, ray_local, capsys):
    # The local Ray of the tests has 2 CPUs: a trial asking for 64 fails after the run was claimed.
    assert main(["search", "--runs-dir", str(tmp_path), "--trials", "1", "--cpus-per-trial", "64"]) == 2
    assert "--cpus-per-trial 64 asks for more" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ the strategy's state

@pytest.mark.parametrize("damage", ["missing", "half", "garbage", "other space", "evil"])
def test_a_missing_or_damaged_strategy_state_stops_resume_and_names_the_file(tmp_path, damage):
    run = _new_run(tmp_path, trials=6, epochs=1, strategy="reinforce", strategy_options={"batch_size": 2})
    _play(run, [0.5, 0.6, 0.7])
    path = run.store.state_path
    if damage == "missing":
        path.unlink()
    elif damage == "half":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 100)
    elif damage == "other space":
        state = torch.load(path, weights_only=True)
        state["space"] = state["space"][:-1]
        torch.save(state, path)
    else:
        import pickle

        class Evil:
            def __reduce__(self):
                return (print, ("pwned",))

        path.write_bytes(pickle.dumps({"x": Evil()}))
    before = path.read_bytes() if path.exists() else None
    with pytest.raises(ConfigError) as e:
        SearchDriver(run.config, run.space, run.store, attempt=2)
    msg = str(e.value)
    assert str(path) in msg and "--rebuild-strategy" in msg and "3 recorded trials" in msg, msg
    assert "weights_only" not in msg and "\n" not in msg
    assert (path.read_bytes() if path.exists() else None) == before  # nothing changed


@pytest.mark.parametrize("strategy", nas.strategies.names())
@pytest.mark.parametrize("swap", [False, True])
def test_rebuild_strategy_replays_the_run_exactly(tmp_path, strategy, swap):
    """The rebuilt state equals the lost one: same history, same generator, same learned policy."""
    options = {"batch_size": 2} if strategy == "reinforce" else {}
    run = _new_run(tmp_path, trials=9, epochs=1, strategy=strategy, strategy_options=options)
    _play(run, [0.1 * (i % 7) for i in range(9)], swap=swap)
    lost = run.strategy.state_dict()
    run.store.state_path.unlink()
    warnings = []
    events = type("E", (), {"info": lambda self, m: warnings.append(m), "recorded": lambda *a: None})()
    again = SearchDriver(run.config, run.space, run.store, attempt=2, rebuild_strategy=True, events=events)
    rebuilt = again.strategy.state_dict()
    assert rebuilt["history"] == lost["history"] and rebuilt["next_id"] == lost["next_id"]
    assert torch.equal(rebuilt["rng"], lost["rng"])
    for key in set(lost) - {"history", "rng"}:
        assert repr(rebuilt[key]) == repr(lost[key]), key
    assert "rebuilt" in warnings[0] and run.store.state_path.exists()


def test_rebuild_keeps_the_damaged_file_beside_it(tmp_path):
    run = _new_run(tmp_path, trials=4, epochs=1, strategy="random")
    _play(run, [0.5, 0.6])
    run.store.state_path.write_bytes(b"garbage")
    SearchDriver(run.config, run.space, run.store, attempt=2, rebuild_strategy=True)
    assert (run.store.root / "strategy.pt.replaced-1").read_bytes() == b"garbage"


def test_a_state_that_disagrees_with_the_log_is_refused(tmp_path):
    run = _new_run(tmp_path, trials=6, epochs=1, strategy="random")
    _play(run, [0.5, 0.6], concurrency=1)
    lines = run.store.trials_path.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["arch"] = "conv(8,3) gap"  # a record edited by hand, or a strategy.pt of another run
    run.store.trials_path.write_text("\n".join([lines[0], json.dumps(rec)]) + "\n")
    run.store.save_state(nas.strategies.get("random", run.space, seed=0).state_dict())  # lagging state
    again = SearchDriver(run.config, run.space, run.store, attempt=2)
    with pytest.raises(ConfigError, match="disagrees with"):
        _play(again, [0.1])


def test_rebuild_strategy_needs_resume(tmp_path, capsys):
    assert main(["search", "--runs-dir", str(tmp_path), "--rebuild-strategy"]) == 2
    assert "--rebuild-strategy goes with --resume" in capsys.readouterr().err


def test_a_candidate_too_large_to_build_is_a_failed_proposal_not_a_trial(tmp_path, monkeypatch):
    import dataclasses

    from nas.nn import builder

    run = _new_run(tmp_path, trials=6, epochs=1, strategy="random")
    monkeypatch.setattr(builder, "LIMITS", dataclasses.replace(builder.LIMITS, max_params=3000))
    launched = []
    while isinstance(cfg := run.next_config(f"t{len(launched)}"), dict):
        launched.append(cfg)
        run.complete(f"t{len(launched) - 1}", _result(0.5))
    recs = run.store.read_trials()
    refused = [r for r in recs if r["reason"] and r["reason"].startswith("refused before training")]
    assert len(recs) == 6 and refused and len(launched) == 6 - len(refused)
    assert all(r["status"] == "failed" and r["reward"] == 0.0 and "parameter count" in r["reason"] for r in refused)
    assert {c["proposal"] for c in launched}.isdisjoint({r["proposal"] for r in refused})


@pytest.mark.parametrize("swap", [False, True])
def test_rebuild_replays_proposals_refused_as_too_large_as_told_at_their_ask(tmp_path, monkeypatch, swap):
    """A proposal refused before training, like a reused one, was told the moment it was asked
    and took no slot; the replay must ask on as the search did."""
    import dataclasses

    from nas.nn import builder

    monkeypatch.setattr(builder, "LIMITS", dataclasses.replace(builder.LIMITS, max_params=30_000))
    run = _new_run(tmp_path, trials=10, epochs=1, strategy="reinforce", strategy_options={"batch_size": 2})
    _play(run, [0.1 * (i % 7) for i in range(10)], swap=swap)
    refused = [(r["reason"] or "").startswith("refused before training") for r in run.store.read_trials()]
    assert any(refused) and not all(refused)
    lost = run.strategy.state_dict()
    run.store.state_path.unlink()
    rebuilt = SearchDriver(run.config, run.space, run.store, attempt=2, rebuild_strategy=True).strategy.state_dict()
    assert rebuilt["history"] == lost["history"] and torch.equal(rebuilt["rng"], lost["rng"])
