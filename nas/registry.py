"""A small registry: dict + decorator that refuses duplicates (torchvision ``_api.py``)."""
from __future__ import annotations

import difflib
from typing import Generic, Iterator, TypeVar

from .errors import NasError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, error: type[NasError] = NasError):
        self.kind = kind
        self.error = error
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T | None = None):
        """``reg.register("x", obj)`` or ``@reg.register("x")`` on a function or class."""

        def add(obj: T) -> T:
            if name in self._items:
                raise KeyError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return add(item) if item is not None else add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise self.error(f"unknown {self.kind} {name!r}{suggest(name, self._items)}") from None

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def suggest(name: str, choices) -> str:
    """``"; did you mean 'conv'?"`` for a misspelt name, or a list of valid names."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; expected one of {', '.join(sorted(choices))}"
