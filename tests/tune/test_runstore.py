"""The run folder: durable appends, torn lines dropped, atomic writes, safe names."""
import json

import pytest
import torch

from nas.errors import ConfigError
from nas.tune import RunStore, SearchConfig, check_name, load_yaml_config


def _record(trial: int, reward: float) -> dict:
    return {"trial": trial, "proposal": trial - 1, "arch": "conv(8,3) gap", "reward": reward, "status": "ok"}


def test_a_torn_last_line_is_left_out_on_read_and_set_aside_before_appending(tmp_path):
    store = RunStore(tmp_path / "r")
    store.root.mkdir()
    store.append_trial(_record(1, 0.5))
    store.append_trial(_record(2, 0.7))
    with open(store.trials_path, "a") as f:
        f.write('{"trial": 3, "rew')  # a kill mid-write
    before = store.trials_path.read_bytes()
    assert [r["trial"] for r in store.read_trials()] == [1, 2]
    assert store.trials_path.read_bytes() == before  # reading never writes
    assert store.set_aside_torn_tail() == len('{"trial": 3, "rew')
    assert (store.root / "trials.jsonl.torn").read_text() == '{"trial": 3, "rew\n'  # kept, not deleted
    store.append_trial(_record(3, 0.9))
    assert [r["trial"] for r in store.read_trials()] == [1, 2, 3]
    assert all(json.loads(line) for line in store.trials_path.read_text().splitlines())


def test_a_whole_last_record_without_its_newline_is_kept(tmp_path):
    store = RunStore(tmp_path)
    store.append_trial(_record(1, 0.5))
    with open(store.trials_path, "a") as f:
        f.write(json.dumps(_record(2, 0.6)))
    assert [r["trial"] for r in store.read_trials()] == [1, 2]
    assert store.set_aside_torn_tail() == 0
    store.append_trial(_record(3, 0.9))
    assert [r["trial"] for r in store.read_trials()] == [1, 2, 3]


def _line(**change) -> bytes:
    return json.dumps(dict(_record(3, 0.5), **change)).encode() + b"\n"


@pytest.mark.parametrize("damage, words", [
    (b"junk\n", "line 3 is not valid JSON"),
    (b"\xff\xfe\n", "line 3 is not valid JSON"),
    (b"{}\n", "line 3 is not a trial record (missing trial, proposal, arch, reward, status)"),
    (b"[1, 2]\n", "line 3 is not a trial record (a JSON list, not an object)"),
    (b"[" * 100_000 + b"\n", "line 3 is not valid JSON"),
    (_line(reward="high"), "line 3 has reward 'high', not a finite number"),
    (_line(reward=None), "line 3 has reward None"),
    (_line(status="great"), "line 3 has status 'great'"),
    (_line(trial="3"), "line 3 has trial number '3' where 3 belongs"),
    (_line(trial=2), "line 3 has trial number 2 where 3 belongs"),  # a doubled line (two writers)
    (_line(trial=5), "line 3 has trial number 5 where 3 belongs"),  # lines lost
    (_line(proposal=-1), "line 3 has proposal -1"),
    (_line(arch=7), "line 3 has no architecture string"),
    (_line(val_acc="x"), "line 3 has val_acc 'x'"),
])
def test_a_damaged_line_is_never_cut_and_names_file_and_line(tmp_path, damage, words):
    store = RunStore(tmp_path)
    for t in (1, 2):
        store.append_trial(_record(t, 0.5))
    with open(store.trials_path, "ab") as f:
        f.write(damage)
    store.append_trial(_record(4, 0.6))
    before = store.trials_path.read_bytes()
    for read in (store.read_trials, store.set_aside_torn_tail, store.snapshot):
        with pytest.raises(ConfigError) as e:
            if read == store.snapshot:
                store.write_config({"search": {}})
            read()
        assert words in str(e.value) and str(store.trials_path) in str(e.value), str(e.value)
        assert "restore the file from a backup" in str(e.value) and "\n" not in str(e.value)
    assert store.trials_path.read_bytes() == before  # the records after the damage are all still there


def test_blank_lines_hold_nothing_and_are_skipped(tmp_path):
    store = RunStore(tmp_path)
    store.append_trial(_record(1, 0.5))
    with open(store.trials_path, "ab") as f:
        f.write(b"\n  \n")
    store.append_trial(_record(2, 0.6))
    assert [r["trial"] for r in store.read_trials()] == [1, 2]


def test_a_reader_beside_a_writer_always_sees_a_valid_prefix(tmp_path):
    """nas report/export read while a search appends: every read is whole records, in order."""
    import threading

    store = RunStore(tmp_path)
    store.write_config({"search": {}})
    store.append_trial(_record(1, 0.1))
    done = threading.Event()

    def write():
        for t in range(2, 400):
            store.append_trial(_record(t, t / 400))
        done.set()

    threading.Thread(target=write).start()
    seen = 0
    while not done.is_set():
        trials = store.snapshot().trials
        assert [r["trial"] for r in trials] == list(range(1, len(trials) + 1))
        assert len(trials) >= seen
        seen = len(trials)
    assert len(store.snapshot().trials) == 399


