"""Kendall's tau-b and Spearman's rho against hand-computed values, ties included; nan where
undefined; scipy (when installed) agrees on random lists with many ties."""
import doctest
import math

import numpy as np
import pytest

from nas.oneshot import rank
from nas.oneshot.rank import average_ranks, kendall_tau, spearman


def test_average_ranks_give_ties_the_mean_of_their_ranks():
    assert average_ranks([3.0, 1.0, 2.0]).tolist() == [3.0, 1.0, 2.0]
    assert average_ranks([5, 5, 5]).tolist() == [2.0, 2.0, 2.0]
    assert average_ranks([2, 1, 2, 1, 3]).tolist() == [3.5, 1.5, 3.5, 1.5, 5.0]
    assert average_ranks([-math.inf, 0.0, -math.inf, math.inf]).tolist() == [1.5, 3.0, 1.5, 4.0]


@pytest.mark.parametrize("a, b, tau", [
    ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], 1.0),
    ([1, 2, 3, 4, 5], [5, 4, 3, 2, 1], -1.0),
    # one swapped pair of 6: C = 5, D = 1 -> (5 - 1) / 6
    ([1, 2, 3, 4], [1, 3, 2, 4], 4 / 6),
    # ties: a = 1,2,2,3 and b = 1,2,3,3. Of the 6 pairs, (2,3) is tied in a, (3,4) tied in b,
    # the other 4 concordant: C = 4, D = 0, untied in a 5, in b 5 -> 4 / sqrt(5 * 5) = 0.8
    ([1, 2, 2, 3], [1, 2, 3, 3], 0.8),
    # a = 1,2,3,4,5, b = 3,1,2,5,4: D pairs (1,2),(1,3),(4,5) -> C = 7, D = 3 -> 4 / 10
    ([1, 2, 3, 4, 5], [3, 1, 2, 5, 4], 0.4),
    # ties on one side only: a = 1,1,2,2 b = 1,2,3,4: untied in a 4, in b 6, C = 4 -> 4 / sqrt(24)
    ([1, 1, 2, 2], [1, 2, 3, 4], 4 / math.sqrt(24)),
])
def test_kendall_tau_b_by_hand(a, b, tau):
    assert kendall_tau(a, b) == pytest.approx(tau, abs=1e-12)
    assert kendall_tau(b, a) == pytest.approx(tau, abs=1e-12)  # symmetric


@pytest.mark.parametrize("a, b, rho", [
    ([1, 2, 3, 4, 5], [2, 4, 6, 8, 10], 1.0),
    ([1, 2, 3, 4, 5], [5, 4, 3, 2, 1], -1.0),
    # no ties: 1 - 6 sum d^2 / (n^3 - n); d = (0, -1, 1, 0) -> 1 - 6 * 2 / 60 = 0.8
    ([1, 2, 3, 4], [10, 30, 20, 40], 0.8),
    # d = (-2, 1, 1, -1, 1) -> sum d^2 = 8 -> 1 - 48 / 120 = 0.6
    ([1, 2, 3, 4, 5], [3, 1, 2, 5, 4], 0.6),
    # ties: ranks a = 1, 2.5, 2.5, 4 and b = 1, 2, 3, 4; Pearson of the ranks:
    # centred a = -1.5, 0, 0, 1.5; centred b = -1.5, -.5, .5, 1.5 -> 4.5 / sqrt(4.5 * 5)
    ([1, 2, 2, 3], [1, 2, 3, 4], 4.5 / math.sqrt(4.5 * 5)),
])
def test_spearman_by_hand(a, b, rho):
    assert spearman(a, b) == pytest.approx(rho, abs=1e-12)
    assert spearman(b, a) == pytest.approx(rho, abs=1e-12)


def test_only_the_order_counts_and_infinities_rank_at_the_ends():
    acc = [0.9, 0.5, 0.7, 0.1]
    score = [3.0, -math.inf, 1.0, -math.inf]  # two networks a proxy could not measure: last, tied
    assert kendall_tau(acc, score) == pytest.approx(kendall_tau(acc, [3.0, -5.0, 1.0, -5.0]))
    assert spearman(acc, score) == pytest.approx(spearman(acc, [3.0, -5.0, 1.0, -5.0]))
    assert kendall_tau(acc, np.exp(score)) == kendall_tau(acc, score)  # monotone maps change nothing


@pytest.mark.parametrize("f", [kendall_tau, spearman])
@pytest.mark.parametrize("a, b", [
    ([], []),
    ([1.0], [2.0]),  # fewer than two values
    ([1, 1, 1], [1, 2, 3]),  # constant input
    ([1, 2, 3], [4, 4, 4]),
    ([1, math.nan, 3], [1, 2, 3]),  # NaN: undefined, not silently dropped
])
def test_undefined_is_nan(f, a, b):
    assert math.isnan(f(a, b))


@pytest.mark.parametrize("f", [kendall_tau, spearman])
def test_lists_of_different_lengths_are_refused(f):
    with pytest.raises(ValueError, match="differ in length"):
        f([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="list of numbers"):
        f([[1, 2], [3, 4]], [[1, 2], [3, 4]])


def test_long_lists_go_through_in_blocks():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 50, 1300)  # more rows than one block, with ties
    b = a + rng.integers(0, 20, 1300)
    n = len(a)
    sa, sb = np.sign(a[:, None] - a[None, :]), np.sign(b[:, None] - b[None, :])
    expected = (sa * sb).sum() / math.sqrt((sa * sa).sum() * (sb * sb).sum())
    assert kendall_tau(a, b) == pytest.approx(expected, abs=1e-12) and n > rank._ROWS


def test_agrees_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    for _ in range(100):
        n = int(rng.integers(2, 40))
        a, b = rng.integers(0, 6, n).astype(float), rng.normal(size=n).round(1)
        for ours, theirs in ((kendall_tau, stats.kendalltau), (spearman, stats.spearmanr)):
            with np.errstate(all="ignore"):
                expected = float(theirs(a, b)[0])
            got = ours(a, b)
            assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-12), (a, b)


def test_doctests():
    assert doctest.testmod(rank).failed == 0
