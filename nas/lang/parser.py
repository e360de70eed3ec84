"""Architecture strings -> :class:`~nas.lang.grammar.Arch`: a lexer and a parser whose every
error is one :class:`~nas.errors.ArchError` naming the column.

The language is flat (a layer's parentheses hold words, never other parentheses), so the
parser is a loop over tokens that never recurses: no input can overflow the stack. Its work
is bounded by :data:`~nas.limits.LIMITS`: the string's length before lexing, a repeat count
and the running number of layers before repeats are expanded, a number's digits before
``int`` converts it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import ArchError
from ..limits import LIMITS
from ..registry import suggest
from .grammar import (
    _INT, _NAME, OPS, SETTINGS_PARAMS, Arch, Layer, OpSpec, Param, Settings, _to_ints, _whole, canonical_layer,
    resolve_args,
)

_PUNCT = "(),=*"
_WORD = re.compile(r"[A-Za-z0-9_.+\-]+")
_QUOTE_MAX = 40  # characters of a word quoted in an error message (the column locates the rest)


def _q(text: str) -> str:
    """``repr`` of a word for a message, shortened: a 60000-character word stays one short line."""
    return repr(text if len(text) <= _QUOTE_MAX else text[:_QUOTE_MAX - 3] + "...")


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
    def __init__(self, text: str, settings: Settings | None = None):
        self.text = text
        self.base = settings
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
            found = f"found {_q(t.text)}" if t else "found the end of the string"
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
                raise self.err(f"expected a layer name, found {_q(t.text)}", t.col)
            nxt = self.peek(skip_space=False)
            if nxt is not None and nxt.text == "=":
                if layers:
                    raise self.err(f"setting {_q(t.text)} must come before the first layer", t.col)
                self.next(skip_space=False)
                settings[t.text] = self.setting(t)
                continue
            layer, repeat = self.layer(t)
            if len(layers) + repeat > LIMITS.max_layers:  # checked before the list grows
                raise self.err(f"more than {LIMITS.max_layers} layers (after expanding repeats); "
                               "that is the limit of one architecture", t.col)
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
        arch_settings = Settings(**settings) if settings or self.base is None else self.base
        return Arch(tuple(canonical_layer(layer, arch_settings) for layer in layers), arch_settings)

    def setting(self, name_tok: _Tok) -> Any:
        names = [p.name for p in SETTINGS_PARAMS]
        param = next((p for p in SETTINGS_PARAMS if p.name == name_tok.text), None)
        if param is None:
            raise self.err(f"unknown setting {_q(name_tok.text)}{suggest(name_tok.text, names)}", name_tok.col)
        v = self.next(skip_space=False)
        if v is None or v.kind != "word":
            raise self.err(f"setting {param.name!r} needs a value", v.col if v else self.end_col())
        return self.value(param, v, "setting")

    def value(self, p: Param, t: _Tok, where: str) -> Any:
        try:
            return p.check(p.kind.convert(t.text))
        except ValueError as e:
            raise self.err(f"bad value {_q(t.text)} for {p.name!r} of {where}: {e}", t.col) from None

    def layer(self, name_tok: _Tok) -> tuple[Layer, int]:
        """One ``name(args)*N`` token: the layer and its repeat count."""
        name = name_tok.text
        if name not in OPS:
            raise self.err(f"unknown layer {_q(name)}{suggest(name, OPS.names())}", name_tok.col)
        spec = OPS.get(name)
        values, skip = self.arguments(spec)
        args = resolve_args(spec, values, col=name_tok.col)
        return Layer(name, args, skip, name_tok.col), self.repeat()

    def arguments(self, spec: OpSpec) -> tuple[dict[str, Any], tuple[int, ...]]:
        """The typed values of ``(...)`` after a layer name (none without parentheses), and ``skip``."""
        values: dict[str, Any] = {}
        skip: tuple[int, ...] = ()
        nxt = self.peek(skip_space=False)
        if nxt is None or nxt.text != "(":
            return values, skip
        self.next(skip_space=False)
        name, pos, seen_kw = spec.name, 0, False
        if (t := self.peek()) is not None and t.text == ")":
            self.next()
            return values, skip
        while True:
            t = self.next()
            if t is None:
                raise self.err(f"missing ')' to close {name}(", self.end_col())
            if t.kind != "word":
                raise self.err(f"expected a value in {name}(...), found {_q(t.text)}", t.col)
            after = self.peek()
            if after is not None and after.text == "=":  # keyword argument
                self.next()
                seen_kw = True
                v = self.next()
                if v is None or v.kind != "word":
                    raise self.err(f"{_q(t.text)[1:-1]}= needs a value", v.col if v else self.end_col())
                if t.text == "skip" and spec.takes_skip:
                    skip = self.skip_value(v, name)
                else:
                    p = self.keyword(spec, t)
                    if p.name in values:
                        raise self.err(f"parameter {p.name!r} of {name} given twice", t.col)
                    values[p.name] = self.value(p, v, name)
            else:  # positional argument
                if seen_kw:
                    raise self.err(f"positional value {_q(t.text)} after a keyword in {name}(...)", t.col)
                if pos >= len(spec.params):
                    raise self.err(f"{name} takes at most {len(spec.params)} values", t.col)
                values[spec.params[pos].name] = self.value(spec.params[pos], t, name)
                pos += 1
            close = self.next()
            if close is None:
                raise self.err(f"missing ')' to close {name}(", self.end_col())
            if close.text == ")":
                return values, skip
            if close.text != ",":
                raise self.err(f"expected ',' or ')' in {name}(...), found {_q(close.text)}", close.col)

    def keyword(self, spec: OpSpec, t: _Tok) -> Param:
        p = spec.param(t.text)
        if p is None:
            valid = [q.name for q in spec.params] + (["skip"] if spec.takes_skip else [])
            raise self.err(f"layer {spec.name!r} has no parameter {_q(t.text)}{suggest(t.text, valid)}", t.col)
        return p

    def skip_value(self, v: _Tok, name: str) -> tuple[int, ...]:
        try:
            return _to_ints(v.text)
        except ValueError as e:
            raise self.err(f"bad value {_q(v.text)} for 'skip' of {name}: {e}", v.col) from None

    def repeat(self) -> int:
        """The ``*N`` after a layer, else 1."""
        nxt = self.peek(skip_space=False)
        if nxt is None or nxt.text != "*":
            return 1
        self.next(skip_space=False)
        r = self.next(skip_space=False)
        if r is None or not _INT.match(r.text):
            raise self.err("'*' must be followed by a repeat count of at least 1", r.col if r else self.end_col())
        try:
            n = _whole(r.text)
        except ValueError as e:
            raise self.err(f"bad repeat count: {e}", r.col) from None
        if n < 1:
            raise self.err("'*' must be followed by a repeat count of at least 1", r.col)
        if n > LIMITS.max_repeat:
            raise self.err(f"repeat count {n} is above the limit of {LIMITS.max_repeat}", r.col)
        return n


def parse(text: str | Arch, *, settings: Settings | None = None) -> Arch:
    """Parse an architecture string. Raises :class:`ArchError` with the column of the problem.

    ``settings`` are inherited when the text sets none (a space's head, written after its
    stem's ``norm=...``).

    >>> str(parse("conv(32, 3)  conv(32,3) gap"))
    'conv(32,3)*2 gap'
    """
    if isinstance(text, Arch):
        return text
    if not isinstance(text, str):
        raise ArchError(f"an architecture must be a string, not {type(text).__name__}")
    if len(text) > LIMITS.max_arch_chars:
        raise ArchError(f"the architecture string is {len(text):,} characters long, above the limit of "
                        f"{LIMITS.max_arch_chars:,}")
    return _Parser(text, settings).parse()


# ---------------------------------------------------------------------------
# Canonical formatting
# ---------------------------------------------------------------------------


