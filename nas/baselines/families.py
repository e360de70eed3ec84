"""The classic networks as data: one variant table and one writer per family (ResNet,
ResNeXt, Wide ResNet, VGG, GoogLeNet, DenseNet), each writing :class:`~nas.lang.Layer`
objects for an input shape, and the registry of baselines with their papers and training
presets. How the writers adapt the networks to small inputs: docs/baselines.md.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ArchError
from ..lang import Layer, Settings, make_arch
from ..nn import summarize
from ..nn.ops import conv_out
from ..registry import Registry

SMALL_INPUT = 64  # short side (pixels) below which the small-input stem is used
IMAGENET = (3, 224, 224)


# ---------------------------------------------------------------------------
# Writing layers: a plan tracks the map size so downsampling can stop at 1 pixel.
# ---------------------------------------------------------------------------


class _Plan:
    """The layers being written for one input shape, and the current spatial size."""

    def __init__(self, input_shape):
        try:
            shape = tuple(int(x) for x in input_shape)
        except (TypeError, ValueError):
            shape = ()
        if len(shape) != 3 or min(shape) < 1:
            raise ArchError(f"input shape must be (C, H, W) with positive sizes, got {input_shape!r}")
        self.hw = shape[1:]
        self.small = min(self.hw) < SMALL_INPUT
        self.settings: dict[str, Any] = {}
        self.layers: list[Layer] = []

    def add(self, op: str, *values: Any, **named: Any) -> None:
        self.layers.append(Layer.make(op, *values, **named))

    def down(self, k: int, stride: int, pad: int = 0, ceil: bool = False) -> bool:
        """Whether a downsampling window still applies here; if it does, the map shrinks."""
        if min(self.hw) <= 1:
            return False
        out = tuple(conv_out(n, k, stride, pad, ceil) for n in self.hw)
        if min(out) < 1:
            return False
        self.hw = out
        return True

    def stride(self, k: int, stride: int, pad: int) -> int:
        """``stride`` if a strided layer still downsamples here, else 1."""
        return stride if self.down(k, stride, pad) else 1

    def kernel(self, k: int) -> int | tuple[int, int]:
        """The kernel of a stride-1 "same" conv here: 1 along a side that is 1 pixel long.

        There the conv only ever uses its centre taps; the others multiply zero padding, so a
        1-wide kernel is the same function without the dead weights. It also keeps the init
        right: Kaiming's fan counts k*k taps per channel, so on a 1-pixel map each k=3 conv
        would start 3x too small (9x in variance), and VGG-16 on digits has six of them in a row.
        """
        kh, kw = (k if n > 1 else 1 for n in self.hw)
        return kh if kh == kw else (kh, kw)

    def arch(self) -> str:
        return str(make_arch(self.layers, Settings(**self.settings)))


def _imagenet_stem(p: _Plan, width: int) -> None:
    # conv 7x7/2 + max pool 3x3/2 (He et al. 2015, Table 1; DenseNet's conv0 + pool0).
    p.add("conv", width, 7, stride=p.stride(7, 2, 3))
    if p.down(3, 2, 1):
        p.add("maxpool", 3, stride=2, pad=1)


# --- ResNet family (He et al. 2015; ResNeXt, Xie et al. 2016; WRN, Zagoruyko & Komodakis 2016)

_RESNET = {
    "resnet18": dict(block="basic", layers=(2, 2, 2, 2)),
    "resnet34": dict(block="basic", layers=(3, 4, 6, 3)),
    "resnet50": dict(block="bottleneck", layers=(3, 4, 6, 3)),
    "resnet101": dict(block="bottleneck", layers=(3, 4, 23, 3)),
    "resnet152": dict(block="bottleneck", layers=(3, 8, 36, 3)),
    "resnext50_32x4d": dict(block="bottleneck", layers=(3, 4, 6, 3), groups=32, width=4),
    "wide_resnet50_2": dict(block="bottleneck", layers=(3, 4, 6, 3), width=128),
}
_RESNET_PLANES = (64, 128, 256, 512)
_EXPANSION = {"basic": 1, "bottleneck": 4}


def _resnet(p: _Plan, *, block: str, layers, groups: int = 1, width: int = 64, eps: float = 1e-5) -> None:
    p.settings["eps"] = eps
    if p.small:
        p.add("conv", 64, p.kernel(3))  # CIFAR stem (He et al. 2015, Sec. 4.2)
    else:
        _imagenet_stem(p, 64)
    opts = dict(groups=groups, width=width) if block == "bottleneck" else {}
    for stage, (planes, n) in enumerate(zip(_RESNET_PLANES, layers)):
        out = planes * _EXPANSION[block]
        # Stride on the first block of stages 2-4, on its 3x3 conv (torchvision's v1.5).
        stride = p.stride(3, 2, 1) if stage else 1
        p.add(block, out, stride=stride, **opts)
        for _ in range(n - 1):
            p.add(block, out, **opts)
    p.add("gap")


# --- VGG (Simonyan & Zisserman 2014, Table 1): torchvision's cfgs, "M" is a 2x2/2 max pool

_VGG_CFGS = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "E": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}
_VGG = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}


def _vgg(p: _Plan, *, cfg, bn: bool, dropout: float = 0.5, eps: float = 1e-5) -> None:
    p.settings.update(norm="bn" if bn else "none", eps=eps, init=_vgg_init(p.small))
    for v in cfg:
        if v == "M":
            if p.down(2, 2):
                p.add("maxpool", 2)
        else:
            p.add("conv", v, p.kernel(3), bias=True)  # torchvision keeps conv biases even before BN
    # AdaptiveAvgPool2d((7, 7)), then Linear-ReLU-Dropout twice; the builder adds the last Linear.
    p.add("gap") if p.small else p.add("apool", 7)
    for _ in range(2):
        p.add("fc", 4096)
        p.add("dropout", dropout)


def _vgg_init(small: bool) -> str:
    """torchvision's VGG init at ImageNet sizes; He et al.'s forward init on small inputs.

    torchvision's init (convs N(0, 2/fan_out), every Linear N(0, 0.01)) suits the 224 network:
    its first Linear sees 512*7*7 = 25088 features, where 0.01 is about He's sqrt(2/25088), and
    torchvision trained VGG-11..19 from it. On a small input the classifier starts from 512
    features (``gap``): the same 0.01 shrinks the signal 7x more, and with fan_out on the
    1-channel first conv, the logits of VGG-16 on digits start at rms 0.003 (0.09 for
    torchvision's VGG-11 at 224). Measured on digits with the "vgg" preset (10 epochs, seed 0),
    val accuracy: VGG-16 without BN stays at chance (loss ln 10 throughout) with torchvision's
    init and reaches 72% with He et al. 2015's forward init (Sec. 2.2, made to train deep plain
    rectifier networks from scratch); VGG-16 with BN reaches 74% with torchvision's init (at
    chance for its first 3 epochs) and 96% with He's. Simonyan & Zisserman met the same stall
    (Sec. 3.1: deeper configurations were initialised from a trained net A).
    """
    return "he_fan_in" if small else "vgg"


# --- GoogLeNet (Szegedy et al. 2014, Table 1): inception widths in the table's column order

_INCEPTION = (
    (64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), "M",  # 3a, 3b, maxpool3
    (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),  # 4a-4c
    (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128), "M",  # 4d, 4e, maxpool4
    (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128),  # 5a, 5b
)
_GOOGLENET = {
    "googlenet": dict(k5=5, pools=(3, 3), dropout=0.4),  # the paper
    "googlenet_torchvision": dict(k5=3, pools=(3, 2), dropout=0.2),  # pytorch/vision#906
}


def _googlenet(p: _Plan, *, k5: int, pools, dropout: float, eps: float = 1e-3,
               transform_input: bool = False) -> None:
    p.settings["eps"] = eps  # torchvision's BasicConv2d: BatchNorm2d(eps=0.001)
    p.settings["init"] = "googlenet"  # torchvision's truncated normal, std 0.01
    if transform_input:
        p.add("conv", 3, 1, groups=3, norm="none", act="none")  # a per-channel affine map (norm=none: with bias)
    if p.small:
        p.add("conv", 192, p.kernel(3))  # replaces conv1 .. maxpool2 (kuangliu/pytorch-cifar)
    else:
        p.add("conv", 64, 7, stride=p.stride(7, 2, 3))
        if p.down(3, 2, 0, ceil=True):
            p.add("maxpool", 3, stride=2, ceil=True)
        p.add("conv", 64, 1)
        p.add("conv", 192, p.kernel(3))
        if p.down(3, 2, 0, ceil=True):
            p.add("maxpool", 3, stride=2, ceil=True)
    pools = iter(pools)
    for v in _INCEPTION:
        if v == "M":
            k = next(pools)
            if p.down(k, 2, 0, ceil=True):
                p.add("maxpool", k, stride=2, ceil=True)
        else:
            p.add("inception", *v, k5=k5)
    p.add("gap")
    p.add("dropout", dropout)


# --- DenseNet (Huang et al. 2016, Table 1): DenseNet-BC, compression 0.5

_DENSENET = {"densenet121": dict(growth=32, blocks=(6, 12, 24, 16), init=64)}


def _densenet(p: _Plan, *, growth: int, blocks, init: int, bn_size: int = 4, eps: float = 1e-5) -> None:
    p.settings.update(eps=eps, init="densenet")  # torchvision's DenseNet init (fan_in)
    if p.small:
        p.add("conv", init, p.kernel(3))  # DenseNet-BC on CIFAR: one 3x3 conv of 2k channels (Sec. 3)
    else:
        _imagenet_stem(p, init)
    ch = init
    for i, n in enumerate(blocks):
        p.add("dense", n, growth, bottleneck=bn_size)
        ch += n * growth
        if i < len(blocks) - 1:
            ch //= 2
            p.add("transition", ch, stride=p.stride(2, 2, 0))
    p.add("normact")  # torchvision's norm5, then F.relu before pooling
    p.add("gap")


_WRITERS: dict[str, Callable[..., None]] = {
    "resnet": _resnet, "vgg": _vgg, "googlenet": _googlenet, "densenet": _densenet,
}


def write_family(family: str, input_shape, **config) -> str:
    p = _Plan(input_shape)
    _WRITERS[family](p, **config)
    return p.arch()


# ---------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """A registered baseline: its family's writer and the variant's configuration."""

    name: str
    family: str
    paper: str
    torchvision: str | None  # the torchvision model with the same modules, if any
    config: tuple[tuple[str, Any], ...] = ()  # keyword arguments of the family's writer
    notes: str = ""
    preset: str = "default"  # training preset of nas.train's PRESETS: the paper's optimizer settings

    def arch(self, input_shape=IMAGENET) -> str:
        """The architecture string for an input shape (C, H, W)."""
        return write_family(self.family, input_shape, **dict(self.config))


BASELINES: Registry[Baseline] = Registry("baseline", ArchError)

_PAPERS = {
    "resnet": "He et al. 2015, Deep Residual Learning for Image Recognition (arXiv:1512.03385, CVPR 2016)",
    "resnext50_32x4d": "Xie et al. 2016, Aggregated Residual Transformations (ResNeXt, arXiv:1611.05431, CVPR 2017)",
    "wide_resnet50_2": "Zagoruyko & Komodakis 2016, Wide Residual Networks (arXiv:1605.07146, BMVC 2016)",
    "vgg": "Simonyan & Zisserman 2014, Very Deep Convolutional Networks (arXiv:1409.1556, ICLR 2015)",
    "googlenet": "Szegedy et al. 2014, Going Deeper with Convolutions (arXiv:1409.4842, CVPR 2015)",
    "densenet": "Huang et al. 2016, Densely Connected Convolutional Networks (arXiv:1608.06993, CVPR 2017)",
}


# Training presets (nas/train/config.py PRESETS, which cite the papers' sections): by name, else by family.
# GoogLeNet's paper gives momentum 0.9 but no learning rate or weight decay (Szegedy et al.
# 2014, Sec. 6), so it trains with our default.
# The bottleneck ResNets (a 2048-feature classifier) start at lr 0.01: see "resnet-deep".
_PRESETS = {
    "resnet": "resnet-deep",
    "resnet18": "resnet",
    "resnet34": "resnet",
    "resnext50_32x4d": "resnet-deep",  # Xie et al. 2017, Sec. 4: the ResNet recipe
    "wide_resnet50_2": "wide-resnet",
    "vgg": "vgg",
    "googlenet": "default",
    "densenet": "densenet",
}


def _register(name: str, family: str, twin: str | None, notes: str = "", **config) -> None:
    paper = _PAPERS.get(name, _PAPERS[family])
    preset = _PRESETS.get(name, _PRESETS[family])
    BASELINES.register(name, Baseline(name, family, paper, twin, tuple(config.items()), notes, preset))


for _name, _cfg in _RESNET.items():
    _register(_name, "resnet", _name, **_cfg)
for _name, _letter in _VGG.items():
    _register(_name, "vgg", _name, f"config {_letter}", cfg=_VGG_CFGS[_letter], bn=False)
    _register(f"{_name}_bn", "vgg", f"{_name}_bn", f"config {_letter} with BN", cfg=_VGG_CFGS[_letter], bn=True)
_register("googlenet", "googlenet", None,
          "the paper's Table 1 with BN after every conv, no LRN, no auxiliary classifiers",
          **_GOOGLENET["googlenet"])
_register("googlenet_torchvision", "googlenet", "googlenet",
          "torchvision's variant: 3x3 in the 5x5 branch, 2x2 pool before 5a, dropout 0.2 (pytorch/vision#906)",
          **_GOOGLENET["googlenet_torchvision"])
for _name, _cfg in _DENSENET.items():
    _register(_name, "densenet", _name, **_cfg)


def names() -> list[str]:
    """Registered baseline names, in registration order."""
    return BASELINES.names()


def get(name: str, input_shape=IMAGENET) -> str:
    """The architecture string of a baseline for an input shape (C, H, W).

    >>> get("densenet121", (1, 4, 4))  # small-input stem; 4 -> 2 -> 1, then stride 1
    'init=densenet conv(64,3) dense(6,32) transition(128) dense(12,32) transition(256) dense(24,32) transition(512,stride=1) dense(16,32) normact gap'
    """
    return BASELINES.get(name).arch(input_shape)


def preset_for(name: str) -> str:
    """The training preset of a baseline: its family's published optimizer settings.

    >>> preset_for("vgg16"), preset_for("googlenet")
    ('vgg', 'default')
    """
    return BASELINES.get(name).preset


@functools.lru_cache(maxsize=None)
def _measure(name: str) -> tuple[str, int, int]:
    arch = get(name)
    s = summarize(arch, IMAGENET, 1000)
    return arch, s.params, s.macs


def describe(name: str) -> dict:
    """Metadata of a baseline, measured at 3x224x224 with 1000 classes (cached).

    >>> describe("resnet50")["params"]
    25557032
    """
    b = BASELINES.get(name)
    arch, params, macs = _measure(name)
    return {
        "name": b.name,
        "family": b.family,
        "paper": b.paper,
        "torchvision": b.torchvision,
        "arch": arch,
        "input": list(IMAGENET),
        "classes": 1000,
        "params": params,
        "macs": macs,
        "notes": b.notes,
    }


