"""The architecture language's grammar as data: value kinds, operation signatures
(:class:`OpSpec`), the typed structure (:class:`Layer`, :class:`Settings`, :class:`Arch`) and
the registries of names the language knows (layers, norms, activations, init schemes),
which :mod:`nas.nn` fills with what each name builds.

Architectures are frozen dataclasses; code builds them with :meth:`Layer.make` and
:func:`make_arch` (never by writing a string to parse it back), users write strings that
:func:`nas.lang.parse` reads and :func:`nas.lang.format_arch` writes.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import ArchError
from ..limits import LIMITS
from ..registry import Registry, suggest

REQUIRED = object()  # sentinel: a parameter without default


# ---------------------------------------------------------------------------
# Value kinds: how a word in the string becomes a typed value and back.
# ---------------------------------------------------------------------------

_INT = re.compile(r"^\d+$")
_SIZE = re.compile(r"^(\d+)(?:x(\d+))?$")
_INTS = re.compile(r"^\d+(?:\+\d+)*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _whole(digits: str) -> int:
    """``int(digits)`` for a string of digits no longer than the limit: past 4300 digits
    ``int`` raises its own ValueError, and no bound of the language needs more than a few."""
    if len(digits) > LIMITS.max_int_digits:
        raise ValueError(f"a number of {len(digits)} digits; at most {LIMITS.max_int_digits} are allowed")
    return int(digits)


def _to_int(word: str) -> int:
    if not _INT.match(word):
        raise ValueError("expected a whole number")
    return _whole(word)


def _to_float(word: str) -> float:
    try:
        v = float(word)
    except ValueError:
        raise ValueError("expected a number") from None
    if not math.isfinite(v):
        raise ValueError("expected a finite number")
    return v


def _to_bool(word: str) -> bool:
    if word in ("true", "1"):
        return True
    if word in ("false", "0"):
        return False
    raise ValueError("expected true or false")


def _to_size(word: str) -> int | tuple[int, int]:
    m = _SIZE.match(word)
    if not m:
        raise ValueError("expected a size like 3 or 3x5")
    h = _whole(m.group(1))
    w = _whole(m.group(2)) if m.group(2) else h
    return h if h == w else (h, w)


def _to_ints(word: str) -> tuple[int, ...]:
    if not _INTS.match(word):
        raise ValueError("expected layer positions like 1 or 1+3")
    return tuple(sorted(set(_whole(p) for p in word.split("+"))))


def _to_name(word: str) -> str:
    if not _NAME.match(word):
        raise ValueError("expected a name")
    return word


def _fmt_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):  # layer positions, as in skip=1+3
        return "+".join(str(x) for x in v)
    if isinstance(v, float):
        r = repr(v)
        return r[:-2] if r.endswith(".0") else r
    return str(v)


@dataclass(frozen=True)
class ValueKind:
    """How a word of an architecture string becomes a typed value, and back."""

    name: str
    convert: Callable[[str], Any]
    format: Callable[[Any], str] = _fmt_value


def _fmt_size(v: int | tuple[int, int]) -> str:
    return f"{v[0]}x{v[1]}" if isinstance(v, tuple) else str(v)


INT = ValueKind("int", _to_int)
FLOAT = ValueKind("float", _to_float)
BOOL = ValueKind("bool", _to_bool)
SIZE = ValueKind("size", _to_size, _fmt_size)
INTS = ValueKind("ints", _to_ints)
NAME = ValueKind("name", _to_name)


@dataclass(frozen=True)
class Param:
    """One parameter of an operation: name, value kind, default, and a range check."""

    name: str
    kind: ValueKind
    default: Any = REQUIRED
    min: float | None = None  # inclusive lower bound for numbers
    max: float | None = None
    choices: Registry | tuple[str, ...] | None = None  # allowed names (NAME kind)
    optional_none: bool = False  # default None means "inherit / automatic"
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, value: Any) -> Any:
        """Converted value -> validated value, or ValueError with the reason."""
        nums = value if isinstance(value, tuple) else (value,)
        for x in nums:
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                if self.min is not None and x < self.min:
                    raise ValueError(f"must be at least {_fmt_value(self.min)}, got {_fmt_value(x)}")
                if self.max is not None and x > self.max:
                    raise ValueError(f"must be at most {_fmt_value(self.max)}, got {_fmt_value(x)}")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{value!r} is not allowed{suggest(str(value), self.choices)}")
        return value


@dataclass(frozen=True)
class OpSpec:
    """An entry of the table of operations (DARTS ``OPS``, NNI ``nasbench201``).

    ``params`` are in canonical order; the first ``npos`` are written positionally in
    the canonical string, the rest as ``key=value`` when they differ from the default.
    ``infer(layer, in_shape, arch) -> out_shape`` checks and infers shapes without
    building anything; ``build(layer, in_shape, out_shape, arch) -> nn.Module``.
    """

    name: str
    params: tuple[Param, ...]
    npos: int
    infer: Callable
    build: Callable
    doc: str = ""
    takes_skip: bool = True  # whether ``skip=`` is allowed (needs 4-D input)
    example: str = ""  # a small instance, built by the parametrized tests

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None


# The names the language knows. nas.nn fills them: OPS with each layer's shape rule and
# builder, NORMS with norm factories, ACTS with activation classes, INITS with weight
# initialization schemes. These registries are the only lists of those names.
OPS: Registry[OpSpec] = Registry("layer", ArchError)
NORMS: Registry = Registry("norm", ArchError)
ACTS: Registry = Registry("activation", ArchError)
INITS: Registry = Registry("init scheme", ArchError)


# ---------------------------------------------------------------------------
# The typed structure
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One layer: operation name, all parameters resolved (defaults filled in), skip sources."""

    op: str
    args: tuple[tuple[str, Any], ...]
    skip: tuple[int, ...] = ()
    col: int = field(default=0, compare=False, repr=False)

    def __getitem__(self, name: str) -> Any:
        for k, v in self.args:
            if k == name:
                return v
        raise KeyError(name)

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    @classmethod
    def make(cls, op: str, *values: Any, skip: tuple[int, ...] = (), **named: Any) -> "Layer":
        """A layer from typed values, checked as the parser checks a string's: ``values`` in
        the operation's parameter order, ``named`` by name, defaults filled in.

        >>> str(Layer.make("conv", 16, 3, stride=2))
        'conv(16,3,stride=2)'
        """
        spec = OPS.get(op)
        if len(values) > len(spec.params):
            raise ArchError(f"{op} takes at most {len(spec.params)} values")
        given = dict(zip((p.name for p in spec.params), values))
        for key, value in named.items():
            p = spec.param(key)
            if p is None:
                raise ArchError(f"layer {op!r} has no parameter {key!r}{suggest(key, [q.name for q in spec.params])}")
            if key in given:
                raise ArchError(f"parameter {key!r} of {op} given twice")
            given[key] = value
        checked = {}
        for key, value in given.items():
            p = spec.param(key)
            try:
                checked[key] = value if value is None and p.optional_none else p.check(value)
            except ValueError as e:
                raise ArchError(f"bad value {value!r} for {key!r} of {op}: {e}") from None
        return cls(op, resolve_args(spec, checked), tuple(sorted(set(skip))))

    @property
    def spec(self) -> OpSpec:
        return OPS.get(self.op)

    def replace(self, **changes: Any) -> "Layer":
        """A copy with some parameters (or ``skip``) changed, validated again."""
        skip = changes.pop("skip", self.skip)
        values = dict(self.args)
        for k, v in changes.items():
            p = self.spec.param(k)
            if p is None:
                raise ArchError(f"layer {self.op!r} has no parameter {k!r}")
            values[k] = v if (v is None and p.optional_none) else p.check(v)
        return Layer(self.op, tuple(values.items()), tuple(skip), self.col)

    def __str__(self) -> str:
        return format_layer(self)


