"""The LSTM controller and the REINFORCE loss, checked against torch.distributions."""
from __future__ import annotations

import pytest
import torch
from torch.distributions import Categorical

from nas.errors import SpaceError
from nas.space import Decision
from nas.strategies.controller import Controller
from nas.strategies.reinforce import reinforce_loss


# Two kinds, interleaved, with different numbers of options.
DECISIONS = (
    Decision("l0_op", "op", ("conv3", "conv5", "pool", "id")),
    Decision("l0_width", "width", (16, 32, 64)),
    Decision("l1_op", "op", ("conv3", "conv5", "pool", "id")),
    Decision("l1_width", "width", (16, 32, 64)),
    Decision("l2_op", "op", ("conv3", "conv5", "pool", "id")),
)


def make(seed: int = 0, **kw) -> Controller:
    return Controller(DECISIONS, 32, generator=torch.Generator().manual_seed(seed), **kw)


def reference(ctrl: Controller, choices: torch.Tensor):
    """Unroll step by step with the controller's modules, scoring with a fresh Categorical."""
    log_prob = torch.zeros(len(choices))
    entropy = torch.zeros(len(choices))
    x = ctrl.start.expand(len(choices), -1)
    h = c = torch.zeros(len(choices), ctrl.hidden_size)
    for t, d in enumerate(DECISIONS):
        kind = ctrl.kinds.index(d.kind)
        h, c = ctrl.lstm[0](x, (h, c))
        raw = ctrl.heads[kind](h)
        logits = ctrl.tanh_constant * torch.tanh(raw / ctrl.temperature)
        dist = Categorical(logits=logits)
        log_prob = log_prob + dist.log_prob(choices[:, t])
        entropy = entropy + dist.entropy()
        # and once more by hand, independent of torch.distributions
        p = torch.softmax(logits, -1)
        manual = -(p * torch.log(p)).sum(-1)
        assert torch.allclose(dist.entropy(), manual, atol=1e-6)
        x = ctrl.embed[kind](choices[:, t])
    return log_prob, entropy


def test_one_head_and_one_embedding_per_kind():
    ctrl = make()
    assert ctrl.kinds == ("op", "width")
    assert ctrl.n_options == (4, 3)
    assert ctrl.steps == (0, 1, 0, 1, 0)
    assert [h.out_features for h in ctrl.heads] == [4, 3]
    assert [e.num_embeddings for e in ctrl.embed] == [4, 3]


def test_a_kind_must_have_one_number_of_options():
    bad = DECISIONS + (Decision("l3_op", "op", ("a", "b")),)
    with pytest.raises(SpaceError, match="kind 'op'"):
        Controller(bad, 8)


def test_returns_the_same_types_from_every_method():
    ctrl = make()
    g = torch.Generator().manual_seed(1)
    outs = [ctrl.sample(3, generator=g), ctrl.score(torch.zeros(3, 5, dtype=torch.long)), ctrl.greedy()]
    for (decisions, log_prob, entropy), n in zip(outs, (3, 3, 1)):
        assert decisions.dtype == torch.long and decisions.shape == (n, 5)
        assert log_prob.shape == (n,) and entropy.shape == (n,)
        assert log_prob.dtype == entropy.dtype == torch.float32


def test_log_probs_and_entropies_match_categorical():
    ctrl = make(seed=3)
    decisions, log_prob, entropy = ctrl.sample(16, generator=torch.Generator().manual_seed(0))
    ref_lp, ref_ent = reference(ctrl, decisions)
    assert torch.allclose(log_prob, ref_lp, atol=1e-5)
    assert torch.allclose(entropy, ref_ent, atol=1e-5)
    # teacher forcing scores the sampled decisions exactly as sampling did
    _, lp2, ent2 = ctrl.score(decisions)
    assert torch.allclose(lp2, log_prob) and torch.allclose(ent2, entropy)
    assert (log_prob < 0).all() and (entropy > 0).all()


