"""One loader for every configuration dataclass: ``from_dict(cls, data)``.

Train, reward and search settings and the strategies' options are frozen dataclasses;
user dictionaries (YAML, flags, keyword arguments) become instances only through here, so
every unknown key and every wrongly typed value gets the same one-line ``ConfigError``,
naming the key and, for a misspelt one, the closest valid key. Range checks stay with
each dataclass (``__post_init__``), next to the fields they check.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Mapping, TypeVar

from .errors import ConfigError
from .registry import suggest

C = TypeVar("C")


def from_dict(cls: type[C], data: Any, *, base: C | None = None, owner: str | None = None) -> C:
    """``cls`` built from ``data``, each value type-checked against the field's annotation.

    Keys left out keep their value in ``base`` (the class defaults when None). ``owner``
    names the settings in messages (default: the class name). Accepted: ``bool`` only for
    ``bool``; whole numbers (not ``bool``) for ``int``; any finite number for ``float``; text
    (or a number, as YAML reads ``name: 2024``) for ``str``; a list for ``tuple[T, ...]``; a
    mapping for ``dict``; ``None`` where the annotation allows it.

    >>> from nas.tune.reward import RewardConfig
    >>> from_dict(RewardConfig, {"window": 3}).window
    3
    """
    owner = owner or cls.__name__
    if not isinstance(data, Mapping):
        raise ConfigError(f"{owner}: expected a mapping of settings, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    values = {}
    for key, value in data.items():
        if key not in names:
            hint = suggest(str(key), names) if names else "; it takes none"
            raise ConfigError(f"{owner}: unknown setting {key!r}{hint}")
        values[key] = _coerce(owner, key, value, hints[key])
    return dataclasses.replace(base if base is not None else cls(), **values)


def _coerce(owner: str, key: str, value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        (inner,) = [t for t in options if t is not type(None)]
        return _coerce(owner, key, value, inner)
    if value is None:
        raise ConfigError(f"{owner}: {key!r} cannot be empty")
    if origin is tuple:
        (item, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise _wrong(owner, key, value, f"a list of {_EXPECTED[item]}s")
        return tuple(_coerce(owner, f"{key}[{i}]", v, item) for i, v in enumerate(value))
    if tp is dict or origin is dict:
        if not isinstance(value, Mapping):
            raise _wrong(owner, key, value, "a mapping")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise _wrong(owner, key, value, "true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(owner, key, value, "a whole number")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _wrong(owner, key, value, "a number")
        if not math.isfinite(value):
            raise _wrong(owner, key, value, "a finite number")
        return float(value)
    if tp is str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _wrong(owner, key, value, "text")
        return str(value)
    raise TypeError(f"{owner}.{key}: unsupported annotation {tp!r}")  # a bug in this package


_EXPECTED = {int: "whole number", float: "number", str: "text", bool: "true or false"}


def _wrong(owner: str, key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{owner}: {key!r} must be {expected}, got {value!r}")
