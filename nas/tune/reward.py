"""Rewards: turn a trained trial (validation curve, size, cost) into one number to maximise.

Pure functions plus a frozen :class:`RewardConfig`; no torch, so strategies can import it cheaply.

* Accuracy reward (Zoph & Le 2017, "Neural Architecture Search with Reinforcement Learning",
  Sec. 4.1, training details): "the maximum validation accuracy of the last 5 epochs cubed".
  We take the max over the last ``window`` epochs (default 5, fewer if fewer were run) and cube
  it only when ``cube=True``.
* Cost-aware reward (Tan et al. 2019, "MnasNet", Sec. 3, Eq. 2):
  ``ACC(m) * (COST(m) / T) ** w`` with ``w = alpha`` if ``COST(m) <= T`` else ``beta``.
  The paper's soft constraint is ``alpha = beta = -0.07`` (our defaults ``w`` / ``w_over``);
  its hard constraint is ``alpha = 0, beta = -1`` (``RewardConfig.hard(...)``). MnasNet's
  ``COST`` is latency measured on the target device (Pixel 1 phones); ``cost="latency"``
  uses latency measured by :mod:`nas.latency` (milliseconds, on the search's latency
  target), and the static counts ``"params"`` and ``"macs"`` are offered beside it: free to
  compute, but an inaccurate proxy (MnasNet Sec. 1: MobileNet and NASNet have similar
  FLOPS, 575M vs 564M, and latencies of 113 vs 183 ms).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..config import from_dict
from ..errors import ConfigError
from ..registry import suggest

COSTS = ("none", "params", "macs", "latency")
# MnasNet Sec. 3: alpha = beta = -0.07 makes a model with twice the cost need ~5% more
# accuracy for the same reward (soft constraint). Hard constraint: alpha = 0, beta = -1.
SOFT_W = -0.07
HARD_W, HARD_W_OVER = 0.0, -1.0


# --------------------------------------------------------------------------------------------
# reward


@dataclass(frozen=True)
class RewardConfig:
    """How a trial's outcome becomes a reward.

    Example::

        RewardConfig()                                   # max val acc of the last 5 epochs
        RewardConfig(cube=True)                          # Zoph & Le 2017
        RewardConfig(cost="macs", target=5e6)            # MnasNet soft constraint
        RewardConfig.hard("params", 1e5)                 # MnasNet hard constraint
        RewardConfig(cost="latency", target=2.0)         # MnasNet: measured latency, 2 ms target
    """

    window: int = 5  # epochs at the end of training whose max val accuracy counts (Zoph & Le 2017)
    cube: bool = False  # reward = acc ** 3, as in Zoph & Le 2017 Sec. 4.1
    cost: str = "none"  # "none" | "params" | "macs" | "latency": the MnasNet cost term
    # The MnasNet target T, in the cost's unit (a count; milliseconds for latency); required with a cost.
    target: float | None = None
    w: float = SOFT_W  # exponent when cost <= target (MnasNet alpha)
    w_over: float = SOFT_W  # exponent when cost > target (MnasNet beta)
    failure_reward: float = 0.0  # reward of a failed trial (NaN loss, crash)

    def __post_init__(self):
        if self.window < 1:
            raise ConfigError(f"RewardConfig key 'window' must be >= 1, got {self.window}")
        if self.cost not in COSTS:
            raise ConfigError(f"RewardConfig key 'cost' is {self.cost!r}{suggest(self.cost, COSTS)}")
        if self.cost != "none" and self.target is None:
            raise ConfigError(f"RewardConfig key 'target' is required with cost={self.cost!r}")
        if self.target is not None and not (math.isfinite(self.target) and self.target > 0):
            raise ConfigError(f"RewardConfig key 'target' must be a positive number, got {self.target}")
        for key in ("w", "w_over", "failure_reward"):
            if not math.isfinite(getattr(self, key)):
                raise ConfigError(f"RewardConfig key {key!r} must be finite, got {getattr(self, key)}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RewardConfig":
        """``RewardConfig.from_dict({"cost": "macs", "target": 5e6})``; errors name the key."""
        return from_dict(cls, data)

    @classmethod
    def hard(cls, cost: str, target: float, **kwargs: Any) -> "RewardConfig":
        """MnasNet's hard constraint (alpha = 0, beta = -1): no bonus under target, a steep penalty over."""
        return cls(cost=cost, target=target, w=HARD_W, w_over=HARD_W_OVER, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def window_max(val_accs: Sequence[float], window: int) -> float:
    """Maximum of the last ``window`` accuracies (all of them if fewer were recorded).

    >>> window_max([0.1, 0.9, 0.5, 0.6], 2)
    0.6
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not val_accs:
        raise ValueError("no validation accuracies to take the maximum of")
    return max(val_accs[-window:])


def cost_factor(cost: float, target: float, w: float, w_over: float) -> float:
    """MnasNet Eq. 2 multiplier ``(cost / target) ** (w if cost <= target else w_over)``.

    >>> round(cost_factor(2e6, 1e6, -0.07, -0.07), 4)
    0.9526
    """
    if not cost > 0:
        raise ValueError(f"cost must be positive, got {cost}")
    if not target > 0:
        raise ValueError(f"target must be positive, got {target}")
    return (cost / target) ** (w if cost <= target else w_over)


def compute_reward(
    config: RewardConfig, val_accs: Sequence[float], params: int, macs: int, failed: bool,
    latency_ms: float | None = None,
) -> float:
    """The reward of one trial; always a float.

    ``val_accs`` are per-epoch validation accuracies as fractions in [0, 1]. A failed trial,
    or one that finished no epoch, gets ``config.failure_reward``. Order of operations:
    ``acc = max(last window)``, then ``acc ** 3`` if ``cube``, then times the MnasNet factor.
    ``latency_ms`` is the architecture's measured latency (:mod:`nas.latency`), needed when
    ``config.cost == "latency"`` (``ValueError`` without it) and ignored otherwise.

    >>> compute_reward(RewardConfig(window=2), [0.5, 0.8, 0.7], params=10, macs=100, failed=False)
    0.8
    """
    if failed or not val_accs:
        return float(config.failure_reward)
    if config.cost == "latency":
        if latency_ms is None:
            raise ValueError("latency was not measured: reward cost 'latency' needs latency_ms")
        if not (math.isfinite(latency_ms) and latency_ms > 0):
            raise ValueError(f"latency_ms must be a positive number, got {latency_ms}")
    for acc in val_accs:
        if not (math.isfinite(acc) and 0.0 <= acc <= 1.0):
            raise ValueError(f"validation accuracies must be fractions in [0, 1], got {acc}")
    reward = window_max(val_accs, config.window)
    if config.cube:
        reward = reward**3
    if config.cost != "none":
        cost = {"params": params, "macs": macs, "latency": latency_ms}[config.cost]
        reward *= cost_factor(float(cost), float(config.target), config.w, config.w_over)
    return float(reward)
