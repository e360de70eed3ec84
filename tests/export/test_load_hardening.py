"""``nas.load`` on hostile export folders: every case ends in one ExportError (a NasError) whose
one-line message names the file, never a raw KeyError / RecursionError / a read outside the
folder / a model that fails at its first forward."""
from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

import nas
from nas import export as E
from nas.errors import ExportError

ARCH = "conv(4,3) gap"  # a conv, a batch norm (float and int64 buffers) and a linear head
SHAPE = (1, 8, 8)
WEIGHTS, META, ARCH_FILE = "model.safetensors", "meta.json", "arch.txt"
FILES = (META, ARCH_FILE, WEIGHTS)


def make_export(folder: Path) -> Path:
    """A real export folder of ARCH (safetensors only: fast), as ``nas export`` writes it."""
    torch.manual_seed(0)
    meta = {"dataset": "digits", "normalization": {"mean": [0.3], "std": [0.4], "scale": 16.0}}
    x = torch.randn((2, *SHAPE), generator=torch.Generator().manual_seed(1))
    E.export_model(nas.build(ARCH, SHAPE, 10).eval(), ARCH, folder, meta, ["safetensors"], x)
    return folder


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return make_export(tmp_path_factory.mktemp("pristine") / "rank1")


@pytest.fixture
def folder(pristine, tmp_path) -> Path:
    """A fresh copy of the pristine export for one test to damage."""
    return Path(shutil.copytree(pristine, tmp_path / "rank1"))


def refused(folder: Path, name: str | None, match: str | None = None) -> str:
    """``load(folder)`` raises one ExportError, one line, naming ``folder/name``; its message."""
    with pytest.raises(ExportError, match=match) as info:
        E.load(folder)
    message = str(info.value)
    assert "\n" not in message and message.strip()
    assert str(folder / name if name else folder) in message, message
    return message


def read_json(path: Path):
    return json.loads(path.read_text())


def set_meta(folder: Path, **changes) -> None:
    meta = read_json(folder / META)
    for key, value in changes.items():
        if value is DROP:
            del meta[key]
        else:
            meta[key] = value
    (folder / META).write_text(json.dumps(meta))


DROP = object()


def rewrite_weights(folder: Path, change) -> None:
    """Re-save the weights after ``change(state)`` edits the dict of tensors in place."""
    data = (folder / WEIGHTS).read_bytes()
    state = load_bytes(data)
    change(state)
    (folder / WEIGHTS).write_bytes(save_bytes(state, metadata={"format": E.META_FORMAT, "arch": ARCH}))


def split_weights(folder: Path) -> tuple[dict, bytes]:
    """The safetensors header (parsed) and the data after it."""
    data = (folder / WEIGHTS).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def join_weights(folder: Path, header: dict, body: bytes) -> None:
    raw = json.dumps(header).encode()
    (folder / WEIGHTS).write_bytes(struct.pack("<Q", len(raw)) + raw + body)


# ---------------------------------------------------------------------------------------
# the pristine folder loads, and so does a copy reached through a symlinked folder


def test_the_pristine_export_loads(folder):
    model = E.load(folder)
    assert model(torch.zeros(2, *SHAPE)).shape == (2, 10)
    assert all(t.dtype in (torch.float32, torch.int64) for t in model.state_dict().values())


def test_a_folder_given_through_a_symlink_is_the_user_s_choice(folder, tmp_path):
    (tmp_path / "link").symlink_to(folder)
    assert E.load(tmp_path / "link")(torch.zeros(1, *SHAPE)).shape == (1, 10)


# ---------------------------------------------------------------------------------------
# files that are not regular files inside the folder


@pytest.mark.parametrize("name", FILES)
def test_a_symlinked_file_is_refused_even_with_valid_content(folder, tmp_path, name):
    outside = tmp_path / f"outside-{name}"
    shutil.move(folder / name, outside)  # the very same bytes, one step outside the folder
    (folder / name).symlink_to(outside)
    refused(folder, name, "symbolic link")


def test_weights_linked_to_a_system_file_are_not_read(folder):
    (folder / WEIGHTS).unlink()
    (folder / WEIGHTS).symlink_to("/etc/passwd")
    refused(folder, WEIGHTS, "symbolic link")


