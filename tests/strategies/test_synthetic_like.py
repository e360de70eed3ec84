"""``SyntheticSpace.like``: a synthetic landscape with the decision structure of a real space
(what bench/search_scale.py searches)."""
import numpy as np
import pytest

from nas.space import SearchSpace
from nas.testing import SyntheticSpace

SHIPPED = {"digits": 10, "cifar10": 19, "zoph2017": 136}


@pytest.fixture(scope="module", params=sorted(SHIPPED))
def real(request):
    return SearchSpace.load(request.param)


def test_same_decision_structure(real):
    syn = SyntheticSpace.like(real, seed=0, interaction=0.0, margin=1.0)
    assert len(syn.decisions) == len(real.decisions) == SHIPPED[real.name]
    for d, r in zip(syn.decisions, real.decisions):
        assert (d.name, d.kind, d.unit, d.source) == (r.name, r.kind, r.unit, r.source)
        assert d.options == tuple(range(len(r.options)))
    assert syn.n_options == tuple(len(r.options) for r in real.decisions)
    # Decisions of one kind keep one arity (the controller shares a head per kind).
    arity = {}
    for d in syn.decisions:
        assert arity.setdefault(d.kind, len(d.options)) == len(d.options)


def test_zoph2017_anchors():
    syn = SyntheticSpace.like(SearchSpace.load("zoph2017"), seed=0)
    anchors = [d for d in syn.decisions if d.kind == "anchor"]
    assert len(anchors) == 91 and all(len(d.options) == 2 and d.source < d.unit for d in anchors)
    assert sum(len(d.options) == 4 for d in syn.decisions) == 45


@pytest.mark.parametrize("seed", [0, 3])
def test_separable_reward_is_the_fraction_of_matching_decisions(real, seed):
    syn = SyntheticSpace.like(real, seed=seed, interaction=0.0, margin=1.0)
    target = np.array(syn.optimum)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        choices = [int(rng.integers(k)) for k in syn.n_options]
        expected = float(np.mean(np.array(choices) == target))
        assert syn.reward(choices) == pytest.approx(expected, abs=1e-12)
    wrong = [(o + 1) % k for o, k in zip(syn.optimum, syn.n_options)]
    assert syn.reward(wrong) == 0.0


@pytest.mark.parametrize("interaction", [0.0, 1.0])
def test_optimum_scores_one(real, interaction):
    syn = SyntheticSpace.like(real, seed=1, interaction=interaction, margin=1.0)
    assert syn.is_valid(syn.optimum)
    assert syn.reward(syn.optimum) == 1.0
    rng = np.random.default_rng(1)
    for _ in range(20):
        choices = [int(rng.integers(k)) for k in syn.n_options]
        if tuple(choices) != syn.optimum:
            assert 0.0 <= syn.reward(choices) < 1.0


def test_seed_fixes_the_landscape(real):
    a, b = (SyntheticSpace.like(real, seed=2, interaction=1.0, margin=1.0) for _ in range(2))
    c = SyntheticSpace.like(real, seed=5, interaction=1.0, margin=1.0)
    assert a.optimum == b.optimum != c.optimum
    choices = [0] * len(a.n_options)
    assert a.reward(choices) == b.reward(choices)
