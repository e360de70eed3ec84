"""Random search: the baseline every NAS method must beat (Li & Talwalkar 2019, "Random
Search and Reproducibility for Neural Architecture Search"; Yu et al. 2020, "Evaluating
the Search Phase of Neural Architecture Search").

Each proposal draws one option per decision uniformly and independently, redrawn until
``space.is_valid`` (so it is uniform over the valid architectures). Draws are with
replacement, as in those baselines. Failed proposals are recorded in ``history`` and
otherwise ignored: there is nothing to learn.
"""
from __future__ import annotations

from .base import STRATEGIES, Strategy


@STRATEGIES.register("random")
class RandomSearch(Strategy):
    """Uniform over valid architectures. Takes no options.

    Example: ``nas.strategies.get("random", space, seed=0)``.
    """

    name = "random"

    def _propose(self) -> tuple[int, ...]:
        return self._sample_valid(self._uniform_choices)
