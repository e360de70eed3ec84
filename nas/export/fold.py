"""Batch norm folded into the preceding convolution: in eval mode BN is a fixed per-channel
affine map, ``y = gamma * (x - mu) / sqrt(var + eps) + beta``, so ``conv -> BN`` is one conv
with rescaled weights and a bias (Ioffe & Szegedy 2015, Sec. 3.1;
``torch.nn.utils.fusion.fuse_conv_bn_eval``). Only conv -> BN pairs fold; every other norm is
listed with the reason it cannot.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..nn.blocks import ConvNormAct


@dataclass(frozen=True)
class FoldReport:
    """Which norm layers were folded into the preceding convolution, and which were not (and why)."""

    folded: tuple[str, ...]
    not_folded: tuple[tuple[str, str, str], ...]  # (module name, type, reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folded": list(self.folded),
            "not_folded": [{"module": n, "type": t, "reason": r} for n, t, r in self.not_folded],
        }


_NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, FoldReport]:
    """A copy of ``model`` in eval mode with every conv -> BatchNorm pair folded into the conv.

    The input model is not changed. Only :class:`nas.nn.blocks.ConvNormAct` units whose norm is a
    ``BatchNorm2d`` (with running statistics) fold; see the module doc for the rest.

    >>> from nas import build
    >>> folded, report = fold_batchnorm(build("conv(8,3) basic(8) gap", (1, 8, 8), 10))
    >>> report.folded
    ('layers.0', 'layers.1.conv1', 'layers.1.conv2')
    """
    folded_model = copy.deepcopy(model).eval()
    folded: list[str] = []
    for name, module in folded_model.named_modules():
        if isinstance(module, ConvNormAct) and _foldable(module.norm):
            module.conv = torch.nn.utils.fusion.fuse_conv_bn_eval(module.conv, module.norm)
            module.norm = nn.Identity()
            folded.append(name)
    not_folded = []
    for name, module in folded_model.named_modules():
        if isinstance(module, _NORMS):
            not_folded.append((name, type(module).__name__, _why_not(module)))
    return folded_model, FoldReport(tuple(folded), tuple(not_folded))


def _foldable(norm: nn.Module) -> bool:
    return isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats and norm.running_mean is not None


def _why_not(norm: nn.Module) -> str:
    if isinstance(norm, nn.BatchNorm2d):
        if not _foldable(norm):
            return "batch norm without running statistics is not a fixed map at test time"
        return ("batch norm before its convolution (pre-activation norm -> act -> conv, DenseNet): "
                "an activation separates it from any convolution, so it cannot fold")
    kind = type(norm).__name__
    if isinstance(norm, nn.GroupNorm) and norm.num_groups == 1:
        kind = "layer norm (GroupNorm with 1 group)"
    return f"{kind} normalizes with per-sample statistics, not a fixed linear map at test time"