def test_arch_linked_out_of_the_folder_by_a_relative_path_is_refused(folder, tmp_path):
    (tmp_path / "secret").write_text(ARCH + "\n")
    (folder / ARCH_FILE).unlink()
    (folder / ARCH_FILE).symlink_to("../secret")
    refused(folder, ARCH_FILE, "symbolic link")


def test_a_symlink_inside_the_folder_is_refused_too(folder):
    (folder / "copy.json").write_bytes((folder / META).read_bytes())
    (folder / META).unlink()
    (folder / META).symlink_to("copy.json")
    refused(folder, META, "symbolic link")


@pytest.mark.parametrize("name", FILES)
def test_a_fifo_in_place_of_a_file_is_refused_without_blocking(folder, name):
    fifo = folder / name
    fifo.unlink()
    os.mkfifo(fifo)
    # Were load to block opening it, a writer that comes and goes after 10 s releases it. Another
    # process, not a thread: a reader blocked inside safetensors' native code keeps the GIL.
    writer = subprocess.Popen(["sh", "-c", 'sleep 10; : > "$0"', str(fifo)], start_new_session=True)
    start = time.monotonic()
    try:
        refused(folder, name, "FIFO")
    finally:
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait()
    assert time.monotonic() - start < 5, "load blocked on the FIFO"


@pytest.mark.parametrize("name", FILES)
def test_a_folder_in_place_of_a_file_is_refused(folder, name):
    (folder / name).unlink()
    (folder / name).mkdir()
    refused(folder, name, "is a folder")


@pytest.mark.parametrize("name", FILES)
def test_an_empty_file_is_refused(folder, name):
    (folder / name).write_bytes(b"")
    refused(folder, name)


@pytest.mark.parametrize("name", FILES)
def test_a_missing_file_is_refused(folder, name):
    (folder / name).unlink()
    refused(folder, None, f"no {name}")


@pytest.mark.parametrize("name, size", [(META, 300 << 10), (ARCH_FILE, 70 << 10), (WEIGHTS, 200 << 10)])
def test_an_oversized_file_is_refused_before_it_is_read(folder, name, size):
    with open(folder / name, "ab") as f:  # valid content, then whitespace / junk up to the size
        f.write(b" " * size)
    refused(folder, name, "more than the")


def test_a_path_that_is_a_file_or_nothing_is_no_export_folder(folder):
    refused(folder / META, None, "no such export folder")
    refused(folder / "missing", None, "no such export folder")


# ---------------------------------------------------------------------------------------
# model.safetensors


@pytest.mark.parametrize("keep", [4, 8, 20, -1, -40])
def test_truncated_weights_are_refused(folder, keep):
    data = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(data[:keep])
    refused(folder, WEIGHTS)


def test_a_header_length_past_the_end_of_the_file_is_refused(folder):
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[:8] = struct.pack("<Q", len(data) * 4)
    (folder / WEIGHTS).write_bytes(bytes(data))
    refused(folder, WEIGHTS, "header claims")


def test_a_huge_header_length_is_refused(folder):
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[:8] = struct.pack("<Q", 2**64 - 1)
    (folder / WEIGHTS).write_bytes(bytes(data))
    refused(folder, WEIGHTS, "header claims")


def test_data_offsets_past_the_data_are_refused(folder):
    header, body = split_weights(folder)
    header["head.bias"]["data_offsets"] = [len(body) + 1000, len(body) + 1040]
    join_weights(folder, header, body)
    refused(folder, WEIGHTS, "overlap or gap")


def test_overlapping_data_offsets_are_refused(folder):
    header, body = split_weights(folder)
    header["layers.0.norm.weight"]["data_offsets"] = list(header["layers.0.norm.bias"]["data_offsets"])
    join_weights(folder, header, body)
    refused(folder, WEIGHTS, "overlap or gap")


def test_data_left_over_after_the_tensors_is_refused(folder):
    header, body = split_weights(folder)
    join_weights(folder, header, body + b"\0" * 64)
    refused(folder, WEIGHTS, "accounts for")


