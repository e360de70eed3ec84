"""``model.safetensors`` read as untrusted input: its header is checked against the tensors the
architecture needs (names, dtypes, shapes, byte ranges) before the library materializes anything,
so a file of float64, int or wrongly shaped weights is refused naming the tensor, instead of being
assigned and failing at the first forward."""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch

from .._util import first_line
from ..errors import ExportError
from .files import KIB, read_file
from .meta import _show, parse_json

# torch dtype -> its safetensors name (the dtypes a state dict can hold).
DTYPE_NAMES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
               torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
               torch.bool: "BOOL"}
# The header: ~100 bytes of JSON per tensor as safetensors writes it, plus its metadata and padding.
HEADER_SLACK = 64 * KIB
HEADER_PER_TENSOR = KIB


UNFIT = "the weights do not fit the architecture: "


class Expected(NamedTuple):
    dtype: str  # safetensors name
    shape: list[int]
    nbytes: int


def expected_tensors(model: torch.nn.Module) -> dict[str, Expected]:
    """What the file must hold for ``model`` (built on the meta device: shapes, no storage)."""
    return {name: Expected(DTYPE_NAMES.get(t.dtype, str(t.dtype)), list(t.shape), t.numel() * t.element_size())
            for name, t in model.state_dict().items()}


def _header_limit(expected: dict[str, Expected]) -> int:
    return HEADER_SLACK + HEADER_PER_TENSOR * len(expected)


def read_weights(folder: Path, name: str, expected: dict[str, Expected], arch: str) -> dict[str, torch.Tensor]:
    """The tensors of ``folder/name`` (on the CPU), exactly those of ``expected``; ExportError
    naming the file (and the tensor) otherwise. The file may not exceed what those tensors and a
    header take, so a hostile file cannot make this allocate more than the model itself."""
    from safetensors.torch import load as load_bytes

    where = folder / name
    limit = 8 + _header_limit(expected) + sum(e.nbytes for e in expected.values())
    data = read_file(folder, name, limit)
    header, data_size = _header(data, where, _header_limit(expected))
    metadata = header.pop("__metadata__", None)
    _check_tensors(header, expected, where)
    _check_metadata(metadata, where, arch)  # after the tensors: a tensor that does not fit says more
    _check_layout(header, where, data_size)
    try:
        return load_bytes(data)
    except Exception as e:  # noqa: BLE001  (a parser of untrusted bytes: whatever it raises is "unreadable")
        raise ExportError(f"{where}: unreadable weights ({first_line(e, 120)})") from None


def _header(data: bytes, where: Path, limit: int) -> tuple[dict[str, Any], int]:
    """The parsed JSON header and the size of the data after it."""
    if len(data) < 8:
        raise ExportError(f"{where}: unreadable weights ({len(data)} bytes, too short for safetensors)")
    size = int.from_bytes(data[:8], "little")
    if size > min(limit, len(data) - 8):
        raise ExportError(f"{where}: unreadable weights (header claims {size} bytes of a {len(data)}-byte file)")
    header = parse_json(data[8:8 + size], where)
    if not isinstance(header, dict):
        raise ExportError(f"{where}: unreadable weights (header is not a JSON object)")
    return header, len(data) - 8 - size


def _check_metadata(metadata: Any, where: Path, arch: str) -> None:
    """The exporter records the architecture beside the weights; a different one is a mix-up."""
    if metadata is None:
        return
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ExportError(f"{where}: unreadable weights (__metadata__ is not an object of strings)")
    if "arch" in metadata and metadata["arch"] != arch:
        raise ExportError(f"{where}: holds the weights of another architecture ({_show(metadata['arch'])})")


def _check_tensors(header: dict[str, Any], expected: dict[str, Expected], where: Path) -> None:
    """Every tensor present once, none extra, each of the dtype, shape and byte count expected."""
    extra = [n for n in header if n not in expected]
    if extra:
        raise ExportError(f"{where}: {UNFIT}unexpected tensor {_show(extra[0])} ({len(extra)} not in the architecture)")
    missing = [n for n in expected if n not in header]
    if missing:
        raise ExportError(f"{where}: {UNFIT}no tensor {missing[0]!r} ({len(missing)} missing)")
    for name, want in expected.items():
        entry = header[name]
        if not isinstance(entry, dict):
            raise ExportError(f"{where}: {UNFIT}tensor {name!r}: header entry is not an object")
        if entry.get("dtype") != want.dtype:
            raise ExportError(f"{where}: {UNFIT}tensor {name!r} is {_show(entry.get('dtype'))}, expected {want.dtype!r}")
        shape = entry.get("shape")
        if not isinstance(shape, list) or shape != want.shape or not all(type(d) is int for d in shape):  # 16.0 == 16
            raise ExportError(f"{where}: {UNFIT}tensor {name!r} has shape {_show(shape)}, expected {want.shape}")
        offsets = entry.get("data_offsets")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
                or offsets[1] - offsets[0] != want.nbytes):
            raise ExportError(f"{where}: tensor {name!r} has data_offsets {_show(offsets)}, "
                              f"not a range of its {want.nbytes} bytes")


def _check_layout(header: dict[str, Any], where: Path, data_size: int) -> None:
    """The tensors' byte ranges tile the data exactly: no overlap, no gap, nothing past the end."""
    end = 0
    for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
        begin, stop = entry["data_offsets"]
        if begin != end:
            raise ExportError(f"{where}: tensor {name!r} starts at byte {begin}, expected {end} (overlap or gap)")
        end = stop
    if end != data_size:
        raise ExportError(f"{where}: the header accounts for {end} bytes of data, the file holds {data_size}")
