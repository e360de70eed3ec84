"""Architecture -> ``nn.Module``, with shapes, parameters and MACs per layer.

The builder loops over the parsed layers and tracks shapes like torchvision's
``make_layers``: every layer's output shape is inferred (and checked) before any module
is built, so impossible architectures fail fast with the column of the culprit.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ArchError
from ..lang import Arch, Layer, parse
from ..limits import LIMITS
from .init import init_weights

Shape = tuple


@dataclass(frozen=True)
class LayerInfo:
    index: int  # 1-based position in the expanded layer list (what skip= refers to)
    layer: Layer
    in_shape: Shape
    out_shape: Shape
    params: int = 0
    macs: int = 0


def _check_input_shape(input_shape) -> Shape:
    try:
        shape = tuple(operator.index(x) for x in input_shape)
    except TypeError:
        raise ArchError(f"input shape must be (C, H, W) of whole numbers, got {input_shape!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ArchError(f"input shape must be (C, H, W) with positive sizes, got {tuple(input_shape)}")
    return shape


def infer_shapes(arch: Arch | str, input_shape) -> list[LayerInfo]:
    """Shapes of every layer, checked, without building anything."""
    arch = parse(arch)
    shapes = [_check_input_shape(input_shape)]  # shapes[0] is the network input
    infos = []
    for i, layer in enumerate(arch.layers, start=1):
        in_shape = shapes[-1]
        if layer.skip:
            in_shape = _concat_shape(layer, [shapes[-1]] + [shapes[s] for s in layer.skip])
        out = layer.spec.infer(layer, in_shape, arch)
        shapes.append(tuple(out))
        infos.append(LayerInfo(i, layer, in_shape, tuple(out)))
    return infos


def _concat_shape(layer: Layer, shapes: list[Shape]) -> Shape:
    if any(len(s) != 3 for s in shapes):
        raise ArchError(f"{layer.op}: skip connections need feature maps, not flat vectors", layer.col)
    hw = {s[1:] for s in shapes}
    if len(hw) > 1:
        sizes = ", ".join(f"{h}x{w}" for h, w in sorted(hw))
        raise ArchError(f"{layer.op}: skip=... joins feature maps of different sizes ({sizes})", layer.col)
    return (sum(s[0] for s in shapes), *shapes[0][1:])


class Network(nn.Module):
    """A built architecture: ``layers`` in order, then a linear classifier ``head``."""

    def __init__(self, arch: Arch, infos: list[LayerInfo], num_classes: int):
        super().__init__()
        self.arch_string = str(arch)
        self.layers = nn.ModuleList(info.layer.spec.build(info.layer, info.in_shape, info.out_shape, arch) for info in infos)
        self.skips = [info.layer.skip for info in infos]
        self.keep = sorted({s for sk in self.skips for s in sk})  # outputs later layers read again
        self.head = nn.Linear(math.prod(infos[-1].out_shape), num_classes)

    def features(self, x):
        saved = {0: x} if 0 in self.keep else {}
        for i, (layer, skip) in enumerate(zip(self.layers, self.skips), start=1):
            if skip:
                x = torch.cat([x] + [saved[s] for s in skip], 1)
            x = layer(x)
            if i in self.keep:
                saved[i] = x
        return x

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


def build(arch: Arch | str, input_shape=(3, 224, 224), num_classes: int = 1000) -> Network:
    """Build an architecture string into a PyTorch model.

    The candidate must pass :func:`check_size` first (without allocating anything), so no
    caller (``nas train``, ``nas export``, ``nas.load``, a trial) allocates an oversized model.

    >>> model = build("conv(16,3) basic(32,stride=2) gap", (1, 8, 8), 10)
    >>> model(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """
    return build_counted(arch, input_shape, num_classes)[0]


def build_counted(arch: Arch | str, input_shape=(3, 224, 224), num_classes: int = 1000) -> tuple[Network, Summary]:
    """:func:`build`, with the :class:`Summary` (params, MACs) its size check counted anyway:
    for a caller that needs both, without counting twice."""
    arch = parse(arch)
    summary = check_size(arch, input_shape, num_classes)
    return _build(arch, list(summary.layers[:-1]), num_classes), summary


def _fmt(n: int) -> str:
    return f"{n:,}"


def _too_large(what: str, value: int, limit: int, col: int = 0) -> ArchError:
    return ArchError(f"{what} {_fmt(value)} is above the limit of {_fmt(limit)} (nas.limits)", col)


def _check_num_classes(num_classes) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ArchError(f"num_classes must be a positive whole number, got {num_classes!r}")


def _check_input_limits(shape: Shape) -> None:
    c, h, w = shape
    if c > LIMITS.max_channels:
        raise _too_large("the input's channel count", c, LIMITS.max_channels)
    if max(h, w) > LIMITS.max_input_size:
        raise _too_large("the input's height or width", max(h, w), LIMITS.max_input_size)


def _check_layer_limits(infos: list[LayerInfo]) -> None:
    """Bounds each layer meets on its own: kernel sides, output channels (or features)."""
    for info in infos:
        layer = info.layer
        for name in ("k", "k5"):
            k = layer.get(name) if layer.op not in ("maxpool", "avgpool") else None
            side = max(k) if isinstance(k, tuple) else k
            if isinstance(side, int) and side > LIMITS.max_kernel:
                raise _too_large(f"{layer.op}: kernel size", side, LIMITS.max_kernel, layer.col)
        if info.out_shape[0] > LIMITS.max_channels:
            what = "channels" if len(info.out_shape) == 3 else "features"
            raise _too_large(f"{layer.op}: output {what}", info.out_shape[0], LIMITS.max_channels, layer.col)


def check_size(arch: Arch | str, input_shape=(3, 224, 224), num_classes: int = 1000) -> Summary:
    """Refuse, without allocating a tensor, a candidate too large to build: ``ArchError``
    saying what is too large and the limit (:data:`nas.limits.LIMITS`), else its
    :class:`Summary` (the same as :func:`summarize`'s).

    Cheap checks come first (the input's size, the layer count, each layer's kernel and
    output width, the activations a forward pass keeps, the classifier's weights), all from
    the shape rules alone; then the meta-device summary counts parameters and MACs.

    >>> check_size("conv(16,3) gap", (1, 8, 8), 10).params
    330
    """
    arch = parse(arch)
    _check_num_classes(num_classes)
    _check_input_limits(_check_input_shape(input_shape))
    if len(arch.layers) > LIMITS.max_layers:
        raise _too_large("the number of layers", len(arch.layers), LIMITS.max_layers)
    infos = infer_shapes(arch, input_shape)
    _check_layer_limits(infos)
    activations = sum(math.prod(info.out_shape) for info in infos)
    if activations > LIMITS.max_activations:
        raise _too_large("the activations of one input (elements of all layer outputs)", activations,
                         LIMITS.max_activations)
    head = (math.prod(infos[-1].out_shape) + 1) * num_classes
    if head > LIMITS.max_params:
        raise _too_large("the classifier's parameter count", head, LIMITS.max_params)
    summary = _summarize(arch, infos, tuple(input_shape), num_classes)
    if summary.params > LIMITS.max_params:
        raise _too_large("the parameter count", summary.params, LIMITS.max_params)
    if summary.macs > LIMITS.max_macs:
        raise _too_large("the MACs of one input", summary.macs, LIMITS.max_macs)
    return summary


def _build(arch: Arch, infos: list[LayerInfo], num_classes: int) -> Network:
    _check_num_classes(num_classes)
    try:
        model = Network(arch, infos, num_classes)
    except ValueError as e:  # a block's own check; the shape rules should have caught it
        raise ArchError(str(e)) from None
    # The architecture's init= scheme, as its torchvision family's __init__ does (nas/nn/init.py).
    init_weights(model, arch.settings.init)
    return model


@dataclass(frozen=True)
class Summary:
    arch: str
    input_shape: Shape
    num_classes: int
    layers: tuple[LayerInfo, ...]  # the head is the last entry (op "head")
    params: int
    macs: int

    @property
    def output(self) -> Shape:
        return (self.num_classes,)

    def to_dict(self) -> dict:
        return {
            "arch": self.arch,
            "input": list(self.input_shape),
            "classes": self.num_classes,
            "params": self.params,
            "macs": self.macs,
            "output": list(self.output),
            "layers": [
                {"index": li.index, "layer": str(li.layer) if li.layer else "head", "output": list(li.out_shape),
                 "params": li.params, "macs": li.macs}
                for li in self.layers
            ],
        }


def count_macs(model: nn.Module, input_shape) -> dict[nn.Module, int]:
    """Multiply-accumulates of every conv and linear module for ONE input, by forward hooks.

    Conv: out elements x (in_ch / groups) x kh x kw; linear: out elements x in_features.
    Pooling, norms and activations count 0: the convention of torchvision's published
    GFLOPS. Runs on the meta device, so nothing is computed or allocated.
    """
    macs: dict[nn.Module, int] = {}

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            n = out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        else:
            n = out.numel() * m.in_features
        macs[m] = macs.get(m, 0) + n

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()
            model(torch.zeros((1, *input_shape), device="meta"))
    finally:
        for h in handles:
            h.remove()
    return macs


def summarize(arch: Arch | str, input_shape=(3, 224, 224), num_classes: int = 1000) -> Summary:
    """Per-layer output shape, parameters and MACs, and the totals (head included).
    Nothing is allocated, but nothing is bounded either: :func:`check_size` is this within
    the limits."""
    arch = parse(arch)
    return _summarize(arch, infer_shapes(arch, input_shape), tuple(input_shape), num_classes)


def _summarize(arch: Arch, infos: list[LayerInfo], input_shape: Shape, num_classes: int) -> Summary:
    with torch.device("meta"):  # nothing allocated or computed: shapes and counts only
        model = _build(arch, infos, num_classes)
    macs = count_macs(model, tuple(input_shape))

    def tally(module):
        p = sum(t.numel() for t in module.parameters())
        m = sum(macs.get(sub, 0) for sub in module.modules())
        return p, m

    rows = []
    for info, module in zip(infos, model.layers):
        p, m = tally(module)
        rows.append(LayerInfo(info.index, info.layer, info.in_shape, info.out_shape, p, m))
    hp, hm = tally(model.head)
    rows.append(LayerInfo(len(infos) + 1, None, infos[-1].out_shape, (num_classes,), hp, hm))
    return Summary(str(arch), tuple(input_shape), num_classes, tuple(rows), sum(r.params for r in rows),
                   sum(r.macs for r in rows))
