"""Reading the files of an export folder as untrusted input: only regular files that really lie
inside the folder, each within a size bound, so that a hostile folder cannot make ``load`` read
``/etc/passwd`` through a symlink, block on a FIFO, or allocate gigabytes for a small model.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from .._util import read_bounded
from ..errors import ExportError

KIB = 1 << 10
# What a file is, by its st_mode, for the message refusing it.
_KINDS = {stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket",
          stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device"}


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS.items() if test(mode)), "not a regular file")


def _checked(st: os.stat_result, path: Path, limit: int) -> int:
    """The size of a regular file of at most ``limit`` bytes; ExportError otherwise."""
    if stat.S_ISLNK(st.st_mode):
        raise ExportError(f"{path}: is a symbolic link; an export folder holds only regular files")
    if not stat.S_ISREG(st.st_mode):
        raise ExportError(f"{path}: is {_kind(st.st_mode)}, not a regular file")
    if st.st_size > limit:
        raise ExportError(f"{path}: {st.st_size} bytes, more than the {limit} this file can need")
    return st.st_size


def file_size(folder: Path, name: str, limit: int) -> int:
    """The size of ``folder/name`` after the checks of :func:`read_file`, without reading it."""
    path = folder / name
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise ExportError(f"{folder}: not an export folder (no {name})") from None
    except OSError as e:
        raise ExportError(f"{path}: unreadable ({e.strerror or e.__class__.__name__})") from None
    size = _checked(st, path, limit)
    _check_inside(folder, path)
    return size


def read_file(folder: Path, name: str, limit: int) -> bytes:
    """The bytes of ``folder/name``: a regular file (not a symlink, FIFO, device or folder) that
    resolves to a place inside ``folder`` and holds at most ``limit`` bytes; ExportError, naming
    the file, otherwise. :func:`~nas._util.read_bounded` repeats the checks on the open
    descriptor, so swapping the file between check and read gains nothing."""
    file_size(folder, name, limit)
    return read_bounded(folder / name, limit, name, ExportError, follow_symlinks=False)


def _check_inside(folder: Path, path: Path) -> None:
    """Belt and braces beside the symlink check: the file's real path lies directly in the
    folder's real path (a name with a separator or ``..`` would escape it)."""
    if path.resolve().parent != folder.resolve():
        raise ExportError(f"{path}: lies outside its export folder {folder}")
