"""Pareto dominance and hypervolume: pure functions of points, any objective maximized or
minimized (``senses`` like ``("max", "min")``).

A point dominates another when it is at least as good in every objective and better in
one (Deb et al. 2002, NSGA-II, Sec. II). The hypervolume of a set is the measure of the
region it dominates, bounded by a reference point (Zitzler & Thiele 1998; for two
objectives, the area under the front's staircase).
"""
from __future__ import annotations

from typing import Sequence

from .._util import finite_number

SENSES = ("max", "min")


def _as_minimized(points: Sequence[Sequence[float]], senses: Sequence[str]) -> dict[int, tuple[float, ...]]:
    """Index -> the point with maximized objectives negated, for points whose every
    coordinate is a finite number; others are left out."""
    bad = [s for s in senses if s not in SENSES]
    if bad or not senses:
        raise ValueError(f"senses must be a non-empty sequence of 'max'/'min', got {tuple(senses)!r}")
    signs = [-1.0 if s == "max" else 1.0 for s in senses]
    out = {}
    for i, p in enumerate(points):
        if len(p) != len(senses):
            raise ValueError(f"point {i} has {len(p)} coordinates for {len(senses)} objectives: {tuple(p)!r}")
        if all(finite_number(v) for v in p):
            out[i] = tuple(s * v for s, v in zip(signs, p))
    return out


def non_dominated(points: Sequence[Sequence[float]], senses: Sequence[str]) -> list[int]:
    """Indices of the points no other point dominates, for any number of objectives.

    Points with a non-finite (or non-numeric) coordinate are ignored. Identical points do
    not dominate each other, so every copy of a front point is on the front (as optuna's
    ``get_pareto_front_trials``). The indices come in a fixed order: by the objectives in
    turn, each from best to worst, then by index; for ``senses=("min", "max")`` that is by
    increasing cost, copies earliest first.

    Sorting first means only the front found so far needs checking: a point can only be
    dominated by one that sorts before it (Kung et al. 1975), O(n log n + n * |front|).

    >>> non_dominated([(10, 0.9), (5, 0.8), (20, 0.85), (5, 0.7)], ("min", "max"))
    [1, 0]
    """
    pts = _as_minimized(points, senses)
    front: list[int] = []
    for i in sorted(pts, key=lambda i: (pts[i], i)):
        p = pts[i]
        if not any(all(a <= b for a, b in zip(pts[j], p)) and pts[j] != p for j in front):
            front.append(i)
    return front


def hypervolume_2d(points: Sequence[Sequence[float]], reference: Sequence[float], senses: Sequence[str]) -> float:
    """The area the points dominate within the reference point, exactly, for two objectives.

    Only the part of the plane better than ``reference`` in both objectives counts: a point
    not strictly better than it in both adds nothing; non-finite points are ignored. The
    area is in the objectives' own units (their product); normalise them first to compare.

    >>> hypervolume_2d([(0.5, 2.0), (1.0, 6.0)], reference=(0.0, 10.0), senses=("max", "min"))
    6.0
    """
    if len(senses) != 2 or len(reference) != 2:
        raise ValueError(f"hypervolume_2d takes two objectives, got senses {tuple(senses)!r} "
                         f"and reference {tuple(reference)!r}")
    ref = _as_minimized([reference], senses)
    if not ref:
        raise ValueError(f"the reference point must be finite, got {tuple(reference)!r}")
    rx, ry = ref[0]
    pts = _as_minimized(points, senses)
    inside = [p for p in pts.values() if p[0] < rx and p[1] < ry]
    # The front by increasing first objective (decreasing second): a staircase of rectangles,
    # each from its point's x to the next point's (the reference's for the last).
    front = [inside[i] for i in non_dominated(inside, ("min", "min"))]
    area = 0.0
    for k, (x, y) in enumerate(front):
        x_next = front[k + 1][0] if k + 1 < len(front) else rx
        area += (x_next - x) * (ry - y)
    return area
