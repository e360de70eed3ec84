"""REINFORCE over an LSTM controller: Zoph & Le 2017 ("Neural Architecture Search with
Reinforcement Learning", Secs. 3.2-3.3) with the options of ENAS (Pham et al. 2018) and a
PPO-style clipped update (Schulman et al. 2017; used for NASNet's controller, Zoph et al.
2018). Told proposals are batched into Adam steps against an exponential-moving-average
baseline. Updates, asynchrony, failures, the presets and the calibration of the defaults:
docs/strategies.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch

from .._util import torch_threads
from ..errors import ConfigError, NasError
from .base import STRATEGIES, Proposal, Strategy
from .controller import ANCHORS, HEADS, Controller

FAILURE_MODES = ("reward", "skip")
ENTROPY_MODES = ("loss", "reward")
REDUCTIONS = ("sum", "mean")
ADVANTAGES = ("baseline", "scaled")


# -- the math: pure functions ---------------------------------------------------------------


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


def advantages(rewards: torch.Tensor, baseline: float, mode: str) -> torch.Tensor:
    """``r - b`` (``"baseline"``, Zoph & Le Eq. 3), or that divided by the batch's reward
    spread (``"scaled"``), so that a step's size does not depend on how far apart the
    rewards of a batch happen to be (as PPO implementations normalise advantages). A batch
    of one, or of equal rewards, is left unscaled.

    >>> advantages(torch.tensor([1.0, 3.0]), 1.0, "scaled")
    tensor([0., 2.])
    """
    adv = (rewards - baseline).detach()
    if mode == "scaled" and len(rewards) > 1:
        spread = rewards.std(unbiased=False)
        if spread > 1e-8:
            adv = adv / spread
    return adv


def ppo_loss(log_probs: torch.Tensor, old_log_probs: torch.Tensor, adv: torch.Tensor,
             clip: float) -> torch.Tensor:
    """PPO's clipped surrogate (Schulman et al. 2017, Eq. 7), per architecture:

    ``loss = -mean(min(ratio * A, clamp(ratio, 1 - clip, 1 + clip) * A))``,
    ``ratio = exp(log_prob - old_log_prob)``, with ``old_log_probs`` those the proposals
    were *sampled* with. Its gradient at ``ratio = 1`` is REINFORCE's; a proposal sampled
    under an older policy (asynchronous workers) is importance-weighted by its ratio, and
    stops pulling once the ratio leaves the clip range in its advantage's direction.
    """
    ratio = torch.exp(log_probs - old_log_probs.detach())
    adv = adv.detach()
    return -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()


def skip_penalty(p_skip: Sequence[torch.Tensor], target: float) -> torch.Tensor:
    """ENAS's skip penalty (``general_controller.py``): per unit with anchors, the sum over
    its anchors of KL(Bernoulli(p) || Bernoulli(target)); then the mean over those units.

    ``p_skip``: one tensor ``[n, m_u]`` per unit (the probability of each anchor being
    taken); returns ``[n]``.
    """
    kls = []
    for p in p_skip:
        p = p.clamp(1e-6, 1 - 1e-6)
        kl = p * torch.log(p / target) + (1 - p) * torch.log((1 - p) / (1 - target))
        kls.append(kl.sum(-1))
    return torch.stack(kls, -1).mean(-1)


# -- options and presets ------------------------------------------------------------------


@dataclass(frozen=True)
class ReinforceOptions:
    preset: str | None = None  # "zoph2017" | "enas": the paper's values; other keys override them
    batch_size: int = 10  # told proposals per update (Zoph & Le's m)
    lr: float = 0.002  # Adam step size
    hidden_size: int = 100  # LSTM units per layer
    num_layers: int = 1  # stacked LSTM layers
    init_range: float = 0.1  # parameters start uniform in [-init_range, init_range]
    temperature: float | None = None  # logits / temperature; None: off
    tanh_constant: float | None = 2.5  # tanh_constant * tanh(logits); None: off
    heads: str = "decision"  # "kind": one softmax head per kind of decision; "decision": one each
    position_input: bool = True  # a learned input vector per controller step
    anchors: str = "head"  # "head": 2-way decisions; "attention": Zoph & Le's content-based attention
    entropy_weight: float = 0.0  # weight of the entropy bonus
    entropy_mode: str = "loss"  # "loss": a loss term; "reward": added to the reward (ENAS)
    entropy_reduction: str = "sum"  # the bonus over an architecture's decisions: "sum" or "mean"
    advantage: str = "scaled"  # "baseline": r - b; "scaled": (r - b) / the batch's reward spread
    baseline_decay: float = 0.95  # the moving-average baseline's decay per reward
    ppo_clip: float | None = 0.2  # PPO's clip range; None: plain REINFORCE
    ppo_epochs: int = 4  # passes over each batch (more than 1 needs ppo_clip)
    adam_beta1: float = 0.9
    adam_eps: float = 1e-8
    skip_weight: float = 0.0  # ENAS's skip penalty weight; 0: off
    skip_target: float = 0.4  # ENAS's target skip rate
    failure: str = "reward"

    def __post_init__(self):
        for key in ("batch_size", "hidden_size", "num_layers", "ppo_epochs"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        for key in ("lr", "init_range", "adam_eps"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"{key} must be > 0, got {getattr(self, key)}")
        for key in ("temperature", "tanh_constant", "ppo_clip"):
            if getattr(self, key) is not None and not getattr(self, key) > 0:
                raise ConfigError(f"{key} must be > 0 (or null to switch it off), got {getattr(self, key)}")
        for key in ("entropy_weight", "skip_weight"):
            if not getattr(self, key) >= 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")
        if not 0 <= self.baseline_decay < 1:
            raise ConfigError(f"baseline_decay must be in [0, 1), got {self.baseline_decay}")
        if not 0 <= self.adam_beta1 < 1:
            raise ConfigError(f"adam_beta1 must be in [0, 1), got {self.adam_beta1}")
        if not 0 < self.skip_target < 1:
            raise ConfigError(f"skip_target must be in (0, 1), got {self.skip_target}")
        if self.ppo_epochs > 1 and self.ppo_clip is None:
            raise ConfigError("ppo_epochs > 1 needs ppo_clip: repeated plain REINFORCE steps on one "
                              "batch have no bound on how far the policy moves")
        for key, allowed in (("heads", HEADS), ("anchors", ANCHORS), ("entropy_mode", ENTROPY_MODES),
                             ("entropy_reduction", REDUCTIONS), ("advantage", ADVANTAGES),
                             ("failure", FAILURE_MODES)):
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {getattr(self, key)!r}")
        if self.preset is not None and self.preset not in PRESETS:
            raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")

    @staticmethod
    def resolve(options: dict) -> dict:
        """The options a strategy is built with: a preset's values under those given with it."""
        name = options.get("preset")
        if not (isinstance(name, str) and name in PRESETS):
            return dict(options)  # no preset; an unknown one is refused by the checks that follow
        return {**PRESETS[name], **options}