def test_gradients_flow_to_every_part():
    ctrl = make()
    _, log_prob, entropy = ctrl.score(torch.tensor([[0, 1, 2, 0, 3], [3, 2, 1, 2, 0]]))
    (log_prob.sum() + entropy.sum()).backward()
    for name, p in ctrl.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_logits_are_tempered_and_clipped():
    ctrl = make(temperature=5.0, tanh_constant=2.5)
    h = torch.randn(4, 32, generator=torch.Generator().manual_seed(0)) * 100
    logits = ctrl.logits(h, 0)
    assert logits.abs().max() <= 2.5
    assert torch.equal(ctrl.shape_logits(h), 2.5 * torch.tanh(h / 5.0))
    expected = 2.5 * torch.tanh(ctrl.heads[0](h) / 5.0)
    assert torch.allclose(logits, expected)


def test_sampling_follows_the_probabilities():
    ctrl = make(seed=5)
    decisions, _, _ = ctrl.sample(4000, generator=torch.Generator().manual_seed(0))
    probs = ctrl.step_probs(decisions[:1])[0][0]  # first step does not depend on history
    freq = torch.bincount(decisions[:, 0], minlength=4).float() / 4000
    assert torch.allclose(freq, probs.detach(), atol=0.03)


def test_same_generator_seed_same_samples_and_no_global_rng_use():
    before = torch.get_rng_state()
    a = make(seed=7).sample(5, generator=torch.Generator().manual_seed(2))[0]
    b = make(seed=7).sample(5, generator=torch.Generator().manual_seed(2))[0]
    assert torch.equal(a, b)
    assert torch.equal(before, torch.get_rng_state())
    c = make(seed=8).start
    assert not torch.equal(make(seed=7).start, c)


def test_greedy_takes_the_most_likely_option_at_every_step():
    ctrl = make(seed=4)
    decisions, _, _ = ctrl.greedy()
    for t, p in enumerate(ctrl.step_probs(decisions)):
        assert decisions[0, t] == p[0].argmax()


# -- reinforce_loss ------------------------------------------------------------------


def test_loss_value_and_scale():
    lp = torch.tensor([-1.0, -2.0, -3.0])
    r = torch.tensor([1.0, 0.5, 0.0])
    ent = torch.tensor([2.0, 1.0, 3.0])
    loss = reinforce_loss(lp, r, 0.5, ent, 0.1)
    expected = -((0.5 * -1.0) + (0.0 * -2.0) + (-0.5 * -3.0)) / 3 - 0.1 * 2.0
    assert loss.item() == pytest.approx(expected)


def test_loss_gradient_is_minus_mean_advantage():
    lp = torch.tensor([-1.0, -2.0, -3.0, -0.5], requires_grad=True)
    ent = torch.tensor([1.0, 1.0, 1.0, 1.0], requires_grad=True)
    r = torch.tensor([0.9, 0.1, 0.5, 0.7], requires_grad=True)
    b = torch.tensor(0.5, requires_grad=True)
    reinforce_loss(lp, r, b, ent, 0.01).backward()
    assert torch.allclose(lp.grad, -(r.detach() - 0.5) / 4)
    assert torch.allclose(ent.grad, torch.full((4,), -0.01 / 4))
    # the advantage is a constant: nothing flows into rewards or baseline
    assert r.grad is None and b.grad is None


