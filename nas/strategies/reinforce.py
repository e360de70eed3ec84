"""REINFORCE over an LSTM controller: Zoph & Le 2017 ("Neural Architecture Search with
Reinforcement Learning", Sec. 3.2) with the controller details of ENAS (Pham et al. 2018,
Secs. 2.1 and 3.2). Told proposals are batched into Adam steps on :func:`reinforce_loss`
against an exponential-moving-average baseline. Policy updates, the baseline, failures and
where each default comes from (with its calibration): docs/strategies.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._util import torch_threads
from ..errors import ConfigError, NasError
from .base import STRATEGIES, Proposal, Strategy
from .controller import Controller

FAILURE_MODES = ("reward", "skip")


def reinforce_loss(
    log_probs: torch.Tensor,
    rewards: torch.Tensor,
    baseline: float | torch.Tensor,
    entropies: torch.Tensor,
    entropy_weight: float,
) -> torch.Tensor:
    """REINFORCE with a baseline and an entropy bonus (Williams 1992; Zoph & Le 2017, Eq. 3).

    ``loss = -mean((r - b) * log_prob) - entropy_weight * mean(entropy)``

    Minimizing it is gradient *ascent* on the advantage-weighted log-likelihood: a
    sample with ``r > b`` becomes more likely, one with ``r < b`` less. The advantage
    is a constant (no gradient flows into rewards or baseline). ``log_probs`` and
    ``entropies`` are per architecture (summed over its decisions).

    Example::

        _, log_probs, entropies = controller.score(choices)
        loss = reinforce_loss(log_probs, rewards, baseline, entropies, 0.03)
        loss.backward()
    """
    advantage = (rewards - baseline).detach()
    return -(advantage * log_probs).mean() - entropy_weight * entropies.mean()


@dataclass(frozen=True)
class ReinforceOptions:
    batch_size: int = 5
    lr: float = 0.02
    hidden_size: int = 100
    temperature: float = 5.0
    tanh_constant: float = 2.5
    entropy_weight: float = 0.03
    baseline_decay: float = 0.95
    failure: str = "reward"

    def __post_init__(self):
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.hidden_size < 1:
            raise ConfigError(f"hidden_size must be >= 1, got {self.hidden_size}")
        for key in ("lr", "temperature", "tanh_constant"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"{key} must be > 0, got {getattr(self, key)}")
        if not self.entropy_weight >= 0:
            raise ConfigError(f"entropy_weight must be >= 0, got {self.entropy_weight}")
        if not 0 <= self.baseline_decay < 1:
            raise ConfigError(f"baseline_decay must be in [0, 1), got {self.baseline_decay}")
        if self.failure not in FAILURE_MODES:
            raise ConfigError(
                f"failure must be one of {', '.join(FAILURE_MODES)}, got {self.failure!r}"
            )


@STRATEGIES.register("reinforce")
class Reinforce(Strategy):
    """REINFORCE with an LSTM controller (Zoph & Le 2017; ENAS). See the module doc.

    Example: ``nas.strategies.get("reinforce", space, seed=0, batch_size=10, lr=0.005)``.

    ``updates`` lists one dict per policy update: step, ids, mean_reward, baseline
    (the one the batch was scored against), entropy (mean over the batch of the summed
    per-decision entropy, nats), loss, and ``probs``/``greedy``: the per-decision
    probability vectors along the controller's most likely architecture after the
    update, and that architecture's choices.
    """

    name = "reinforce"
    Options = ReinforceOptions

    def _setup(self) -> None:
        o = self.options
        self.controller = Controller(
            self.space.decisions, o.hidden_size, temperature=o.temperature,
            tanh_constant=o.tanh_constant, generator=self._rng,
        )
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=o.lr)
        self._baseline: float | None = None
        self._batch: list[dict] = []  # completed, not yet used: {"id", "choices", "reward"}
        self._updates: list[dict] = []

    @property
    def baseline(self) -> float | None:
        return self._baseline

    @property
    def updates(self) -> list[dict]:
        return [dict(u) for u in self._updates]

    def _propose(self) -> tuple[int, ...]:
        def draw() -> tuple[int, ...]:
            with torch.no_grad(), torch_threads(1):
                decisions, _, _ = self.controller.sample(1, generator=self._rng)
            return tuple(decisions[0].tolist())

        return self._sample_valid(draw)

    def _check_tell(self, reward: float, failed: bool) -> None:
        if failed and self.options.failure == "reward" and not math.isfinite(reward):
            raise NasError(
                f"with failure='reward' a failed proposal needs a finite failure reward, "
                f"got {reward}; or use failure='skip'"
            )

    def _observe(self, proposal: Proposal, reward: float, failed: bool) -> None:
        if failed and self.options.failure == "skip":
            return
        self._batch.append({"id": proposal.id, "choices": proposal.choices, "reward": reward})
        if len(self._batch) >= self.options.batch_size:
            with torch_threads(1):
                self._update()

    def _update(self) -> None:
        batch, self._batch = self._batch, []
        choices = torch.tensor([b["choices"] for b in batch], dtype=torch.long)
        values = [b["reward"] for b in batch]
        rewards = torch.tensor(values, dtype=torch.float32)
        mean_reward = sum(values) / len(values)
        if self._baseline is None:
            self._baseline = mean_reward  # first batch: centre on itself
        baseline = self._baseline
        # Teacher forcing under the current controller (see module doc on staleness).
        _, log_probs, entropies = self.controller.score(choices)
        loss = reinforce_loss(log_probs, rewards, baseline, entropies, self.options.entropy_weight)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        decay = self.options.baseline_decay
        for r in values:  # in completion order
            self._baseline = decay * self._baseline + (1 - decay) * r
        with torch.no_grad():
            greedy, _, _ = self.controller.greedy()
            probs = self.controller.step_probs(greedy)
        self._updates.append({
            "step": len(self._updates) + 1,
            "ids": [b["id"] for b in batch],
            "mean_reward": mean_reward,
            "baseline": baseline,
            "entropy": float(entropies.detach().mean()),
            "loss": float(loss.detach()),
            "probs": [p[0].tolist() for p in probs],
            "greedy": greedy[0].tolist(),
        })

    def _extra_state(self) -> dict:
        return {
            "controller": dict(self.controller.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "baseline": self._baseline,
            "batch": [dict(b, choices=list(b["choices"])) for b in self._batch],
            "updates": self._updates,
        }

    def _load_extra_state(self, state: dict) -> None:
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._baseline = None if state["baseline"] is None else float(state["baseline"])
        self._batch = [
            {"id": int(b["id"]), "choices": tuple(int(c) for c in b["choices"]),
             "reward": float(b["reward"])}
            for b in state["batch"]
        ]
        self._updates = state["updates"]