# Every value the papers give; each source is in the README's table of presets.
_PAPERS = dict(heads="kind", position_input=False, advantage="baseline", ppo_clip=None, ppo_epochs=1,
               entropy_reduction="sum", skip_weight=0.0)
PRESETS: dict[str, dict] = {
    # Zoph & Le 2017, Secs. 3.2-4.1.
    "zoph2017": dict(_PAPERS, hidden_size=35, num_layers=2, init_range=0.08, lr=6e-4, batch_size=8,
                     temperature=None, tanh_constant=None, anchors="attention", entropy_weight=0.0),
    # ENAS, the official code's macro search (scripts/cifar10_macro_search.sh, main.py,
    # general_controller.py, utils.py).
    "enas": dict(_PAPERS, hidden_size=64, num_layers=1, init_range=0.1, lr=1e-3, batch_size=20,
                 temperature=None, tanh_constant=1.5, anchors="attention", entropy_weight=1e-4,
                 entropy_mode="reward", baseline_decay=0.99, adam_beta1=0.0, adam_eps=1e-3,
                 skip_weight=0.8, skip_target=0.4),
}


# -- the strategy -------------------------------------------------------------------------


@STRATEGIES.register("reinforce")
class Reinforce(Strategy):
    """REINFORCE with an LSTM controller (Zoph & Le 2017; ENAS). See the module doc.

    Example: ``nas.strategies.get("reinforce", space, seed=0, batch_size=10, lr=0.005)``,
    or ``nas.strategies.get("reinforce", space, preset="zoph2017")``.

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
            self.space.decisions, o.hidden_size, num_layers=o.num_layers, temperature=o.temperature,
            tanh_constant=o.tanh_constant, init_range=o.init_range, heads=o.heads,
            position_input=o.position_input, anchors=o.anchors, generator=self._rng,
        )
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=o.lr,
                                          betas=(o.adam_beta1, 0.999), eps=o.adam_eps)
        # The anchors of each unit (decision indices, units in order of appearance), for the skip penalty.
        units: dict = {}
        for t, d in enumerate(self.space.decisions):
            if d.kind == "anchor":
                units.setdefault(d.unit if d.unit is not None else ("decision", t), []).append(t)
        self._anchor_units = list(units.values())
        self._baseline: float | None = None
        # id -> [log_prob, entropy] the proposal was sampled with (asked, not yet told).
        self._sampled: dict[int, list[float]] = {}
        self._last_draw: list[float] = []
        self._batch: list[dict] = []  # told, not yet used: id, choices, reward, log_prob, entropy
        self._updates: list[dict] = []

    @property
    def baseline(self) -> float | None:
        return self._baseline

    @property
    def updates(self) -> list[dict]:
        return [dict(u) for u in self._updates]

    def _propose(self) -> tuple[int, ...]:
        drawn = {}

        def draw() -> tuple[int, ...]:
            with torch.no_grad(), torch_threads(1):
                tr = self.controller.sample_trace(1, generator=self._rng)
            drawn["values"] = [float(tr.log_probs.sum()), float(self._entropy(tr.entropies).sum())]
            return tuple(tr.decisions[0].tolist())

        choices = self._sample_valid(draw)
        self._last_draw = drawn["values"]
        return choices

    def _drawn(self) -> list[float]:
        return self._last_draw

    def _accept(self, proposal: Proposal, drawn: list[float]) -> None:
        # The behaviour log-probability PPO's ratio needs: the policy's at sampling time.
        self._sampled[proposal.id] = drawn

    def _entropy(self, entropies: torch.Tensor) -> torch.Tensor:
        """Per architecture, ``[n]``: the per-decision entropies summed or averaged."""
        return entropies.sum(1) if self.options.entropy_reduction == "sum" else entropies.mean(1)

    def _check_tell(self, reward: float, failed: bool) -> None:
        if failed and self.options.failure == "reward" and not math.isfinite(reward):
            raise NasError(
                f"with failure='reward' a failed proposal needs a finite failure reward, "
                f"got {reward}; or use failure='skip'"
            )

    def _observe(self, proposal: Proposal, reward: float, failed: bool, *, metrics: Mapping[str, float]) -> None:
        log_prob, entropy = self._sampled.pop(proposal.id)
        if failed and self.options.failure == "skip":
            return
        self._batch.append({"id": proposal.id, "choices": proposal.choices, "reward": reward,
                            "log_prob": log_prob, "entropy": entropy})
        if len(self._batch) >= self.options.batch_size:
            with torch_threads(1):
                self._update()

    def _losses(self, choices, old_log_probs, adv) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass: the loss to descend and the batch's entropies (summed per architecture)."""
        o = self.options
        tr = self.controller.trace(choices)
        log_probs = tr.log_probs.sum(1)
        if o.ppo_clip is None:
            loss = -(adv * log_probs).mean()
        else:
            loss = ppo_loss(log_probs, old_log_probs, adv, o.ppo_clip)
        if o.entropy_mode == "loss" and o.entropy_weight:
            loss = loss - o.entropy_weight * self._entropy(tr.entropies).mean()
        if o.skip_weight and self._anchor_units:
            p_skip = [torch.stack([tr.probs[t][:, 1] for t in ts], 1) for ts in self._anchor_units]
            loss = loss + o.skip_weight * skip_penalty(p_skip, o.skip_target).mean()
        return loss, tr.entropies.sum(1)

    def _update(self) -> None:
        o = self.options
        batch, self._batch = self._batch, []
        choices = torch.tensor([b["choices"] for b in batch], dtype=torch.long)
        values = [b["reward"] for b in batch]
        if o.entropy_mode == "reward":
            # ENAS adds the entropy of the sampled architecture to the reward (as a constant).
            values = [b["reward"] + o.entropy_weight * b["entropy"] for b in batch]
        rewards = torch.tensor(values, dtype=torch.float32)
        old_log_probs = torch.tensor([b["log_prob"] for b in batch], dtype=torch.float32)
        mean_reward = sum(values) / len(values)
        if self._baseline is None:
            self._baseline = mean_reward  # first batch: centre on itself
        baseline = self._baseline
        adv = advantages(rewards, baseline, o.advantage)
        for epoch in range(o.ppo_epochs):
            loss, entropies = self._losses(choices, old_log_probs, adv)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            if epoch == 0:  # what the batch met: the policy it was scored under
                first_loss, first_entropy = float(loss.detach()), float(entropies.detach().mean())
        for r in values:  # in completion order
            self._baseline = o.baseline_decay * self._baseline + (1 - o.baseline_decay) * r
        with torch.no_grad():
            greedy = self.controller.greedy_trace()
        self._updates.append({
            "step": len(self._updates) + 1,
            "ids": [b["id"] for b in batch],
            "mean_reward": mean_reward,
            "baseline": baseline,
            "entropy": first_entropy,
            "loss": first_loss,
            "probs": [p[0].tolist() for p in greedy.probs],
            "greedy": greedy.decisions[0].tolist(),
        })

    def _extra_state(self) -> dict:
        return {
            "controller": dict(self.controller.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "baseline": self._baseline,
            "sampled": [[pid, *v] for pid, v in sorted(self._sampled.items())],
            "batch": [dict(b, choices=list(b["choices"])) for b in self._batch],
            "updates": self._updates,
        }

    def _load_extra_state(self, state: dict) -> None:
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._baseline = None if state["baseline"] is None else float(state["baseline"])
        self._sampled = {int(pid): [float(lp), float(ent)] for pid, lp, ent in state["sampled"]}
        self._batch = [
            {"id": int(b["id"]), "choices": tuple(int(c) for c in b["choices"]),
             "reward": float(b["reward"]), "log_prob": float(b["log_prob"]), "entropy": float(b["entropy"])}
            for b in state["batch"]
        ]
        self._updates = state["updates"]
