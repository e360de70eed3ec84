"""Regularized (aging) evolution: Real, Aggarwal, Huang & Le 2019, "Regularized Evolution for
Image Classifier Architecture Search" (AAAI), Algorithm 1: tournament selection from the
population, a one-decision mutation, and the oldest member leaving as each child joins.
Asynchrony, failures, mutation and the scaled-down defaults: docs/strategies.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch

from ..errors import ConfigError
from .base import MAX_TRIES, STRATEGIES, Proposal, Strategy


@dataclass(frozen=True)
class EvolutionOptions:
    population_size: int = 20  # P; paper: 100 (scaled down for small budgets, see module doc)
    sample_size: int = 5  # S; paper: 25 (S/P = 1/4 kept)

    def __post_init__(self):
        if self.population_size < 1:
            raise ConfigError(f"population_size must be >= 1, got {self.population_size}")
        if not 1 <= self.sample_size <= self.population_size:
            raise ConfigError(
                f"sample_size must be in [1, population_size={self.population_size}], "
                f"got {self.sample_size}"
            )


@STRATEGIES.register("evolution")
class RegularizedEvolution(Strategy):
    """Aging evolution (Real et al. 2019). Options: ``population_size=20``, ``sample_size=5``.

    Example: ``nas.strategies.get("evolution", space, seed=0, population_size=50, sample_size=10)``.
    """

    name = "evolution"
    Options = EvolutionOptions

    def _setup(self) -> None:
        # Oldest first. Entries: {"id", "choices", "reward"}.
        self._population: list[dict] = []

    @property
    def population(self) -> list[dict]:
        """The current population, oldest first: dicts with id, choices, reward."""
        return [dict(m) for m in self._population]

    def _propose(self) -> tuple[int, ...]:
        if len(self._population) < self.options.population_size:
            return self._sample_valid(self._uniform_choices)
        return self._mutate(self._tournament()["choices"])

    def _tournament(self) -> dict:
        picks = torch.randint(
            len(self._population), (self.options.sample_size,), generator=self._rng
        ).tolist()
        winner = picks[0]
        for i in picks[1:]:
            if self._population[i]["reward"] > self._population[winner]["reward"]:
                winner = i
        return self._population[winner]

    def _mutate(self, parent: tuple[int, ...]) -> tuple[int, ...]:
        # All (decision, other option) pairs, visited in a random order: uniform over
        # single-decision mutations, and bounded even when most of them are invalid.
        moves = [(i, o) for i, n in enumerate(self._n_options) for o in range(n) if o != parent[i]]
        order = torch.randperm(len(moves), generator=self._rng).tolist()
        for k in order[:MAX_TRIES]:
            i, o = moves[k]
            child = parent[:i] + (o,) + parent[i + 1:]
            if self.space.is_valid(child):
                return child
        return self._sample_valid(self._uniform_choices)

    def _observe(self, proposal: Proposal, reward: float, failed: bool, *, metrics: Mapping[str, float]) -> None:
        if failed:
            return
        self._population.append({"id": proposal.id, "choices": proposal.choices, "reward": reward})
        if len(self._population) > self.options.population_size:
            self._population.pop(0)  # aging: the oldest dies, not the worst

    def _extra_state(self) -> dict:
        return {"population": [dict(m, choices=list(m["choices"])) for m in self._population]}

    def _load_extra_state(self, state: dict) -> None:
        self._population = [
            {"id": int(m["id"]), "choices": tuple(int(c) for c in m["choices"]),
             "reward": float(m["reward"])}
            for m in state["population"]
        ]
