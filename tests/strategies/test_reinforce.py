"""REINFORCE's options, presets and update math: every option changes what it says, and the
update's gradient equals a hand-written estimator, also with asynchronous, out-of-order and
failed evaluations."""
from __future__ import annotations

import copy
import math

import pytest
import torch

import nas.strategies as strategies
from nas.errors import ConfigError
from nas.space import SearchSpace
from nas.strategies.reinforce import PRESETS, advantages, ppo_loss, skip_penalty
from nas.testing import SyntheticSpace


def space() -> SyntheticSpace:
    return SyntheticSpace(n_decisions=6, n_options=4, seed=0)


def anchored(layers: int = 6) -> SyntheticSpace:
    """A synthetic landscape with the decisions of a zoph2017-style space (anchors included)."""
    text = f"""name: small
input: [3, 8, 8]
classes: 2
layers: {layers}
filter_height: [1, 3]
filter_width: [1, 3]
filters: [8, 16]
stride: 1
norm: bn
anchors: true
head: gap
"""
    return SyntheticSpace.like(SearchSpace.loads(text), seed=0, interaction=0.0, margin=1.0)


# -- options and presets ------------------------------------------------------------------

@pytest.mark.parametrize("options, match", [
    ({"num_layers": 0}, "num_layers must be >= 1"),
    ({"ppo_epochs": 0}, "ppo_epochs must be >= 1"),
    ({"init_range": 0.0}, "init_range must be > 0"),
    ({"adam_eps": 0.0}, "adam_eps must be > 0"),
    ({"temperature": 0.0}, "temperature must be > 0"),
    ({"tanh_constant": -1.0}, "tanh_constant must be > 0"),
    ({"ppo_clip": 0.0}, "ppo_clip must be > 0"),
    ({"skip_weight": -0.1}, "skip_weight must be >= 0"),
    ({"skip_target": 1.0}, "skip_target must be in"),
    ({"adam_beta1": 1.0}, "adam_beta1 must be in"),
    ({"heads": "layer"}, "heads must be one of kind, decision"),
    ({"anchors": "sigmoid"}, "anchors must be one of head, attention"),
    ({"entropy_mode": "both"}, "entropy_mode must be one of loss, reward"),
    ({"entropy_reduction": "max"}, "entropy_reduction must be one of sum, mean"),
    ({"advantage": "whiten"}, "advantage must be one of baseline, scaled"),
    ({"ppo_clip": None, "ppo_epochs": 2}, "ppo_epochs > 1 needs ppo_clip"),
    ({"preset": "nasnet"}, "preset must be one of zoph2017, enas"),
    ({"position_input": 1}, "'position_input' must be true or false"),
])
def test_bad_options_are_one_clear_error(options, match):
    with pytest.raises(ConfigError, match=match):
        strategies.get("reinforce", space(), **options)
    with pytest.raises(ConfigError, match=match):
        strategies.check_options("reinforce", options)


def test_null_switches_temperature_tanh_and_clipping_off():
    s = strategies.get("reinforce", space(), temperature=None, tanh_constant=None, ppo_clip=None, ppo_epochs=1)
    assert s.controller.temperature is None and s.controller.tanh_constant is None
    h = torch.randn(3, s.options.hidden_size) * 50
    assert torch.equal(s.controller.shape_logits(h), h)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_set_their_values_and_given_options_win(name):
    s = strategies.get("reinforce", space(), preset=name)
    for key, value in PRESETS[name].items():
        assert getattr(s.options, key) == value, key
    assert s.options.preset == name
    tuned = strategies.get("reinforce", space(), preset=name, lr=0.01)
    assert tuned.options.lr == 0.01 and tuned.options.hidden_size == PRESETS[name]["hidden_size"]
    assert strategies.check_options("reinforce", {"preset": name}) == s.options