def test_descending_the_loss_raises_the_probability_of_good_actions():
    logits = torch.zeros(3, requires_grad=True)
    actions = torch.tensor([0, 1, 2])
    rewards = torch.tensor([1.0, 0.0, 0.0])  # only action 0 beats the baseline
    opt = torch.optim.SGD([logits], lr=0.5)
    for _ in range(5):
        dist = Categorical(logits=logits)
        loss = reinforce_loss(dist.log_prob(actions), rewards, rewards.mean(), dist.entropy().expand(3), 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    p = torch.softmax(logits.detach(), -1)
    assert p[0] > 0.5 and p[1] < 1 / 3 and p[2] < 1 / 3


def test_entropy_bonus_increases_entropy():
    logits = torch.tensor([2.0, 0.0, -1.0], requires_grad=True)
    start = Categorical(logits=logits.detach()).entropy()
    opt = torch.optim.SGD([logits], lr=0.5)
    for _ in range(5):
        dist = Categorical(logits=logits)
        a = torch.tensor([0])
        # zero advantage: only the entropy term acts
        loss = reinforce_loss(dist.log_prob(a), torch.ones(1), 1.0, dist.entropy().reshape(1), 1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert Categorical(logits=logits.detach()).entropy() > start


# -- the options ------------------------------------------------------------------------

OPTIONS = [
    {},
    {"heads": "decision"},
    {"position_input": True},
    {"num_layers": 2},
    {"temperature": None},
    {"tanh_constant": None},
    {"temperature": None, "tanh_constant": None},
    {"init_range": 0.08},
]


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_every_option_samples_and_scores_consistently(options):
    ctrl = make(seed=2, **options)
    decisions, log_prob, entropy = ctrl.sample(8, generator=torch.Generator().manual_seed(0))
    _, lp2, ent2 = ctrl.score(decisions)
    assert torch.allclose(lp2, log_prob, atol=1e-6) and torch.allclose(ent2, entropy, atol=1e-6)
    (lp2.sum() + ent2.sum()).backward()
    for name, p in ctrl.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_layers_heads_and_position_inputs_are_built_as_asked():
    ctrl = make(num_layers=2, heads="decision", position_input=True)
    assert len(ctrl.lstm) == 2
    assert [h.out_features for h in ctrl.heads] == [len(d.options) for d in DECISIONS]
    assert ctrl.position.shape == (len(DECISIONS), 32)
    assert [e.num_embeddings for e in ctrl.embed] == [4, 3]  # embeddings stay per kind
    assert make().position is None


def test_init_range_bounds_every_parameter():
    ctrl = make(init_range=0.08)
    for p in ctrl.parameters():
        assert p.abs().max() <= 0.08
    assert max(p.abs().max() for p in ctrl.parameters()) > 0.07


def test_temperature_and_tanh_switch_off():
    h = torch.randn(4, 32, generator=torch.Generator().manual_seed(0)) * 10
    assert torch.equal(make(temperature=None, tanh_constant=None).shape_logits(h), h)
    assert torch.allclose(make(temperature=None).shape_logits(h), 2.5 * torch.tanh(h))
    assert torch.allclose(make(tanh_constant=None).shape_logits(h), h / 5.0)


def reference_stacked(ctrl: Controller, choices: torch.Tensor):
    """Two stacked LSTM cells, per-decision heads and position inputs, by hand."""
    n = len(choices)
    x = ctrl.start.expand(n, -1)
    states = [(torch.zeros(n, 32), torch.zeros(n, 32)) for _ in ctrl.lstm]
    log_prob = torch.zeros(n)
    for t, d in enumerate(DECISIONS):
        inp = x + ctrl.position[t]
        for i, cell in enumerate(ctrl.lstm):
            states[i] = cell(inp, states[i])
            inp = states[i][0]
        logits = ctrl.heads[t](inp)  # no temperature, no tanh
        log_prob = log_prob + torch.log_softmax(logits, -1).gather(1, choices[:, t:t + 1]).squeeze(1)
        x = ctrl.embed[ctrl.kinds.index(d.kind)](choices[:, t])
    return log_prob


def test_stacked_lstm_per_decision_heads_and_positions_match_a_hand_unroll():
    ctrl = make(seed=6, num_layers=2, heads="decision", position_input=True, temperature=None,
                tanh_constant=None)
    decisions, log_prob, _ = ctrl.sample(6, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(log_prob, reference_stacked(ctrl, decisions), atol=1e-5)


def test_unknown_heads_or_anchors_are_refused():
    with pytest.raises(ValueError, match="heads"):
        make(heads="layer")
    with pytest.raises(ValueError, match="anchors"):
        make(anchors="sigmoid")


# -- anchor attention (Zoph & Le 2017, Sec. 3.3) -----------------------------------------

def zoph_decisions(layers: int = 5) -> tuple[Decision, ...]:
    """The decisions of a zoph2017-style space: per layer a filter size and a width, then
    one anchor per layer at least two before."""
    out = []
    for j in range(1, layers + 1):
        out.append(Decision(f"layer{j}.filter", "filter", (1, 3, 5), unit=j))
        out.append(Decision(f"layer{j}.filters", "filters", (24, 36), unit=j))
        out += [Decision(f"layer{j}.anchor{i}", "anchor", (False, True), unit=j, source=i)
                for i in range(1, j - 1)]
    return tuple(out)


def reference_attention(ctrl: Controller, decisions, choices: torch.Tensor):
    """Log-probs by hand: an anchor point after each layer's decisions, P(i feeds j) =
    sigmoid(v^T tanh(W_prev h_i + W_curr h_j)), next input the mean of the chosen h_i."""
    n = len(choices)
    att = ctrl.attention
    x = ctrl.start.expand(n, -1)
    h = c = torch.zeros(n, ctrl.hidden_size)
    points = {}
    log_prob = torch.zeros(n)
    layers = max(d.unit for d in decisions)
    for j in range(1, layers + 1):
        for t, d in enumerate(decisions):
            if d.unit == j and d.kind != "anchor":
                h, c = ctrl.lstm[0](x, (h, c))
                logits = ctrl.heads[ctrl.kinds.index(d.kind)](h)
                log_prob = log_prob + torch.log_softmax(logits, -1).gather(1, choices[:, t:t + 1]).squeeze(1)
                x = ctrl.embed[ctrl.kinds.index(d.kind)](choices[:, t])
        h, c = ctrl.lstm[0](x, (h, c))  # the anchor point of layer j
        points[j] = h
        anchors = [(t, d.source) for t, d in enumerate(decisions) if d.unit == j and d.kind == "anchor"]
        if not anchors:
            x = ctrl.start.expand(n, -1)
            continue
        total = torch.zeros(n, ctrl.hidden_size)
        count = torch.zeros(n, 1)
        for t, i in anchors:
            p = torch.sigmoid(att["v"](torch.tanh(att["w_prev"](points[i]) + att["w_curr"](h)))).squeeze(1)
            taken = choices[:, t].float()
            log_prob = log_prob + taken * torch.log(p) + (1 - taken) * torch.log(1 - p)
            total = total + taken.unsqueeze(1) * points[i]
            count = count + taken.unsqueeze(1)
        x = total / (1 + count)
    return log_prob


def test_anchor_attention_matches_zoph_and_le_by_hand():
    decisions = zoph_decisions()
    ctrl = Controller(decisions, 16, anchors="attention", temperature=None, tanh_constant=None,
                      init_range=0.5, generator=torch.Generator().manual_seed(0))
    assert ctrl.kinds == ("filter", "filters")  # anchors have no softmax head
    sample, log_prob, _ = ctrl.sample(64, generator=torch.Generator().manual_seed(3))
    anchor_cols = [t for t, d in enumerate(decisions) if d.kind == "anchor"]
    assert 0 < sample[:, anchor_cols].float().mean() < 1
    assert torch.allclose(log_prob, reference_attention(ctrl, decisions, sample), atol=1e-5)
    _, lp2, _ = ctrl.score(sample)
    assert torch.allclose(lp2, log_prob, atol=1e-6)
    (lp2.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ctrl.attention.parameters())


def test_anchor_attention_leaves_a_space_without_anchors_alone():
    a = make(seed=1, anchors="attention")
    assert a.attention is None and len(a.plan) == len(DECISIONS)


def test_anchor_heads_treat_anchors_as_decisions():
    ctrl = Controller(zoph_decisions(), 16, generator=torch.Generator().manual_seed(0))
    assert ctrl.kinds == ("filter", "filters", "anchor") and ctrl.attention is None


def test_anchor_attention_needs_units():
    decisions = zoph_decisions()
    broken = tuple(Decision(d.name, d.kind, d.options, unit=None, source=d.source) for d in decisions)
    with pytest.raises(SpaceError, match="unit"):
        Controller(broken, 8, anchors="attention")
