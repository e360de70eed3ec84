"""The leaderboard of a run: one row per distinct architecture, best reward first; a pure
function of trial records."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

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
