"""Norm and activation layers by name, through one tiny factory (timm ``create_norm.py``).

The names are those of the language's registries (``nas.lang.NORMS`` / ``ACTS``), filled here."""
from __future__ import annotations

import math

from torch import nn

from ..lang import ACTS, NORMS



@NORMS.register("bn")
def _bn(ch: int, eps: float) -> nn.Module:
    return nn.BatchNorm2d(ch, eps=eps)


@NORMS.register("ln")
def _ln(ch: int, eps: float) -> nn.Module:
    # Layer norm for conv features: statistics over (C, H, W) of each sample (N x 1 x 1 x 1),
    # with a per-channel scale and shift (Ba et al. 2016). That is exactly GroupNorm with a
    # single group (Wu & He 2018, Fig. 2). The lecture's "LN" slide (statistics N x C x 1 x 1,
    # citing Ulyanov et al.) shows instance norm, which is "in" below.
    return nn.GroupNorm(1, ch, eps=eps)


@NORMS.register("gn")
def _gn(ch: int, eps: float) -> nn.Module:
    # Wu & He 2018 use 32 groups; fall back to the largest divisor of ch that is <= 32.
    return nn.GroupNorm(math.gcd(32, ch), ch, eps=eps)


@NORMS.register("in")
def _in(ch: int, eps: float) -> nn.Module:
    return nn.InstanceNorm2d(ch, eps=eps, affine=True)


@NORMS.register("none")
def _none_norm(ch: int, eps: float) -> nn.Module:
    return nn.Identity()


for _name, _cls in [("relu", nn.ReLU), ("relu6", nn.ReLU6), ("gelu", nn.GELU), ("silu", nn.SiLU),
                    ("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid), ("none", nn.Identity)]:
    ACTS.register(_name, _cls)


def make_norm(name: str, ch: int, eps: float = 1e-5) -> nn.Module:
    return NORMS.get(name)(ch, eps)


def make_act(name: str) -> nn.Module:
    # Never in-place: a layer's input may also feed a later skip connection.
    return ACTS.get(name)()
