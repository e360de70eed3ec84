"""Report: leaderboard, Pareto fronts (pareto.md/.csv/.png) and plots of a small finished run,
with and without latency, baselines as reference points, and clear one-line errors for run
folders that are missing, not runs, empty or damaged. The math: test_pareto.py."""
from __future__ import annotations

import csv
import itertools
import json
import math
from pathlib import Path

import pytest
import torch
import yaml

import nas
from nas import baselines, strategies
from nas.cli import main
from nas.errors import ArchError
from nas.report import leaderboard, plot_controller, plot_pareto, report
from nas.space import Decision
from nas.testing import SyntheticSpace
from nas.tune import RunStore, SearchConfig

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SHAPE = (1, 8, 8)



# ---------------------------------------------------------------------------------------
# leaderboard


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


def make_run(root, n=14, baseline="vgg11_bn", strategy_state=True, latency=None):
    """A run of the reinforce strategy over TinySpace with made-up rewards (no training), one
    failed trial, repeats (reused), and one trial of a baseline's architecture. ``latency``:
    trial -> made-up latency_ms (None: not recorded), and the run's latency settings."""
    root.mkdir(parents=True)
    cfg = SearchConfig(name=root.name, trials=n, epochs=2, dataset="digits", strategy="reinforce",
                       strategy_options={"batch_size": 2})
    search = cfg.to_dict()
    if latency:
        search["latency"] = {"target": "cpu", "batch_size": 1, "threads": 1}
    (root / "config.yaml").write_text(yaml.safe_dump({"search": search, "space_file": "tiny.yaml",
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
        if latency:
            records[-1]["latency_ms"] = latency(t)
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


# ---------------------------------------------------------------------------------------
# Pareto fronts: pareto.md, pareto.csv, pareto.png


def brute_force_front(rows, key):
    pts = [r for r in rows if r[key] not in ("", None) and r["val_acc"] not in ("", None)
           and math.isfinite(float(r[key])) and float(r[key]) > 0 and math.isfinite(float(r["val_acc"]))]

    def dominates(p, q):
        a, b = (float(p["val_acc"]), float(p[key])), (float(q["val_acc"]), float(q[key]))
        return a[0] >= b[0] and a[1] <= b[1] and a != b

    return {r["trial"] for r in pts if not any(dominates(o, r) for o in pts)}


def csv_fronts(path):
    fronts = {}
    for r in csv.DictReader(path.open()):
        fronts.setdefault(r["front"], []).append(r)
    return fronts


def drawn_fronts(fig):
    """Per panel title: the costs of the front the figure draws, and its baseline lines."""
    out = {}
    for ax in fig.axes:
        fronts = [line for line in ax.lines if line.get_gid() == "pareto-front"]
        if fronts:
            gids = [line.get_gid() or "" for line in ax.lines]
            bases = {gid.split(":", 1)[1] for gid in gids if gid.startswith("baseline:")}
            out[ax.get_title()] = (list(fronts[0].get_xdata()), bases)
    return out


def test_pareto_files_show_the_fronts_and_the_baselines(run_dir, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    board = list(csv.DictReader((out / "leaderboard.csv").open()))
    fronts = csv_fronts(out / "pareto.csv")
    assert set(fronts) == {"params", "macs"}  # no record has a latency
    for key in ("params", "macs"):
        assert {r["trial"] for r in fronts[key]} == brute_force_front(board, key)
        costs = [int(r[key]) for r in fronts[key]]
        assert costs == sorted(costs)
    assert [r["baseline"] for r in fronts["params"] if r["baseline"]] == ["vgg11_bn"]
    assert f"Pareto front (val acc vs parameters): {len(fronts['params'])} of {len(board)} architectures; " \
           "hypervolume " in text
    assert "Pareto front (val acc vs MACs per image):" in text and "latency" not in text
    md = (out / "pareto.md").read_text()
    assert "## val acc vs parameters" in md and "## val acc vs MACs per image" in md and "vs latency" not in md
    assert "the largest in this run (the space sets no bound)" in md  # no space.yaml: no constraint
    assert md.count("| not trained in this run |") == len(baselines.names()) - 1
    assert "| vgg11_bn | 20.81M | 24.59M | - | 0.9300 | 15 |" in md
    assert "Skipped" not in md  # every baseline builds for 1x8x8 (the small-input stems)
    assert_png(out / "pareto.png")

    # the figure draws the fronts pareto.md and pareto.csv list, and a line per baseline
    result = report(RunStore.find(run_dir).snapshot(), tmp_path / "again")
    fig = plot_pareto(result.fronts, tmp_path / "p.png", baselines=result.baselines)
    drawn = drawn_fronts(fig)
    assert len(drawn) == 2
    for f in result.fronts:
        xs, bases = drawn[f.title]
        assert xs == [int(r[f.cost.key]) for r in fronts[f.cost.key]]
        assert bases == set(baselines.names())


def test_pareto_with_latency_adds_a_front_and_a_panel(tmp_path, capsys):
    def latency(t):  # one trial without it, one damaged (the run store refuses non-finite values)
        return None if t == 5 else (-1.0 if t == 6 else 0.2 + 0.05 * (t % 4))

    root = make_run(tmp_path / "lat", latency=latency)
    assert main(["report", str(root)]) == 0
    text = capsys.readouterr().out
    assert "Pareto front (val acc vs latency):" in text
    out = root / "report"
    md = (out / "pareto.md").read_text()
    assert "## val acc vs latency" in md
    assert "median inference latency in ms as the search measured it (target cpu, batch_size 1, threads 1)" in md
    board = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert any(r["latency_ms"] for r in board)  # the leaderboard carries it too
    fronts = csv_fronts(out / "pareto.csv")
    assert set(fronts) == {"params", "macs", "latency_ms"}
    assert {r["trial"] for r in fronts["latency_ms"]} == brute_force_front(board, "latency_ms")
    result = report(RunStore.find(root).snapshot(), tmp_path / "again")
    fig = plot_pareto(result.fronts, tmp_path / "p.png", baselines=result.baselines)
    drawn = drawn_fronts(fig)
    assert len(drawn) == 3
    xs, bases = drawn[result.fronts[2].title]
    assert xs == [float(r["latency_ms"]) for r in fronts["latency_ms"]]
    assert bases == set()  # no baseline's latency was measured
    assert_png(out / "pareto.png")


def test_baselines_listed_for_a_cifar_sized_run(tmp_path):
    shape = (3, 32, 32)
    root = tmp_path / "cifar"
    root.mkdir()
    cfg = SearchConfig(name="cifar", trials=3, epochs=2, dataset="cifar10", strategy="random")
    (root / "config.yaml").write_text(yaml.safe_dump({"search": cfg.to_dict(), "dataset": {
        "dataset": "cifar10", "input_shape": list(shape), "num_classes": 10}}))  # no dataset files needed
    archs = ["conv(16,3) gap", "conv(32,3,stride=2) basic(32) gap", baselines.get("resnet18", shape)]
    lines = []
    for t, (arch, acc) in enumerate(zip(archs, (0.4, 0.6, 0.9)), start=1):
        s = nas.summarize(arch, shape, 10)
        lines.append(json.dumps({"trial": t, "proposal": t - 1, "arch": arch, "reward": acc, "val_acc": acc,
                                 "params": s.params, "macs": s.macs, "status": "ok", "evaluation": "full"}))
    (root / "trials.jsonl").write_text("\n".join(lines) + "\n")
    result = report(RunStore.find(root).snapshot())
    assert [b.name for b in result.baselines] == baselines.names()
    trained = [(b.name, b.val_acc, b.trial) for b in result.baselines if b.val_acc is not None]
    assert trained == [("resnet18", 0.9, 3)]
    md = (root / "report" / "pareto.md").read_text()
    assert "adapted to input 3x32x32 and 10 classes" in md
    assert "| resnet18 | 11.17M | 555.42M | - | 0.9000 | 3 |" in md
    assert "| vgg16 | 33.64M | 332.11M | - | not trained in this run | - |" in md


def test_baselines_that_do_not_build_are_skipped_in_one_line(run_dir, tmp_path, monkeypatch, capsys):
    real_get, real_names = baselines.get, baselines.names

    def get(name, shape=baselines.IMAGENET):  # a baseline that, like some would, needs 32x32 or more
        if name == "needs32x32":
            if min(shape[1:]) < 32:
                raise ArchError("its stem needs an input of at least 32x32")
            return real_get("resnet18", shape)
        return real_get(name, shape)

    monkeypatch.setattr(baselines, "get", get)
    monkeypatch.setattr(baselines, "names", lambda: real_names() + ["needs32x32"])
    assert main(["report", str(run_dir), "--out", str(tmp_path)]) == 0
    note = "needs32x32 (its stem needs an input of at least 32x32)"
    assert f"baselines that do not build for input 1x8x8 and 10 classes: {note}" in capsys.readouterr().out
    md = (tmp_path / "pareto.md").read_text()
    assert f"Skipped, they do not build for input 1x8x8 and 10 classes: {note}." in md
    assert "| needs32x32 |" not in md and "| resnet18 |" in md


def test_damaged_values_and_space_constraints(run_dir, tmp_path, capsys):
    root = tmp_path / "damaged"
    root.mkdir()
    (root / "config.yaml").write_bytes((run_dir / "config.yaml").read_bytes())
    (root / "space.yaml").write_text(Path(nas.__file__).parent.parent.joinpath("search_spaces", "digits.yaml")
                                     .read_text())  # constraints: max_params 200,000, max_macs 5,000,000
    recs = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    # values the run store lets through (it refuses non-finite ones: test_pareto.py feeds those
    # to the fronts directly)
    damage = {1: {"val_acc": None}, 2: {"params": -5, "latency_ms": -1.0}, 4: {"macs": 0},
              7: {"latency_ms": 0.0}, 11: {"latency_ms": 0.3}, 12: {"val_acc": None, "latency_ms": 2.0}}
    for r in recs:
        r.update(damage.get(r["trial"], {}))
    (root / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert main(["report", str(root)]) == 0
    text = capsys.readouterr().out
    assert "params 200.00K, the space's max_params" in text and "MACs 5.00M, the space's max_macs" in text
    md = (root / "report" / "pareto.md").read_text()
    assert "without both values left out" in md
    assert "## val acc vs latency" in md and "(target cpu, batch_size 1, threads 1)" in md  # the defaults
    fronts = csv_fronts(root / "report" / "pareto.csv")
    assert [r["trial"] for r in fronts["latency_ms"]] == ["11"]  # the one usable latency
    assert_png(root / "report" / "pareto.png")


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
