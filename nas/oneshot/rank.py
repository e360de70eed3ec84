"""Rank correlation of two score lists (a proxy against trained accuracy): Kendall's tau-b and
Spearman's rho, pure numpy, ties handled. Both are nan where they are undefined: fewer than
two values, a constant list, or a NaN anywhere. Infinite values are ordinary, extreme values
(a proxy's ``-inf`` ranks last), since both statistics only look at the order.

>>> kendall_tau([1, 2, 3, 4], [1, 3, 2, 4])
0.6666666666666666
"""
from __future__ import annotations

import math

import numpy as np

# Kendall's pairwise comparison is O(n^2); it is done this many rows at a time so that a long
# run (thousands of architectures) needs a few MB, not n^2 floats at once.
_ROWS = 512


def average_ranks(values) -> np.ndarray:
    """1-based ranks, tied values getting the mean of the ranks they span (the "fractional"
    ranking Spearman's rho is defined on; Kendall 1938, Spearman 1904).

    >>> average_ranks([10, 30, 20, 30]).tolist()
    [1.0, 3.5, 2.0, 3.5]
    """
    x = _vector(values)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    new = np.r_[True, xs[1:] != xs[:-1]]  # -inf == -inf: infinities of one sign tie
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], len(x)]
    mean_rank = (starts + ends + 1) / 2.0  # mean of the 1-based positions starts+1 .. ends
    ranks = np.empty(len(x))
    ranks[order] = mean_rank[np.cumsum(new) - 1]
    return ranks


def kendall_tau(a, b) -> float:
    """Kendall's tau-b of two equally long lists: (concordant - discordant pairs) over the
    geometric mean of the pairs untied in ``a`` and untied in ``b`` (Kendall 1945), so ties
    on either side count as neither and a perfect agreement with ties is still 1.

    Written as the cosine between the two matrices of pairwise signs, sign(a_i - a_j) and
    sign(b_i - b_j): the numerator is twice (concordant - discordant) and each norm squared
    twice the untied pairs, so the factors of two cancel.

    >>> kendall_tau([1, 2, 2, 3], [1, 2, 3, 3])
    0.8
    """
    ra, rb = _pair(a, b)
    if ra is None:
        return math.nan
    dot = norm_a = norm_b = 0
    for i in range(0, len(ra), _ROWS):
        sa = np.sign(ra[i:i + _ROWS, None] - ra[None, :])  # ranks are finite: no inf - inf
        sb = np.sign(rb[i:i + _ROWS, None] - rb[None, :])
        dot += float((sa * sb).sum())
        norm_a += float((sa * sa).sum())
        norm_b += float((sb * sb).sum())
    if norm_a == 0 or norm_b == 0:  # a constant list: no untied pair to compare
        return math.nan
    return _clip(dot / math.sqrt(norm_a * norm_b))


def spearman(a, b) -> float:
    """Spearman's rho of two equally long lists: Pearson's correlation of their average
    ranks (:func:`average_ranks`), the definition that stays exact with ties (the shortcut
    1 - 6 sum d^2 / (n^3 - n) holds only without them).

    >>> spearman([1, 2, 3, 4], [10, 20, 40, 30])
    0.8
    """
    ra, rb = _pair(a, b)
    if ra is None:
        return math.nan
    da, db = ra - ra.mean(), rb - rb.mean()
    denominator = math.sqrt(float(da @ da) * float(db @ db))
    if denominator == 0:  # a constant list
        return math.nan
    return _clip(float(da @ db) / denominator)


def _vector(values) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"expected a list of numbers, got an array of shape {x.shape}")
    return x


def _pair(a, b) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The average ranks of both lists, or (None, None) where the statistic is undefined."""
    x, y = _vector(a), _vector(b)
    if len(x) != len(y):
        raise ValueError(f"the two lists differ in length ({len(x)} and {len(y)})")
    if len(x) < 2 or np.isnan(x).any() or np.isnan(y).any():
        return None, None
    return average_ranks(x), average_ranks(y)


def _clip(r: float) -> float:
    # Rounding can push a perfect agreement a hair past 1; a correlation never is.
    return min(1.0, max(-1.0, r))
