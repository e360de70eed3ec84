"""Report: Pareto front, leaderboard, plots of a small finished run, TensorBoard scalars, and
clear one-line errors for run folders that are missing, not runs, empty or damaged."""
from __future__ import annotations

import csv
import itertools
import json
import math

import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import nas
from nas import baselines, strategies
from nas.cli import main
from nas.report import leaderboard, pareto_front, plot_controller
from nas.testing import SyntheticSpace
from nas.tune import RunStore
from nas.tune import SearchConfig
from nas.space import Decision

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SHAPE = (1, 8, 8)



# ---------------------------------------------------------------------------------------
# pareto_front


def brute_force_front(points):
    def dominates(p, q):
        return p[0] <= q[0] and p[1] >= q[1] and p != q

    ok = [i for i, p in enumerate(points) if all(math.isfinite(v) for v in p)]
    return {i for i in ok if not any(dominates(points[j], points[i]) for j in ok)}


def test_pareto_front_examples():
    assert pareto_front([]) == []
    assert pareto_front([(1.0, 0.5)]) == [0]
    # index 1 is cheapest; 0 is better and dearer; 2 is dominated by 0; 3 by 1.
    assert pareto_front([(10, 0.9), (5, 0.8), (20, 0.85), (5, 0.7)]) == [1, 0]
    # equal cost: only the more accurate; equal accuracy: only the cheaper
    assert pareto_front([(5, 0.8), (5, 0.9), (7, 0.9)]) == [1]
    # identical points do not dominate each other
    assert pareto_front([(3, 0.5), (3, 0.5), (1, 0.1)]) == [2, 0, 1]
    # non-finite coordinates are ignored, not on the front
    assert pareto_front([(math.nan, 1.0), (2, 0.4), (math.inf, 0.99), (3, math.nan)]) == [1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6).map(float), st.integers(0, 6).map(lambda a: a / 6)), max_size=25))
def test_pareto_front_matches_brute_force(points):
    front = pareto_front(points)
    assert set(front) == brute_force_front(points)
    assert len(front) == len(set(front))
    costs = [points[i][0] for i in front]
    assert costs == sorted(costs)
    accs = [points[i][1] for i in front]
    assert accs == sorted(accs)  # along the front, paying more buys accuracy


def test_leaderboard_is_distinct_ok_archs_best_first():
    trials = [
        {"trial": 1, "arch": "conv(8,3) gap", "reward": 0.5, "status": "ok"},
        {"trial": 2, "arch": "conv(8,3)  gap", "reward": 0.7, "status": "ok"},  # same arch, other spelling
        {"trial": 3, "arch": "conv(16,3) gap", "reward": 0.9, "status": "failed"},
        {"trial": 4, "arch": "conv(4,3) gap", "reward": 0.7, "status": "ok"},
    ]
    rows = leaderboard(trials)
    assert [(r["rank"], r["trial"]) for r in rows] == [(1, 2), (2, 4)]  # tie: the earlier trial first


# ---------------------------------------------------------------------------------------
# a small finished run


class TinySpace:
    """4 decisions -> real architectures that build on digits (1x8x8)."""

    decisions = (Decision("width", "filters", (8, 16)), Decision("block", "block", ("conv", "basic")),
                 Decision("kernel", "kernel", (3, 5)), Decision("width2", "filters", (8, 16)))
    size = 16

    def decode(self, choices):
        w, block, k, w2 = (d.options[i] for d, i in zip(self.decisions, choices))
        second = f"conv({w2},3,stride=2)" if block == "conv" else f"basic({w2},stride=2)"
        return f"conv({w},{k}) {second} gap"

    def is_valid(self, choices):
        return True


