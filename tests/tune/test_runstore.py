"""The run folder: durable appends, torn lines dropped, atomic writes, safe names."""
import json

import pytest
import torch

from nas.errors import ConfigError
from nas.tune import SearchConfig, load_yaml_config
from nas.tune import RunStore, check_name


def _record(trial: int, reward: float) -> dict:
    return {"trial": trial, "arch": "conv(8,3) gap", "reward": reward, "status": "ok"}


def test_trials_append_and_torn_last_line_is_dropped(tmp_path):
    store = RunStore(tmp_path / "r")
    store.root.mkdir()
    store.append_trial(_record(1, 0.5))
    store.append_trial(_record(2, 0.7))
    with open(store.trials_path, "a") as f:
        f.write('{"trial": 3, "rew')  # a kill mid-write
    assert [r["trial"] for r in store.read_trials()] == [1, 2]
    store.append_trial(_record(3, 0.9))
    assert [r["trial"] for r in store.read_trials()] == [1, 2, 3]
    assert all(json.loads(line) for line in store.trials_path.read_text().splitlines())


@pytest.mark.parametrize("damage, words", [
    (b"\n\n", None),  # blank lines: skipped, nothing lost
    (b"junk\n", "line 3 is not valid JSON"),
    (b"\xff\xfe\n", "line 3 is not valid JSON"),
    (b"{}\n", "line 3 is not a trial record (missing trial, arch, reward, status)"),
    (b"[1, 2]\n", "line 3 is not a trial record"),
])
def test_a_damaged_line_is_never_cut_silently(tmp_path, damage, words):
    store = RunStore(tmp_path)
    for t in (1, 2):
        store.append_trial(_record(t, 0.5))
    with open(store.trials_path, "ab") as f:
        f.write(damage)
    store.append_trial(_record(4, 0.6))
    before = store.trials_path.read_bytes()
    if words is None:
        assert [r["trial"] for r in store.read_trials()] == [1, 2, 4]
    else:
        with pytest.raises(ConfigError) as e:
            store.read_trials()
        assert words in str(e.value) and str(store.trials_path) in str(e.value)
    assert store.trials_path.read_bytes() == before  # records after the damage are still there


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
