"""Small helpers every layer shares: atomic writes, one number format, torch's thread count."""
from __future__ import annotations

import contextlib
import io
import math
import os
import shutil
from pathlib import Path
from typing import Any, Iterator


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over ``path``:
    a reader (or a crash) sees the old file or the new one, never half of one. The file gets
    the usual umask-based mode (run folders, exports and reports are meant to be shared)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, buffer.getvalue())


@contextlib.contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """A fresh folder beside ``target`` to write into, renamed into place only when the block
    ends without an error: a crash or an error leaves ``target`` as it was and no partial
    folder. An existing ``target`` is replaced (the caller decides whether it may be)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.replaced-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def finite_number(v: Any) -> bool:
    """True for an int or float (not a bool) that is neither NaN nor infinite."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first non-blank line of an exception's message, at most ``limit`` characters
    ("" when the message is empty): what a one-line error or warning quotes of it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def human(n: float) -> str:
    """A count in a few characters: ``human(1500) == '1.50K'``, ``human(2.5e6) == '2.50M'``."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(int(n))


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """``torch.set_num_threads(n)`` for the block, the caller's setting restored after;
    ``None`` leaves the setting alone."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
