"""``meta.json`` of an export folder, read as untrusted input: strict JSON of bounded size and
nesting, and every field ``load`` (or a user preprocessing inputs) relies on checked for its
type and range before anything is built from it."""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ExportError
from ..limits import LIMITS
from .files import KIB, read_file

META_FORMAT = "nas-export/1"
META_FILE = "meta.json"
# Bounds far above anything an export writes (a DenseNet's meta.json is ~30 KiB), yet small
# enough that reading the file costs nothing. The architecture and input bounds are the
# package's own (nas.limits): what build() would refuse anyway, refused here naming the file.
META_LIMIT = 256 * KIB
ARCH_CHARS = LIMITS.max_arch_chars
ARCH_LIMIT = ARCH_CHARS + KIB  # arch.txt: the string, its newline, stray whitespace
MAX_DEPTH = 32  # the exporter nests 4 deep; json's parser itself recurses on deeper input
MAX_SIDE = LIMITS.max_input_size  # input height / width
MAX_CHANNELS = LIMITS.max_channels
MAX_CLASSES = 1 << 20  # past ImageNet-21k; the head's size is bounded by build() (LIMITS.max_params)


def _show(value: Any, limit: int = 40) -> str:
    """A value for a one-line message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # JSON true is not a count


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _format(v: Any, meta: dict) -> str | None:
    return None if v == META_FORMAT else f"is not {META_FORMAT!r}"


def _arch(v: Any, meta: dict) -> str | None:
    if not isinstance(v, str) or not v.strip() or "\n" in v or len(v) > ARCH_CHARS:
        return f"must be one line of architecture text of at most {ARCH_CHARS} characters"
    return None


def _input_shape(v: Any, meta: dict) -> str | None:
    bounds = (MAX_CHANNELS, MAX_SIDE, MAX_SIDE)
    if not isinstance(v, list) or len(v) != 3 or not all(_is_int(d) and 1 <= d <= b for d, b in zip(v, bounds)):
        return f"must be [channels, height, width]: whole numbers, channels 1..{MAX_CHANNELS}, sides 1..{MAX_SIDE}"
    return None


def _num_classes(v: Any, meta: dict) -> str | None:
    return None if _is_int(v) and 1 <= v <= MAX_CLASSES else f"must be a whole number in 1..{MAX_CLASSES}"


def _per_channel(v: Any, meta: dict, positive: bool) -> bool:
    channels = meta["input_shape"][0]
    return v is None or (isinstance(v, list) and len(v) == channels
                         and all(_is_number(x) and (x > 0 or not positive) for x in v))


def _normalization(v: Any, meta: dict) -> str | None:
    """What a user applies to inputs: mean and std per input channel (std > 0), a positive scale."""
    if v is None:
        return None
    if not isinstance(v, dict):
        return "must be an object with mean, std and scale"
    scale = v.get("scale")
    if not (_per_channel(v.get("mean"), meta, False) and _per_channel(v.get("std"), meta, True)
            and (scale is None or (_is_number(scale) and scale > 0))):
        return "must give mean and std as one number per input channel (std > 0) and a positive scale"
    return None


# Field -> (required, check returning what is wrong or None); checked in this order, so a later
# check may rely on an earlier field (normalization on input_shape's channels).
FIELDS: dict[str, tuple[bool, Callable[[Any, dict], str | None]]] = {
    "format": (True, _format),
    "arch": (True, _arch),
    "input_shape": (True, _input_shape),
    "num_classes": (True, _num_classes),
    "normalization": (False, _normalization),
}


def check_meta(meta: Any, where: Path) -> dict[str, Any]:
    """``meta`` if it is a metadata object with every field of :data:`FIELDS` valid; otherwise
    ExportError naming ``where`` and the first bad field."""
    if not isinstance(meta, dict):
        raise ExportError(f"{where}: not a {META_FORMAT} metadata file (not a JSON object)")
    if meta.get("format") != META_FORMAT:
        raise ExportError(f"{where}: not a {META_FORMAT} metadata file (format {_show(meta.get('format'))})")
    for key, (required, check) in FIELDS.items():
        if key not in meta:
            if required:
                raise ExportError(f"{where}: no {key!r}")
            continue
        problem = check(meta[key], meta)
        if problem:
            raise ExportError(f"{where}: {key!r} {problem}, got {_show(meta[key])}")
    return meta


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes, where: Path) -> Any:
    """Strict JSON (UTF-8, no NaN or Infinity) nested at most :data:`MAX_DEPTH` deep."""
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise ExportError(f"{where}: nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError, NaN, an int of >4300 digits
        raise ExportError(f"{where}: not valid JSON ({e.__class__.__name__})") from None
    if _depth(value) > MAX_DEPTH:
        raise ExportError(f"{where}: nested more than {MAX_DEPTH} deep")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion (a deep value would overflow the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_DEPTH:
            break
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else ()
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def read_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta.json`` of an export folder, checked (:func:`check_meta`); ExportError otherwise."""
    folder = Path(path)
    if not folder.is_dir():
        raise ExportError(f"{folder}: no such export folder")
    where = folder / META_FILE
    return check_meta(parse_json(read_file(folder, META_FILE, META_LIMIT), where), where)


def read_arch(folder: Path) -> str:
    """``arch.txt``: one line of architecture text (parsed by the caller)."""
    where = folder / "arch.txt"
    try:
        text = read_file(folder, "arch.txt", ARCH_LIMIT).decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ExportError(f"{where}: not UTF-8 text") from None
    if not text or "\n" in text:
        raise ExportError(f"{where}: must hold one line of architecture text")
    return text
