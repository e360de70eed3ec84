"""Hardening: kills at random points, a Ray node dying mid-search, fuzzed inputs, the CLI
on bad input, and security defaults."""
import ast
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nas
from nas.cli import main
from nas.errors import ConfigError, SpaceError
from nas.tune import SearchConfig, load_yaml_config
from nas.tune import RunStore
from nas.space import SearchSpace, shipped

SPACES = sorted(shipped().values())


# ------------------------------------------------------------------ SIGKILL at random points

def _search_cmd(runs, trials, *extra):
    return [sys.executable, "-m", "nas", "search", "--runs-dir", str(runs), "--name", "k", "--trials", str(trials),
            "--epochs", "2", "--concurrency", "2", "--seed", "3", *extra]


def _count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_sigkill_at_random_points_then_resume(tmp_path, repo):
    """Killed with SIGKILL three times at random moments (before the first trial ends,
    between trials, mid-write of the state); each time resumed. The final run has exactly
    the trials asked, none lost, none twice."""
    rng = random.Random(7)
    trials, kills = 8, 0
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    path = tmp_path / "k" / "trials.jsonl"
    for attempt in range(3):
        extra = ("--resume",) if attempt else ()
        proc = subprocess.Popen(_search_cmd(tmp_path, trials, *extra), cwd=repo, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        start_count = _count(path)
        # random kill point: after 0..2 more recorded trials, plus a random delay
        wait_for, delay = rng.randint(0, 2), rng.uniform(0, 1.5)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and _count(path) < start_count + wait_for:
            time.sleep(0.05)
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2
    res = subprocess.run(_search_cmd(tmp_path, trials, "--resume"), cwd=repo, env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    recs = RunStore(tmp_path / "k").read_trials()
    assert [r["trial"] for r in recs] == list(range(1, trials + 1))
    assert len({r["proposal"] for r in recs}) == trials
    import torch

    state = torch.load(tmp_path / "k" / "strategy.pt", weights_only=True)
    assert len(state["history"]) == trials and not state["pending"]
    assert json.loads((tmp_path / "k" / "best.json").read_text())["reward"] == max(r["reward"] for r in recs)


# ------------------------------------------------------------------ a Ray node dies

def test_worker_node_dies_mid_search(tmp_path):
    """A two-node Ray cluster on this machine (as Ray's own tests build it); the worker node
    is killed once two trials have finished. Trials it ran are retried or recorded as
    failed, and the search finishes with every trial accounted for."""
    import ray
    from ray.cluster_utils import Cluster

    from nas.tune import run_search

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    try:
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        trials = tmp_path / "n" / "trials.jsonl"
        killed = threading.Event()

        def kill_worker():
            deadline = time.time() + 120
            while time.time() < deadline and _count(trials) < 2:
                time.sleep(0.05)
            cluster.remove_node(worker, allow_graceful=False)
            killed.set()

        threading.Thread(target=kill_worker, daemon=True).start()
        run = run_search(SearchConfig(runs_dir=str(tmp_path), name="n", trials=6, epochs=4, concurrency=2,
                                      strategy="random"))
        assert killed.is_set()
        recs = run.store.read_trials()
        assert [r["trial"] for r in recs] == [1, 2, 3, 4, 5, 6]
        assert all(r["status"] == "ok" or r["reason"] for r in recs)
    finally:
        ray.shutdown()
        cluster.shutdown()


# ------------------------------------------------------------------ fuzzing

def _mutate(text: str, data) -> str:
    ops = data.draw(st.lists(st.tuples(st.sampled_from(["del", "ins", "dup", "swap"]), st.integers(0, 10**6),
                                       st.sampled_from(list(":-[]{},\n #'\"0123456789abcxyz_.\t!&*|>"))),
                             min_size=1, max_size=6))
    s = text
    for op, pos, ch in ops:
        i = pos % (len(s) + 1)
        if op == "del":
            s = s[:i] + s[i + 1:]
        elif op == "ins":
            s = s[:i] + ch + s[i:]
        elif op == "dup":
            s = s[:i] + s[i:i + 20] + s[i:]
        else:
            lines = s.splitlines()
            if len(lines) > 1:
                j = i % (len(lines) - 1)
                lines[j], lines[j + 1] = lines[j + 1], lines[j]
                s = "\n".join(lines)
    return s


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.name)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_space_loader_fuzz_raises_only_space_errors(path, data):
    text = _mutate(path.read_text(), data)
    try:
        space = SearchSpace.loads(text, "fuzz.yaml")
    except SpaceError as e:
        assert "\n" not in str(e)
        return
    space.decode([0] * len(space.decisions))  # whatever loads must work


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(list(SearchConfig.fields()) + ["bogus", "Trials"]),
                       st.one_of(st.none(), st.booleans(), st.integers(-5, 10**9), st.floats(allow_nan=True),
                                 st.text(max_size=8), st.lists(st.integers(), max_size=2),
                                 st.dictionaries(st.text(max_size=4), st.integers(), max_size=2)),
                       max_size=6))
