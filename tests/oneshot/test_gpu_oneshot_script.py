"""bench/gpu_oneshot_cifar10.py: a smoke run on a tiny CIFAR-10 in torchvision's on-disk format
(CPU, a reduced copy of the cifar10 space), its refusals, and its pure helpers."""
from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench import gpu_oneshot_cifar10 as script

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu_oneshot_cifar10.py"

# The script as `python bench/gpu_oneshot_cifar10.py ...` runs it, in a fresh interpreter, with
# only torchvision's md5 table pointed at the test's files (the real CIFAR10 class reads and
# checks them); afterwards, one line on stderr says whether Ray or nas.tune was ever imported.
CHILD = """
import json, runpy, sys
import torch
import torchvision.datasets as tvd
md5, script = json.loads(sys.argv[1]), sys.argv[2]
cls = tvd.CIFAR10
cls.train_list = [[n, md5[n]] for n, _ in cls.train_list]
cls.test_list = [[n, md5[n]] for n, _ in cls.test_list]
cls.meta = {**cls.meta, "md5": md5[cls.meta["filename"]]}
torch.set_num_threads(1)
sys.argv = [script, *sys.argv[3:]]
code = 0
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as e:
    code = e.code
mods = list(sys.modules)
print("IMPORTS " + json.dumps({"ray": any(m == "ray" or m.startswith("ray.") for m in mods),
                               "nas.tune": any(m == "nas.tune" or m.startswith("nas.tune.") for m in mods)}),
      file=sys.stderr)
sys.exit(code)
"""


def _write_pickle(path: Path, obj) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=2))  # test fixture only
    return hashlib.md5(path.read_bytes()).hexdigest()


def _make_cifar(root: Path, per_batch: int = 10, n_test: int = 20) -> dict[str, str]:
    """torchvision's CIFAR-10 layout (tests/train/test_data.py's): pickled ``data_batch_1..5``,
    ``test_batch`` (uint8 rows of 1024 R, G, B values, ``labels``) and ``batches.meta``; returns
    each file's md5."""
    rng = np.random.default_rng(1)
    folder = root / "cifar-10-batches-py"
    md5 = {}
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": [i % 10 for i in range(n)]}
        md5[name] = _write_pickle(folder / name, batch)
    md5["batches.meta"] = _write_pickle(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)]})
    return md5


def _tiny_space(path: Path) -> Path:
    """The shipped cifar10 space with every width / 8 and an 8-channel stem (the same blocks,
    repeats, norms and downsampling): a supernet about 60 times smaller, fast on a CPU."""
    spec = yaml.safe_load((REPO / "search_spaces" / "cifar10.yaml").read_text())
    spec["name"], spec["stem"] = "cifar10-tiny", "conv(8,3)"
    for stage in spec["stages"]:
        stage["width"] = [w // 8 for w in stage["width"]]
    path.write_text(yaml.safe_dump(spec))
    return path


def _lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_quick_smoke_run_on_cpu(tmp_path):
    md5 = _make_cifar(tmp_path / "data")
    space = _tiny_space(tmp_path / "tiny.yaml")
    out = tmp_path / "results.jsonl"
    args = ["--data-dir", str(tmp_path / "data"), "--quick", "--device", "cpu", "--space", str(space),
            "--limit-train", "24", "--shared-batch-size", "8", "--eval-images", "5", "--proposals-per-round", "3",
            "--max-rounds", "2", "--top", "2", "--retrain-top", "1", "--out", str(out)]
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(md5), str(SCRIPT), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    imports = json.loads(proc.stderr.split("IMPORTS ", 1)[1])
    assert imports == {"ray": False, "nas.tune": False}

    lines = _lines(proc.stdout)
    assert _lines(out.read_text()) == lines  # --out appends the same lines
    assert all(r["bench"] == "gpu_oneshot_cifar10" and r["quick"] is True for r in lines)
    by = {}
    for r in lines:
        by.setdefault(r["metric"], []).append(r)
    assert [r["metric"] for r in lines[:2]] == ["machine", "supernet_plan_params"]

    plan = by["supernet_plan_params"][0]
    assert plan["space"] == "cifar10-tiny" and plan["fits"] is True and plan["device"] == "cpu"
    assert plan["value"] > 0 and plan["bytes"] == 12 * plan["value"]  # weights, gradients, momentum
    assert plan["data"]["sizes"] == {"train": 24, "val": 5, "test": 20}

    assert len(by["warmup_epoch"]) == 1  # --quick: one warm-up epoch
    rounds = by["search_round"]
    assert 1 <= len(rounds) <= 2 and [r["round"] for r in rounds] == list(range(len(rounds)))
    assert all(r["scored"] == 3 for r in rounds)
    assert [r["epoch"] for r in rounds] == list(range(1, len(rounds) + 1))  # round 0 right after the warm-up
    assert rounds[0]["mean_reward"] is not None and rounds[0]["greedy_arch"]  # one policy update per round

    search = by["search_seconds"][0]
    assert search["proposals_scored"] == 3 * len(rounds) and search["rounds"] == len(rounds)
    assert search["supernet_epochs"] == len(rounds) and search["stopped"] in ("budget", "max_rounds")
    assert 0 < search["value"] and search["budget_seconds"] == 12  # --quick: 0.2 minutes

    top = by["top_shared_acc"][0]
    assert 1 <= top["n"] <= 2 and len({t["arch"] for t in top["top"]}) == top["n"]
    assert top["value"] == top["top"][0]["shared_acc"] == max(t["shared_acc"] for t in top["top"])

    (retrain,) = by["retrain_test_acc"]  # --retrain-top 1
    assert retrain["status"] == "ok" and retrain["epochs"] == 1 and retrain["rank"] == 1
    assert 0 <= retrain["value"] <= 1 and 0 <= retrain["val_acc"] <= 1
    assert retrain["arch"] == top["top"][0]["arch"] and retrain["train_config"]["epochs"] == 1

    (t,) = by["target_met"]
    assert isinstance(t["value"], bool) and t["value"] == (t["test_acc"] >= 0.94 and t["search_seconds"] <= 3600)
    assert t["test_acc"] == retrain["value"] and t["chosen"]["arch"] == retrain["arch"]
    assert lines[-1]["metric"] == "target_met"


def test_bad_data_dir_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--data-dir", str(tmp_path / "nothing"), "--quick",
                           "--device", "cpu"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("gpu_oneshot_cifar10: ") and "cifar-10-batches-py" in lines[0]


def test_a_supernet_that_does_not_fit_is_refused(tmp_path, monkeypatch, capsys):
    # In-process: the md5 tables point at the test's files, and the device "has" 1 MiB.
    import torchvision.datasets as tvd

    md5 = _make_cifar(tmp_path / "data")
    monkeypatch.setattr(tvd.CIFAR10, "train_list", [[n, md5[n]] for n, _ in tvd.CIFAR10.train_list])
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [[n, md5[n]] for n, _ in tvd.CIFAR10.test_list])
    monkeypatch.setattr(tvd.CIFAR10, "meta", {**tvd.CIFAR10.meta, "md5": md5["batches.meta"]})
    import nas.oneshot.supernet as supernet

    monkeypatch.setattr(supernet, "device_memory", lambda device: 2**20)
    code = script.main(["--data-dir", str(tmp_path / "data"), "--device", "cpu",
                        "--space", str(_tiny_space(tmp_path / "tiny.yaml"))])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "parameters" in err and "more than half" in err