def test_zoph2017_preset_is_the_papers_controller():
    s = strategies.get("reinforce", anchored(), preset="zoph2017")
    c = s.controller
    assert (len(c.lstm), c.hidden_size) == (2, 35)  # Sec. 4.1: two layers of 35 units
    assert max(p.abs().max() for p in c.parameters()) <= 0.08  # Sec. 4.1: uniform [-0.08, 0.08]
    assert c.temperature is None and c.tanh_constant is None and c.position is None
    assert c.attention is not None  # Sec. 3.3: anchors by content-based attention
    group = s.optimizer.param_groups[0]
    assert group["lr"] == 6e-4 and group["betas"] == (0.9, 0.999)  # Sec. 4.1: Adam, 0.0006
    assert s.options.ppo_clip is None and s.options.advantage == "baseline" and s.options.batch_size == 8


def test_enas_preset_is_the_official_macro_search_controller():
    s = strategies.get("reinforce", anchored(), preset="enas")
    c, o = s.controller, s.options
    assert (len(c.lstm), c.hidden_size, c.temperature, c.tanh_constant) == (1, 64, None, 1.5)
    group = s.optimizer.param_groups[0]
    assert (group["lr"], group["betas"][0], group["eps"]) == (1e-3, 0.0, 1e-3)
    assert (o.entropy_weight, o.entropy_mode, o.skip_weight, o.skip_target, o.baseline_decay) == (
        1e-4, "reward", 0.8, 0.4, 0.99)
    assert o.batch_size == 20 and c.attention is not None


def test_a_preset_run_saves_and_restores():
    sp = anchored()
    a = strategies.get("reinforce", sp, seed=1, preset="enas", batch_size=3)
    for _ in range(4):
        p = a.ask()
        a.tell(p.id, sp.reward(p.choices))
    a.ask()  # one pending
    b = strategies.get("reinforce", sp, seed=1, preset="enas", batch_size=3)
    b.load_state_dict(a.state_dict())
    for s in (a, b):
        for _ in range(5):
            p = s.ask()
            s.tell(p.id, sp.reward(p.choices))
        s.tell(s.pending[0].id, 0.5)
    assert [h["choices"] for h in a.history] == [h["choices"] for h in b.history]
    assert torch.equal(a.state_dict()["controller"]["start"], b.state_dict()["controller"]["start"])


# -- the pure functions -------------------------------------------------------------------

def test_advantages_baseline_and_scaled():
    r = torch.tensor([0.2, 0.4, 0.9])
    assert torch.allclose(advantages(r, 0.5, "baseline"), r - 0.5)
    assert torch.allclose(advantages(r, 0.5, "scaled"), (r - 0.5) / r.std(unbiased=False))
    # a batch of one, or of equal rewards, has no spread to divide by
    assert torch.allclose(advantages(torch.tensor([0.9]), 0.5, "scaled"), torch.tensor([0.4]))
    assert torch.allclose(advantages(torch.full((3,), 0.7), 0.5, "scaled"), torch.full((3,), 0.2))


def test_ppo_loss_is_reinforce_at_ratio_one_and_stops_outside_the_clip():
    lp = torch.tensor([-1.0, -2.0, -3.0, -0.5], requires_grad=True)
    adv = torch.tensor([1.0, -1.0, 2.0, -0.5])
    # ratio 1: the gradient is REINFORCE's, -adv / n
    ppo_loss(lp, lp.detach(), adv, 0.2).backward()
    assert torch.allclose(lp.grad, -adv / 4)
    # ratios 1.5 (adv > 0: clipped, no pull), 0.5 (adv < 0: clipped), 1.1 (inside), 0.5 with adv < 0
    old = lp.detach() - torch.log(torch.tensor([1.5, 0.5, 1.1, 1.0]))
    lp.grad = None
    ppo_loss(lp, old, adv, 0.2).backward()
    ratio = torch.exp(lp.detach() - old)
    expected = torch.tensor([0.0, 0.0, -2.0 * ratio[2] / 4, 0.5 * ratio[3] / 4])
    assert torch.allclose(lp.grad, expected)


def test_skip_penalty_is_the_kl_from_the_target_rate():
    p1 = torch.tensor([[0.4, 0.4]])  # at the target: no penalty
    assert skip_penalty([p1], 0.4).item() == pytest.approx(0.0, abs=1e-6)
    p = torch.tensor([[0.9]])
    by_hand = 0.9 * math.log(0.9 / 0.4) + 0.1 * math.log(0.1 / 0.6)
    # one unit with one anchor at 0.9, another with two at 0.4: the mean over units
    assert skip_penalty([p, p1], 0.4).item() == pytest.approx(by_hand / 2, rel=1e-5)


