"""The table of operations: every layer name of the language, its parameters, its shape
rule and its builder. Adding an entry here adds a layer to the language, and the
parametrized tests pick it up (``OPS.names()``).

Shape rules run before anything is built, so an impossible architecture is rejected with
the column of the offending layer and nothing is allocated.
"""
from __future__ import annotations

import math

from torch import nn

from ..errors import ArchError
from ..lang import ACTS, BOOL, FLOAT, INT, NAME, NORMS, OPS, SIZE, Arch, Layer, OpSpec, Param
from . import blocks

Shape = tuple  # (C, H, W) for feature maps, (F,) for flat vectors

NORM = Param("norm", NAME, None, choices=NORMS, optional_none=True, doc="norm (default: the architecture's)")
ACT = Param("act", NAME, None, choices=ACTS, optional_none=True, doc="activation (default: the architecture's)")
STRIDE = Param("stride", INT, 1, min=1, max=64, doc="stride")
WIDTH_MAX = 1 << 16


def _fail(layer: Layer, msg: str) -> ArchError:
    return ArchError(f"{layer.op}: {msg}", layer.col)


def _need_map(layer: Layer, shape: Shape) -> Shape:
    if len(shape) != 3:
        raise _fail(layer, f"needs a feature map (C,H,W) but its input is a flat vector of {shape[0]}")
    return shape


def conv_out(n: int, k: int, s: int, p: int, ceil: bool = False) -> int:
    """Output length of a conv/pool window (PyTorch's formula, ``ceil_mode`` included)."""
    if ceil:
        out = math.ceil((n + 2 * p - k) / s) + 1
        if (out - 1) * s >= n + p:  # the last window must start inside the input or left padding
            out -= 1
        return out
    return (n + 2 * p - k) // s + 1


