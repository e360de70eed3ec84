"""Fuzzing ``nas.load`` with damaged copies of a real export folder: byte flips, truncations,
appended bytes, JSON values replaced in meta.json and in the safetensors header, files swapped
or deleted. Every input must end in a model that runs or in a one-line NasError, quickly."""
from __future__ import annotations

import json
import math
import shutil
import struct
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_load_hardening import (  # pytest puts this folder on sys.path
    FILES,
    META,
    WEIGHTS,
    make_export,
)

from nas import export as E
from nas.testing.fuzz import examples, settle

pytestmark = pytest.mark.fuzz

JSON_LEAVES = (st.none() | st.booleans() | st.integers() | st.sampled_from([0, -1, 1, 3, 2**31, 2**64, 10**30])
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=8)
FORWARD_PIXELS = 1 << 16  # a mutated input_shape may still load; run it only if small


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return make_export(tmp_path_factory.mktemp("fuzz") / "rank1")


def _paths(value, prefix=()):
    """Every path to a value inside parsed JSON (the root included)."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _paths(child, (*prefix, key))


def _replaced(value, path, new):
    if not path:
        return new
    value[path[0]] = _replaced(value[path[0]], path[1:], new)
    return value


def _flip(data: bytes, draw) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        if out:
            out[draw(st.integers(0, len(out) - 1))] ^= draw(st.integers(1, 255))
    return bytes(out)


def _truncate(data: bytes, draw) -> bytes:
    return data[:draw(st.integers(0, max(0, len(data) - 1)))]


def _append(data: bytes, draw) -> bytes:
    return data + draw(st.binary(min_size=1, max_size=64))


def _json_value(data: bytes, draw) -> bytes:
    """meta.json with one value (anywhere, the root included) replaced."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return data
    path = draw(st.sampled_from(list(_paths(parsed))))
    return json.dumps(_replaced(parsed, path, draw(JSON_VALUES))).encode()


def _header_value(data: bytes, draw) -> bytes:
    """model.safetensors with one value of its JSON header replaced (its length field kept true)."""
    try:  # an earlier step may have damaged it already: then there is no header to edit
        (size,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + size])
    except (struct.error, ValueError):
        return data
    path = draw(st.sampled_from(list(_paths(header))))
    raw = json.dumps(_replaced(header, path, draw(JSON_VALUES))).encode()
    return struct.pack("<Q", len(raw)) + raw + data[8 + size:]


# Mutation of one file's bytes -> the files it applies to.
BYTE_MUTATIONS = {_flip: FILES, _truncate: FILES, _append: FILES, _json_value: (META,), _header_value: (WEIGHTS,)}


@st.composite
def damage(draw):
    """A list of steps, each ("bytes", mutation, file) or ("swap", a, b) or ("delete", file)."""
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["bytes", "bytes", "bytes", "swap", "delete"]))
        if kind == "bytes":
            mutation = draw(st.sampled_from(list(BYTE_MUTATIONS)))
            steps.append((kind, mutation, draw(st.sampled_from(BYTE_MUTATIONS[mutation]))))
        elif kind == "swap":
            steps.append((kind, *draw(st.permutations(FILES))[:2]))
        else:
            steps.append((kind, draw(st.sampled_from(FILES))))
    return steps


def _apply(folder: Path, steps, draw) -> None:
    for kind, *args in steps:
        if kind == "bytes":
            mutation, name = args
            path = folder / name
            if path.is_file():
                path.write_bytes(mutation(path.read_bytes(), draw))
        elif kind == "swap":
            a, b = (folder / n for n in args)
            if a.exists() and b.exists():
                a.rename(folder / "swap.tmp")
                b.rename(a)
                (folder / "swap.tmp").rename(b)
        else:
            (folder / args[0]).unlink(missing_ok=True)


def load_and_run(folder: Path) -> None:
    """What a user does: load, then a forward pass on the input shape meta.json gives."""
    model = E.load(folder)
    shape = E.read_meta(folder)["input_shape"]
    if math.prod(shape) <= FORWARD_PIXELS:
        with torch.no_grad():
            assert model(torch.zeros(1, *shape)).shape == (1, E.read_meta(folder)["num_classes"])


@settings(max_examples=examples(150), derandomize=True, deadline=None)
@given(steps=damage(), data=st.data())
def test_a_damaged_export_folder_loads_or_is_refused(pristine, steps, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(shutil.copytree(pristine, Path(tmp) / "rank1"))
        _apply(folder, steps, data.draw)
        settle("model-folder", load_and_run, folder)