def test_data_offsets_of_the_wrong_size_are_refused(folder):
    header, body = split_weights(folder)
    begin, end = header["head.weight"]["data_offsets"]
    header["head.weight"]["data_offsets"] = [begin, end - 4]
    join_weights(folder, header, body)
    refused(folder, WEIGHTS, "'head.weight' has data_offsets")


def test_a_header_that_is_not_json_is_refused(folder):
    header, body = split_weights(folder)
    raw = json.dumps(header).encode().replace(b"{", b"(", 1)
    (folder / WEIGHTS).write_bytes(struct.pack("<Q", len(raw)) + raw + body)
    refused(folder, WEIGHTS, "not valid JSON")


def test_a_header_that_is_not_an_object_is_refused(folder):
    join_weights(folder, [1, 2, 3], b"")
    refused(folder, WEIGHTS, "not a JSON object")


def test_a_deeply_nested_header_is_refused(folder):
    raw = b"[" * 50_000 + b"]" * 50_000
    (folder / WEIGHTS).write_bytes(struct.pack("<Q", len(raw)) + raw)
    refused(folder, WEIGHTS)


def test_an_extra_tensor_is_refused(folder):
    rewrite_weights(folder, lambda s: s.update({"layers.9.conv.weight": torch.zeros(3)}))
    refused(folder, WEIGHTS, "unexpected tensor 'layers.9.conv.weight'")


def test_a_missing_tensor_is_refused(folder):
    rewrite_weights(folder, lambda s: s.pop("layers.0.norm.running_var"))
    refused(folder, WEIGHTS, "no tensor 'layers.0.norm.running_var'")


@pytest.mark.parametrize("dtype, name", [(torch.float64, "F64"), (torch.int32, "I32"), (torch.bfloat16, "BF16"),
                                         (torch.float16, "F16")])
def test_weights_of_another_dtype_are_refused_naming_the_tensor(folder, dtype, name):
    rewrite_weights(folder, lambda s: s.update({"head.weight": s["head.weight"].to(dtype)}))
    refused(folder, WEIGHTS, f"'head.weight' is '{name}', expected 'F32'")


def test_all_weights_in_float64_are_refused(folder):
    rewrite_weights(folder, lambda s: s.update({k: v.double() for k, v in s.items() if v.is_floating_point()}))
    refused(folder, WEIGHTS, "expected 'F32'")


def test_an_integer_buffer_as_float_is_refused(folder):
    key = "layers.0.norm.num_batches_tracked"
    rewrite_weights(folder, lambda s: s.update({key: s[key].float()}))
    refused(folder, WEIGHTS, f"'{key}' is 'F32', expected 'I64'")


@pytest.mark.parametrize("shape", [(8, 10), (10, 4, 1), (40,)])
def test_weights_of_the_wrong_shape_are_refused_naming_the_tensor(folder, shape):
    rewrite_weights(folder, lambda s: s.update({"head.weight": torch.zeros(shape)}))
    refused(folder, WEIGHTS, r"'head.weight' has shape .*, expected \[10, 4\]")


def test_a_float_in_a_shape_is_refused(folder):
    header, body = split_weights(folder)
    header["head.weight"]["shape"] = [10.0, 4]
    join_weights(folder, header, body)
    refused(folder, WEIGHTS, "'head.weight' has shape")


def test_weights_recorded_for_another_architecture_are_refused(folder):
    header, body = split_weights(folder)
    header["__metadata__"]["arch"] = "conv(4,3) maxpool(2) gap"
    join_weights(folder, header, body)
    refused(folder, WEIGHTS, "another architecture")


def test_a_tensor_name_with_a_newline_still_gives_one_line(folder):
    rewrite_weights(folder, lambda s: s.update({"evil\nname": torch.zeros(1)}))
    refused(folder, WEIGHTS, "unexpected tensor")


# ---------------------------------------------------------------------------------------
# meta.json


@pytest.mark.parametrize("text", [b"{not json", b"\xff\xfe{}", b'{"format": NaN}', b"[1, 2]", b'"nas-export/1"',
                                  b"42", b"null"])
def test_meta_that_is_not_a_json_object_is_refused(folder, text):
    (folder / META).write_bytes(text)
    refused(folder, META)


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_meta_is_refused(folder, depth):
    meta = read_json(folder / META)
    text = json.dumps(meta)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    (folder / META).write_text(text)
    refused(folder, META, "nested")


