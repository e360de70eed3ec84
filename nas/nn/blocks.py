"""The block library. Every block has one signature (torchvision ``BasicBlock``)::

    Block(in_ch, out_ch, stride=1, *, norm="bn", act="relu", eps=1e-5, **options)

Submodules are registered in the same order as torchvision's twins (conv, norm, ...,
downsample), so weights can be carried over from torchvision models by position.
Unsupported combinations raise ``ValueError`` with a reason.
"""
from __future__ import annotations

import torch
from torch import nn

from .norms import make_act, make_norm


def _pair(k: int | tuple[int, int]) -> tuple[int, int]:
    return (k, k) if isinstance(k, int) else tuple(k)


class ConvNormAct(nn.Module):
    """conv -> norm -> activation, "same" padding (k // 2). The conv has a bias only
    when no norm follows it (a norm's shift makes it redundant), unless ``bias`` says so
    (torchvision's VGG-BN keeps conv biases)."""

    def __init__(self, in_ch, out_ch, stride=1, *, norm="bn", act="relu", eps=1e-5,
                 kernel=3, groups=1, bias=None):
        super().__init__()
        kh, kw = _pair(kernel)
        if in_ch % groups or out_ch % groups:
            raise ValueError(f"groups={groups} must divide both {in_ch} input and {out_ch} output channels")
        self.conv = nn.Conv2d(in_ch, out_ch, (kh, kw), stride, (kh // 2, kw // 2), groups=groups,
                              bias=(norm == "none") if bias is None else bias)
        self.norm = make_norm(norm, out_ch, eps)
        self.act = make_act(act)

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class NormActConv(nn.Module):
    """Pre-activation unit: norm -> activation -> conv (DenseNet, Huang et al. 2017, Sec. 3)."""

    def __init__(self, in_ch, out_ch, stride=1, *, norm="bn", act="relu", eps=1e-5, kernel=1):
        super().__init__()
        self.norm = make_norm(norm, in_ch, eps)
        self.act = make_act(act)
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, bias=False)

    def forward(self, x):
        return self.conv(self.act(self.norm(x)))


class NormAct(nn.Module):
    """norm -> activation alone (DenseNet's final ``norm5`` + ReLU)."""

    def __init__(self, in_ch, out_ch=None, stride=1, *, norm="bn", act="relu", eps=1e-5):
        super().__init__()
        if out_ch not in (None, in_ch) or stride != 1:
            raise ValueError("normact keeps the shape of its input")
        self.norm = make_norm(norm, in_ch, eps)
        self.act = make_act(act)

    def forward(self, x):
        return self.act(self.norm(x))


