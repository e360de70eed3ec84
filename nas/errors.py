"""One family of exceptions. The CLI turns any of them into one line and exit status 2."""
from __future__ import annotations


class NasError(Exception):
    """Base of every error this package raises on bad user input.

    ``exit_code`` is the CLI's exit status for it: 2 (bad input) unless a subclass says otherwise.
    """

    exit_code = 2


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


class RunFolderError(NasError):
    """The run folder could not be written (disk full, permissions): the search stopped with its
    durable state intact up to the last recorded trial. Not bad input, so exit status 1."""

    exit_code = 1


class RunBusyError(ConfigError):
    """Another search holds the run folder's writer lock: a run has one writer."""


class ExportError(NasError):
    """An export folder that cannot be read back (``nas.load``): a missing, oversized or
    non-regular file, invalid ``meta.json`` or ``arch.txt``, weights that do not fit."""
