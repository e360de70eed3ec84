"""A synthetic search space with a known optimum, for testing and benchmarking strategies.

``SyntheticSpace(n_decisions, n_options, seed)`` implements the ``nas.space.Space``
protocol; its reward is a separable score plus a small interaction between neighbouring
decisions, normalized so that the unique optimum scores exactly 1.0. ``invalid_fraction``
marks a region as invalid, which strategies must never hand out. How the reward is built
and why the optimum is unique: docs/strategies.md.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..errors import SpaceError
from ..space import Decision


class SyntheticSpace:
    """Chain-structured synthetic landscape; see the module doc.

    Args:
        n_decisions: number of decisions N.
        n_options: options per decision (an int, or one int per decision; decisions
            with the same number of options share a kind, ``"op<k>"``).
        seed: fixes the optimum, the landscape and the invalid region.
        interaction: strength of the neighbour interaction relative to the unary
            terms (at most 1.0 each).
        invalid_fraction: approximate fraction of architectures that are invalid.
    """

    def __init__(
        self,
        n_decisions: int = 6,
        n_options: int | Sequence[int] = 4,
        seed: int = 0,
        *,
        interaction: float = 0.25,
        margin: float = 0.1,
        invalid_fraction: float = 0.0,
    ):
        if n_decisions < 1:
            raise SpaceError(f"n_decisions must be >= 1, got {n_decisions}")
        sizes = (n_options,) * n_decisions if isinstance(n_options, int) else tuple(n_options)
        if len(sizes) != n_decisions or any(k < 1 for k in sizes):
            raise SpaceError(f"n_options must be >= 1 for each of {n_decisions} decisions, got {n_options!r}")
        if not 0 <= interaction:
            raise SpaceError(f"interaction must be >= 0, got {interaction}")
        if not 0 < margin <= 1:
            raise SpaceError(f"margin must be in (0, 1], got {margin}")
        if not 0 <= invalid_fraction <= 1:
            raise SpaceError(f"invalid_fraction must be in [0, 1], got {invalid_fraction}")
        self.n_options = sizes
        self.seed = seed
        self.interaction = float(interaction)
        self.margin = float(margin)
        self.invalid_fraction = float(invalid_fraction)
        self.decisions = tuple(
            Decision(f"d{i}", f"op{k}", tuple(range(k))) for i, k in enumerate(sizes)
        )

        rng = np.random.default_rng(seed)
        self._optimum = tuple(int(rng.integers(k)) for k in sizes)
        self._unary = []
        for k, o in zip(sizes, self._optimum):
            u = rng.uniform(0.0, 1.0 - self.margin, k)
            u[o] = 1.0
            self._unary.append(u.tolist())
        self._pair = []
        for i in range(n_decisions - 1):
            p = rng.uniform(0.0, self.interaction, (sizes[i], sizes[i + 1]))
            p[self._optimum[i], self._optimum[i + 1]] = self.interaction
            self._pair.append(p.tolist())
        # Validity hash: frac(sum_i h[i][c_i]) is close to uniform over architectures.
        self._hash = [rng.uniform(0.0, 1.0, k).tolist() for k in sizes]

        self._max = self._score(self._optimum)
        self._min = self._score(self._argmin())

    @property
    def size(self) -> int:
        return math.prod(self.n_options)

    @property
    def optimum(self) -> tuple[int, ...]:
        """The unique best choice vector (reward exactly 1.0); always valid."""
        return self._optimum

    def decode(self, choices: Sequence[int]) -> str:
        return "syn(" + ",".join(str(c) for c in self._check(choices)) + ")"

    def is_valid(self, choices: Sequence[int]) -> bool:
        try:
            choices = self._check(choices)
        except SpaceError:
            return False
        if self.invalid_fraction == 0 or choices == self._optimum:
            return True
        h = sum(t[c] for t, c in zip(self._hash, choices))
        return h - math.floor(h) >= self.invalid_fraction

    def reward(self, choices: Sequence[int]) -> float:
        """Normalized score in [0, 1]; exactly 1.0 at ``optimum`` only."""
        s = self._score(self._check(choices))
        if self._max == self._min:  # a space of one architecture
            return 1.0
        return max(0.0, (s - self._min) / (self._max - self._min))

    def _score(self, c: tuple[int, ...]) -> float:
        s = 0.0
        for i, u in enumerate(self._unary):
            s += u[c[i]]
        for i, p in enumerate(self._pair):
            s += p[c[i]][c[i + 1]]
        return s

    def _argmin(self) -> tuple[int, ...]:
        # Min-sum dynamic programming along the chain (Viterbi with min for max).
        n = len(self.n_options)
        cost = list(self._unary[0])
        back = []
        for i in range(1, n):
            prev = [
                min(range(self.n_options[i - 1]), key=lambda a: cost[a] + self._pair[i - 1][a][b])
                for b in range(self.n_options[i])
            ]
            cost = [cost[prev[b]] + self._pair[i - 1][prev[b]][b] + self._unary[i][b]
                    for b in range(self.n_options[i])]
            back.append(prev)
        c = [min(range(self.n_options[-1]), key=lambda b: cost[b])]
        for prev in reversed(back):
            c.append(prev[c[-1]])
        return tuple(reversed(c))

    def _check(self, choices: Sequence[int]) -> tuple[int, ...]:
        try:
            choices = tuple(int(c) for c in choices)
        except (TypeError, ValueError):
            raise SpaceError(f"choices must be a sequence of ints, got {choices!r}") from None
        if len(choices) != len(self.n_options):
            raise SpaceError(f"expected {len(self.n_options)} choices, got {len(choices)}")
        for i, (c, k) in enumerate(zip(choices, self.n_options)):
            if not 0 <= c < k:
                raise SpaceError(f"choice {c} for decision d{i} is out of range [0, {k})")
        return choices

    @classmethod
    def like(cls, space, seed: int = 0, **kwargs) -> "SyntheticSpace":
        """A synthetic landscape over the decision structure of ``space``: the same number,
        arity, names, kinds and anchors (unit, source) of decisions, so a strategy meets
        the shape of a real space without training anything.

        >>> SyntheticSpace.like(SearchSpace.load("zoph2017"), seed=0, interaction=0)  # doctest: +SKIP
        """
        sizes = [len(d.options) for d in space.decisions]
        syn = cls(len(sizes), sizes, seed, **kwargs)
        syn.decisions = tuple(
            Decision(d.name, d.kind, tuple(range(k)), unit=d.unit, source=d.source)
            for d, k in zip(space.decisions, sizes)
        )
        return syn

    def __repr__(self) -> str:
        return (f"SyntheticSpace(n_decisions={len(self.n_options)}, n_options={self.n_options}, "
                f"seed={self.seed}, size={self.size})")