@pytest.mark.parametrize("content, words", [
    (None, None),
    (b"", "damaged or not a strategy state"),
    (b"garbage" * 10, "damaged or not a strategy state"),
    ("half", "damaged or not a strategy state"),
    ("evil", "not plain data and tensors (refused, as objects in it could run code when loaded)"),
    ("list", "not a strategy state (a list)"),
])
def test_strategy_state_problems_are_one_error_naming_the_file(tmp_path, content, words):
    import pickle

    store = RunStore(tmp_path)
    if content == "half":
        store.save_state({"x": torch.zeros(100)})
        data = store.state_path.read_bytes()
        store.state_path.write_bytes(data[: len(data) // 2])
    elif content == "evil":
        torch.save({"x": _Evil()}, store.state_path, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    elif content == "list":
        torch.save([1, 2], store.state_path)
    elif content is not None:
        store.state_path.write_bytes(content)
    if words is None:
        assert store.load_state() is None
        return
    with pytest.raises(ConfigError) as e:
        store.load_state()
    assert words in str(e.value) and str(store.state_path) in str(e.value)
    assert "weights_only" not in str(e.value) and "\n" not in str(e.value)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_the_lock_has_one_holder_and_says_who(tmp_path):
    from nas.errors import RunBusyError

    store = RunStore(tmp_path / "r")
    lock = store.lock()
    with pytest.raises(RunBusyError) as e:
        RunStore(tmp_path / "r").lock()
    assert f"pid {__import__('os').getpid()}" in str(e.value) and "in use by another search" in str(e.value)
    lock.release()
    RunStore(tmp_path / "r").lock().release()  # free again once released


def test_a_killed_holder_releases_the_lock(tmp_path):
    import subprocess
    import sys

    store = RunStore(tmp_path / "r")
    code = ("import sys, time; from nas.tune import RunStore; RunStore(sys.argv[1]).lock(); "
            "print('locked', flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code, str(store.root)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "locked"
    from nas.errors import RunBusyError

    with pytest.raises(RunBusyError):
        store.lock()
    p.kill()
    p.wait()
    store.lock().release()


def test_state_round_trip_is_weights_only(tmp_path):
    store = RunStore(tmp_path)
    store.save_state({"rng": torch.Generator().get_state(), "history": [{"id": 1, "reward": 0.5}]})
    assert store.load_state()["history"][0]["reward"] == 0.5
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("name", ["../x", "/etc", "a/b", "..", ".hidden", "", "a..b", "x" * 101, "a b"])
def test_run_names_cannot_escape(name):
    with pytest.raises(ConfigError):
        check_name(name)


@pytest.mark.parametrize("name", ["digits-reinforce", "run_1.2", "A"])
def test_plain_run_names_pass(name):
    assert check_name(name) == name


@pytest.mark.parametrize(
    "data, words",
    [
        ({"trails": 3}, ["unknown setting 'trails'", "did you mean 'trials'"]),
        ({"trials": "many"}, ["'trials' must be a whole number"]),
        ({"trials": 0}, ["at least 1"]),
        ({"asha": "yes"}, ["true or false"]),
        ({"cpus_per_trial": 0}, ["cpus_per_trial"]),
        ({"train": [1]}, ["mapping"]),
        ({"epochs": 2.5}, ["whole number"]),
        ({"val_fraction": 1.5}, ["between 0 and 1"]),
    ],
)
def test_search_config_errors_name_the_key(data, words):
    with pytest.raises(ConfigError) as e:
        SearchConfig.from_dict(data)
    for w in words:
        assert w in str(e.value)


def test_search_config_overrides_are_typed():
    cfg = SearchConfig.from_dict({"trials": 5, "cpus_per_trial": 2}).updated({"trials": 7})
    assert cfg.trials == 7 and cfg.cpus_per_trial == 2.0 and isinstance(cfg.cpus_per_trial, float)


@pytest.mark.parametrize("text, words", [("trials: [", ["invalid YAML", "line"]), ("- 1\n- 2", ["mapping"])])
def test_yaml_config_errors(tmp_path, text, words):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_yaml_config(p)
    for w in words:
        assert w in str(e.value)
    with pytest.raises(ConfigError):
        load_yaml_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("content, words", [
    (b"[" * 30000, "damaged or unreadable run config"),  # PyYAML recursed past the stack
    (b"search: " + b"9" * 5000, "damaged or unreadable run config"),
    (b"\xff\xfe", "damaged or unreadable run config"),
    (b"- 1\n", "not a run config"),
    ("folder", "it is a folder"),
])
def test_a_damaged_run_config_is_one_error(tmp_path, content, words):
    store = RunStore(tmp_path)
    if content == "folder":
        store.config_path.mkdir()
    else:
        store.config_path.write_bytes(content)
    with pytest.raises(ConfigError, match=words):
        store.read_config()