@dataclass(frozen=True)
class Settings:
    """Whole-architecture defaults that layers inherit unless they set their own."""

    norm: str = "bn"
    act: str = "relu"
    eps: float = 1e-5  # norm epsilon (torchvision's GoogLeNet uses 1e-3)
    # Weight initialization, after a torchvision family's __init__ (nas/nn/init.py).
    # "resnet" (He et al. 2015 normal init, fan_out, on convs) is what every string had before.
    init: str = "resnet"


SETTINGS_PARAMS = (
    Param("norm", NAME, "bn", choices=NORMS, doc="default normalization"),
    Param("act", NAME, "relu", choices=ACTS, doc="default activation"),
    Param("eps", FLOAT, 1e-5, min=1e-12, max=1.0, doc="normalization epsilon"),
    Param("init", NAME, "resnet", choices=INITS, doc="weight initialization, as torchvision's family of that name"),
)


@dataclass(frozen=True)
class Arch:
    """A parsed architecture. ``str(arch)`` is its canonical string."""

    layers: tuple[Layer, ...]
    settings: Settings = Settings()

    def __str__(self) -> str:
        return format_arch(self)

    def __len__(self) -> int:
        return len(self.layers)

    def norm_of(self, layer: Layer) -> str:
        n = layer.get("norm")
        return self.settings.norm if n is None else n

    def act_of(self, layer: Layer) -> str:
        a = layer.get("act")
        return self.settings.act if a is None else a




