"""The leaderboard of a run (one row per distinct architecture, best reward first) and the
Pareto front of accuracy against cost; pure functions of trial records."""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

from .._util import finite_number
from ..errors import NasError
from ..lang import parse


def canonical(arch: str) -> str:
    """The canonical form of an architecture string (unparsable strings stay as they are)."""

    try:
        return str(parse(arch))
    except NasError:
        return arch


def leaderboard(trials: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Ok trials trained from scratch, one per distinct architecture (its best-reward trial),
    best reward first.

    Ties go to the earlier trial. Each row is the trial record plus ``rank`` (1-based).
    Proposals a shared or proxy search scored without training (``evaluation`` other than
    "full") are left out: their rewards are not accuracies of trained networks (a proxy's is
    not even on the same scale), and the search retrains its best ones, which rank here.
    """
    best: dict[str, dict[str, Any]] = {}
    for t in trials:
        if t.get("status") != "ok" or not finite_number(t.get("reward")) or t.get("evaluation", "full") != "full":
            continue
        key = canonical(t["arch"])
        old = best.get(key)
        if old is None or (t["reward"], -t["trial"]) > (old["reward"], -old["trial"]):
            best[key] = dict(t)
    rows = sorted(best.values(), key=lambda r: (-r["reward"], r["trial"]))
    return [dict(r, rank=i) for i, r in enumerate(rows, start=1)]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated ``(cost, accuracy)`` points, by increasing cost.

    Lower cost and higher accuracy are better; a point is dominated when another is at least
    as good in both and better in one. Identical points do not dominate each other, so all
    copies of a front point are on the front. Points with a non-finite coordinate are ignored.

    >>> pareto_front([(10, 0.9), (5, 0.8), (20, 0.85), (5, 0.7)])
    [1, 0]
    """
    order = sorted((i for i, (c, a) in enumerate(points) if finite_number(c) and finite_number(a)),
                   key=lambda i: (points[i][0], -points[i][1], i))
    front: list[int] = []
    best = -math.inf
    for i in order:
        c, a = points[i]
        if a > best:
            front.append(i)
            best = a
        elif front and (c, a) == tuple(points[front[-1]]):
            front.append(i)
    return front
