"""The Optuna strategies (tpe, gp, nsga2) beyond the contract suite of test_strategies.py, which
runs on them as on every registered strategy: metrics in ``tell``, what ``nsga2`` needs, the
event-log replay and its mismatch, nothing left RUNNING in the study, quiet logging, search
quality on synthetic problems, and ``tpe`` behind ``StrategySearcher`` in a real ``tune.Tuner``."""
from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import pytest
from optuna.trial import TrialState

import nas.strategies as strategies
from nas.errors import ConfigError, NasError, SpaceError
from nas.space import Decision
from nas.testing import SyntheticSpace

OPTUNA = ["tpe", "gp", "nsga2"]


def space(**kw) -> SyntheticSpace:
    return SyntheticSpace(n_decisions=6, n_options=4, seed=0, **kw)


def metrics(choices, reward):
    return {"accuracy": reward, "latency_ms": float(sum(choices)), "params": 1e3 * sum(choices)}


# -- metrics in tell (the base contract) ----------------------------------------------------


@pytest.mark.parametrize(
    "bad, match",
    [
        ({1: 0.5}, "metric names must be strings"),
        ({"accuracy": True}, "'accuracy' of proposal 0 must be a number"),
        ({"accuracy": "0.9"}, "'accuracy' of proposal 0 must be a number"),
        ({"accuracy": math.nan}, "'accuracy' of proposal 0 is nan"),
        ({"latency_ms": math.inf}, "'latency_ms' of proposal 0 is inf"),
        ([("accuracy", 0.9)], "must be a mapping"),
    ],
)
def test_bad_metrics_are_one_line_errors_and_change_nothing(bad, match):
    s = strategies.get("random", space())
    p = s.ask()
    with pytest.raises(NasError, match=match) as e:
        s.tell(p.id, 0.5, metrics=bad)
    assert "\n" not in str(e.value)
    assert s.pending == (p,) and not s.history


def test_metrics_are_kept_in_history_only_when_given():
    s = strategies.get("random", space())
    p, q, r = s.ask(), s.ask(), s.ask()
    s.tell(p.id, 0.5, metrics={"accuracy": np.float32(0.5), "params": 1200})
    s.tell(q.id, 0.25)
    s.tell(r.id, 0.0, failed=True, metrics={"accuracy": math.nan})  # a failed one may carry NaN
    h = s.history
    assert h[0]["metrics"] == {"accuracy": 0.5, "params": 1200.0}
    assert all(type(v) is float for v in h[0]["metrics"].values())
    assert "metrics" not in h[1] and math.isnan(h[2]["metrics"]["accuracy"])
    assert s.needs == ()


def test_observe_receives_the_metrics():
    seen = []

    class Spy(strategies.STRATEGIES.get("random")):
        def _observe(self, proposal, reward, failed, *, metrics):
            seen.append(dict(metrics))

    s = Spy(space())
    p, q = s.ask(), s.ask()
    s.tell(p.id, 0.5, metrics={"accuracy": 0.5})
    s.tell(q.id, 0.5)
    assert seen == [{"accuracy": 0.5}, {}]


# -- nsga2 needs its metrics ------------------------------------------------------------------


@pytest.mark.parametrize("cost", ["latency_ms", "params", "macs"])
def test_nsga2_needs_accuracy_and_its_cost(cost):
    s = strategies.get("nsga2", space(), cost=cost)
    assert s.needs == ("accuracy", cost)
    p = s.ask()
    with pytest.raises(NasError, match=f"needs metric '{cost}' in every successful tell; proposal 0 was told"):
        s.tell(p.id, 0.9, metrics={"accuracy": 0.9})
    with pytest.raises(NasError, match="needs metric 'accuracy'.*was told none"):
        s.tell(p.id, 0.9)
    assert s.pending == (p,)
    s.tell(p.id, 0.0, failed=True)  # a failed evaluation needs none
    assert s.history[0]["failed"]


def test_nsga2_bad_options():
    with pytest.raises(ConfigError, match="cost must be one of latency_ms, params, macs"):
        strategies.get("nsga2", space(), cost="flops")
    with pytest.raises(ConfigError, match="population_size must be >= 2"):
        strategies.get("nsga2", space(), population_size=1)
    with pytest.raises(ConfigError, match="n_startup_trials must be >= 0"):
        strategies.get("tpe", space(), n_startup_trials=-1)