def resolve_args(spec: OpSpec, values: dict[str, Any], col: int = 0) -> tuple[tuple[str, Any], ...]:
    """Every parameter of ``spec`` in order: the checked ``values`` given, defaults for the rest."""
    args = []
    for p in spec.params:
        if p.name in values:
            args.append((p.name, values[p.name]))
        elif p.required:
            raise ArchError(f"{spec.name} needs a value for {p.name!r}", col)
        else:
            args.append((p.name, p.default))
    return tuple(args)


def make_arch(layers, settings: Settings = Settings()) -> Arch:
    """An :class:`Arch` from layers (e.g. :meth:`Layer.make`), in canonical form: equal to
    ``parse(str(...))`` of the same network.

    >>> str(make_arch([Layer.make("conv", 16, 3), Layer.make("gap")], Settings(norm="ln")))
    'norm=ln conv(16,3) gap'
    """
    return Arch(tuple(canonical_layer(layer, settings) for layer in layers), settings)


def canonical_layer(layer: Layer, settings: Settings) -> Layer:
    """One canonical form for spellings of the same layer: a norm/act equal to the
    architecture's default is stored as None ("inherit"), a pool stride equal to its window
    as None, and a conv bias equal to the automatic choice (bias only without a norm) as None."""
    values = dict(layer.args)
    for k in ("norm", "act"):
        if k in values and values[k] == getattr(settings, k):
            values[k] = None
    if layer.op in ("maxpool", "avgpool") and values.get("stride") == values.get("k"):
        values["stride"] = None
    if "bias" in values and values["bias"] is not None:
        norm = values.get("norm") or settings.norm
        if values["bias"] == (norm == "none"):
            values["bias"] = None
    return Layer(layer.op, tuple(values.items()), layer.skip, layer.col)



# ---------------------------------------------------------------------------
# Canonical formatting
# ---------------------------------------------------------------------------


def format_layer(layer: Layer) -> str:
    spec = layer.spec
    parts = []
    for i, p in enumerate(spec.params):
        v = layer[p.name]
        if i < spec.npos:
            parts.append(p.kind.format(v))
        elif v != p.default:
            parts.append(f"{p.name}={p.kind.format(v)}")
    if layer.skip:
        parts.append("skip=" + "+".join(str(s) for s in layer.skip))
    return f"{layer.op}({','.join(parts)})" if parts else layer.op


def format_arch(arch: Arch) -> str:
    out = []
    for p in SETTINGS_PARAMS:
        v = getattr(arch.settings, p.name)
        if v != p.default:
            out.append(f"{p.name}={p.kind.format(v)}")
    layers = arch.layers
    i = 0
    while i < len(layers):
        j = i
        while j + 1 < len(layers) and layers[j + 1] == layers[i]:
            j += 1
        s = format_layer(layers[i])
        out.append(s if j == i else f"{s}*{j - i + 1}")
        i = j + 1
    return " ".join(out)


