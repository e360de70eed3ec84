"""Every bound on user input in one place, so nothing a user writes can exhaust the machine.

Architecture strings, space files and ``--config`` files are read by code whose cost grows
with what they say: ``conv(8,3)*1000000000`` asks for a billion layers, ``width: [65536]``
for a model of hundreds of gigabytes. Each reader checks its input against :data:`LIMITS`
before doing the work and refuses with one line naming the bound. The values admit every
built-in baseline with room to spare (the largest, VGG-19 at 3x224x224: 144M parameters,
19.6G MACs, 16M activations per image, 4096 channels, 26 layers).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    # -- architecture strings (nas.lang) ------------------------------------------------
    # Characters of one string: 512 layers of the longest spelling (every keyword, a long
    # skip list) fit, and the lexer's and parser's work stays linear and small.
    max_arch_chars: int = 65536
    # One ``*N``: far past ResNet-152's longest run (36 bottlenecks), and a count is
    # refused before the list of layers is expanded.
    max_repeat: int = 512
    # Layers after expanding repeats (ResNet-152 is 53 in this language). The meta-device
    # summary costs ~3 ms a layer, so this keeps every check and ``nas show`` near a second.
    max_layers: int = 512
    # Digits of one whole number in a string or a YAML file: room for every count above
    # (a space's max_macs of 10^11 is 12 digits) and int64, far below Python's 4300-digit
    # int conversion limit (past it int() raises ValueError) and costless to convert.
    max_int_digits: int = 18

    # -- one candidate network (nas.nn.check_size) --------------------------------------
    # Channels of any layer's output or of the input: 2x VGG's 4096-wide fc layers, 4x
    # ResNet-50's 2048; ``conv(65536,3)`` (a 154 GB attempt at 224x224) is refused here.
    max_channels: int = 8192
    # Kernel (window) side of a conv; the layer table's own conv bound.
    max_kernel: int = 15
    # Height and width of the input: 2048 covers every image dataset this package loads
    # (8 to 224 pixels) and high-resolution inputs up to 2K.
    max_input_size: int = 2048
    # Parameters of one candidate, head included: 2 GB of float32 weights (8 GB with
    # gradients and Adam's moments), 3.5x VGG-19's 144M.
    max_params: int = 500_000_000
    # Multiply-accumulates for one input (nas.summarize's count): 5x VGG-19's 19.6G, about
    # VGG-19 at 500x500; a training step of more is hours per epoch on any one device.
    max_macs: int = 100_000_000_000
    # Elements of every layer output together, for one input: what a forward pass keeps for
    # the backward pass. 128M elements are 512 MB of float32 per image, 8x VGG-19's 16M.
    max_activations: int = 128_000_000

    # -- a weight-sharing supernet (nas.oneshot.plan_supernet / check_fits) ---------------
    # Parameters of all the shared weights of a space together: the widest option of every
    # block type at every depth, held at once on one device with gradients and optimizer
    # slots. 1G parameters are 4 GB of float32 weights, 12 GB with gradients and SGD momentum
    # (16 GB with Adam). The shipped spaces' supernets: digits 730,454, zoph2017 21,085,898,
    # cifar10 137,368,426 (its six block types at widths up to 1024 in each stage), 7x below.
    # check_fits also refuses one that needs more than half the device's memory.
    max_supernet_params: int = 1_000_000_000

    # -- search-space files (nas.space) -------------------------------------------------
    # Stages of a macro space: ResNets have 4, the shipped spaces 2 to 4.
    max_stages: int = 64
    # Layers of a layer-wise (Zoph & Le) space: the paper grows to 15-20.
    max_space_layers: int = 256
    # Options of one decision (a list in the file): the shipped spaces use at most 6.
    max_options: int = 64
    # Option combinations of one stage or layer (the product of its lists); encode()
    # enumerates them, so this bounds its work per unit (the shipped spaces: at most 216).
    max_unit_combinations: int = 4096
    # log2 of a space's size: sizes are shown as floats (``nas search``'s header), which end
    # at 2^1024, and as decimal text (past 4300 digits Python refuses); zoph2017 is 2^181.
    max_size_bits: int = 1000
    # Nesting of YAML collections: a space file needs 4 levels (top, stages, a stage, a
    # list of options); PyYAML composes nodes recursively, and 20000 levels overflow it.
    max_yaml_depth: int = 32

    # -- datasets a user brings (nas.train.sources) -------------------------------------
    # Bytes of the float32 train/val/test splits of an image folder, a .npz file or a
    # Python function's arrays, checked on the image count and the first headers before
    # anything is decoded (the trainer keeps the splits in memory). 8 GiB hold 699k images
    # of 3x32x32 or 14k of 3x224x224; CIFAR-10's 60k are 0.69 GiB. Half the memory available
    # when loading starts is a second bound, since decoding and Ray need room beside them.
    max_dataset_bytes: int = 8 << 30

    # -- files (nas._util.read_bounded) -------------------------------------------------
    # Bytes of one space or --config file: the shipped ones are ~3 KB; /dev/zero is endless.
    max_file_bytes: int = 1 << 20


LIMITS = Limits()
