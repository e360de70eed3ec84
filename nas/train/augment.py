"""Augmentation batched on the training device: random crop of the padded image and a
horizontal flip (He et al. 2015, Sec. 4.2), no Python loop over images."""
from __future__ import annotations

import torch

from .data import Splits


def random_crop_flip(
    x: torch.Tensor,
    *,
    padding: int,
    flip: bool,
    fill: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Batched random crop (of the image padded by ``padding``) and optional horizontal flip.

    Runs on ``x``'s device with no Python loop over images: offsets are drawn per image and
    applied with two ``gather`` calls; the flip is folded into the column index (``where``
    on a random mask). ``fill`` is the per-channel padding value (for normalized data, the
    value of a black pixel); zeros by default. Same shape as ``x`` (N, C, H, W).
    """
    n, c, h, w = x.shape
    device = x.device
    p = padding
    if p > 0:
        fill_value = torch.zeros(c, device=device, dtype=x.dtype) if fill is None else fill.to(device, x.dtype)
        padded = fill_value.view(1, c, 1, 1).expand(n, c, h + 2 * p, w + 2 * p).clone()
        padded[:, :, p : p + h, p : p + w] = x
        dy = torch.randint(0, 2 * p + 1, (n,), device=device, generator=generator)
        dx = torch.randint(0, 2 * p + 1, (n,), device=device, generator=generator)
    else:
        padded = x
        dy = dx = torch.zeros(n, dtype=torch.long, device=device)
    cols = torch.arange(w, device=device).expand(n, w)
    if flip:
        mirror = torch.rand(n, device=device, generator=generator) < 0.5
        cols = torch.where(mirror[:, None], w - 1 - cols, cols)
    rows = dy[:, None] + torch.arange(h, device=device)  # (n, h)
    cols = dx[:, None] + cols  # (n, w)
    out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * p))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))


def black_pixel(splits: Splits, device: torch.device) -> torch.Tensor | None:
    """Per-channel normalized value of pixel 0, so crop padding is black as in torchvision's RandomCrop."""
    mean, std = splits.meta.get("mean"), splits.meta.get("std")
    if mean is None or std is None:
        return None
    return (-torch.tensor(mean, dtype=torch.float32) / torch.tensor(std, dtype=torch.float32)).to(device)