def test_nsga2_learns_from_the_metrics_not_the_reward():
    """The study gets (accuracy, cost) from the metrics; the reward is only recorded."""
    sp = space()
    s = strategies.get("nsga2", sp, seed=0, cost="params")
    p = s.ask()
    s.tell(p.id, 123.0, metrics={"accuracy": 0.75, "params": 5000.0})
    trial = s._study.get_trials(states=(TrialState.COMPLETE,))[0]
    assert trial.values == [0.75, 5000.0]
    assert s.history[0]["reward"] == 123.0


def test_duplicate_decision_names_are_a_space_error():
    sp = space()
    sp.decisions = (sp.decisions[0], Decision("d0", "op4", (0, 1, 2, 3))) + sp.decisions[2:]
    with pytest.raises(SpaceError, match="'d0' repeats"):
        strategies.get("tpe", sp)


# -- the study: nothing left RUNNING, failures and invalid draws ----------------------------


@pytest.mark.parametrize("name", ["tpe", "nsga2"])
def test_only_pending_proposals_stay_running(name):
    sp = space(invalid_fraction=0.5)
    s = strategies.get(name, sp, seed=0)
    for i in range(15):
        p = s.ask(candidates=3, rank=lambda arch: len(arch) + arch.count("1"))
        s.sample_path()
        if i % 2:
            r = sp.reward(p.choices)
            s.tell(p.id, r, metrics=metrics(p.choices, r))
    running = s._study.get_trials(states=(TrialState.RUNNING,))
    assert sorted(t.number for t in running) == sorted(s._trial_of.values())
    assert [tuple(t.params[d.name] for d in sp.decisions) for t in running] == [p.choices for p in s.pending]
    assert len(s.pending) == 8


def choices_of(trial, sp):
    return tuple(trial.params[d.name] for d in sp.decisions)


def test_invalid_draws_and_failures_count_as_the_worst_reward_for_tpe():
    """So that a model-based sampler learns to avoid them (ignored, a GP asks again and again)."""
    sp = space(invalid_fraction=0.6)
    s = strategies.get("tpe", sp, seed=0)
    ps = []
    for i in range(30):
        ps.append(s.ask())
        if i == 20:
            failed_trial = s._trial_of[ps[-1].id]
            s.tell(ps[-1].id, 0.0, failed=True)
        else:
            s.tell(ps[-1].id, sp.reward(ps[-1].choices))
    trials = s._study.get_trials()
    worst = [math.inf]  # the lowest successful reward told before each trial was closed
    rewards = {h["choices"]: h["reward"] for h in s.history if not h["failed"]}
    imputed = 0
    for t in trials:
        c = choices_of(t, sp)
        if not sp.is_valid(c) or t.number == failed_trial:
            if worst[-1] == math.inf:
                assert t.state == TrialState.FAIL
            else:
                assert t.state == TrialState.COMPLETE and t.value == pytest.approx(min(worst))
                imputed += 1
        else:
            assert t.state == TrialState.COMPLETE and t.value == rewards[c]  # (a valid draw is proposed)
            worst.append(t.value)
    assert imputed > 10


def test_nsga2_closes_invalid_draws_and_failures_as_fail():
    sp = space(invalid_fraction=0.6)
    s = strategies.get("nsga2", sp, seed=0)
    ps = []
    for i in range(20):
        ps.append(s.ask())
        if i == 5:
            s.tell(ps[-1].id, 0.0, failed=True)
        else:
            r = sp.reward(ps[-1].choices)
            s.tell(ps[-1].id, r, metrics=metrics(ps[-1].choices, r))
    states = [(t.state, choices_of(t, sp)) for t in s._study.get_trials()]
    assert sum(not sp.is_valid(c) for st, c in states if st == TrialState.FAIL) > 10
    assert all(sp.is_valid(c) for st, c in states if st == TrialState.COMPLETE)
    assert sum(st == TrialState.COMPLETE for st, _ in states) == 19  # all but the failed proposal
    assert sum(st == TrialState.FAIL and sp.is_valid(c) for st, c in states) == 1


