"""``nas proxies RUN``: the table of proxies against val_acc and the rank correlations, on run
folders written through RunStore (no training); bad input is one line and exit status 2."""
import json
import math

import pytest

from nas.cli import main
from nas.cli.proxies import correlation, trained_archs
from nas.oneshot.proxies import PROXIES, score_arch
from nas.oneshot.rank import kendall_tau, spearman
from nas.tune import RunStore, SearchConfig

A, B, C, D = "conv(4,3) gap", "conv(8,3) basic(8) gap", "sepconv(8,3) gap", "conv(4,3) sepconv(4,3) gap"


def make_run(root, trials):
    """A finished run folder as ``nas search`` leaves it: config.yaml and trials.jsonl, written
    through RunStore. ``trials``: (arch, val_acc, status[, extra keys])."""
    store = RunStore(root)
    cfg = SearchConfig(name=root.name, runs_dir=str(root.parent), trials=len(trials), epochs=1, dataset="digits")
    store.write_config({"search": cfg.to_dict(), "space_file": "tiny.yaml", "space_hash": "cafe",
                        "dataset": {"dataset": "digits"}})
    for i, (arch, acc, status, *extra) in enumerate(trials, start=1):
        store.append_trial({"trial": i, "proposal": i - 1, "arch": arch, "reward": acc if status == "ok" else 0.0,
                            "val_acc": acc if status == "ok" else None, "status": status, "epochs": 1,
                            **(extra[0] if extra else {})})
    return root


TRIALS = [
    (A, 0.50, "ok"),
    (B, 0.90, "ok"),
    (C, 0.70, "failed"),  # failed: left out
    (C, 0.60, "ok"),
    ("conv(8, 3)  basic(8) gap", 0.95, "ok"),  # B again, spelt differently: its first record counts
    (D, 0.99, "ok", {"evaluation": "shared"}),  # scored with shared weights, not trained: left out
    (D, 0.40, "ok", {"evaluation": "full"}),
]


def test_the_table_and_the_correlations(tmp_path, capsys, search_digits):
    make_run(tmp_path / "runs" / "tiny", TRIALS)
    out = tmp_path / "proxies.json"
    assert main(["proxies", "tiny", "--runs-dir", str(tmp_path / "runs"), "--batch-size", "16", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("trial"))
    assert lines[header].split() == ["trial", "val_acc", *PROXIES.names(), "architecture"]
    body = [line.split() for line in lines[header + 2:header + 6]]
    assert [row[0] for row in body] == ["2", "4", "1", "7"]  # by val_acc, best first
    assert [row[1] for row in body] == ["0.9000", "0.6000", "0.5000", "0.4000"]

    report = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert report["run"] == "tiny" and report["batch_size"] == 16 and report["seed"] == 0
    assert report["proxies"] == PROXIES.names()
    assert [r["trial"] for r in report["rows"]] == [2, 4, 1, 7] and report["rows"][0]["arch"] == B
    accs = [r["val_acc"] for r in report["rows"]]
    for name in PROXIES.names():
        scores = [r["scores"][name] for r in report["rows"]]
        # the very scores score_arch gives, with the run's data and seed
        assert scores[0] == score_arch(name, B, search_digits, batch_size=16, seed=0)
        c = report["correlations"][name]
        assert c["n"] == 4 and c["why"] is None
        assert c["kendall_tau"] == pytest.approx(kendall_tau(accs, scores))
        assert c["spearman"] == pytest.approx(spearman(accs, scores))
        line = next(line for line in lines if line.startswith(f"{name} "))
        assert f"Kendall tau {c['kendall_tau']:+.4f}" in line and f"Spearman rho {c['spearman']:+.4f}" in line
        assert "over 4 architectures" in line


def test_one_usable_architecture_still_prints_the_table_and_says_why(tmp_path, capsys):
    run = make_run(tmp_path / "one", [(A, 0.5, "ok"), (B, 0.9, "failed")])
    out = tmp_path / "p.json"
    assert main(["proxies", str(run), "--proxies", "naswot", "--batch-size", "8", "--json", str(out)]) == 2
    captured = capsys.readouterr()
    assert "conv(4,3) gap" in captured.out and "needs at least 2 architectures, the run has 1" in captured.out
    assert captured.err.count("\n") == 1 and captured.err.startswith("nas: error: no rank correlation")
    c = json.loads(out.read_text())["correlations"]["naswot"]
    assert c["kendall_tau"] is None and c["spearman"] is None and c["n"] == 1 and "at least 2" in c["why"]


def test_a_constant_val_acc_has_no_correlation_but_is_no_error(tmp_path, capsys):
    run = make_run(tmp_path / "flat", [(A, 0.5, "ok"), (B, 0.5, "ok")])
    assert main(["proxies", str(run), "--proxies", "synflow", "--batch-size", "8"]) == 0
    assert "undefined: every val_acc is the same" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["--proxies", "naswto"], "unknown proxy 'naswto'; did you mean 'naswot'?"),
    (["--proxies", "naswot,snp"], "did you mean 'snip'?"),
    (["--proxies", " , "], "--proxies names no proxy"),
    (["--batch-size", "1"], "--batch-size must be at least 2"),
    (["--batch-size", "many"], "--batch-size must be a whole number"),
    (["--seed", "-1"], "--seed must be 0 or more"),
    (["--device", "gpu"], "--device 'gpu' is not a device here"),
])
def test_bad_flags_are_one_line(tmp_path, capsys, argv, words):
    run = make_run(tmp_path / "r", TRIALS[:2])
    out = tmp_path / "p.json"
    assert main(["proxies", str(run), *argv, "--json", str(out)]) == 2
    captured = capsys.readouterr()
    assert words in captured.err and captured.err.count("\n") == 1 and captured.err.startswith("nas: error:")
    assert not out.exists()


def test_no_run_and_a_run_without_usable_records_are_one_line(tmp_path, capsys):
    assert main(["proxies", "nope", "--runs-dir", str(tmp_path)]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    run = make_run(tmp_path / "bad", [(A, 0.5, "failed"), (B, 0.9, "ok", {"evaluation": "shared"})])
    assert main(["proxies", str(run)]) == 2
    captured = capsys.readouterr()
    assert "has no architecture trained from scratch" in captured.err and captured.err.count("\n") == 1
    assert captured.out == ""


def test_trained_archs_keeps_the_first_full_evaluation_of_each_architecture():
    records = [{"trial": i, "arch": a, "val_acc": v, "status": s, **(extra[0] if extra else {})}
               for i, (a, v, s, *extra) in enumerate(TRIALS, start=1)]
    records.append({"trial": 8, "arch": A, "val_acc": math.nan, "status": "ok"})
    assert [(r["trial"], r["arch"], r["val_acc"]) for r in trained_archs(records)] == [
        (2, B, 0.9), (4, C, 0.6), (1, A, 0.5), (7, D, 0.4)]


def test_correlation_says_why_it_is_missing():
    assert correlation([0.5], [1.0])["why"] == "needs at least 2 architectures, the run has 1"
    assert correlation([0.1, 0.2], [3.0, 3.0])["why"] == "undefined: every score is the same"
    assert correlation([0.1, 0.2, 0.3], [1.0, -math.inf, 2.0]) == {
        "kendall_tau": pytest.approx(1 / 3), "spearman": pytest.approx(0.5), "n": 3, "why": None}