def test_config_loader_fuzz_raises_only_config_errors(data):
    try:
        SearchConfig.from_dict(data)
    except ConfigError as e:
        assert "\n" not in str(e)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_config_file_fuzz(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("cfg") / "c.yaml"
    p.write_text(text)
    try:
        SearchConfig.from_dict(load_yaml_config(p), where=str(p))
    except ConfigError as e:
        assert "\n" not in str(e)


# ------------------------------------------------------------------ the CLI on bad input

def _bad_inputs(tmp: Path) -> list[list[str]]:
    (tmp / "bad.yaml").write_text("stages: [\n")
    (tmp / "notmap.yaml").write_text("- 1\n- 2\n")
    (tmp / "unknown.yaml").write_text("input: [1, 8, 8]\nclasses: 10\nstages: [{block: conv, width: 8}]\ncolour: red\n")
    (tmp / "binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    (tmp / "cfg.yaml").write_text("epochs: many\n")
    (tmp / "adir").mkdir()
    ro = tmp / "readonly"
    ro.mkdir()
    ro.chmod(0o500)
    return [
        ["show", "cnv(3)"],                                   # misspelt layer
        ["show", "conv(8,3"],                                 # unclosed
        ["show", "maxpool(2)*5 gap", "--input", "1x8x8"],     # impossible shape
        ["show", "conv(8)", "--input", "3x0x8"],              # bad input shape
        ["show", "conv(8)", "--input", "banana"],             # not a shape
        ["show", "conv(8)", "--classes", "-3"],               # bad number
        ["show", "conv(8)", "--classes", "ten"],              # not a number
        ["show", "resnet19"],                                 # unknown baseline / layer
        ["space", str(tmp / "missing.yaml")],                 # missing file
        ["space", str(tmp / "bad.yaml")],                     # bad YAML
        ["space", str(tmp / "notmap.yaml")],                  # wrong top-level type
        ["space", str(tmp / "unknown.yaml")],                 # unknown key
        ["space", str(tmp / "binary.yaml")],                  # not text
        ["space", str(tmp / "adir")],                         # a folder
        ["space", "digits", "--sample", "-1"],                # bad number
        ["search", "--config", str(tmp / "cfg.yaml"), "--runs-dir", str(tmp / "r")],  # bad config value
        ["search", "--strategy", "genetic", "--runs-dir", str(tmp / "r")],             # unknown strategy
        ["search", "--dataset", "imagenet", "--runs-dir", str(tmp / "r")],             # unknown dataset
        ["search", "--name", "../../x", "--runs-dir", str(tmp / "r")],                 # escaping name
        ["search", "--runs-dir", str(ro / "sub"), "--trials", "1"],                    # unwritable output
        ["search", "--trials", "1e3", "--runs-dir", str(tmp / "r")],                   # bad number
        ["search", "--gpus-per-trial", "-1", "--runs-dir", str(tmp / "r")],            # negative GPUs
        ["search", "--address", "127.0.0.1:1", "--runs-dir", str(tmp / "r"), "--trials", "1"],  # no cluster there
        ["nosuchcommand"],
    ]


def test_cli_bad_inputs_one_line_exit_2(tmp_path, capsys):
    cases = _bad_inputs(tmp_path)
    assert len(cases) >= 20
    failures = []
    for argv in cases:
        if os.geteuid() == 0 and "readonly" in " ".join(argv):
            continue  # root ignores permission bits; test_unwritable_runs_dir covers it
        code = main(argv)
        err = capsys.readouterr().err
        if code != 2 or err.count("\n") != 1 or "Traceback" in err or not err.startswith("nas: error:"):
            failures.append((argv, code, err))
    assert not failures, failures
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_unwritable_runs_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["search", "--runs-dir", str(blocker / "runs"), "--trials", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


# ------------------------------------------------------------------ security defaults

NAS = Path(nas.__file__).parent


def _calls(name_pred):
    for path in NAS.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                dotted = (f"{getattr(f.value, 'id', '')}.{f.attr}" if isinstance(f, ast.Attribute) else
                          getattr(f, "id", ""))
                if name_pred(dotted):
                    yield path, node


def test_yaml_safe_load_only():
    bad = [(p.name, n.lineno) for p, n in _calls(lambda d: d in ("yaml.load", "yaml.unsafe_load", "yaml.full_load"))]
    assert not bad


def test_no_pickle_and_torch_load_is_weights_only():
    assert not list(_calls(lambda d: d in ("pickle.load", "pickle.loads", "cloudpickle.load")))
    for path, node in _calls(lambda d: d == "torch.load"):
        kw = {k.arg: k.value for k in node.keywords}
        assert "weights_only" in kw and getattr(kw["weights_only"], "value", None) is True, f"{path}:{node.lineno}"


def test_ray_dashboard_is_off(monkeypatch):
    import ray

    from nas.tune import cluster

    seen = {}

    def init(**kw):
        seen.update(kw)
        os.makedirs(kw["_temp_dir"])  # what Ray does first

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    try:
        assert cluster.start_ray(SearchConfig())
    finally:
        cluster.stop_ray()
    assert seen["include_dashboard"] is False
    assert not os.path.exists(seen["_temp_dir"])  # the private folder goes with stop_ray


def test_run_names_and_outputs_cannot_escape(tmp_path, capsys):
    for name in ["../../x", "/abs", "a/../../b", ".."]:
        assert main(["search", "--runs-dir", str(tmp_path / "runs"), "--name", name]) == 2
        assert "run name" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "runs").exists()