# -- the options at work ------------------------------------------------------------------

def test_entropy_in_the_reward_adds_the_sampled_entropy():
    sp = space()
    s = strategies.get("reinforce", sp, seed=0, batch_size=2, entropy_mode="reward", entropy_weight=0.5)
    ps = [s.ask() for _ in range(2)]
    entropies = [s._sampled[p.id][1] for p in ps]
    for p in ps:
        s.tell(p.id, 0.25)
    assert s.updates[0]["mean_reward"] == pytest.approx(0.25 + 0.5 * sum(entropies) / 2)
    assert s.history[0]["reward"] == 0.25  # what the search records is the reward itself


@pytest.mark.parametrize("reduction, scale", [("sum", 6), ("mean", 1)])
def test_entropy_reduction(reduction, scale):
    sp = space()
    s = strategies.get("reinforce", sp, seed=0, entropy_reduction=reduction)
    p = s.ask()
    with torch.no_grad():
        tr = s.controller.trace(torch.tensor([p.choices]))
    assert s._sampled[p.id][1] == pytest.approx(float(tr.entropies.sum()) * scale / 6, rel=1e-5)


def test_entropy_bonus_in_the_loss_keeps_entropy_up():
    sp = space()
    entropies = {}
    for w in (0.0, 0.5):
        s = strategies.get("reinforce", sp, seed=0, entropy_weight=w)
        for _ in range(100):
            p = s.ask()
            s.tell(p.id, sp.reward(p.choices))
        with torch.no_grad():
            entropies[w] = float(s.controller.greedy()[2])
    assert entropies[0.5] > entropies[0.0] + 1.0, entropies


def test_skip_penalty_moves_the_skip_rate_towards_its_target():
    sp = anchored()
    anchors = [t for t, d in enumerate(sp.decisions) if d.kind == "anchor"]

    def skip_rate(s):
        with torch.no_grad():
            choices, _, _ = s.controller.sample(400, generator=torch.Generator().manual_seed(0))
        return float(choices[:, anchors].float().mean())

    s = strategies.get("reinforce", sp, seed=0, anchors="attention", skip_weight=5.0, skip_target=0.1,
                       batch_size=4, lr=0.05)
    before = skip_rate(s)
    for _ in range(40):
        p = s.ask()
        s.tell(p.id, 0.5)
    assert skip_rate(s) < before - 0.2


def test_adam_settings_reach_the_optimizer():
    s = strategies.get("reinforce", space(), adam_beta1=0.0, adam_eps=1e-3, lr=0.01)
    g = s.optimizer.param_groups[0]
    assert (g["lr"], g["betas"], g["eps"]) == (0.01, (0.0, 0.999), 1e-3)


# -- asynchronous updates: the gradient against a hand-written estimator ----------------

def snapshot(s):
    return copy.deepcopy(s.controller)


def hand_gradient(s, batch, snapshots, baseline):
    """The update's gradient written out per proposal: for proposal i with choices a_i,
    sampled under the policy ``snapshots[i]``, advantage A_i and ratio
    rho_i = pi(a_i) / pi_old(a_i):

    - plain REINFORCE: g = -(1/n) sum_i A_i grad log pi(a_i);
    - PPO: g = -(1/n) sum_i A_i rho_i grad log pi(a_i), except 0 where rho_i is clipped in
      A_i's direction (rho_i > 1 + eps with A_i > 0, rho_i < 1 - eps with A_i < 0).
    """
    o = s.options
    rewards = torch.tensor([r for _, _, r in batch])
    adv = rewards - baseline
    if o.advantage == "scaled" and len(batch) > 1 and rewards.std(unbiased=False) > 1e-8:
        adv = adv / rewards.std(unbiased=False)
    params = list(s.controller.parameters())
    total = [torch.zeros_like(p) for p in params]
    for (pid, choices, _), a in zip(batch, adv):
        c = torch.tensor([choices])
        log_pi = s.controller.score(c)[1][0]
        with torch.no_grad():
            log_old = snapshots[pid].score(c)[1][0]
        grads = torch.autograd.grad(log_pi, params, allow_unused=True)
        weight = -float(a) / len(batch)
        if o.ppo_clip is not None:
            rho = float(torch.exp(log_pi.detach() - log_old))
            clipped = (rho > 1 + o.ppo_clip and a > 0) or (rho < 1 - o.ppo_clip and a < 0)
            weight = 0.0 if clipped else weight * rho
        for t, g in zip(total, grads):
            if g is not None:
                t += weight * g
    return total


