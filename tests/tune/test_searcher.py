"""The public Tune searcher: the standalone ask/tell backend, and the README's script of
one's own Tuner, run as it is written there."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from ray.tune.search import Searcher

import nas
import nas.strategies
from nas.testing import SyntheticSpace
from nas.tune import StrategySearcher


def test_standalone_searcher_asks_tells_and_finishes():
    space = SyntheticSpace(n_decisions=4, n_options=3, seed=0)
    strategy = nas.strategies.get("random", space, seed=0)
    searcher = StrategySearcher(strategy, metric="loss", mode="min", max_trials=3)
    configs = [searcher.suggest(f"t{i}") for i in range(3)]
    assert [c["proposal"] for c in configs] == [0, 1, 2] and all(c["arch"].startswith("syn(") for c in configs)
    assert searcher.suggest("t3") is None  # the budget is spent, trials still running: wait
    searcher.on_trial_complete("t1", {"loss": 0.25})
    searcher.on_trial_complete("t0", None, error=True)
    searcher.on_trial_complete("t2", {"other": 1.0})  # no metric reported: a failed evaluation
    assert searcher.suggest("t4") == Searcher.FINISHED
    told = {h["id"]: h for h in strategy.history}
    assert told[1]["reward"] == -0.25 and not told[1]["failed"]  # mode="min": lower is better
    assert told[0]["failed"] and told[2]["failed"] and searcher.fatal is None


def test_standalone_searcher_forwards_what_a_multi_objective_strategy_needs():
    space = SyntheticSpace(n_decisions=4, n_options=3, seed=0)
    strategy = nas.strategies.get("nsga2", space, seed=0, population_size=2, cost="latency_ms")
    searcher = StrategySearcher(strategy, metric="acc", mode="max", max_trials=2)
    searcher.suggest("a"), searcher.suggest("b")
    searcher.on_trial_complete("a", {"acc": 0.8, "latency_ms": 1.5})
    assert strategy.history[0]["metrics"] == {"accuracy": 0.8, "latency_ms": 1.5}  # accuracy: the metric itself
    searcher.on_trial_complete("b", {"acc": 0.7})  # no latency reported: the strategy says what is missing
    assert "latency_ms" in str(searcher.fatal)


def test_standalone_searcher_needs_a_metric_and_one_backend():
    space = SyntheticSpace(n_decisions=2, n_options=2, seed=0)
    with pytest.raises(ValueError, match="metric and mode"):
        StrategySearcher(nas.strategies.get("random", space))
    with pytest.raises(ValueError, match="not both"):
        StrategySearcher()
    with pytest.raises(ValueError, match="'max' or 'min'"):
        StrategySearcher(nas.strategies.get("random", space), metric="acc", mode="up")


def test_the_readme_script_with_its_own_tuner_runs(repo, tmp_path):
    readme = (repo / "README.md").read_text()
    code = re.search(r"```python\n(# a Tune script of your own\n.*?)```", readme, re.S).group(1)
    env = dict(os.environ, HOME=str(tmp_path), PYTHONPATH=str(repo))  # Ray's ~/ray_results: a temporary HOME
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    arch, acc = p.stdout.strip().splitlines()[-1].rsplit(" ", 1)
    assert nas.SearchSpace.load("digits").encode(arch) and 0.1 < float(acc) <= 1.0