def make_run(root, n=14, baseline="vgg11_bn", strategy_state=True):
    """A run of the reinforce strategy over TinySpace with made-up rewards (no training), one
    failed trial, repeats (reused), and one trial of a baseline's architecture."""
    root.mkdir(parents=True)
    cfg = SearchConfig(name=root.name, trials=n, epochs=2, dataset="digits", strategy="reinforce",
                       strategy_options={"batch_size": 2})
    (root / "config.yaml").write_text(yaml.safe_dump({"search": cfg.to_dict(), "space_file": "tiny.yaml",
                                                      "space_hash": "abc", "dataset": {"dataset": "digits"}}))
    space = TinySpace()
    strategy = strategies.get("reinforce", space, seed=0, batch_size=2)
    records, seen = [], {}
    for t in range(1, n + 1):
        p = strategy.ask()
        s = nas.summarize(p.arch, SHAPE, 10)
        failed = t == 3
        reward = 0.0 if failed else 0.5 + 0.1 * sum(p.choices) + 0.01 * t
        records.append({
            "trial": t, "proposal": p.id, "arch": p.arch, "reward": reward, "val_acc": None if failed else reward - 0.2,
            "params": s.params, "macs": s.macs, "status": "failed" if failed else "ok",
            "reason": "loss became nan" if failed else None, "seconds": 1.0, "epochs": 2,
            "val_accs": [] if failed else [reward - 0.3, reward - 0.2], "stopped_early": False,
            "reused": seen.get(p.arch), "attempt": 1, "ray_trial_id": f"t{t}", "finished_at": "now"})
        seen.setdefault(p.arch, t)
        strategy.tell(p.id, reward, failed=failed)
    if baseline:
        arch = baselines.get(baseline, SHAPE)
        s = nas.summarize(arch, SHAPE, 10)
        records.append({"trial": n + 1, "proposal": n, "arch": arch, "reward": 0.95, "val_acc": 0.93,
                        "params": s.params, "macs": s.macs, "status": "ok", "reason": None, "seconds": 5.0,
                        "epochs": 2, "val_accs": [0.9, 0.93], "stopped_early": False, "reused": None})
    (root / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if strategy_state:
        torch.save(strategy.state_dict(), root / "strategy.pt")
    return root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs") / "tiny")


def assert_png(path, min_px=200):
    import matplotlib.image

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert len(data) > 10_000, path
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] >= min_px and img.shape[1] >= min_px
    assert float(img[..., :3].std()) > 0.01  # not a blank canvas