@pytest.mark.parametrize("options", [
    {"ppo_clip": 0.2, "ppo_epochs": 1},
    {"ppo_clip": 0.01, "ppo_epochs": 1},  # tight: some stale proposals are clipped
    {"ppo_clip": None, "ppo_epochs": 1, "advantage": "baseline"},
], ids=["ppo", "ppo-tight", "reinforce"])
def test_asynchronous_update_gradient_matches_the_hand_estimator(options):
    sp = space()
    s = strategies.get("reinforce", sp, seed=3, batch_size=3, lr=0.05, entropy_weight=0.0, **options)
    snapshots = {}

    def ask():
        snapshots[s._next_id] = snapshot(s)
        return s.ask()

    captured = []
    step = s.optimizer.step

    def capture():
        captured.append([p.grad.clone() if p.grad is not None else torch.zeros_like(p)
                         for p in s.controller.parameters()])
        step()

    s.optimizer.step = capture
    pending = [ask() for _ in range(4)]  # four in flight, sampled under the first policy
    order = [2, 0]  # out of order
    told = []
    for i in order:
        s.tell(pending[i].id, sp.reward(pending[i].choices))
        told.append((pending[i].id, pending[i].choices, sp.reward(pending[i].choices)))
    s.tell(pending[3].id, 0.0, failed=True)  # a failure, with the failure reward
    told.append((pending[3].id, pending[3].choices, 0.0))
    assert len(captured) == 1  # the first update: baseline = its own mean
    # the second batch mixes a proposal from before the first update with newer ones
    pending = [pending[1]] + [ask() for _ in range(3)]
    before = snapshot(s)
    baseline = s.baseline
    batch = []
    for p in (pending[2], pending[0], pending[3]):
        r = 0.0 if p is pending[3] else sp.reward(p.choices)
        batch.append((p.id, p.choices, r))
    live = s.controller
    s.controller = before  # the hand estimator at the parameters the update starts from
    expected = hand_gradient(s, batch, snapshots, baseline)
    s.controller = live
    for pid, _, r in batch:
        s.tell(pid, r, failed=(pid == pending[3].id))
    assert len(captured) == 2
    for got, want in zip(captured[1], expected):
        assert torch.allclose(got, want, atol=1e-6, rtol=1e-4)
    # the stale proposal's ratio was not 1: it really was sampled under the older policy
    stale = torch.tensor([pending[0].choices])
    with torch.no_grad():
        assert not torch.isclose(before.score(stale)[1], snapshots[pending[0].id].score(stale)[1])


def test_sampled_log_probs_are_kept_for_pending_proposals_across_a_save():
    sp = space()
    a = strategies.get("reinforce", sp, seed=0, batch_size=2)
    p = a.ask()
    with torch.no_grad():
        assert a._sampled[p.id][0] == pytest.approx(float(a.controller.score(torch.tensor([p.choices]))[1]))
    b = strategies.get("reinforce", sp, seed=0, batch_size=2)
    b.load_state_dict(a.state_dict())
    assert b._sampled == a._sampled


@pytest.mark.parametrize("epochs", [1, 3])
def test_ppo_epochs_is_the_number_of_passes_per_batch(epochs):
    sp = space()
    s = strategies.get("reinforce", sp, seed=0, batch_size=2, ppo_epochs=epochs)
    steps = []
    step = s.optimizer.step
    s.optimizer.step = lambda: (steps.append(1), step())
    for _ in range(4):
        p = s.ask()
        s.tell(p.id, sp.reward(p.choices))
    assert len(steps) == 2 * epochs and len(s.updates) == 2
