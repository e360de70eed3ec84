"""Hand-designed baselines as architecture strings, and weight import from torchvision.

>>> import nas, nas.baselines as B
>>> B.get("resnet18")
'conv(64,7,stride=2) maxpool(3,stride=2,pad=1) basic(64)*2 basic(128,stride=2) basic(128) basic(256,stride=2) basic(256) basic(512,stride=2) basic(512) gap'
>>> model = nas.build(B.get("resnet18", (1, 8, 8)), (1, 8, 8), num_classes=10)

Registered: ResNet-18/34/50/101/152 (He et al. 2015), ResNeXt-50 32x4d, Wide ResNet-50-2,
VGG-11/13/16/19 with and without BN, GoogLeNet (the paper's and torchvision's variant)
and DenseNet-121. Variants are data (``_RESNET``, ``_VGG_CFGS``, ...), as torchvision's
``cfgs``; one writer per family turns a variant into a string.

Faithfulness. Every baseline with a torchvision twin builds the same modules with exactly
the same parameter count at 3x224x224 and 1000 classes; :func:`from_torchvision` carries
a torchvision model's weights over, with identical outputs in eval mode.

API: ``names()``, ``get(name, input_shape=(3, 224, 224)) -> str``, ``describe(name) -> dict``
(params and MACs at 3x224x224, 1000 classes), ``preset_for(name)`` (the training preset
with the paper's optimizer settings), ``from_torchvision(model) -> Network``, and the
registry ``BASELINES`` of :class:`Baseline` entries.

Initialization. Each family's string names torchvision's init for it (``init=vgg``,
``init=googlenet``, ``init=densenet``; ResNets use the default, ``resnet``), so a baseline
starts as its torchvision twin does. The one exception is VGG on small inputs, which starts
from He's forward init (``init=he_fan_in``; ``_vgg_init`` gives the reason and the numbers).

GoogLeNet. ``googlenet`` is the paper's network (Szegedy et al. 2014, Table 1): 5x5
convolutions in the 5x5 branch, a 3x3/2 max pool before 5a, dropout 0.4, no auxiliary
classifiers. Like torchvision we put BN (eps 0.001) after every conv and drop the LRN
layers (BN-Inception drops them too; Ioffe & Szegedy 2015, Sec. 4.2.1).
``googlenet_torchvision`` is torchvision's variant: a 3x3 conv in the "5x5" branch
(pytorch/vision#906), a 2x2/2 max pool before 5a and dropout 0.2.

Other inputs (``get(name, input_shape)``). The channel count comes from the input shape and
the class count from the builder. Inputs of at least ``SMALL_INPUT`` (64) pixels on the
short side keep the ImageNet stem. Smaller inputs get the small-input stem, as CIFAR
networks do (He et al. 2015, Sec. 4.2):

* ResNet / ResNeXt / WRN, DenseNet: the stem (7x7/2 conv + 3x3/2 max pool) becomes one 3x3
  stride-1 conv of the same width, ``conv(64,3)``.
* GoogLeNet: ``conv(192,3)`` replaces conv1 .. maxpool2, as the usual CIFAR GoogLeNet
  (kuangliu/pytorch-cifar) does; inception 3a then sees 192 channels as in the paper.
* VGG: no stem to change; ``apool(7)`` becomes ``gap`` (the classifier starts from 512
  features instead of upsampling a tiny map to 7x7).

At any size, downsampling stops once the feature map is 1 pixel on a side: a pool that
would apply to such a map, or leave less than 1 pixel, is dropped, and a strided block or
transition becomes stride 1. A ``conv`` layer on a 1-pixel map gets a 1-pixel kernel (its
other taps would only ever see zero padding; same function, no dead weights, and an init
that counts the taps it really has). So digits (1x8x8) and CIFAR (3x32x32) both build.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from .arch import parse
from .builder import Network, build, summarize
from .errors import ArchError
from .ops import conv_out
from .registry import Registry

SMALL_INPUT = 64  # short side (pixels) below which the small-input stem is used
IMAGENET = (3, 224, 224)


# ---------------------------------------------------------------------------
# Writing strings: a plan tracks the map size so downsampling can stop at 1 pixel.
# ---------------------------------------------------------------------------


class _Plan:
    """Layer tokens being written for one input shape, and the current spatial size."""

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
        self.tokens: list[str] = []

    def add(self, *tokens: str) -> None:
        self.tokens.extend(tokens)

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

    def kernel(self, k: int) -> str:
        """The kernel of a stride-1 "same" conv here: 1 along a side that is 1 pixel long.

        There the conv only ever uses its centre taps; the others multiply zero padding, so a
        1-wide kernel is the same function without the dead weights. It also keeps the init
        right: Kaiming's fan counts k*k taps per channel, so on a 1-pixel map each k=3 conv
        would start 3x too small (9x in variance), and VGG-16 on digits has six of them in a row.
        """
        kh, kw = (k if n > 1 else 1 for n in self.hw)
        return str(kh) if kh == kw else f"{kh}x{kw}"

    def arch(self) -> str:
        settings = [f"{k}={v}" for k, v in self.settings.items()]
        return str(parse(" ".join(settings + self.tokens)))  # canonical form


def _imagenet_stem(p: _Plan, width: int) -> None:
    # conv 7x7/2 + max pool 3x3/2 (He et al. 2015, Table 1; DenseNet's conv0 + pool0).
    p.add(f"conv({width},7,stride={p.stride(7, 2, 3)})")
    if p.down(3, 2, 1):
        p.add("maxpool(3,stride=2,pad=1)")


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
        p.add(f"conv(64,{p.kernel(3)})")  # CIFAR stem (He et al. 2015, Sec. 4.2)
    else:
        _imagenet_stem(p, 64)
    opts = f",groups={groups},width={width}" if block == "bottleneck" else ""
    for stage, (planes, n) in enumerate(zip(_RESNET_PLANES, layers)):
        out = planes * _EXPANSION[block]
        # Stride on the first block of stages 2-4, on its 3x3 conv (torchvision's v1.5).
        stride = p.stride(3, 2, 1) if stage else 1
        p.add(f"{block}({out},stride={stride}{opts})", *[f"{block}({out}{opts})"] * (n - 1))
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
                p.add("maxpool(2)")
        else:
            p.add(f"conv({v},{p.kernel(3)},bias=true)")  # torchvision keeps conv biases even before BN
    # AdaptiveAvgPool2d((7, 7)), then Linear-ReLU-Dropout twice; the builder adds the last Linear.
    p.add("gap" if p.small else "apool(7)", *[f"fc(4096) dropout({dropout})"] * 2)


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
# torchvision's transform_input: x_c * (std_c / 0.5) + (mean_c - 0.5) / 0.5 per RGB channel.
_TV_MEAN, _TV_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_TRANSFORM = "conv(3,1,groups=3,norm=none,act=none)"  # norm=none: the conv has a bias


def _googlenet(p: _Plan, *, k5: int, pools, dropout: float, eps: float = 1e-3,
               transform_input: bool = False) -> None:
    p.settings["eps"] = eps  # torchvision's BasicConv2d: BatchNorm2d(eps=0.001)
    p.settings["init"] = "googlenet"  # torchvision's truncated normal, std 0.01
    if transform_input:
        p.add(_TRANSFORM)
    if p.small:
        p.add(f"conv(192,{p.kernel(3)})")  # replaces conv1 .. maxpool2 (kuangliu/pytorch-cifar)
    else:
        p.add(f"conv(64,7,stride={p.stride(7, 2, 3)})")
        if p.down(3, 2, 0, ceil=True):
            p.add("maxpool(3,stride=2,ceil=true)")
        p.add("conv(64,1)", f"conv(192,{p.kernel(3)})")
        if p.down(3, 2, 0, ceil=True):
            p.add("maxpool(3,stride=2,ceil=true)")
    pools = iter(pools)
    for v in _INCEPTION:
        if v == "M":
            k = next(pools)
            if p.down(k, 2, 0, ceil=True):
                p.add(f"maxpool({k},stride=2,ceil=true)")
        else:
            p.add(f"inception({','.join(map(str, v))},k5={k5})")
    p.add("gap", f"dropout({dropout})")


# --- DenseNet (Huang et al. 2016, Table 1): DenseNet-BC, compression 0.5

_DENSENET = {"densenet121": dict(growth=32, blocks=(6, 12, 24, 16), init=64)}


def _densenet(p: _Plan, *, growth: int, blocks, init: int, bn_size: int = 4, eps: float = 1e-5) -> None:
    p.settings.update(eps=eps, init="densenet")  # torchvision's DenseNet init (fan_in)
    if p.small:
        p.add(f"conv({init},{p.kernel(3)})")  # DenseNet-BC on CIFAR: one 3x3 conv of 2k channels (Sec. 3)
    else:
        _imagenet_stem(p, init)
    ch = init
    for i, n in enumerate(blocks):
        p.add(f"dense({n},{growth},bottleneck={bn_size})")
        ch += n * growth
        if i < len(blocks) - 1:
            ch //= 2
            p.add(f"transition({ch},stride={p.stride(2, 2, 0)})")
    p.add("normact", "gap")  # torchvision's norm5, then F.relu before pooling


_WRITERS: dict[str, Callable[..., None]] = {
    "resnet": _resnet, "vgg": _vgg, "googlenet": _googlenet, "densenet": _densenet,
}


def _write(family: str, input_shape, **config) -> str:
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
    preset: str = "default"  # training preset of nas/train.py's PRESETS: the paper's optimizer settings

    def arch(self, input_shape=IMAGENET) -> str:
        """The architecture string for an input shape (C, H, W)."""
        return _write(self.family, input_shape, **dict(self.config))


BASELINES: Registry[Baseline] = Registry("baseline", ArchError)

_PAPERS = {
    "resnet": "He et al. 2015, Deep Residual Learning for Image Recognition (arXiv:1512.03385, CVPR 2016)",
    "resnext50_32x4d": "Xie et al. 2016, Aggregated Residual Transformations (ResNeXt, arXiv:1611.05431, CVPR 2017)",
    "wide_resnet50_2": "Zagoruyko & Komodakis 2016, Wide Residual Networks (arXiv:1605.07146, BMVC 2016)",
    "vgg": "Simonyan & Zisserman 2014, Very Deep Convolutional Networks (arXiv:1409.1556, ICLR 2015)",
    "googlenet": "Szegedy et al. 2014, Going Deeper with Convolutions (arXiv:1409.4842, CVPR 2015)",
    "densenet": "Huang et al. 2016, Densely Connected Convolutional Networks (arXiv:1608.06993, CVPR 2017)",
}


# Training presets (nas/train.py PRESETS, which cite the papers' sections): by name, else by family.
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


# ---------------------------------------------------------------------------
# Weight import from torchvision
# ---------------------------------------------------------------------------


def from_torchvision(model: nn.Module) -> Network:
    """Our :class:`Network` equivalent to a torchvision ResNet, VGG, GoogLeNet or DenseNet,
    carrying its weights and buffers (identical outputs in eval mode).

    The family is found from the model's class and its configuration from its modules; we
    write our string, build it on the model's device and dtype, check that both networks
    have the same modules in the same order, and copy the state dicts entry by entry
    (torchvision's auxiliary GoogLeNet classifiers are skipped). Anything that does not
    match raises :class:`ArchError` naming the module or weight.

    A GoogLeNet with ``transform_input=True`` (torchvision's default with pretrained
    weights) gets a first layer ``conv(3,1,groups=3,norm=none,act=none)`` (a conv with bias) that
    holds the same per-channel affine map, so outputs stay identical; unlike torchvision's
    constants, its 6 parameters are trainable.

    >>> import torchvision
    >>> net = from_torchvision(torchvision.models.resnet18(num_classes=10))
    >>> net.arch_string == get("resnet18"), net.head.out_features
    (True, 10)
    """
    family, config, skip = _read_torchvision(model)
    leaves = _leaves(model, skip)
    convs = [m for _, m in leaves if isinstance(m, nn.Conv2d)]
    linears = [m for _, m in leaves if isinstance(m, nn.Linear)]
    if not convs or not linears:
        raise ArchError(f"{type(model).__name__} has no convolution or no final Linear classifier")
    shape = (convs[0].in_channels, *IMAGENET[1:])
    arch = _write(family, shape, **config)
    ref = next(model.parameters())
    with torch.device("meta"):  # every entry is copied below: skip allocating and initialising
        net = build(arch, shape, linears[-1].out_features)
    net = net.to_empty(device=ref.device).to(dtype=ref.dtype)
    ours_skip = ("layers.0.",) if config.get("transform_input") else ()
    _check_layout(leaves, _leaves(net, ours_skip))
    _copy_state(model, net, skip, ours_skip)
    if config.get("transform_input"):
        with torch.no_grad():
            conv = net.layers[0].conv
            conv.weight.copy_(torch.tensor([s / 0.5 for s in _TV_STD]).view(3, 1, 1, 1))
            conv.bias.copy_(torch.tensor([(m - 0.5) / 0.5 for m in _TV_MEAN]))
    return net.train(model.training)


def _read_torchvision(model: nn.Module) -> tuple[str, dict, tuple[str, ...]]:
    """(family, writer config, state-dict prefixes to skip) of a torchvision model."""
    from torchvision.models import VGG, DenseNet, GoogLeNet, ResNet
    from torchvision.models.resnet import BasicBlock, Bottleneck

    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    eps = {"eps": bns[0].eps} if bns else {}
    if isinstance(model, ResNet):
        if model.dilation != 1:
            raise ArchError("dilated ResNets (replace_stride_with_dilation) are not expressible in our language")
        first = model.layer1[0]
        block = "basic" if isinstance(first, BasicBlock) else "bottleneck" if isinstance(first, Bottleneck) else None
        if block is None:
            raise ArchError(f"ResNet with block {type(first).__name__} is not supported (BasicBlock or Bottleneck)")
        layers = tuple(len(getattr(model, f"layer{i}")) for i in range(1, 5))
        opts = dict(groups=model.groups, width=model.base_width) if block == "bottleneck" else {}
        return "resnet", dict(block=block, layers=layers, **opts, **eps), ()
    if isinstance(model, VGG):
        cfg: list = []
        for m in model.features:
            if isinstance(m, nn.Conv2d):
                cfg.append(m.out_channels)
            elif isinstance(m, nn.MaxPool2d):
                cfg.append("M")
            elif not isinstance(m, (nn.BatchNorm2d, nn.ReLU)):
                raise ArchError(f"VGG features contain {type(m).__name__}, which a VGG string cannot express")
        drops = [m.p for m in model.classifier if isinstance(m, nn.Dropout)]
        return "vgg", dict(cfg=tuple(cfg), bn=bool(bns), dropout=drops[0] if drops else 0.5, **eps), ()
    if isinstance(model, GoogLeNet):
        k5 = model.inception3a.branch3[1].conv.kernel_size[0]
        pools = tuple(_first(pool.kernel_size) for pool in (model.maxpool3, model.maxpool4))
        cfg = dict(k5=k5, pools=pools, dropout=model.dropout.p, transform_input=bool(model.transform_input), **eps)
        return "googlenet", cfg, ("aux1.", "aux2.")
    if isinstance(model, DenseNet):
        blocks = [m for n, m in model.features.named_children() if n.startswith("denseblock")]
        first = next(iter(blocks[0].values()))
        if any(layer.drop_rate > 0 for b in blocks for layer in b.values()):
            raise ArchError("DenseNet with drop_rate > 0 is not expressible (dense blocks have no dropout)")
        growth = first.conv2.out_channels
        cfg = dict(growth=growth, blocks=tuple(len(b) for b in blocks), init=model.features.conv0.out_channels,
                   bn_size=first.conv1.out_channels // growth, **eps)
        return "densenet", cfg, ()
    raise ArchError(f"cannot import torchvision's {type(model).__name__}: "
                    "supported are ResNet (ResNeXt, Wide ResNet), VGG, GoogLeNet and DenseNet")


def _first(k) -> int:
    return k[0] if isinstance(k, tuple) else k


def _leaves(model: nn.Module, skip: tuple[str, ...]) -> list[tuple[str, nn.Module]]:
    """Modules without children, in registration order, minus those under ``skip``."""
    return [(n, m) for n, m in model.named_modules()
            if not any(True for _ in m.children()) and not (n + ".").startswith(skip)]


def _signature(m: nn.Module) -> str | None:
    """What decides a module's output, for the modules that carry weights or pool."""

    def size(v) -> str:
        h, w = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
        return f"{h}x{w}"

    if isinstance(m, nn.Conv2d):
        return (f"Conv2d({m.in_channels}, {m.out_channels}, k={size(m.kernel_size)}, stride={size(m.stride)}, "
                f"pad={size(m.padding)}, dilation={size(m.dilation)}, groups={m.groups}, bias={m.bias is not None})")
    if isinstance(m, nn.BatchNorm2d):
        return f"BatchNorm2d({m.num_features}, eps={m.eps}, affine={m.affine}, stats={m.track_running_stats})"
    if isinstance(m, nn.Linear):
        return f"Linear({m.in_features}, {m.out_features}, bias={m.bias is not None})"
    if isinstance(m, nn.MaxPool2d):
        return (f"MaxPool2d(k={size(m.kernel_size)}, stride={size(m.stride)}, pad={size(m.padding)}, "
                f"dilation={size(m.dilation)}, ceil={m.ceil_mode})")
    if isinstance(m, nn.AvgPool2d):
        return (f"AvgPool2d(k={size(m.kernel_size)}, stride={size(m.stride)}, pad={size(m.padding)}, "
                f"ceil={m.ceil_mode}, count_include_pad={m.count_include_pad}, divisor={m.divisor_override})")
    if any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False)):
        return type(m).__name__  # a weighted module we do not know: compared by type alone
    return None


