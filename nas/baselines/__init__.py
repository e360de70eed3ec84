"""Hand-designed baselines written in the architecture language, faithful to torchvision.

>>> import nas, nas.baselines as B
>>> B.get("resnet18")
'conv(64,7,stride=2) maxpool(3,stride=2,pad=1) basic(64)*2 basic(128,stride=2) basic(128) basic(256,stride=2) basic(256) basic(512,stride=2) basic(512) gap'
>>> model = nas.build(B.get("resnet18", (1, 8, 8)), (1, 8, 8), num_classes=10)

ResNet-18..152, ResNeXt-50 32x4d, Wide ResNet-50-2, VGG-11..19 with and without BN,
GoogLeNet (the paper's and torchvision's) and DenseNet-121; ``get(name, input_shape)``
adapts each to the input, ``from_torchvision`` carries a torchvision model's weights over.
"""
from .families import BASELINES, IMAGENET, SMALL_INPUT, Baseline, describe, get, names, preset_for
from .torchvision import from_torchvision

__all__ = ["BASELINES", "IMAGENET", "SMALL_INPUT", "Baseline", "describe", "from_torchvision", "get", "names",
           "preset_for"]