# -- state: replay ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tpe", "nsga2"])
def test_a_replay_that_draws_otherwise_is_refused(name):
    sp = space()
    s = strategies.get(name, sp, seed=0)
    for _ in range(12):
        p = s.ask()
        r = sp.reward(p.choices)
        s.tell(p.id, r, metrics=metrics(p.choices, r))
    s.ask()
    state = s.state_dict()
    events = state["study"]["events"]
    k = max(i for i, e in enumerate(events) if e[0] == "ask")
    events[k][1][0] = (events[k][1][0] + 1) % 4  # as if another Optuna had drawn otherwise
    with pytest.raises(ConfigError, match=rf"strategy '{name}' cannot be resumed exactly: replayed trial 12 drew"):
        strategies.get(name, sp).load_state_dict(state)


def test_resume_rebuilds_the_study_and_continues_exactly():
    """With proposals pending and a prefiltered ask in the log: the replayed study has the same
    trials in the same states, and the next proposals are the uninterrupted run's."""
    sp = space(invalid_fraction=0.3)
    a = strategies.get("tpe", sp, seed=7, n_startup_trials=3)
    for i in range(10):
        a.ask(candidates=2, rank=lambda arch: arch.count("2"))
        if i % 3:
            p = a.pending[0]
            a.tell(p.id, sp.reward(p.choices))
    b = strategies.get("tpe", sp, seed=0, n_startup_trials=3)
    b.load_state_dict(a.state_dict())
    assert b.pending == a.pending and b.seed == 7
    assert [(t.state, t.params, t.values) for t in b._study.get_trials()] == \
           [(t.state, t.params, t.values) for t in a._study.get_trials()]
    for _ in range(5):
        p, q = a.ask(), b.ask()
        assert p == q
        a.tell(p.id, sp.reward(p.choices)), b.tell(q.id, sp.reward(q.choices))


def test_optuna_logging_and_warnings_are_left_as_they_were():
    logger = logging.getLogger("optuna")
    before = logger.level
    logger.setLevel(logging.DEBUG)
    filters = list(warnings.filters)
    try:
        s = strategies.get("tpe", space(), seed=0)
        p = s.ask()
        s.tell(p.id, 0.5)
        assert logger.level == logging.DEBUG and warnings.filters == filters
    finally:
        logger.setLevel(before)


# -- search quality -----------------------------------------------------------------------------
# Measured on SyntheticSpace(8, 4) (65,536 architectures), 80 one-at-a-time evaluations, seeds
# 0-2: the best reward found by tpe was 0.883, 1.0, 1.0; by random search 0.835, 0.720, 0.699.


def best_of(name, seed, budget=80):
    sp = SyntheticSpace(n_decisions=8, n_options=4, seed=seed)
    s = strategies.get(name, sp, seed=seed)
    for _ in range(budget):
        p = s.ask()
        s.tell(p.id, sp.reward(p.choices))
    return s.best()[1]


def test_tpe_beats_random_on_a_synthetic_landscape():
    tpe = [best_of("tpe", seed) for seed in range(3)]
    rnd = [best_of("random", seed) for seed in range(3)]
    assert sum(tpe) / 3 > sum(rnd) / 3 + 0.1, (tpe, rnd)
    assert max(tpe) == 1.0  # the optimum, 1 in 65,536


def hypervolume(points, ref_cost):
    """Area dominated by (accuracy up, cost down) points above accuracy 0 and below ``ref_cost``."""
    front, best = [], -math.inf
    for acc, cost in sorted(points, key=lambda p: (p[1], -p[0])):
        if acc > best:
            front.append((acc, cost))
            best = acc
    return sum(acc * ((front[i + 1][1] if i + 1 < len(front) else ref_cost) - cost)
               for i, (acc, cost) in enumerate(front))


def front_area(name, seed, **options):
    sp = SyntheticSpace(n_decisions=8, n_options=4, seed=seed)
    s = strategies.get(name, sp, seed=seed, **options)
    points = []
    for _ in range(100):
        p = s.ask()
        acc, cost = sp.reward(p.choices), float(sum(p.choices))
        points.append((acc, cost))
        s.tell(p.id, acc, metrics={"accuracy": acc, "params": cost})
    return hypervolume(points, ref_cost=25.0)


def test_nsga2_front_dominates_more_than_random():
    """Accuracy up and cost down: the area nsga2's 100 evaluations dominate beats random search's
    on every seed (measured: 18.1 vs 16.1, 16.8 vs 14.2, 16.7 vs 13.9); with either objective
    wired the wrong way round it falls below."""
    for seed in range(3):
        nsga2 = front_area("nsga2", seed, population_size=10, cost="params")
        rnd = front_area("random", seed)
        assert nsga2 > rnd + 1.0, (seed, nsga2, rnd)
