"""torchvision models -> our networks with the same weights: :func:`from_torchvision`."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ArchError
from ..nn import Network, build
from .families import IMAGENET, write_family

# torchvision's transform_input: x_c * (std_c / 0.5) + (mean_c - 0.5) / 0.5 per RGB channel.
_TV_MEAN, _TV_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


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
    >>> from nas.baselines import get
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
    arch = write_family(family, shape, **config)
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
