"""The architecture language: one line of text describes a whole network.

    norm=ln conv(32,3) basic(64,stride=2)*2 inception(64,48,64,8,16,16) gap dropout(0.2)

Layers are ``name(args, key=value)`` tokens separated by spaces; ``*N`` repeats a layer;
``key=value`` tokens before the first layer are whole-architecture settings (default norm,
activation, norm epsilon, init scheme); ``skip=I+J`` concatenates the outputs of earlier
layers into a layer's input (Zoph & Le 2017, Sec. 3.3). ``parse`` gives a frozen
:class:`Arch` and ``str(arch)`` its one canonical spelling; :mod:`nas.nn` says what each
name builds.
"""
from .grammar import (
    ACTS, BOOL, FLOAT, INITS, INT, INTS, NAME, NORMS, OPS, REQUIRED, SETTINGS_PARAMS, SIZE, Arch, Layer, OpSpec,
    Param, Settings, ValueKind, canonical_layer, format_arch, format_layer, make_arch,
)
from .parser import parse

__all__ = ["ACTS", "BOOL", "FLOAT", "INITS", "INT", "INTS", "NAME", "NORMS", "OPS", "REQUIRED", "SETTINGS_PARAMS",
           "SIZE", "Arch", "Layer", "OpSpec", "Param", "Settings", "ValueKind", "canonical_layer", "format_arch",
           "format_layer", "make_arch", "parse"]