def test_a_number_of_5000_digits_is_refused(folder):
    text = (folder / META).read_text()
    (folder / META).write_text(text[:-2] + ', "big": ' + "9" * 5000 + "}")
    refused(folder, META, "not valid JSON")


@pytest.mark.parametrize("key", ["format", "arch", "input_shape", "num_classes"])
def test_each_required_key_missing_is_refused(folder, key):
    set_meta(folder, **{key: DROP})
    refused(folder, META, "format" if key == "format" else f"no '{key}'")


@pytest.mark.parametrize("key, value", [
    ("format", "nas-export/2"), ("format", 1), ("format", None),
    ("arch", 7), ("arch", ["conv(4,3)", "gap"]), ("arch", ""), ("arch", "conv(4,3)\ngap"), ("arch", None),
    ("input_shape", "1x8x8"), ("input_shape", [1, 8]), ("input_shape", [1, 8, 8, 1]), ("input_shape", [1, -8, 8]),
    ("input_shape", [0, 8, 8]), ("input_shape", [True, 8, 8]), ("input_shape", [1.0, 8, 8]),
    ("input_shape", [1, 8, 10**12]), ("input_shape", [10**6, 8, 8]), ("input_shape", {"c": 1}),
    ("num_classes", "10"), ("num_classes", True), ("num_classes", 0), ("num_classes", -10), ("num_classes", 10.0),
    ("num_classes", 10**100), ("num_classes", None), ("num_classes", [10]),
    ("normalization", "none"), ("normalization", {"mean": [0.3, 0.3], "std": [0.4], "scale": 16}),
    ("normalization", {"mean": [0.3], "std": [0.0], "scale": 16}),
    ("normalization", {"mean": ["a"], "std": [0.4], "scale": 16}),
    ("normalization", {"mean": [0.3], "std": [0.4], "scale": -1}),
])
def test_each_key_of_the_wrong_type_or_range_is_refused(folder, key, value):
    set_meta(folder, **{key: value})
    message = refused(folder, META)
    assert repr(key) in message or "format" in message


def test_meta_with_extra_keys_of_any_kind_still_loads(folder):
    set_meta(folder, notes={"anything": [1, "two", None]}, normalization=None)
    assert E.load(folder)(torch.zeros(1, *SHAPE)).shape == (1, 10)


@pytest.mark.parametrize("changes", [{"input_shape": [3, 8, 8]}, {"num_classes": 11}])
def test_meta_disagreeing_with_the_weights_is_refused_naming_the_tensor(folder, changes):
    set_meta(folder, **changes, normalization=None)  # 3 channels: the first conv needs 3 input channels
    refused(folder, WEIGHTS, "do not fit the architecture: tensor")


def test_arch_agreeing_with_meta_but_not_the_weights_is_refused(folder):
    arch = str(nas.parse("conv(4,3) conv(4,3) gap"))
    (folder / ARCH_FILE).write_text(arch)
    set_meta(folder, arch=arch)
    refused(folder, WEIGHTS, "no tensor 'layers.1.conv.weight'")


# ---------------------------------------------------------------------------------------
# arch.txt


def test_arch_disagreeing_with_meta_is_refused(folder):
    (folder / ARCH_FILE).write_text("conv(8,3) gap\n")
    refused(folder, None, "different architectures")


@pytest.mark.parametrize("text", [b"conv(4,3 gap", b"nonsense!!", b"\xff\xfe", b"conv(4,3)\ngap", b"   \n",
                                  b"(" * 20_000])
def test_arch_that_cannot_be_parsed_is_refused_naming_the_file(folder, text):
    (folder / ARCH_FILE).write_bytes(text)
    refused(folder, ARCH_FILE)


def test_arch_that_cannot_be_built_for_the_input_is_refused(folder):
    arch = str(nas.parse("conv(4,3) maxpool(2) maxpool(2) gap"))  # 2x2 pools of a 1x1 input: nothing left
    (folder / ARCH_FILE).write_text(arch)
    set_meta(folder, arch=arch, input_shape=[1, 1, 1])
    refused(folder, META, "spatial size 0x0")
