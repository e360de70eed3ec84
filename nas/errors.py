"""One family of exceptions. The CLI turns any of them into one line and exit status 2."""
from __future__ import annotations


class NasError(Exception):
    """Base of every error this package raises on bad user input."""


class ArchError(NasError, ValueError):
    """A malformed or impossible architecture string.

    ``col`` is the 1-based column in the string where the problem is (0 when unknown).
    """

    def __init__(self, message: str, col: int = 0, text: str | None = None):
        self.col = col
        self.text = text
        super().__init__(f"{message} (at column {col})" if col else message)


class SpaceError(NasError, ValueError):
    """A malformed search-space file or an invalid choice vector."""


class ConfigError(NasError, ValueError):
    """A malformed run configuration or command-line value."""
