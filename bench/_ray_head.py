"""A one-node Ray cluster started by ``ray start --head --block``, for the benchmark that
attaches to a running cluster (``bench/attach.py``) and the tests that join one
(``tests/test_cluster.py``).

Each head gets its own short ``--temp-dir`` (Ray's unix sockets live under it and their
paths must fit 107 bytes) and is stopped by SIGTERM to that process (with ``--block``,
``ray start`` then shuts down what it started: ``ray/scripts/scripts.py``, ``start``), then
by killing whatever is left of its process tree. Never ``ray stop``: it kills every Ray
process of the machine (``scripts.py``, ``stop``: matched by process name), including other
runs' local clusters.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

RAY = [sys.executable, "-m", "ray.scripts.scripts"]  # the `ray` command of this interpreter's Ray


@dataclass(frozen=True)
class Head:
    address: str  # 127.0.0.1:PORT
    seconds: float  # from the start of `ray start` to "Ray runtime started"
    log: str  # what `ray start` printed by then


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any Ray address or authentication setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH_") and k != "RAY_ADDRESS"}
    env.update(extra)
    return env


@contextlib.contextmanager
def ray_head(env: Mapping[str, str], cpus: int = 2, timeout: float = 120.0) -> Iterator[Head]:
    """Start a head with ``env`` and ``cpus`` CPUs; yield it once it runs; stop it afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="nasray-", dir="/tmp")
    log_path = Path(temp) / "head.log"
    start = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([*RAY, "start", "--head", "--block", f"--port={port}", f"--num-cpus={cpus}",
                                 "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
                                env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while "Ray runtime started" not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() - start > timeout:
                raise RuntimeError(f"ray start --head failed: {log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield Head(f"127.0.0.1:{port}", time.monotonic() - start, log_path.read_text())
    finally:
        _stop(proc)
        shutil.rmtree(temp, ignore_errors=True)


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: with the pid, it names one process (pids get reused)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _tree(root: int) -> dict[int, str]:
    """``root`` and its descendants as pid -> start time (Ray's workers are the raylet's
    children in sessions of their own, so a process group does not reach them)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            children.setdefault(int(stat.read_text().rsplit(")", 1)[1].split()[1]), []).append(int(stat.parent.name))
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if (started := _start_time(pid)) is not None:
            out[pid] = started
            todo.extend(children.get(pid, []))
    return out


def _stop(proc: subprocess.Popen) -> None:
    tree = _tree(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=40)  # it drains the node first (up to 30 s with busy drivers; ~1 s here)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while (left := {p: s for p, s in tree.items() if _start_time(p) == s}) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:  # still the same processes (same start time): kill what SIGTERM left
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
