"""The architecture language: one line of text describes a whole network.

    norm=ln conv(32,3) basic(64,stride=2)*2 inception(64,48,64,8,16,16) gap dropout(0.2)

Layers are ``name(args, key=value)`` tokens separated by spaces; ``*N`` repeats a layer;
``key=value`` tokens without parentheses at the start are whole-architecture settings
(default norm, activation, norm epsilon, weight initialization). A classifier
``Linear(features, num_classes)`` is appended by the builder, so a string does not fix the
number of classes.

``parse`` turns a string into a frozen, typed :class:`Arch` (grammar as data: nothing is
ever ``eval``-ed); ``str(arch)`` / ``format_arch`` gives the one canonical string, so
``parse(str(a)) == a`` and formatting is idempotent. Repeats are expanded on parsing and
runs of identical layers are folded back into ``*N`` on formatting, so ``basic(64)*2``
and ``basic(64) basic(64)`` are the same architecture.

Every layer may take ``skip=I+J``: the outputs of earlier layers I and J (1-based
positions in the expanded layer list; 0 is the network input) are concatenated along
channels with the previous layer's output to form this layer's input. These are the
anchor-point skip connections of Zoph & Le 2017, Sec. 3.3.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import ArchError
from .norms import INIT_SCHEMES
from .registry import Registry, suggest

REQUIRED = object()  # sentinel: a parameter without default


# ---------------------------------------------------------------------------
# Value kinds: how a word in the string becomes a typed value and back.
# ---------------------------------------------------------------------------

_INT = re.compile(r"^\d+$")
_SIZE = re.compile(r"^(\d+)(?:x(\d+))?$")
_INTS = re.compile(r"^\d+(?:\+\d+)*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _to_int(word: str) -> int:
    if not _INT.match(word):
        raise ValueError("expected a whole number")
    return int(word)


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
    h = int(m.group(1))
    w = int(m.group(2)) if m.group(2) else h
    return h if h == w else (h, w)


def _to_ints(word: str) -> tuple[int, ...]:
    if not _INTS.match(word):
        raise ValueError("expected layer positions like 1 or 1+3")
    return tuple(sorted(set(int(p) for p in word.split("+"))))


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
class Kind:
    name: str
    convert: Callable[[str], Any]
    format: Callable[[Any], str] = _fmt_value


def _fmt_size(v: int | tuple[int, int]) -> str:
    return f"{v[0]}x{v[1]}" if isinstance(v, tuple) else str(v)


INT = Kind("int", _to_int)
FLOAT = Kind("float", _to_float)
BOOL = Kind("bool", _to_bool)
SIZE = Kind("size", _to_size, _fmt_size)
INTS = Kind("ints", _to_ints)
NAME = Kind("name", _to_name)


@dataclass(frozen=True)
class Param:
    """One parameter of an operation: name, value kind, default, and a range check."""

    name: str
    kind: Kind
    default: Any = REQUIRED
    min: float | None = None  # inclusive lower bound for numbers
    max: float | None = None
    choices: tuple[str, ...] | None = None  # allowed names (NAME kind)
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


OPS: Registry[OpSpec] = Registry("layer", ArchError)

NORMS = ("bn", "ln", "gn", "in", "none")
ACTS = ("relu", "relu6", "gelu", "silu", "tanh", "sigmoid", "none")
INITS = tuple(INIT_SCHEMES.names())  # weight-initialization schemes (nas/norms.py)


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
    # Weight initialization, after a torchvision family's __init__ (nas/norms.py INIT_SCHEMES).
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


# ---------------------------------------------------------------------------
# Lexer and parser
# ---------------------------------------------------------------------------

_PUNCT = "(),=*"
_WORD = re.compile(r"[A-Za-z0-9_.+\-]+")


@dataclass(frozen=True)
class _Tok:
    text: str
    col: int  # 1-based
    kind: str  # "word", "punct", "space"


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            j = i
            while j < len(text) and text[j].isspace():
                j += 1
            toks.append(_Tok(text[i:j], i + 1, "space"))
            i = j
        elif c in _PUNCT:
            toks.append(_Tok(c, i + 1, "punct"))
            i += 1
        else:
            m = _WORD.match(text, i)
            if not m:
                raise ArchError(f"unexpected character {c!r}", i + 1, text)
            toks.append(_Tok(m.group(), i + 1, "word"))
            i = m.end()
    return toks


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _lex(text)
        self.i = 0

    # -- token helpers
    def peek(self, skip_space: bool = True) -> _Tok | None:
        j = self.i
        while skip_space and j < len(self.toks) and self.toks[j].kind == "space":
            j += 1
        return self.toks[j] if j < len(self.toks) else None

    def next(self, skip_space: bool = True) -> _Tok | None:
        while skip_space and self.i < len(self.toks) and self.toks[self.i].kind == "space":
            self.i += 1
        if self.i >= len(self.toks):
            return None
        t = self.toks[self.i]
        self.i += 1
        return t

    def err(self, msg: str, col: int) -> ArchError:
        return ArchError(msg, col, self.text)

    def expect(self, punct: str, what: str) -> _Tok:
        t = self.next()
        if t is None or t.text != punct:
            col = t.col if t else len(self.text) + 1
            found = f"found {t.text!r}" if t else "found the end of the string"
            raise self.err(f"expected {punct!r} {what}, {found}", col)
        return t

    def end_col(self) -> int:
        return len(self.text) + 1

    # -- grammar
    def parse(self) -> Arch:
        settings: dict[str, Any] = {}
        layers: list[Layer] = []
        while (t := self.next()) is not None:
            if t.kind != "word" or not _NAME.match(t.text):
                raise self.err(f"expected a layer name, found {t.text!r}", t.col)
            nxt = self.peek(skip_space=False)
            if nxt is not None and nxt.text == "=":
                if layers:
                    raise self.err(f"setting {t.text!r} must come before the first layer", t.col)
                self.next(skip_space=False)
                settings[t.text] = self.setting(t)
                continue
            layer, repeat = self.layer(t)
            layers.extend([layer] * repeat)
        if not layers:
            raise self.err("an architecture needs at least one layer", 1)
        for k in range(len(layers)):
            for s in layers[k].skip:
                if s > k:
                    raise self.err(
                        f"skip={s} of layer {k + 1} ({layers[k].op}) must name an earlier layer (0 is the input)",
                        layers[k].col,
                    )
        arch_settings = Settings(**settings)
        return Arch(tuple(_inherit(layer, arch_settings) for layer in layers), arch_settings)

    def setting(self, name_tok: _Tok) -> Any:
        names = [p.name for p in SETTINGS_PARAMS]
        param = next((p for p in SETTINGS_PARAMS if p.name == name_tok.text), None)
        if param is None:
            raise self.err(f"unknown setting {name_tok.text!r}{suggest(name_tok.text, names)}", name_tok.col)
        v = self.next(skip_space=False)
        if v is None or v.kind != "word":
            raise self.err(f"setting {param.name!r} needs a value", v.col if v else self.end_col())
        return self.value(param, v, "setting")

    def value(self, p: Param, t: _Tok, where: str) -> Any:
        try:
            return p.check(p.kind.convert(t.text))
        except ValueError as e:
            raise self.err(f"bad value {t.text!r} for {p.name!r} of {where}: {e}", t.col) from None

    def layer(self, name_tok: _Tok) -> tuple[Layer, int]:
        name = name_tok.text
        if name not in OPS:
            raise self.err(f"unknown layer {name!r}{suggest(name, OPS.names())}", name_tok.col)
        spec = OPS.get(name)
        values: dict[str, Any] = {}
        skip: tuple[int, ...] = ()
        nxt = self.peek(skip_space=False)
        if nxt is not None and nxt.text == "(":
            self.next(skip_space=False)
            pos = 0
            seen_kw = False
            first = True
            while True:
                t = self.next()
                if t is None:
                    raise self.err(f"missing ')' to close {name}(", self.end_col())
                if t.text == ")" and first:
                    break
                first = False
                if t.kind != "word":
                    raise self.err(f"expected a value in {name}(...), found {t.text!r}", t.col)
                after = self.peek()
                if after is not None and after.text == "=":  # keyword argument
                    self.next()
                    seen_kw = True
                    v = self.next()
                    if v is None or v.kind != "word":
                        raise self.err(f"{t.text}= needs a value", v.col if v else self.end_col())
                    if t.text == "skip" and spec.takes_skip:
                        try:
                            skip = _to_ints(v.text)
                        except ValueError as e:
                            raise self.err(f"bad value {v.text!r} for 'skip' of {name}: {e}", v.col) from None
                    else:
                        p = spec.param(t.text)
                        if p is None:
                            valid = [q.name for q in spec.params] + (["skip"] if spec.takes_skip else [])
                            raise self.err(
                                f"layer {name!r} has no parameter {t.text!r}{suggest(t.text, valid)}", t.col
                            )
                        if p.name in values:
                            raise self.err(f"parameter {p.name!r} of {name} given twice", t.col)
                        values[p.name] = self.value(p, v, name)
                else:  # positional argument
                    if seen_kw:
                        raise self.err(f"positional value {t.text!r} after a keyword in {name}(...)", t.col)
                    if pos >= len(spec.params):
                        raise self.err(f"{name} takes at most {len(spec.params)} values", t.col)
                    p = spec.params[pos]
                    values[p.name] = self.value(p, t, name)
                    pos += 1
                close = self.next()
                if close is None:
                    raise self.err(f"missing ')' to close {name}(", self.end_col())
                if close.text == ")":
                    break
                if close.text != ",":
                    raise self.err(f"expected ',' or ')' in {name}(...), found {close.text!r}", close.col)
        args = []
        for p in spec.params:
            if p.name in values:
                args.append((p.name, values[p.name]))
            elif p.required:
                raise self.err(f"{name} needs a value for {p.name!r}", name_tok.col)
            else:
                args.append((p.name, p.default))
        repeat = 1
        nxt = self.peek(skip_space=False)
        if nxt is not None and nxt.text == "*":
            self.next(skip_space=False)
            r = self.next(skip_space=False)
            if r is None or not _INT.match(r.text) or int(r.text) < 1:
                col = r.col if r else self.end_col()
                raise self.err("'*' must be followed by a repeat count of at least 1", col)
            repeat = int(r.text)
        return Layer(name, tuple(args), skip, name_tok.col), repeat


def _inherit(layer: Layer, settings: Settings) -> Layer:
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


def parse(text: str | Arch) -> Arch:
    """Parse an architecture string. Raises :class:`ArchError` with the column of the problem.

    >>> str(parse("conv(32, 3)  conv(32,3) gap"))
    'conv(32,3)*2 gap'
    """
    if isinstance(text, Arch):
        return text
    if not isinstance(text, str):
        raise ArchError(f"an architecture must be a string, not {type(text).__name__}")
    return _Parser(text).parse()


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


from . import ops as _ops  # noqa: E402,F401  (fills OPS; ops imports this module)
