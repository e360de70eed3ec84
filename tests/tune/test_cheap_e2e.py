"""A one-shot search and a proxy-prefiltered search from the CLI on digits, end to end: each
is killed with SIGKILL mid-search, resumed to the end, and its best exported."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from nas.tune import RunStore


def _cmd(runs: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nas", "search", "--runs-dir", str(runs), "--name", "k", "--epochs", "2",
            "--concurrency", "2", "--seed", "3", *extra]


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _kill_when(cmd: list[str], repo: Path, ready, timeout: float = 120) -> bool:
    """Start ``cmd``, SIGKILL its process group once ``ready()``; True if it was killed."""
    proc = subprocess.Popen(cmd, cwd=repo, env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.02)
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return killed


def _finish_and_export(tmp_path: Path, repo: Path, cmd: list[str], searched: int, retrained: int) -> list[dict]:
    res = subprocess.run(cmd + ["--resume"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr and "ERROR" not in res.stdout + res.stderr
    recs = RunStore(tmp_path / "k").read_trials()
    assert [r["trial"] for r in recs] == list(range(1, searched + retrained + 1))
    search = recs[:searched]
    assert len({r["proposal"] for r in search}) == searched  # none lost, none twice
    state = torch.load(tmp_path / "k" / "strategy.pt", weights_only=True)
    assert len(state["history"]) == searched and not state["pending"]
    best = json.loads((tmp_path / "k" / "best.json").read_text())
    assert best["evaluation"] == "full"
    assert best["reward"] == max(r["reward"] for r in recs if r["evaluation"] == "full")
    out = subprocess.run([sys.executable, "-m", "nas", "export", str(tmp_path / "k"), "--retrain-epochs", "1",
                          "--formats", "safetensors"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    meta = json.loads((tmp_path / "k" / "export" / "rank1" / "meta.json").read_text())
    assert meta["arch"] == best["arch"]
    return recs


def test_a_one_shot_search_survives_kills_and_exports(tmp_path, repo):
    config = tmp_path / "shared.yaml"
    config.write_text("shared: {warmup_epochs: 3, epochs_per_round: 1, round_size: 4, calibration_batches: 1}\n")
    cmd = _cmd(tmp_path, "--evaluation", "shared", "--trials", "12", "--retrain", "2", "--config", str(config))
    run = tmp_path / "k"
    # Killed mid-warm-up (the first checkpoint written, no proposal scored yet), then mid-round.
    assert _kill_when(cmd, repo, lambda: (run / "supernet.pt").exists())
    assert _kill_when(cmd + ["--resume"], repo, lambda: _lines(run / "trials.jsonl") >= 5)
    recs = _finish_and_export(tmp_path, repo, cmd, searched=12, retrained=2)
    assert [r["evaluation"] for r in recs] == ["shared"] * 12 + ["full"] * 2
    assert all(0 <= r["val_acc"] <= 1 for r in recs)
    assert torch.load(run / "supernet.pt", weights_only=True)["epochs_done"] == 3 + 2


def test_a_prefiltered_search_survives_a_kill_and_exports(tmp_path, repo):
    cmd = _cmd(tmp_path, "--prefilter", "naswot:4", "--trials", "4", "--strategy", "evolution")
    assert _kill_when(cmd, repo, lambda: _lines(tmp_path / "k" / "trials.jsonl") >= 1)
    recs = _finish_and_export(tmp_path, repo, cmd, searched=4, retrained=0)
    assert all(r["prefilter"]["proxy"] == "naswot" and r["prefilter"]["candidates"] == 4 for r in recs)
