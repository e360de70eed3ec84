"""Search spaces: a template architecture with choice points (filled in by the search-space work).

The contract the strategies rely on is the ``Space`` protocol below.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence


@dataclass(frozen=True)
class Decision:
    """One choice point: the controller makes one decision per step (Zoph & Le 2017, Sec. 3.1).

    ``kind`` groups decisions that share a softmax head and an embedding table in the
    LSTM controller ("one softmax head per decision type"), e.g. ``"filters"``,
    ``"kernel"``, ``"block"``, ``"skip"``. All decisions of one kind have the same
    number of options.
    """

    name: str
    kind: str
    options: tuple


class Space(Protocol):
    decisions: tuple[Decision, ...]

    @property
    def size(self) -> int: ...

    def decode(self, choices: Sequence[int]) -> str: ...

    def is_valid(self, choices: Sequence[int]) -> bool: ...