def _spatial(layer: Layer, shape: Shape, k, s: int, p=None, ceil=False) -> tuple[int, int]:
    c, h, w = _need_map(layer, shape)
    kh, kw = (k, k) if isinstance(k, int) else k
    ph, pw = (kh // 2, kw // 2) if p is None else (p, p)
    oh, ow = conv_out(h, kh, s, ph, ceil), conv_out(w, kw, s, pw, ceil)
    if oh < 1 or ow < 1:
        raise _fail(layer, f"a {kh}x{kw} window with stride {s} on a {h}x{w} input gives spatial size {oh}x{ow}, below 1")
    return oh, ow


def _norm_act(arch: Arch, layer: Layer) -> dict:
    return dict(norm=arch.norm_of(layer), act=arch.act_of(layer), eps=arch.settings.eps)


def _register(name, params, npos, infer, build, doc, takes_skip=True, *, example):
    OPS.register(name, OpSpec(name, tuple(params), npos, infer, build, doc, takes_skip, example))


# --- conv ---------------------------------------------------------------------------

def _conv_infer(layer, shape, arch):
    c = _need_map(layer, shape)[0]
    g = layer["groups"]
    if c % g or layer["out"] % g:
        raise _fail(layer, f"groups={g} must divide the {c} input and {layer['out']} output channels")
    return (layer["out"], *_spatial(layer, shape, layer["k"], layer["stride"]))


_register(
    "conv",
    [Param("out", INT, min=1, max=WIDTH_MAX), Param("k", SIZE, 3, min=1, max=15), STRIDE,
     Param("groups", INT, 1, min=1, max=WIDTH_MAX), Param("bias", BOOL, None, optional_none=True), NORM, ACT],
    2, _conv_infer,
    lambda layer, i, o, arch: blocks.ConvNormAct(i[0], o[0], layer["stride"], kernel=layer["k"], groups=layer["groups"],
                                                 bias=layer["bias"], **_norm_act(arch, layer)),
    "conv-norm-act with 'same' padding; k may be HxW (e.g. 3x5)",
    example="conv(12,3x5,stride=2,groups=2)",
)

_register(
    "sepconv",
    [Param("out", INT, min=1, max=WIDTH_MAX), Param("k", SIZE, 3, min=1, max=15), STRIDE, NORM, ACT],
    2, lambda layer, s, arch: (layer["out"], *_spatial(layer, s, layer["k"], layer["stride"])),
    lambda layer, i, o, arch: blocks.SepConv(i[0], o[0], layer["stride"], kernel=layer["k"], **_norm_act(arch, layer)),
    "depthwise-separable conv (MobileNet): kxk depthwise then 1x1 pointwise, each with norm and act",
    example="sepconv(12,5,stride=2)",
)


# --- pooling ------------------------------------------------------------------------

def _pool_params():
    return [Param("k", INT, 2, min=1, max=64), Param("stride", INT, None, min=1, max=64, optional_none=True),
            Param("pad", INT, 0, min=0, max=32), Param("ceil", BOOL, False)]


def _pool_infer(layer, shape, arch):
    k, p = layer["k"], layer["pad"]
    if 2 * p > k:
        raise _fail(layer, f"padding {p} must be at most half the window {k}")
    s = layer["stride"] or k
    return (shape[0], *_spatial(layer, shape, k, s, p, layer["ceil"]))


def _pool_build(cls):
    return lambda layer, i, o, arch: cls(layer["k"], layer["stride"] or layer["k"], layer["pad"], ceil_mode=layer["ceil"])


_register("maxpool", _pool_params(), 1, _pool_infer, _pool_build(nn.MaxPool2d), "max pooling (stride defaults to k)",
          example="maxpool(3,stride=2,pad=1,ceil=true)")
_register("avgpool", _pool_params(), 1, _pool_infer, _pool_build(nn.AvgPool2d), "average pooling (stride defaults to k)",
          example="avgpool(2)")
_register(
    "apool", [Param("size", INT, min=1, max=64)], 1,
    lambda layer, s, arch: (_need_map(layer, s)[0], layer["size"], layer["size"]),
    lambda layer, i, o, arch: nn.AdaptiveAvgPool2d(layer["size"]),
    "adaptive average pooling to size x size (VGG's 7x7 before its classifier)",
    example="apool(3)",
)
_register(
    "gap", [], 0, lambda layer, s, arch: (_need_map(layer, s)[0],),
    lambda layer, i, o, arch: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1)),
    "global average pooling to a flat vector",
    example="gap",
)


# --- residual blocks ----------------------------------------------------------------

_register(
    "basic", [Param("out", INT, min=1, max=WIDTH_MAX), STRIDE, NORM, ACT], 1,
    lambda layer, s, arch: (layer["out"], *_spatial(layer, s, 3, layer["stride"])),
    lambda layer, i, o, arch: blocks.BasicBlock(i[0], o[0], layer["stride"], **_norm_act(arch, layer)),
    "ResNet basic block: two 3x3 convs and a shortcut (projection where the shape changes)",
    example="basic(12,stride=2)",
)


def _bottleneck_infer(layer, shape, arch):
    out, g, wd, e = layer["out"], layer["groups"], layer["width"], layer["expansion"]
    if out % e:
        raise _fail(layer, f"output width {out} is not a multiple of expansion={e}")
    if blocks.bottleneck_width(out, g, wd, e) < 1:
        raise _fail(layer, f"inner width int({out // e} * {wd} / 64) * {g} is below 1")
    return (out, *_spatial(layer, shape, 3, layer["stride"]))


_register(
    "bottleneck",
    [Param("out", INT, min=1, max=WIDTH_MAX), STRIDE, Param("groups", INT, 1, min=1, max=1024),
     Param("width", INT, 64, min=1, max=4096), Param("expansion", INT, 4, min=1, max=16), NORM, ACT],
    1, _bottleneck_infer,
    lambda layer, i, o, arch: blocks.Bottleneck(i[0], o[0], layer["stride"], groups=layer["groups"], width=layer["width"],
                                                expansion=layer["expansion"], **_norm_act(arch, layer)),
    "ResNet bottleneck 1x1-3x3-1x1; out = planes*expansion; inner width int(planes*width/64)*groups "
    "(groups=32,width=4: ResNeXt 32x4d; width=128: Wide ResNet-2)",
    example="bottleneck(16,stride=2,groups=2,width=32)",
)


