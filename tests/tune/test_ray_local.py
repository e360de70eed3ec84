"""The private local Ray of `nas search` (nas.tune.cluster.start_ray without --address).

Checked on the real thing: what listens where (psutil, as `ss -ltnp` shows it), which
processes run, the temporary folder's mode, and that nothing of ours outlives the driver by
more than a few seconds, whether it returns, raises or is killed with SIGKILL. "Ours" is
what nas.tune.watchdog.ours finds by the run's private folder.
"""
from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray  # first: importing Ray puts its vendored psutil (ray/thirdparty_files) on sys.path

# isort: split
import psutil

from nas.errors import ConfigError
from nas.tune import SearchConfig, cluster, run_search, watchdog

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}
GONE_WITHIN = 10.0  # seconds after the driver's end


def _ours(folder: str) -> list[psutil.Process]:
    return list(watchdog.ours(folder, exclude={os.getpid()}))


def _wait_gone(folder: str, timeout: float = GONE_WITHIN) -> list[str]:
    """Wait until no process of the Ray in ``folder`` is left; returns what is left by then."""
    deadline = time.monotonic() + timeout
    while True:
        left = [f"{p.pid} {' '.join(p.cmdline())[:120]}" for p in _ours(folder) if _alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# ------------------------------------------------------------------ a running local Ray

@pytest.fixture(scope="module")
def local_ray():
    """start_ray as a local search calls it; yields Ray's private folder."""
    if ray.is_initialized():
        ray.shutdown()
    assert cluster.start_ray(SearchConfig())
    try:
        ray.get(ray.remote(lambda: 1).remote(), timeout=60)  # a worker too, not only the daemons
        yield cluster._local.folder
    finally:
        cluster.stop_ray()


def test_every_listening_socket_is_on_loopback(local_ray):
    procs = [psutil.Process(), *_ours(local_ray)]  # the driver (this process) listens too
    names = {p.pid: p.name() for p in procs}
    bound = []
    for p in procs:
        for c in p.net_connections(kind="inet"):
            if c.status == psutil.CONN_LISTEN or (c.type == socket.SOCK_DGRAM and not c.raddr):  # TCP listening, UDP bound
                bound.append((names[p.pid], c.laddr.ip, c.laddr.port))
    assert {n for n, _, _ in bound} >= {"gcs_server", "raylet"}, bound  # what we check is there
    assert [b for b in bound if b[1] not in LOOPBACK] == [], bound
    assert ray._private.worker._global_node.node_ip_address == "127.0.0.1"


def test_no_dashboard_process(local_ray):
    cmdlines = [" ".join(p.cmdline()) for p in _ours(local_ray)]
    assert any("gcs_server" in c for c in cmdlines), cmdlines
    assert not [c for c in cmdlines if os.path.join("dashboard", "dashboard.py") in c]
    # The raylet always starts ray::DashboardAgent and ray::RuntimeEnvAgent (Ray has no
    # setting to leave them out); they listen on 127.0.0.1 (the test above) if at all.


def test_ray_temp_folder_is_private_and_short(local_ray):
    folder = Path(local_ray)
    assert folder.parent == Path("/tmp") and folder.name.startswith("nas-ray-")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "ray").stat().st_mode) == 0o700  # Ray made it 0777; we take that back
    assert folder.stat().st_uid == os.getuid()
    sockets = [s for s in folder.rglob("*") if s.is_socket()]
    assert sockets and max(len(str(s)) for s in sockets) <= 107  # AF_UNIX's limit
    assert ray._private.worker._global_node.get_temp_dir_path() == str(folder / "ray")


# ------------------------------------------------------------------ ends of a driver

def test_stop_ray_leaves_nothing(local_ray):
    """Normal end, in this process; module fixture torn down by hand so the check sees it."""
    dog = cluster._local.watchdog
    cluster.stop_ray()
    assert _wait_gone(local_ray, timeout=2.0) == []
    assert not os.path.exists(local_ray)
    assert dog.process.poll() is not None  # the watchdog exits after cleaning


def test_a_search_that_raises_leaves_nothing(tmp_path, monkeypatch):
    from nas.tune import driver

    seen = []

    def start(config):
        started = cluster.start_ray(config)
        seen.append(cluster._local.folder)
        return started

    monkeypatch.setattr(driver, "start_ray", start)
    with pytest.raises(ConfigError, match="--cpus-per-trial"):  # check_resources: after Ray started
        run_search(SearchConfig(runs_dir=str(tmp_path), name="x", trials=1, epochs=1, cpus_per_trial=512))
    assert seen and not os.path.exists(seen[0])
    assert _wait_gone(seen[0], timeout=2.0) == []
    assert not ray.is_initialized()


def _search(tmp_path: Path, trials: int, epochs: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nas", "search", "--trials", str(trials), "--epochs", str(epochs),
                             "--concurrency", "1", "--strategy", "random", "--runs-dir", str(tmp_path), "--name", "r"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for(driver: subprocess.Popen, trial_running: bool, timeout: float = 60.0) -> str:
    """The private folder of the driver's Ray, once it runs (and a trial with it)."""
    me, deadline, folder = psutil.Process(driver.pid), time.monotonic() + timeout, None
    while time.monotonic() < deadline and driver.poll() is None:
        for p in me.children(recursive=True):
            try:
                cmd = p.cmdline()
            except psutil.Error:
                continue
            if len(cmd) > 3 and cmd[2].endswith("watchdog.py"):
                folder = cmd[3]
            elif folder and cmd and cmd[0].startswith("ray::ImplicitFunc" if trial_running else "ray::"):
                return folder  # ray::ImplicitFunc: Tune's trial actor
        time.sleep(0.1)
    out = driver.stdout.read() if driver.poll() is not None else ""
    raise AssertionError(f"no local Ray of the search showed up: {out!r}")


def test_a_finished_search_leaves_nothing(tmp_path):
    driver = _search(tmp_path, trials=1, epochs=1)
    try:
        folder = _wait_for(driver, trial_running=False)
        out, _ = driver.communicate(timeout=120)
    finally:
        driver.kill()
    assert driver.returncode == 0, out[-3000:]
    assert len((tmp_path / "r" / "trials.jsonl").read_text().splitlines()) == 1
    assert _wait_gone(folder, timeout=2.0) == []
    assert not os.path.exists(folder)


def test_kill_9_of_the_driver_mid_search_leaves_nothing(tmp_path):
    driver = _search(tmp_path, trials=2, epochs=50)
    try:
        folder = _wait_for(driver, trial_running=True)
    except BaseException:
        driver.kill()
        raise
    os.kill(driver.pid, signal.SIGKILL)
    killed = time.monotonic()
    driver.wait()
    assert _wait_gone(folder) == []  # Ray's own reaping took about 70 s
    driver.stdout.read()  # EOF: nothing (the watchdog included) holds the driver's output open
    assert time.monotonic() - killed < GONE_WITHIN
    deadline = time.monotonic() + 2.0
    while os.path.exists(folder) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(folder)
