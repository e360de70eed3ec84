"""Small helpers every layer shares: atomic writes, one number format, torch's thread count."""
from __future__ import annotations

import contextlib
import io
import math
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import yaml


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
    _sweep_stale_staging(target)
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.replaced-{os.getpid()}")
            os.replace(target, old)
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(old, target)  # the earlier folder goes back: never neither of the two
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _sweep_stale_staging(target: Path) -> None:
    """Remove the staging folders (``.NAME.partial-PID``) that a writer killed outright (SIGKILL,
    power loss) left beside ``target``: its PID is no longer running. A live PID may be a
    concurrent writer, so its folder stays. (``.NAME.replaced-PID`` may be the only copy of the
    earlier folder after a crash mid-swap, so it is never touched.)"""
    import re

    pattern = re.compile(rf"\.{re.escape(target.name)}\.partial-(\d+)")
    for p in target.parent.iterdir():
        m = pattern.fullmatch(p.name)
        if m and p.is_dir() and not p.is_symlink() and not _running(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)


def _running(pid: int) -> bool:
    if pid == os.getpid():  # staged_folder clears its own
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):  # gone; or a number too large to be a PID
        return False
    except PermissionError:  # another user's process, alive
        return True
    return True


def utc_now() -> str:
    """The time now, UTC, ISO 8601 to the second: what run folders record."""
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


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


def read_bounded(path: str | Path, limit: int, what: str, error: type[Exception] | None = None, *,
                 follow_symlinks: bool = True) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them, else one
    ``error`` (a :class:`~nas.errors.NasError` subclass; NasError itself by default) naming
    ``what`` the file is ("search space", "config file").

    A FIFO would block the reader and ``/dev/zero`` never ends, so the file must be a regular
    file by ``os.stat`` before it is opened, and again by ``fstat`` on what was opened
    (O_NONBLOCK: a FIFO put there in between cannot block ``open``); at most ``limit + 1``
    bytes are read, so a file that grew meanwhile is refused rather than read to its end.
    ``follow_symlinks=False`` refuses a symbolic link, also one swapped in after the check
    (O_NOFOLLOW)."""
    import stat

    from .errors import NasError

    error = error or NasError
    p = Path(path)

    def refuse(why: str) -> Exception:
        return error(f"{p}: cannot read the {what}: {why}")

    def check(st: os.stat_result) -> None:
        if stat.S_ISLNK(st.st_mode):
            raise refuse("it is a symbolic link")
        if stat.S_ISDIR(st.st_mode):
            raise refuse("it is a folder")
        if not stat.S_ISREG(st.st_mode):
            raise refuse("it is not a regular file (a pipe, device or socket)")
        if st.st_size > limit:
            raise refuse(f"it is {st.st_size:,} bytes, more than the limit of {limit:,}")

    try:
        check(os.stat(p) if follow_symlinks else os.lstat(p))
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW))
    except FileNotFoundError:
        raise error(f"{p}: no such {what}") from None
    except OSError as e:
        raise refuse(e.strerror or str(e)) from None
    with os.fdopen(fd, "rb") as f:
        check(os.fstat(f.fileno()))
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise refuse(e.strerror or str(e)) from None
    if len(data) > limit:
        raise refuse(f"it grew past the limit of {limit:,} bytes while being read")
    return data


def load_yaml(text: str, max_depth: int, max_int_digits: int) -> Any:
    """``yaml.safe_load`` of ``text`` within bounds: collections nested at most ``max_depth``
    deep (aliases included), whole numbers of at most ``max_int_digits`` digits, no merge
    keys (``<<``). Past a bound it raises ``yaml.YAMLError`` with the line, as for bad syntax.

    PyYAML composes nodes recursively (20000 ``[`` overflow the stack with a RecursionError),
    converts any digit string with ``int()`` (past 4300 digits a ValueError), and its merge
    keys copy pairs, so nested merges of aliases grow exponentially; aliases can also nest a
    structure deeper than its text, or into itself, which recursive readers of the result
    (``dataclasses.asdict``, ``json.dump``) would follow without end."""
    loader = _BoundedLoader(text, max_depth, max_int_digits)
    try:
        data = loader.get_single_data()
    except RecursionError:  # a last resort: the depth bound should have stopped it
        raise yaml.YAMLError(f"nesting deeper than {max_depth} levels") from None
    finally:
        loader.dispose()
    if _too_deep(data, max_depth):
        raise yaml.YAMLError(f"nesting deeper than {max_depth} levels (through aliases)")
    return data


def _too_deep(root: Any, limit: int) -> bool:
    """Whether lists and mappings nest more than ``limit`` deep under ``root``; iterative, and
    each object is walked again only when reached deeper (a cycle therefore ends at ``limit``)."""
    deepest: dict[int, int] = {}
    stack = [(root, 1)]
    while stack:
        obj, depth = stack.pop()
        if not isinstance(obj, (list, dict)):
            continue
        if depth > limit:
            return True
        if deepest.get(id(obj), 0) >= depth:
            continue
        deepest[id(obj)] = depth
        children = list(obj.keys()) + list(obj.values()) if isinstance(obj, dict) else obj
        stack.extend((child, depth + 1) for child in children)
    return False


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a nesting bound, a digit bound on whole numbers, no merges."""

    def __init__(self, text: str, max_depth: int, max_int_digits: int):
        super().__init__(text)
        self.max_depth, self.max_int_digits, self.depth = max_depth, max_int_digits, 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > self.max_depth:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(None, None, f"nesting deeper than {self.max_depth} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def flatten_mapping(self, node):
        for key, _ in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(None, None, "merge keys (<<) are not supported",
                                                        key.start_mark)
        super().flatten_mapping(node)

    def construct_yaml_int(self, node):
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > self.max_int_digits:
            raise yaml.constructor.ConstructorError(
                None, None, f"a number of {digits} digits; at most {self.max_int_digits} are allowed",
                node.start_mark)
        return super().construct_yaml_int(node)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)