def _check_layout(theirs: list, ours: list) -> None:
    a = [(n, s) for n, m in theirs if (s := _signature(m)) is not None]
    b = [(n, s) for n, m in ours if (s := _signature(m)) is not None]
    for i, ((na, sa), (nb, sb)) in enumerate(zip(a, b)):
        if sa != sb:
            raise ArchError(f"module {i + 1} differs: torchvision's {na} is {sa} but ours ({nb}) is {sb}")
    if len(a) != len(b):
        extra = f"torchvision's {a[len(b)][0]}" if len(a) > len(b) else f"ours {b[len(a)][0]}"
        raise ArchError(f"torchvision's model has {len(a)} weighted or pooling modules, ours {len(b)}; "
                        f"the first unmatched is {extra}")


def _copy_state(model: nn.Module, net: Network, skip: tuple[str, ...], ours_skip: tuple[str, ...]) -> None:
    theirs = [(k, v) for k, v in model.state_dict().items() if not k.startswith(skip)]
    ours = [(k, v) for k, v in net.state_dict().items() if not k.startswith(ours_skip)]
    for (ka, va), (kb, vb) in zip(theirs, ours):
        if va.shape != vb.shape:
            raise ArchError(f"torchvision's {ka} has shape {tuple(va.shape)} but ours ({kb}) has {tuple(vb.shape)}")
    if len(theirs) != len(ours):
        extra = f"torchvision's {theirs[len(ours)][0]}" if len(theirs) > len(ours) else f"ours {ours[len(theirs)][0]}"
        raise ArchError(f"torchvision's state has {len(theirs)} entries, ours {len(ours)}; "
                        f"the first unmatched is {extra}")
    with torch.no_grad():
        for (_, va), (_, vb) in zip(theirs, ours):
            vb.copy_(va)
