"""Weight initialization schemes of the ``init=`` architecture setting (``nas.lang.INITS``).

Each is the loop body of a torchvision family's ``__init__``: called on every module of the
built network, in registration order (``model.modules()``), as torchvision does, so with the
same seed and the same modules a network gets the very same weights as its torchvision twin.
What a scheme does not touch keeps PyTorch's default initialization.
"""
from __future__ import annotations

import torch
from torch import nn

from ..lang import INITS

# torchvision sets norm scales to 1 and shifts to 0 in every family; those are PyTorch's
# defaults too, so this only matters for the record (and if a default ever changed).
_AFFINE_NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)


def _ones_zeros(m: nn.Module) -> None:
    if m.weight is not None:
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


@INITS.register("resnet")
def _init_resnet(m: nn.Module) -> None:
    # torchvision models/resnet.py, ResNet.__init__ (lines 208-213): He et al. 2015 ("Delving
    # deep", Sec. 2.2) normal init, fan_out mode, on every conv; norms 1/0; the fc keeps
    # PyTorch's default. torchvision's ResNet convs have no bias; ours (a conv without a norm)
    # start at 0, as VGG's do. The default scheme: it is what every string got before init=.
    if isinstance(m, nn.Conv2d):
        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, _AFFINE_NORMS):
        _ones_zeros(m)


@INITS.register("vgg")
def _init_vgg(m: nn.Module) -> None:
    # torchvision models/vgg.py, VGG.__init__ (lines 52-63): convs as ResNet's (fan_out) with
    # zero biases; BN 1/0; every Linear N(0, 0.01) with zero bias (the paper's random init,
    # Simonyan & Zisserman 2014 Sec. 3.1, kept for the classifier).
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, 0.0, 0.01)
        nn.init.zeros_(m.bias)
    else:
        _init_resnet(m)


@INITS.register("googlenet")
def _init_googlenet(m: nn.Module) -> None:
    # torchvision models/googlenet.py, GoogLeNet.__init__ (lines 94-100): conv and Linear
    # weights from a normal with std 0.01 truncated at +-2 (absolute, i.e. 200 std: in effect
    # untruncated); BN 1/0. Biases are not touched (its convs have none; the fc keeps PyTorch's
    # default bias).
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2.0, b=2.0)
    elif isinstance(m, _AFFINE_NORMS):
        _ones_zeros(m)


@INITS.register("densenet")
def _init_densenet(m: nn.Module) -> None:
    # torchvision models/densenet.py, DenseNet.__init__ (lines 202-210, "official init from
    # torch repo"): kaiming_normal_ with its defaults, i.e. fan_in and gain sqrt(2), on convs;
    # BN 1/0; Linear bias 0 (its weight keeps PyTorch's default).
    if isinstance(m, nn.Conv2d):
        nn.init.kaiming_normal_(m.weight)
    elif isinstance(m, _AFFINE_NORMS):
        _ones_zeros(m)
    elif isinstance(m, nn.Linear):
        nn.init.zeros_(m.bias)


@INITS.register("he_fan_in")
def _init_he_fan_in(m: nn.Module) -> None:
    # He et al. 2015 ("Delving deep", Sec. 2.2, Eq. 10, the forward case): every conv and
    # Linear weight N(0, 2 / fan_in), biases 0, so a plain (norm-free) stack of rectifier layers
    # keeps its signal from the input to the logits; their 22- and 30-layer plain networks
    # train from scratch with it (Figs. 2-3). It does not model max pooling or dropout, which
    # raise the signal: VGG-11's first-epoch loss on digits is ~5 (the "vgg" preset warms up).
    # torchvision's families use it only for DenseNet's convs; the baselines use it for VGG
    # on small inputs (nas/baselines/families.py ``_vgg_init`` says why).
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, _AFFINE_NORMS):
        _ones_zeros(m)


@torch.no_grad()
def init_weights(model: nn.Module, scheme: str) -> None:
    """Apply a registered scheme to every module of ``model``, in registration order.

    On the meta device the ``nn.init`` calls only check shapes (nothing is computed), so
    building there (summaries, ``nas.load``, ``from_torchvision``) stays cheap.
    """
    apply = INITS.get(scheme)
    for m in model.modules():
        apply(m)
