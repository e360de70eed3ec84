"""Block types of a macro space: how one stage (block type, width, repeat, norm,
downsample) becomes :class:`~nas.lang.Layer` objects. The table in docs/search-spaces.md
gives each type's layers and the papers they follow."""
from __future__ import annotations

from typing import Callable

from ..errors import SpaceError
from ..lang import Layer
from ..registry import Registry

# Block type -> (width, stride, norm) -> the layers of ONE block.
BLOCKS: Registry[Callable[[int, int, str], list[Layer]]] = Registry("block", SpaceError)


@BLOCKS.register("conv")
def _conv_block(w: int, s: int, n: str) -> list[Layer]:
    return [Layer.make("conv", w, 3, stride=s, norm=n)]


@BLOCKS.register("basic")
def _basic_block(w: int, s: int, n: str) -> list[Layer]:
    return [Layer.make("basic", w, stride=s, norm=n)]


@BLOCKS.register("bottleneck")
def _bottleneck_block(w: int, s: int, n: str) -> list[Layer]:
    return [Layer.make("bottleneck", w, stride=s, norm=n)]


def inception_widths(w: int) -> tuple[int, int, int, int, int, int]:
    """GoogLeNet inception (3a) proportions (64, 96, 128, 16, 32, 32) / 256 scaled to ``w`` out."""
    c1, r3, r5, c5, pp = (max(1, w * k // 256) for k in (64, 96, 16, 32, 32))
    return c1, r3, max(1, w - c1 - c5 - pp), r5, c5, pp


@BLOCKS.register("inception")
def _inception_block(w: int, s: int, n: str) -> list[Layer]:
    pool = [Layer.make("maxpool", 3, stride=s, pad=1)] if s > 1 else []
    return pool + [Layer.make("inception", *inception_widths(w), norm=n)]


@BLOCKS.register("dense")
def _dense_block(w: int, s: int, n: str) -> list[Layer]:
    g = max(1, w // 8)
    return [Layer.make("transition", max(1, w - 4 * g), stride=s, norm=n), Layer.make("dense", 4, g, norm=n)]


@BLOCKS.register("sepconv")
def _sepconv_block(w: int, s: int, n: str) -> list[Layer]:
    return [Layer.make("sepconv", w, 3, stride=s, norm=n)]


def stage_layers(block: str, width: int, repeat: int, norm: str, downsample: bool) -> list[Layer]:
    """The layers of one stage: ``repeat`` blocks, the first strided when ``downsample``."""
    make = BLOCKS.get(block)
    out: list[Layer] = []
    for k in range(repeat):
        out += make(width, 2 if downsample and k == 0 else 1, norm)
    return out


