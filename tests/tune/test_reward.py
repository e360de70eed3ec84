"""Reward functions: values checked by hand against Zoph & Le 2017 and MnasNet Eq. 2."""
from __future__ import annotations

import math

import pytest

from nas.config import from_dict
from nas.errors import ConfigError
from nas.tune.reward import COSTS, HARD_W, HARD_W_OVER, SOFT_W, RewardConfig, compute_reward, cost_factor, window_max


def test_window_max_takes_the_last_window_only():
    accs = [0.2, 0.95, 0.5, 0.6, 0.7, 0.65, 0.55]
    assert window_max(accs, 5) == 0.7  # the early 0.95 is outside the last 5 epochs
    assert window_max(accs, 1) == 0.55
    assert window_max(accs, 7) == 0.95


def test_window_max_uses_all_epochs_when_fewer_than_window():
    assert window_max([0.3, 0.4], 5) == 0.4


def test_window_max_rejects_empty_and_bad_window():
    with pytest.raises(ValueError):
        window_max([], 5)
    with pytest.raises(ValueError):
        window_max([0.5], 0)


def test_default_reward_is_max_of_last_five_val_accs():
    config = RewardConfig()
    assert config.window == 5 and not config.cube and config.cost == "none"
    accs = [0.9, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert compute_reward(config, accs, params=1, macs=1, failed=False) == 0.5


def test_cube():
    reward = compute_reward(RewardConfig(cube=True), [0.5, 0.8], params=1, macs=1, failed=False)
    assert reward == pytest.approx(0.8**3)


def test_mnasnet_soft_constraint_by_hand():
    # Eq. 2 with alpha = beta = -0.07: twice the target costs a factor 2 ** -0.07.
    config = RewardConfig(cost="params", target=1000)
    assert (config.w, config.w_over) == (SOFT_W, SOFT_W) == (-0.07, -0.07)
    over = compute_reward(config, [0.9], params=2000, macs=0, failed=False)
    assert over == pytest.approx(0.9 * 2**-0.07)
    under = compute_reward(config, [0.9], params=500, macs=0, failed=False)
    assert under == pytest.approx(0.9 * 0.5**-0.07)
    assert under > 0.9 > over
    assert compute_reward(config, [0.9], params=1000, macs=0, failed=False) == pytest.approx(0.9)


def test_mnasnet_soft_constraint_matches_papers_five_percent_rule():
    # MnasNet Sec. 3: a model with 2x the cost and 5% more accuracy gets about the same reward.
    config = RewardConfig(cost="macs", target=1e6)
    base = compute_reward(config, [0.7], params=0, macs=1e6, failed=False)
    double = compute_reward(config, [0.7 * 1.05], params=0, macs=2e6, failed=False)
    assert double == pytest.approx(base, rel=0.01)


def test_mnasnet_hard_constraint_by_hand():
    config = RewardConfig.hard("macs", 1e6)
    assert (config.w, config.w_over) == (HARD_W, HARD_W_OVER) == (0.0, -1.0)
    assert compute_reward(config, [0.8], params=0, macs=5e5, failed=False) == pytest.approx(0.8)  # no bonus
    assert compute_reward(config, [0.8], params=0, macs=4e6, failed=False) == pytest.approx(0.8 / 4)


def test_cost_uses_the_configured_metric():
    by_params = RewardConfig(cost="params", target=100)
    by_macs = RewardConfig(cost="macs", target=100)
    assert compute_reward(by_params, [1.0], params=200, macs=100, failed=False) == pytest.approx(2**-0.07)
    assert compute_reward(by_macs, [1.0], params=200, macs=100, failed=False) == pytest.approx(1.0)


def test_latency_cost_is_mnasnet_eq2_on_measured_milliseconds():
    # MnasNet Eq. 2 with measured latency: 2x the 5 ms target costs a factor 2 ** -0.07.
    config = RewardConfig(cost="latency", target=5.0)
    assert compute_reward(config, [0.9], params=1, macs=1, failed=False, latency_ms=10.0) == pytest.approx(0.9 * 2**-0.07)
    assert compute_reward(config, [0.9], params=1, macs=1, failed=False, latency_ms=5.0) == pytest.approx(0.9)
    hard = RewardConfig.hard("latency", 5.0)
    assert compute_reward(hard, [0.8], params=1, macs=1, failed=False, latency_ms=2.5) == pytest.approx(0.8)
    assert compute_reward(hard, [0.8], params=1, macs=1, failed=False, latency_ms=20.0) == pytest.approx(0.2)


def test_latency_cost_ignores_params_and_macs_and_other_costs_ignore_latency():
    config = RewardConfig(cost="latency", target=1.0)
    a = compute_reward(config, [0.5], params=10, macs=10, failed=False, latency_ms=3.0)
    b = compute_reward(config, [0.5], params=10**6, macs=10**9, failed=False, latency_ms=3.0)
    assert a == b == pytest.approx(0.5 * 3**-0.07)
    by_macs = RewardConfig(cost="macs", target=100)
    assert compute_reward(by_macs, [0.5], params=1, macs=100, failed=False, latency_ms=99.0) == pytest.approx(0.5)
    assert compute_reward(by_macs, [0.5], params=1, macs=100, failed=False) == pytest.approx(0.5)


def test_latency_cost_needs_a_measured_latency():
    config = RewardConfig(cost="latency", target=2.0)
    with pytest.raises(ValueError, match="latency was not measured"):
        compute_reward(config, [0.9], params=1, macs=1, failed=False)
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="latency_ms must be a positive number"):
            compute_reward(config, [0.9], params=1, macs=1, failed=False, latency_ms=bad)
    # A failed trial (or one with no epoch) needs none: it gets the failure reward.
    assert compute_reward(config, [0.9], params=1, macs=1, failed=True) == 0.0
    assert compute_reward(config, [], params=1, macs=1, failed=False) == 0.0