# --- Inception ----------------------------------------------------------------------

_WIDTHS = ("c1", "r3", "c3", "r5", "c5", "pp")


def _inception_infer(layer, shape, arch):
    c, h, w = _need_map(layer, shape)
    ws = tuple(layer[n] for n in _WIDTHS)
    for red, br, name in ((ws[1], ws[2], "3x3"), (ws[3], ws[4], "5x5")):
        if red and not br:
            raise _fail(layer, f"a {name} reduce width of {red} needs a {name} branch (its width is 0)")
    return (blocks.inception_out(c, ws), h, w)


_register(
    "inception",
    [Param(n, INT, min=0, max=WIDTH_MAX) for n in _WIDTHS] + [Param("k5", INT, 5, min=1, max=15), NORM, ACT],
    6, _inception_infer,
    lambda layer, i, o, arch: blocks.Inception(i[0], o[0], widths=tuple(layer[n] for n in _WIDTHS), k5=layer["k5"],
                                               **_norm_act(arch, layer)),
    "GoogLeNet Inception module: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj "
    "(reduce 0: no bottleneck; pool proj 0: pooled input passes through)",
    example="inception(4,4,8,2,4,4)",
)


# --- DenseNet -----------------------------------------------------------------------

def _dense_infer(layer, shape, arch):
    c, h, w = _need_map(layer, shape)
    return (c + layer["layers"] * layer["growth"], h, w)


_register(
    "dense",
    [Param("layers", INT, min=1, max=256), Param("growth", INT, min=1, max=4096),
     Param("bottleneck", INT, 4, min=0, max=16), NORM, ACT],
    2, _dense_infer,
    lambda layer, i, o, arch: blocks.DenseBlock(i[0], o[0], layers=layer["layers"], growth=layer["growth"],
                                                bottleneck=layer["bottleneck"], **_norm_act(arch, layer)),
    "DenseNet dense block of `layers` layers adding `growth` channels each (bottleneck 0: no 1x1)",
    example="dense(3,4)",
)


def _transition_infer(layer, shape, arch):
    s = layer["stride"]
    return (layer["out"], *_spatial(layer, shape, s, s, 0))


_register(
    "transition", [Param("out", INT, min=1, max=WIDTH_MAX), Param("stride", INT, 2, min=1, max=8), NORM, ACT], 1,
    _transition_infer,
    lambda layer, i, o, arch: blocks.Transition(i[0], o[0], layer["stride"], **_norm_act(arch, layer)),
    "DenseNet transition: norm-act-conv1x1 then average pooling",
    example="transition(6)",
)

_register(
    "normact", [NORM, ACT], 0, lambda layer, s, arch: _need_map(layer, s),
    lambda layer, i, o, arch: blocks.NormAct(i[0], **_norm_act(arch, layer)),
    "norm then activation (DenseNet's final norm5 + ReLU)",
    example="normact",
)


# --- head-side layers ---------------------------------------------------------------

_register(
    "dropout", [Param("p", FLOAT, 0.5, min=0.0, max=1.0)], 1, lambda layer, s, arch: s,
    lambda layer, i, o, arch: nn.Dropout(layer["p"]), "dropout", takes_skip=False,
    example="dropout(0.2)",
)
_register(
    "fc", [Param("out", INT, min=1, max=WIDTH_MAX), ACT], 1, lambda layer, s, arch: (layer["out"],),
    lambda layer, i, o, arch: blocks.FC(math.prod(i), o[0], act=arch.act_of(layer)),
    "fully connected layer (flattens its input) with an activation", takes_skip=False,
    example="fc(16)",
)