def test_report_writes_leaderboard_and_plots(run_dir, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "15 trials (1 failed" in text and "(= vgg11_bn)" in text
    for name in ("rewards.png", "pareto.png", "controller.png"):
        assert_png(out / name)
    rows = list(csv.DictReader((out / "leaderboard.csv").open()))
    trials = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    distinct_ok = {t["arch"] for t in trials if t["status"] == "ok"}
    assert len(rows) == len(distinct_ok) and {r["arch"] for r in rows} == distinct_ok
    rewards = [float(r["reward"]) for r in rows]
    assert rewards == sorted(rewards, reverse=True)
    assert [r["rank"] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]
    assert [r["baseline"] for r in rows if r["baseline"]] == ["vgg11_bn"]
    md = (out / "leaderboard.md").read_text()
    assert "| rank | trial | reward | val acc | params | MACs | architecture |" in md
    assert md.count("\n| ") == len(rows) + 1  # header + one row per architecture


def test_report_default_folder_and_lookup_by_name(run_dir, capsys):
    assert main(["report", run_dir.name, "--runs-dir", str(run_dir.parent)]) == 0
    assert (run_dir / "report" / "leaderboard.csv").is_file()


def test_report_without_controller_state(tmp_path, capsys):
    root = make_run(tmp_path / "random", n=6, baseline=None, strategy_state=False)
    assert main(["report", str(root)]) == 0
    assert "no controller.png" in capsys.readouterr().out
    assert_png(root / "report" / "rewards.png")
    assert_png(root / "report" / "pareto.png")
    assert not (root / "report" / "controller.png").exists()


def test_controller_plot_with_many_decisions_is_a_heatmap_grid(tmp_path):
    space = SyntheticSpace(n_decisions=14, n_options=[3, 5] * 7, seed=0)
    s = strategies.get("reinforce", space, seed=0, batch_size=4)
    for _ in range(40):
        p = s.ask()
        s.tell(p.id, space.reward(p.choices))
    path = tmp_path / "controller.png"
    fig = plot_controller(s.updates, path, names=[d.name for d in space.decisions])
    assert_png(path, min_px=500)
    cells = [ax for ax in fig.axes if ax.get_visible() and ax.images]  # one heatmap per decision
    assert len(cells) == 14 and not [ax for ax in fig.axes if ax.get_visible() and ax.lines]
    assert [ax.get_title() for ax in cells] == [d.name for d in space.decisions]
    for ax, n in zip(cells, [3, 5] * 7):
        assert ax.images[0].get_array().shape == (n, len(s.updates))  # options x policy updates


def test_torn_last_line_is_skipped_and_the_file_left_alone(run_dir, tmp_path, capsys):
    root = tmp_path / "live"
    root.mkdir()
    for name in ("config.yaml", "strategy.pt"):
        (root / name).write_bytes((run_dir / name).read_bytes())
    torn = (run_dir / "trials.jsonl").read_bytes() + b'{"trial": 16, "arch": "conv(8'
    (root / "trials.jsonl").write_bytes(torn)
    assert main(["report", str(root)]) == 0
    assert "torn last line" in capsys.readouterr().err
    assert (root / "trials.jsonl").read_bytes() == torn  # a report never writes into the run's files
    assert len(RunStore.find(root).snapshot().trials) == 15


# ---------------------------------------------------------------------------------------
# bad run folders


def _write(root, files):
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (root / name).write_bytes(content.encode() if isinstance(content, str) else content)
    return root


GOOD_CONFIG = yaml.safe_dump({"search": SearchConfig().to_dict()})
GOOD_LINE = json.dumps({"trial": 1, "proposal": 0, "arch": "conv(8,3) gap", "reward": 0.5, "status": "ok"}) + "\n"
BAD_RUNS = {
    "missing": (None, "no run folder"),
    "not-a-run": ({"notes.txt": "hello"}, "is not a run folder (no config.yaml)"),
    "no-trials-file": ({"config.yaml": GOOD_CONFIG}, "has no trials.jsonl"),
    "empty-trials": ({"config.yaml": GOOD_CONFIG, "trials.jsonl": ""}, "no complete trial records"),
    "torn-only-line": ({"config.yaml": GOOD_CONFIG, "trials.jsonl": GOOD_LINE[:20]}, "no complete trial records"),
    "damaged-middle": ({"config.yaml": GOOD_CONFIG, "trials.jsonl": GOOD_LINE + "{oops\n" + GOOD_LINE},
                       "line 2 is not valid JSON"),
    "not-records": ({"config.yaml": GOOD_CONFIG, "trials.jsonl": '{"trial": 1}\n'}, "line 1 is not a trial record"),
    "torn-config": ({"config.yaml": "search: {space: digits, trials: [", "trials.jsonl": GOOD_LINE},
                    "damaged or unreadable run config"),
    "config-not-a-run": ({"config.yaml": "- 1\n- 2\n", "trials.jsonl": GOOD_LINE}, "not a run config"),
}


@pytest.mark.parametrize("command", ["report", "export"])
@pytest.mark.parametrize("case", list(BAD_RUNS))
def test_bad_run_folder_is_one_line_and_exit_2(tmp_path, capsys, case, command):
    files, message = BAD_RUNS[case]
    root = tmp_path / case
    if files is not None:
        _write(root, files)
    assert main([command, str(root) + ("/" if files is None else "")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas: error:") and err.count("\n") == 1, err
    assert message in err, err


def test_unknown_run_name_is_one_line(tmp_path, capsys):
    assert main(["report", "nope", "--runs-dir", str(tmp_path)]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    assert main(["report", "../escape"]) == 2


# ---------------------------------------------------------------------------------------
# TensorBoard


def test_combinations_in_tiny_space_all_build():
    space = TinySpace()
    archs = {space.decode(c) for c in itertools.product(*(range(len(d.options)) for d in space.decisions))}
    assert len(archs) == space.size
    assert all(nas.summarize(a, SHAPE, 10).params > 0 for a in archs)