def test_stratified_subset_deals_the_classes_in_turn():
    y = np.array([0] * 50 + [1] * 30 + [2] * 5)
    idx = script.stratified_subset(y, 21, seed=0)
    assert len(idx) == 21 and len(set(idx.tolist())) == 21 and list(idx) == sorted(idx)
    assert np.bincount(y[idx], minlength=3).tolist() == [8, 8, 5]
    assert script.stratified_subset(y, 100, seed=0).tolist() == list(range(85))
    assert script.stratified_subset(y, 21, seed=0).tolist() == idx.tolist()  # seeded


def test_projected_epochs_fill_the_budget():
    # 2 warm-up epochs left (20 s), round 0's scoring (5 s), then rounds of 15 s: 5 fit in 75 s.
    assert script.projected_epochs(1, 3, 1, 100.0, 10.0, 5.0) == 8
    assert script.projected_epochs(12, 3, 1, 0.0, 10.0, 5.0) == 13  # out of time: at least the next epoch
    assert script.projected_epochs(3, 3, 2, 65.0, 10.0, 5.0) == 3 + 2 * 2  # rounds of 2 epochs + 5 s: 2 fit in 60 s


def test_top_distinct_and_target():
    scored = [{"proposal": 0, "arch": "a", "shared_acc": 0.5}, {"proposal": 1, "arch": "b", "shared_acc": 0.7},
              {"proposal": 2, "arch": "b", "shared_acc": 0.7}, {"proposal": 3, "arch": "c", "shared_acc": None},
              {"proposal": 4, "arch": "d", "shared_acc": 0.6}]
    assert [(s["proposal"], s["arch"]) for s in script.top_distinct(scored, 3)] == [(1, "b"), (4, "d"), (0, "a")]
    assert script.target(0.95, 3600.0)["target_met"] is True
    assert script.target(0.95, 3601.0)["target_met"] is False
    assert script.target(0.9399, 10.0)["target_met"] is False
    assert script.target(None, 10.0)["target_met"] is None


@pytest.mark.parametrize("name", ["cifar", "resnet"])
def test_retrain_config(name):
    cfg = script.retrain_config(name, 30, seed=3, device="cpu")
    assert (cfg.epochs, cfg.seed, cfg.device, cfg.schedule) == (30, 3, "cpu", "cosine")
    if name == "cifar":
        assert (cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.nesterov, cfg.warmup_epochs) == (256, 0.1, 5e-4, True, 1)
    assert script.retrain_config(name, 1, seed=0, device="cpu").warmup_epochs == 0