def test_cube_then_cost_factor():
    config = RewardConfig(cube=True, cost="params", target=10, w=-0.5, w_over=-0.5)
    assert compute_reward(config, [0.5], params=40, macs=0, failed=False) == pytest.approx(0.5**3 * 4**-0.5)


def test_cost_factor_values():
    assert cost_factor(1.0, 1.0, -0.07, -1.0) == 1.0
    assert cost_factor(3.0, 1.0, 0.0, -1.0) == pytest.approx(1 / 3)
    assert cost_factor(0.5, 1.0, 0.0, -1.0) == 1.0
    with pytest.raises(ValueError):
        cost_factor(0.0, 1.0, -0.07, -0.07)


def test_failed_trial_gets_failure_reward():
    assert compute_reward(RewardConfig(), [0.9, 0.95], params=1, macs=1, failed=True) == 0.0
    config = RewardConfig(failure_reward=-1.0, cube=True, cost="params", target=5)
    assert compute_reward(config, [0.9], params=10, macs=1, failed=True) == -1.0
    assert compute_reward(config, [], params=10, macs=1, failed=False) == -1.0  # no epoch finished


def test_reward_is_always_a_float():
    assert type(compute_reward(RewardConfig(), [1], params=1, macs=1, failed=False)) is float
    assert type(compute_reward(RewardConfig(failure_reward=0), [], params=1, macs=1, failed=True)) is float


def test_accuracies_must_be_fractions():
    with pytest.raises(ValueError, match="fractions"):
        compute_reward(RewardConfig(), [93.5], params=1, macs=1, failed=False)
    with pytest.raises(ValueError):
        compute_reward(RewardConfig(), [math.nan], params=1, macs=1, failed=False)


# ---- config loading


def test_latency_is_a_cost():
    config = RewardConfig.from_dict({"cost": "latency", "target": 5})
    assert config.cost == "latency" and config.target == 5.0 and "latency" in COSTS


def test_from_dict_round_trip():
    config = RewardConfig.from_dict({"window": 3, "cube": True, "cost": "macs", "target": 5000000, "w_over": -1})
    assert config == RewardConfig(window=3, cube=True, cost="macs", target=5e6, w_over=-1.0)
    assert isinstance(config.target, float) and isinstance(config.w_over, float)
    assert RewardConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "data, key",
    [
        ({"windw": 3}, "windw"),
        ({"window": "5"}, "window"),
        ({"window": 2.5}, "window"),
        ({"window": True}, "window"),
        ({"cube": 1}, "cube"),
        ({"w": "-0.07"}, "w"),
        ({"w": False}, "w"),
        ({"cost": 3}, "cost"),
        ({"cost": "flops"}, "cost"),
        ({"cost": "params"}, "target"),
        ({"cost": "params", "target": -1}, "target"),
        ({"cost": "latency"}, "target"),
        ({"cost": "latency", "target": 0}, "target"),
        ({"cost": "latncy", "target": 5}, "cost"),
        ({"window": 0}, "window"),
        ({"failure_reward": math.inf}, "failure_reward"),
    ],
)
def test_from_dict_errors_name_the_key(data, key):
    with pytest.raises(ConfigError, match=repr(key)):
        RewardConfig.from_dict(data)


def test_unknown_key_suggests_the_right_one():
    with pytest.raises(ConfigError, match="did you mean 'window'"):
        RewardConfig.from_dict({"windw": 3})


def test_from_dict_needs_a_mapping():
    with pytest.raises(ConfigError, match="mapping"):
        RewardConfig.from_dict([("window", 3)])


def test_from_dict_keeps_base_values():
    base = RewardConfig(window=2, cube=True)
    assert from_dict(RewardConfig, {"cube": False}, base=base) == RewardConfig(window=2, cube=False)