class SepConv(nn.Module):
    """Depthwise-separable conv (MobileNet, Howard et al. 2017, Fig. 3): a k x k depthwise
    conv-norm-act, then a 1x1 pointwise conv-norm-act."""

    def __init__(self, in_ch, out_ch, stride=1, *, norm="bn", act="relu", eps=1e-5, kernel=3):
        super().__init__()
        self.depthwise = ConvNormAct(in_ch, in_ch, stride, norm=norm, act=act, eps=eps, kernel=kernel, groups=in_ch)
        self.pointwise = ConvNormAct(in_ch, out_ch, 1, norm=norm, act=act, eps=eps, kernel=1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def _shortcut(in_ch, out_ch, stride, norm, eps):
    # Projection shortcut (option B of He et al. 2015, Sec. 3.3) only where the shape changes.
    if stride == 1 and in_ch == out_ch:
        return None
    return ConvNormAct(in_ch, out_ch, stride, norm=norm, act="none", eps=eps, kernel=1)


class BasicBlock(nn.Module):
    """ResNet basic block (He et al. 2015, Fig. 5 left): two 3x3 convs plus the shortcut."""

    def __init__(self, in_ch, out_ch, stride=1, *, norm="bn", act="relu", eps=1e-5):
        super().__init__()
        self.conv1 = ConvNormAct(in_ch, out_ch, stride, norm=norm, act=act, eps=eps)
        self.conv2 = ConvNormAct(out_ch, out_ch, 1, norm=norm, act="none", eps=eps)
        self.downsample = _shortcut(in_ch, out_ch, stride, norm, eps)
        self.act = make_act(act)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.act(self.conv2(self.conv1(x)) + identity)


class Bottleneck(nn.Module):
    """ResNet bottleneck (He et al. 2015, Fig. 5 right), stride on the 3x3 conv (torchvision's
    "ResNet v1.5"). ``out_ch = planes * expansion``; the inner width is
    ``int(planes * width / 64) * groups`` as in torchvision, so ``groups=32, width=4`` is
    ResNeXt-50 32x4d (Xie et al. 2017) and ``width=128`` is Wide ResNet-50-2
    (Zagoruyko & Komodakis 2016)."""

    def __init__(self, in_ch, out_ch, stride=1, *, norm="bn", act="relu", eps=1e-5,
                 groups=1, width=64, expansion=4):
        super().__init__()
        if out_ch % expansion:
            raise ValueError(f"output width {out_ch} is not a multiple of expansion={expansion}")
        mid = bottleneck_width(out_ch, groups, width, expansion)
        if mid < 1:
            raise ValueError(f"inner width int({out_ch // expansion} * {width} / 64) * {groups} is below 1")
        self.conv1 = ConvNormAct(in_ch, mid, 1, norm=norm, act=act, eps=eps, kernel=1)
        self.conv2 = ConvNormAct(mid, mid, stride, norm=norm, act=act, eps=eps, groups=groups)
        self.conv3 = ConvNormAct(mid, out_ch, 1, norm=norm, act="none", eps=eps, kernel=1)
        self.downsample = _shortcut(in_ch, out_ch, stride, norm, eps)
        self.act = make_act(act)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.act(self.conv3(self.conv2(self.conv1(x))) + identity)


def bottleneck_width(out_ch: int, groups: int, width: int, expansion: int) -> int:
    return int((out_ch // expansion) * (width / 64.0)) * groups


def inception_out(in_ch: int, widths: tuple[int, ...]) -> int:
    c1, _, c3, _, c5, pp = widths
    return c1 + c3 + c5 + (pp if pp else in_ch)


class Inception(nn.Module):
    """GoogLeNet's Inception module (Szegedy et al. 2014, Fig. 2), widths in the order of the
    paper's Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.

    A reduce width of 0 drops that 1x1 bottleneck and a pool proj of 0 passes the pooled
    input through unprojected: ``(128,0,192,0,96,0)`` is the naive module of Fig. 2(a).
    A branch width of 0 drops the branch. ``k5`` is the kernel of the "5x5" branch (5 in
    the paper; torchvision's GoogLeNet uses 3, pytorch/vision#906)."""

    def __init__(self, in_ch, out_ch=None, stride=1, *, norm="bn", act="relu", eps=1e-5,
                 widths=(64, 96, 128, 16, 32, 32), k5=5):
        super().__init__()
        c1, r3, c3, r5, c5, pp = widths
        if stride != 1:
            raise ValueError("an Inception module keeps the spatial size (stride 1)")
        if out_ch not in (None, inception_out(in_ch, widths)):
            raise ValueError(f"Inception output width is {inception_out(in_ch, widths)}, not {out_ch}")
        unit = dict(norm=norm, act=act, eps=eps)

        def branch(reduce, width, k):
            if width == 0:
                return None
            if reduce == 0:
                return ConvNormAct(in_ch, width, kernel=k, **unit)
            return nn.Sequential(ConvNormAct(in_ch, reduce, kernel=1, **unit), ConvNormAct(reduce, width, kernel=k, **unit))

        self.branch1 = branch(0, c1, 1)
        self.branch2 = branch(r3, c3, 3)
        self.branch3 = branch(r5, c5, k5)
        pool = nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True)
        self.branch4 = nn.Sequential(pool, ConvNormAct(in_ch, pp, kernel=1, **unit)) if pp else pool

    def forward(self, x):
        outs = [b(x) for b in (self.branch1, self.branch2, self.branch3, self.branch4) if b is not None]
        return torch.cat(outs, 1)


class DenseBlock(nn.Module):
    """DenseNet dense block (Huang et al. 2017, Sec. 3): each layer sees the concatenation
    of all earlier feature maps and adds ``growth`` channels. With ``bottleneck=b`` > 0 each
    layer is BN-ReLU-Conv1x1(b * growth)-BN-ReLU-Conv3x3(growth) ("DenseNet-B", b = 4)."""

    def __init__(self, in_ch, out_ch=None, stride=1, *, norm="bn", act="relu", eps=1e-5,
                 layers=6, growth=32, bottleneck=4):
        super().__init__()
        if stride != 1:
            raise ValueError("a dense block keeps the spatial size (stride 1)")
        if out_ch not in (None, in_ch + layers * growth):
            raise ValueError(f"dense block output width is {in_ch + layers * growth}, not {out_ch}")
        unit = dict(norm=norm, act=act, eps=eps)
        self.layers = nn.ModuleList()
        for i in range(layers):
            ch = in_ch + i * growth
            if bottleneck:
                layer = nn.Sequential(NormActConv(ch, bottleneck * growth, kernel=1, **unit),
                                      NormActConv(bottleneck * growth, growth, kernel=3, **unit))
            else:
                layer = NormActConv(ch, growth, kernel=3, **unit)
            self.layers.append(layer)

    def forward(self, x):
        feats = [x]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, 1)))
        return torch.cat(feats, 1)


class Transition(nn.Module):
    """DenseNet transition (Huang et al. 2017, Sec. 3): BN-ReLU-Conv1x1 then 2x2 average pooling."""

    def __init__(self, in_ch, out_ch, stride=2, *, norm="bn", act="relu", eps=1e-5):
        super().__init__()
        self.unit = NormActConv(in_ch, out_ch, kernel=1, norm=norm, act=act, eps=eps)
        self.pool = nn.AvgPool2d(stride, stride) if stride > 1 else nn.Identity()

    def forward(self, x):
        return self.pool(self.unit(x))


class FC(nn.Module):
    """Flatten -> Linear -> activation."""

    def __init__(self, in_features, out_features, *, act="relu"):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.act = make_act(act)

    def forward(self, x):
        return self.act(self.linear(torch.flatten(x, 1)))
