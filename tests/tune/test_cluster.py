"""nas.tune.cluster against real `ray start --head` clusters started here.

Each head is `ray start --head --block` with its own --temp-dir and HOME, started and
stopped by bench/_ray_head.py (through its own process tree, never `ray stop`, which would
kill every Ray process of the machine).

The token-authenticated head is the setup users hit: no RAY_AUTH_MODE anywhere, a token in
~/.ray/auth_token, so `ray start --head` turns token authentication on by itself
(maybe_enable_token_auth_if_token_available in
ray/_private/authentication/authentication_token_setup.py). Ray's driver side reads its
mode and token from the environment and caches them in C++, so every connection runs in a
fresh subprocess with the environment under test.
"""
from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench._ray_head import clean_env as _env, ray_head  # the benchmark's head helper: one way to start and stop

REPO = Path(__file__).resolve().parents[2]  # the checkout: the subprocesses import nas and bench from it

# Runs start_ray(SearchConfig(address=argv[1])) and prints one JSON line: the error, or what
# the connection gave (a remote task's result, this process's RAY_AUTH_MODE afterwards).
CONNECT = """
import json, os, sys, time
import ray
from nas.tune.cluster import start_ray
from nas.errors import ConfigError
from nas.tune import SearchConfig

t = time.perf_counter()
try:
    started = start_ray(SearchConfig(address=sys.argv[1]))
except ConfigError as e:
    print(json.dumps({"error": str(e), "seconds": time.perf_counter() - t}))
    sys.exit(0)
out = {"seconds": time.perf_counter() - t, "started": started, "mode": os.environ.get("RAY_AUTH_MODE"),
       "task": ray.get(ray.remote(lambda x: 2 * x).remote(21), timeout=60)}
ray.shutdown()
print(json.dumps(out))
"""


def _connect(address: str, env: dict[str, str]) -> dict:
    p = subprocess.run([sys.executable, "-c", CONNECT, address], env=env, cwd=REPO, capture_output=True,
                       text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["stderr"] = p.stderr
    return out


# ------------------------------------------------------------------ heads

@contextlib.contextmanager
def _head(home: Path, **env: str):
    """A one-node cluster on this machine; yields its address (127.0.0.1:PORT) and log."""
    with ray_head(_env(HOME=str(home), **env)) as head:
        yield head.address, head.log


@pytest.fixture(scope="module")
def token_home(tmp_path_factory) -> Path:
    """A HOME whose ~/.ray/auth_token holds a fresh token (what any local ray.init() writes)."""
    home = tmp_path_factory.mktemp("home-token")
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
    return home


@pytest.fixture(scope="module")
def token_head(token_home):
    with _head(token_home) as (address, log):
        assert "Token authentication is enabled" in log, log
        yield address


@pytest.fixture(scope="module")
def open_head(token_home):
    with _head(token_home, RAY_AUTH_MODE="disabled") as (address, log):
        assert "Token authentication is enabled" not in log, log
        yield address


# ------------------------------------------------------------------ tests

def test_joins_a_token_cluster_with_the_token_ray_finds(token_head, token_home):
    out = _connect(token_head, _env(HOME=str(token_home)))
    assert out.get("error") is None, out
    assert out["task"] == 42 and out["started"] is True
    assert out["mode"] == "token"  # switched on for this process, as ray.init does for "auto"
    assert "InvalidAuthToken" not in out["stderr"]


def test_joins_a_token_cluster_with_the_token_in_ray_auth_token_path(token_head, token_home, tmp_path):
    token_file = tmp_path / "token"
    shutil.copy(token_home / ".ray" / "auth_token", token_file)
    out = _connect(token_head, _env(HOME=str(tmp_path), RAY_AUTH_TOKEN_PATH=str(token_file)))
    assert out.get("error") is None and out["task"] == 42, out


def test_auto_joins_a_token_cluster(token_head, token_home):
    out = _connect("auto", _env(HOME=str(token_home), RAY_ADDRESS=token_head))
    assert out.get("error") is None and out["task"] == 42, out


def test_no_token_fails_fast_with_one_line_naming_what_to_set(token_head, tmp_path):
    out = _connect(token_head, _env(HOME=str(tmp_path)))
    err = out.get("error")
    assert err is not None, out
    assert "\n" not in err and "requires token authentication" in err
    assert str(tmp_path / ".ray" / "auth_token") in err and "RAY_AUTH_TOKEN=" in err and "RAY_AUTH_TOKEN_PATH=" in err
    assert out["seconds"] < 10
    assert out["stderr"] == ""  # not a warning per retry from Ray's C++ client


def test_a_wrong_token_is_one_line_naming_its_source(token_head, tmp_path):
    out = _connect(token_head, _env(HOME=str(tmp_path), RAY_AUTH_TOKEN="not-the-token"))
    err = out.get("error")
    assert err is not None and "\n" not in err, out
    assert "rejected the token from RAY_AUTH_TOKEN" in err and out["seconds"] < 10
    assert out["stderr"] == ""


def test_joins_a_cluster_without_authentication_and_leaves_the_mode_alone(open_head, token_home):
    out = _connect(open_head, _env(HOME=str(token_home)))  # a token exists, but nobody asks for it
    assert out.get("error") is None and out["task"] == 42, out
    assert out["mode"] is None


def test_nas_search_end_to_end_on_a_token_cluster(token_head, token_home, tmp_path):
    p = subprocess.run([sys.executable, "-m", "nas", "search", "--address", token_head, "--trials", "3",
                        "--epochs", "1", "--concurrency", "2", "--runs-dir", str(tmp_path), "--name", "c"],
                       env=_env(HOME=str(token_home)), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-3000:])
    lines = (tmp_path / "c" / "trials.jsonl").read_text().splitlines()
    assert len(lines) == 3
    assert [json.loads(line)["trial"] for line in lines] == [1, 2, 3]
    assert "InvalidAuthToken" not in p.stderr
