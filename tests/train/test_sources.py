"""A user's own data: image folders (real PNG and JPEG files written with PIL), .npz files and
module:function, every malformed case as one ConfigError line, and the memory bound checked
before anything is decoded."""
from __future__ import annotations

import dataclasses
import sys
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nas import limits
from nas.errors import ConfigError
from nas.train import data, sources

# One grey level per class, far apart: a constant image survives JPEG within a few levels,
# so every decoded image tells which class folder it came from.
LEVELS = {"a": 30, "b": 120, "c": 210}


def _image(path: Path, level: int, size=(8, 8), mode="RGB") -> None:
    """A constant image of ``level`` in PIL ``mode``, width x height ``size``, format by suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = level if mode in ("L", "I;16") else (level,) * len(mode)
    Image.new(mode, size, value).save(path)


def _folder(root: Path, per_class: int = 100, classes=("b", "a", "c"), mode="RGB") -> Path:
    """``root/<class>/i.png|jpg``, half PNG and half JPEG, classes created out of sorted order."""
    for c in classes:
        for i in range(per_class):
            _image(root / c / f"{i:03d}.{'png' if i % 2 else 'jpg'}", LEVELS.get(c, 90), mode=mode)
    return root


def _class_of(x: np.ndarray) -> np.ndarray:
    """The class whose level is nearest each image's mean (uint8 NCHW)."""
    names = sorted(LEVELS)
    levels = np.array([LEVELS[n] for n in names])
    return np.abs(x.reshape(len(x), -1).mean(axis=1)[:, None] - levels[None]).argmin(axis=1)


def _one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text and "Traceback" not in text
    return text


# ---------------------------------------------------------------------------- image folders


def test_flat_folder_classes_are_sorted_names_and_png_and_jpeg_decode(tmp_path):
    raw = sources.load_folder(str(_folder(tmp_path / "imgs")))
    assert raw.classes == ("a", "b", "c") and raw.num_classes == 3
    assert raw.train_x.dtype == np.uint8 and raw.train_x.shape[1:] == (3, 8, 8)
    # A stratified 20% of each class (fixed seed) is the test split.
    assert np.bincount(raw.test_y).tolist() == [20, 20, 20] and np.bincount(raw.train_y).tolist() == [80, 80, 80]
    for x, y in ((raw.train_x, raw.train_y), (raw.test_x, raw.test_y)):
        assert np.array_equal(_class_of(x), y)
    # Both formats: PNG exact, JPEG within a few levels of its constant.
    png = raw.train_x[raw.train_y == 0]
    assert (png == 30).all(axis=(1, 2, 3)).sum() >= 30 and (np.abs(png.astype(int) - 30) <= 3).all()
    assert raw.test_split == "stratified 20% held out with fixed seed 0" and raw.sources == (str(tmp_path / "imgs"),)


def test_folder_through_load_records_where_it_came_from(tmp_path, monkeypatch):
    _folder(tmp_path / "imgs", per_class=10)
    monkeypatch.chdir(tmp_path)
    splits = data.load("imgs", val_fraction=0.25, seed=3)
    assert splits.input_shape == (3, 8, 8) and splits.num_classes == 3
    assert splits.train_x.dtype == torch.float32 and len(splits.test_y) == 6
    assert len(splits.train_y) + len(splits.val_y) == 24 and len(splits.val_y) == 6
    meta = splits.meta
    assert meta["dataset"] == "imgs" and meta["sources"] == [str(tmp_path / "imgs")]
    assert meta["classes"] == ["a", "b", "c"] and meta["scale"] == 255.0 and meta["augment"] == "none"
    assert data.load("imgs", val_fraction=0.25, seed=3).meta == meta  # the same files give the same fingerprint


@pytest.mark.parametrize("held", ["val", "test"])
def test_train_and_held_out_folders(tmp_path, held):
    root = tmp_path / "imgs"
    _folder(root / "train", per_class=12)
    _folder(root / held, per_class=4, classes=("c", "a"))  # a subset of train's classes
    raw = sources.load_folder(str(root))
    assert raw.classes == ("a", "b", "c") and len(raw.train_y) == 36
    assert sorted(raw.test_y.tolist()) == [0] * 4 + [2] * 4  # indexed by train's names, not its own
    assert np.array_equal(_class_of(raw.test_x), raw.test_y)
    assert held in raw.test_split


def test_grey_stays_one_channel_and_a_colour_image_makes_all_rgb(tmp_path):
    grey = sources.load_folder(str(_folder(tmp_path / "grey", per_class=5, mode="L")))
    assert grey.train_x.shape[1:] == (1, 8, 8)
    root = _folder(tmp_path / "mixed", per_class=5, mode="L")
    _image(root / "a" / "colour.png", 40, mode="RGBA")
    mixed = sources.load_folder(str(root))
    assert mixed.train_x.shape[1:] == (3, 8, 8)
    x = np.concatenate([mixed.train_x, mixed.test_x])
    assert (x[:, 0] == x[:, 1]).all() and (x[:, 1] == x[:, 2]).all()  # grey replicated losslessly
    assert (x.reshape(len(x), -1) == 40).all(axis=1).sum() == 1  # alpha dropped, as default_loader does


def test_other_files_are_ignored_as_imagefolder_ignores_them(tmp_path):
    root = _folder(tmp_path / "imgs", per_class=5)
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "README").write_text("top-level files are no classes")
    raw = sources.load_folder(str(root))
    assert len(raw.train_y) + len(raw.test_y) == 15


def test_memory_bound_refuses_before_decoding_anything(tmp_path, monkeypatch):
    root = _folder(tmp_path / "imgs", per_class=10)
    opened = []
    header, decode = sources._header, sources._decode
    monkeypatch.setattr(sources, "_header", lambda p: opened.append(p) or header(p))
    monkeypatch.setattr(sources, "_decode", lambda *a: pytest.fail("decoded before the size check"))
    # 30 images of 3x8x8 are 23,040 bytes of float32.
    monkeypatch.setattr(limits, "LIMITS", dataclasses.replace(limits.LIMITS, max_dataset_bytes=23_039))
    with pytest.raises(ConfigError) as e:
        sources.load_folder(str(root))
    assert "30 images of 3x8x8" in _one_line(e) and "max_dataset_bytes" in str(e.value)
    assert len(opened) == 1  # only the first header was read
    monkeypatch.setattr(limits, "LIMITS", dataclasses.replace(limits.LIMITS, max_dataset_bytes=1 << 30))
    # The splits may take half of the memory available: 23,040 bytes need 46,080.
    monkeypatch.setattr(sources, "available_memory", lambda: 46_079)
    with pytest.raises(ConfigError, match="more than the 0.00 GiB of memory available now allows"):
        sources.load_folder(str(root))
    monkeypatch.setattr(sources, "available_memory", lambda: 46_080)
    monkeypatch.setattr(sources, "_decode", decode)
    assert len(sources.load_folder(str(root)).train_y) == 24


def test_float_arrays_are_bounded_by_their_peak_while_loading(tmp_path, monkeypatch):
    # 30 float images of 3x8x8: 23,040 bytes of splits, and 2 x 23,040 more (the floats and one
    # copy) while loading: 69,120 at the peak, above 50,000 though the splits fit in half of it.
    np.savez(tmp_path / "d.npz", x=np.zeros((30, 3, 8, 8), np.float32), y=np.arange(30) % 2)
    monkeypatch.setattr(sources, "available_memory", lambda: 50_000)
    with pytest.raises(ConfigError, match="about 0.00 GiB while loading"):
        sources.load_npz(str(tmp_path / "d.npz"))
    monkeypatch.setattr(sources, "available_memory", lambda: 69_120)
    assert sources.load_npz(str(tmp_path / "d.npz")).num_classes == 2


def test_available_memory_is_read():
    available = sources.available_memory()
    assert available is None or available > 0


def test_mixed_sizes_name_two_files(tmp_path):
    root = _folder(tmp_path / "imgs", per_class=3)
    _image(root / "b" / "odd.png", 120, size=(9, 8))
    with pytest.raises(ConfigError) as e:
        sources.load_folder(str(root))
    text = _one_line(e)
    assert "differ in size" in text and str(root / "a" / "000.jpg") in text and str(root / "b" / "odd.png") in text
    assert "9x8" in text and "resize" in text


@pytest.mark.parametrize("damage, words", [
    (lambda p: p.write_bytes(b"this is no image at all"), "cannot read image"),
    (lambda p: p.write_bytes(p.read_bytes()[:60]), "cannot decode image"),  # header intact, data cut
])
def test_a_corrupt_image_is_named(tmp_path, damage, words):
    root = _folder(tmp_path / "imgs", per_class=3)
    bad = root / "c" / "001.png"  # noise, so that its pixel data runs well past the first 60 bytes
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(bad)
    damage(bad)
    with pytest.raises(ConfigError) as e:
        sources.load_folder(str(root))
    assert words in _one_line(e) and str(bad) in str(e.value)


def test_sixteen_bit_images_are_refused(tmp_path):
    root = _folder(tmp_path / "imgs", per_class=2, mode="L")
    _image(root / "a" / "deep.png", 1000, mode="I;16")
    with pytest.raises(ConfigError, match=r"deep\.png has PIL mode 'I;16'"):
        sources.load_folder(str(root))


@pytest.mark.parametrize("make, words", [
    (lambda r: (_folder(r, per_class=2), (r / "d").mkdir()), "no image in class folder"),
    (lambda r: (_folder(r, per_class=2), (r / "d").mkdir(), (r / "d" / "x.txt").write_text("")), "no image in class"),
    (lambda r: (r.mkdir(), (r / "x.png").write_bytes(b"")), "has 0 class folders, needs at least 2"),
    (lambda r: _folder(r, per_class=2, classes=("a",)), "has 1 class folder, needs at least 2"),
    (lambda r: (_folder(r / "train", per_class=2), _folder(r / "val", per_class=1, classes=("z",))),
     "val/ has class folders train/ lacks: z"),
    (lambda r: (_folder(r / "train", per_class=2), (r / "val").mkdir()), "has 0 class folders, needs at least 1"),
    (lambda r: (_folder(r / "train", per_class=2), _folder(r / "val", per_class=1), _folder(r / "test", per_class=1)),
     "both val/ and test/"),
    (lambda r: (_folder(r / "train", per_class=2), _folder(r / "extra", per_class=1)), "also extra/"),
])
def test_bad_folder_layouts_are_one_line(tmp_path, make, words):
    root = tmp_path / "imgs"
    make(root)
    with pytest.raises(ConfigError) as e:
        data.load(str(root))
    assert words in _one_line(e) and str(root) in str(e.value)


# ---------------------------------------------------------------------------- .npz files


def _xy(n=60, classes=3, shape=(3, 8, 8), dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, *shape)).astype(dtype) if dtype == np.uint8 else rng.random((n, *shape)).astype(dtype)
    return x, np.arange(n) % classes


def _rows(x: np.ndarray) -> list[bytes]:
    return sorted(r.tobytes() for r in np.ascontiguousarray(x).reshape(len(x), -1))


@pytest.mark.parametrize("layout, shape, chw", [
    ("nchw", (3, 8, 8), (3, 8, 8)),
    ("nhwc", (8, 8, 3), (3, 8, 8)),
    ("nhwc", (6, 5, 4), (4, 6, 5)),
    ("nhw", (8, 8), (1, 8, 8)),
    ("ambiguous: nchw", (3, 8, 1), (3, 8, 1)),  # both axes could be channels: NCHW wins
    ("nchw, 5 channels", (5, 8, 8), (5, 8, 8)),
])
def test_npz_layouts(tmp_path, layout, shape, chw):
    x, y = _xy(shape=shape)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    raw = sources.load_npz(str(tmp_path / "d.npz"))
    assert raw.train_x.shape[1:] == chw and raw.scale == 255.0 and raw.num_classes == 3
    assert raw.train_x.flags.c_contiguous
    nchw = x.transpose(0, 3, 1, 2) if layout == "nhwc" else x.reshape(len(x), *chw)
    assert _rows(np.concatenate([raw.train_x, raw.test_x])) == _rows(nchw)
    assert np.bincount(raw.test_y).tolist() == [4, 4, 4]  # stratified 20%


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_npz_floats_stay_floats_and_held_out_arrays_are_the_test_split(tmp_path, dtype):
    x, y = _xy(dtype=dtype)
    xv, yv = _xy(n=9, dtype=dtype, seed=1)
    np.savez_compressed(tmp_path / "d.npz", x=x, y=y.reshape(-1, 1), x_val=xv, y_val=yv)
    raw = sources.load_npz(str(tmp_path / "d.npz"))
    assert raw.train_x.dtype == np.float32 and raw.scale == 1.0
    assert np.array_equal(raw.test_x, xv.astype(np.float32)) and np.array_equal(raw.test_y, yv)
    assert np.array_equal(raw.train_x, x.astype(np.float32)) and raw.train_y.dtype == np.int64
    assert "x_val" in raw.test_split
    splits = data.load(str(tmp_path / "d.npz"), val_fraction=0.0)
    assert splits.train_x.mean().item() == pytest.approx(0, abs=1e-4)
    assert splits.meta["mean"][0] == pytest.approx(float(x[:, 0].astype(np.float32).mean()), rel=1e-5)


def test_x_test_is_accepted_like_x_val(tmp_path):
    x, y = _xy()
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x[:5], y_test=y[:5])
    assert len(sources.load_npz(str(tmp_path / "d.npz")).test_y) == 5


def _npz_text(path: Path, text: bytes) -> None:
    path.write_bytes(text)


def _truncated(path: Path) -> None:
    x, y = _xy(n=200)
    np.savez(path, x=x, y=y)
    path.write_bytes(path.read_bytes()[:5000])  # the zip's directory is at its end


def _short_member(path: Path) -> None:
    """A valid zip whose x.npy header promises 4 images and whose data stops after 10 bytes."""
    with zipfile.ZipFile(path, "w") as z:
        with z.open("x.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (4, 8, 8)})
            f.write(bytes(10))
        with z.open("y.npy", "w") as f:
            np.save(f, np.arange(4) % 2)


MALFORMED = [
    (dict(y=np.arange(4)), "missing key 'x'"),
    (dict(x=np.zeros((4, 8, 8), np.uint8)), "missing key 'y'"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4) % 2, z=np.arange(3)), "unknown key 'z'"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4) % 2, x_val=np.zeros((2, 8, 8), np.uint8)), "missing key 'y_val'"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4) % 2, x_val=np.zeros((1, 8, 8), np.uint8),
          y_val=np.zeros(1, int), x_test=np.zeros((1, 8, 8), np.uint8), y_test=np.zeros(1, int)), "both x_val/y_val and"),
    (dict(x=np.zeros((4, 8, 8), np.int64), y=np.arange(4) % 2), "'x' is int64"),
    (dict(x=np.zeros((4, 8, 8), bool), y=np.arange(4) % 2), "'x' is bool"),
    (dict(x=np.zeros((4, 64), np.uint8), y=np.arange(4) % 2), "'x' has shape (4, 64)"),
    (dict(x=np.zeros((4, 1, 8, 8, 1), np.uint8), y=np.arange(4) % 2), "'x' has shape (4, 1, 8, 8, 1)"),
    (dict(x=np.zeros((4, 0, 8, 8), np.uint8), y=np.arange(4) % 2), "at least 1"),
    (dict(x=np.zeros((0, 8, 8), np.uint8), y=np.zeros(0, int)), "'x' holds no images"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.array([0.0, 1.0, 0.0, 1.0])), "'y' is float64"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.array([True, False, True, False])), "'y' is bool"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.zeros((4, 2), int)), "'y' has shape (4, 2)"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.arange(5) % 2), "'y' has 5 labels for 4 images"),
    (dict(x=np.full((4, 8, 8), np.nan, np.float32), y=np.arange(4) % 2), "'x' has NaN or infinite values"),
    (dict(x=np.full((4, 8, 8), np.inf), y=np.arange(4) % 2), "'x' has NaN or infinite values"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, -1, 1])), "'y' has label -1"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.array([1, 2, 1, 2])), "no example of class 0 of 0..2"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, 1, 10 ** 12])), "has label 1000000000000 among 4"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.zeros(4, int)), "only class 0"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4) % 2, x_val=np.zeros((2, 9, 8), np.uint8),
          y_val=np.zeros(2, int)), "'x_val' holds images of 1x9x8, 'x' of 1x8x8"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4) % 2, x_val=np.zeros((2, 8, 8), np.float32),
          y_val=np.zeros(2, int)), "'x_val' is float32, 'x' is uint8"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4) % 2, x_val=np.zeros((2, 8, 8), np.uint8),
          y_val=np.array([0, 2])), "'y_val' has label 2, but 'y' has classes 0..1"),
    (dict(x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4) % 2, x_val=np.zeros((0, 8, 8), np.uint8),
          y_val=np.zeros(0, int)), "'x_val' holds no images"),
    (dict(x=np.array([np.zeros(3), np.zeros(4)], dtype=object), y=np.arange(2)), "'x' is object"),  # ragged
]


@pytest.mark.parametrize("arrays, words", MALFORMED, ids=[w for _, w in MALFORMED])
def test_malformed_npz_is_one_line_naming_file_and_key(tmp_path, arrays, words):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)  # object arrays are pickled by savez: we refuse them unread
    with pytest.raises(ConfigError) as e:
        data.load(str(path))
    text = _one_line(e)
    assert words in text and str(path) in text


@pytest.mark.parametrize("write, words", [
    (lambda p: p.write_text("x,y\n1,2\n"), "not a .npz archive"),
    (lambda p: np.save(p.with_suffix(".npy"), np.zeros(3)) or p.with_suffix(".npy").rename(p), "holds one .npy array"),
    (_truncated, "not a .npz archive (File is not a zip file)"),
    (_short_member, "cannot read key 'x'"),
    (lambda p: zipfile.ZipFile(p, "w").writestr("x.npy", b"not an npy header"), "cannot read key 'x'"),
])
def test_a_file_that_is_no_npz_is_one_line(tmp_path, write, words):
    path = tmp_path / "d.npz"
    write(path)
    with pytest.raises(ConfigError) as e:
        data.load(str(path))
    assert words in _one_line(e) and str(path) in str(e.value)


def test_npz_size_is_bounded_from_headers_before_loading(tmp_path):
    # A member whose header claims 10^9 CIFAR-sized images (11 TiB of float32) and holds no data.
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as z:
        for key, shape, dtype in (("x", (10 ** 9, 3, 32, 32), np.uint8), ("y", (10 ** 9,), np.int64)):
            with z.open(f"{key}.npy", "w") as f:
                np.lib.format.write_array_header_1_0(f, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                         "shape": shape})
    with pytest.raises(ConfigError, match=r"1,000,000,000 images of 3x32x32 take 11444\.09 GiB .*max_dataset_bytes"):
        data.load(str(path))


def test_images_larger_than_a_network_may_take_are_refused(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 1, 1, limits.LIMITS.max_input_size + 1), np.uint8), y=np.arange(2))
    with pytest.raises(ConfigError, match="resize them"):
        data.load(str(tmp_path / "d.npz"))


# ---------------------------------------------------------------------------- module:function


@pytest.fixture
def module(tmp_path, monkeypatch):
    """Write a module into tmp_path (the current folder, not on sys.path); returns its name."""
    name = f"own_data_{uuid.uuid4().hex[:8]}"
    monkeypatch.chdir(tmp_path)

    def write(body: str) -> str:
        (tmp_path / f"{name}.py").write_text(body)
        return name

    yield write
    sys.modules.pop(name, None)


CALLABLE_BODY = """
import numpy as np
import torch

RNG = np.random.default_rng(0)
X = RNG.random((40, 1, 8, 8)).astype(np.float32)
Y = np.arange(40) % 4

def pair():
    return X, Y

def four():
    return torch.from_numpy(X), torch.from_numpy(Y), torch.from_numpy(X[:8]).half(), torch.from_numpy(Y[:8])

def mapping():
    return {"x": (X * 255).astype(np.uint8).transpose(0, 2, 3, 1), "y": Y, "x_val": (X[:4] * 255).astype(np.uint8).transpose(0, 2, 3, 1), "y_val": Y[:4]}

class Sets:
    @staticmethod
    def load():
        return X, Y
"""


@pytest.mark.parametrize("attr, n_test, scale", [("pair", 8, 1.0), ("four", 8, 1.0), ("mapping", 4, 255.0),
                                                 ("Sets.load", 8, 1.0)])
def test_callable_from_the_current_folder(module, attr, n_test, scale):
    name = module(CALLABLE_BODY)
    before = list(sys.path)
    splits = data.load(f"{name}:{attr}", val_fraction=0.0)
    assert sys.path == before  # the current folder was importable only for the import
    assert splits.input_shape == (1, 8, 8) and splits.num_classes == 4 and len(splits.test_y) == n_test
    assert splits.meta["scale"] == scale and splits.meta["sources"] == [f"{name}:{attr}"]
    mod = sys.modules[name]
    assert np.array_equal(mod.X, np.random.default_rng(0).random((40, 1, 8, 8)).astype(np.float32))  # not written


@pytest.mark.parametrize("body, attr, words", [
    ("", "load", "has no attribute 'load'"),
    ("load = 3\n", "load", "'load' is not callable (type int)"),
    ("raise RuntimeError('no disk')\n", "load", "importing '{name}' raised RuntimeError: no disk"),
    ("def load(:\n", "load", "raised SyntaxError"),
    ("import no_such_package_xyz\n", "load", "importing '{name}' failed: No module named 'no_such_package_xyz'"),
    ("def load():\n    raise ValueError('bad row 7')\n", "load", "the function raised ValueError: bad row 7"),
    ("def load():\n    return [1, 2]\n", "load", "returned list; expected (x, y)"),
    ("def load():\n    return (1, 2, 3)\n", "load", "returned tuple"),
    ("def load():\n    return [[0]], [0]\n", "load", "'x' is a list; expected a numpy array or a torch tensor"),
    ("import numpy as np\ndef load():\n    return {'x': np.zeros((2, 8, 8), np.uint8), 'y': np.arange(2), 'w': 1}\n",
     "load", "unknown key 'w'"),
])
def test_callable_errors_are_one_line(module, body, attr, words):
    name = module(body)
    with pytest.raises(ConfigError) as e:
        data.load(f"{name}:{attr}")
    text = _one_line(e)
    assert words.format(name=name) in text and f"{name}:{attr}" in text


def test_a_missing_module_says_where_it_looked(module):
    with pytest.raises(ConfigError, match=r"no module named 'nowhere_xyz' in .* PYTHONPATH"):
        data.load("nowhere_xyz:load")


# ---------------------------------------------------------------------------- telling them apart


def test_spec_forms(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imgs").mkdir()
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 8, 8), np.uint8), y=np.arange(2))
    (tmp_path / "a:b").mkdir()  # an existing path wins over module:function
    assert data.check_spec("digits") == "digits"
    assert data.check_spec("imgs") == str(tmp_path / "imgs")
    assert data.check_spec("./d.npz") == str(tmp_path / "d.npz")
    assert data.check_spec("a:b") == str(tmp_path / "a:b")
    assert data.check_spec("pkg.mod:fn") == "pkg.mod:fn"
    with pytest.raises(ConfigError, match="names Python code"):
        data.check_spec("pkg.mod:fn", allow_code=False)
    assert data.check_spec("imgs", allow_code=False) == str(tmp_path / "imgs")


@pytest.mark.parametrize("spec, words", [
    ("cifar-10", "did you mean 'cifar10'?"),
    ("imagenet", "a registered name (digits, mnist, fashion-mnist, cifar10, cifar100), an image folder, "
                 "a .npz file or module:function"),
    ("./nowhere", "no such folder or .npz file"),
    ("gone.npz", "no such folder or .npz file"),
    ("notes.txt", "is a file but not a .npz archive"),
    ("pkg-name:fn", "unknown dataset 'pkg-name:fn'"),
    ("", "unknown dataset ''"),  # not the current folder
    ("a" * 5000, "unknown dataset 'aaaa"),  # too long for a path: no OSError, and shown cut short
    ("x\0y.npz", "unknown dataset 'x\\x00y.npz'"),
])
def test_unknown_specs_are_one_line(tmp_path, monkeypatch, spec, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    for call in (data.check_spec, data.load):
        with pytest.raises(ConfigError) as e:
            call(spec)
        assert words in _one_line(e) and len(str(e.value)) < 500


@pytest.mark.parametrize("spec, make, short", [
    ("digits", None, "digits"),
    ("my pets/", "dir", "my_pets"),
    ("faces.v2.npz", "npz", "faces.v2"),
    ("pkg.mod:load", None, "pkg.mod.load"),
])
def test_short_name_is_file_name_safe(tmp_path, monkeypatch, spec, make, short):
    monkeypatch.chdir(tmp_path)
    if make == "dir":
        (tmp_path / spec).mkdir()
    elif make == "npz":
        (tmp_path / spec).write_bytes(b"")
    assert data.short_name(spec) == short


# ---------------------------------------------------------------------------- shapes and classes


@pytest.mark.parametrize("shape, classes, words", [
    ((1, 8, 8), 10, None),
    ((3, 32, 32), 10, "gives 1x8x8 images, but space 'sp' expects 3x32x32 images; use a space file with "
                      "`input: [1, 8, 8]`"),
    ((1, 8, 8), 7, "gives 10 classes, but space 'sp' expects 7 classes; use a space file with `classes: 10`"),
    ((3, 32, 32), 7, "gives 1x8x8 images in 10 classes, but space 'sp' expects 3x32x32 in 7 classes; use a space "
                     "file with `input: [1, 8, 8]` and `classes: 10`"),
])
def test_check_matches_names_only_what_differs(digits, shape, classes, words):
    if words is None:
        assert data.check_matches(digits, shape, classes, "sp") is None
        return
    with pytest.raises(ConfigError) as e:
        data.check_matches(digits, shape, classes, "sp")
    assert _one_line(e) == f"dataset 'digits' {words}"


def test_normalize_never_writes_float_input():
    x = np.random.default_rng(0).random((5, 2, 3, 3)).astype(np.float32)
    keep = x.copy()
    mean, std = data.channel_stats(x, 1.0)
    out = data.normalize(x, 1.0, mean, std)
    assert np.array_equal(x, keep)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(out.std(dim=(0, 2, 3), unbiased=False), torch.ones(2), atol=1e-4)
    assert np.allclose(mean, x.mean(axis=(0, 2, 3))) and np.allclose(std, x.std(axis=(0, 2, 3)))


@pytest.mark.parametrize("chunk", [1, 100, 1 << 22])
@pytest.mark.parametrize("dtype, scale, offset", [(np.uint8, 255.0, 0), (np.float32, 1.0, 0), (np.float32, 1.0, 1e3)])
def test_channel_stats_in_chunks_equal_numpys(monkeypatch, chunk, dtype, scale, offset):
    rng = np.random.default_rng(0)
    x = (rng.integers(0, 256, (37, 3, 5, 4)) if dtype == np.uint8 else rng.random((37, 3, 5, 4)) + offset).astype(dtype)
    x[:, 2] = x[0, 2, 0, 0]  # a constant channel gets std 1
    monkeypatch.setattr(data, "STATS_CHUNK", chunk)
    mean, std = data.channel_stats(x, scale)
    ref = x.astype(np.float64) / scale
    assert np.allclose(mean, ref.mean(axis=(0, 2, 3)), rtol=1e-12)
    assert np.allclose(std[:2], ref.std(axis=(0, 2, 3))[:2], rtol=1e-9) and std[2] == 1.0


def test_every_source_kind_is_told_apart(tmp_path, monkeypatch):
    """Each registered kind claims its own form and no other's."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imgs").mkdir()
    (tmp_path / "d.npz").write_bytes(b"")
    examples = {"folder": "imgs", "npz": "d.npz", "callable": "mod:fn"}
    assert set(examples) == set(sources.KINDS)
    for name, spec in examples.items():
        assert sources.kind_of(spec) is sources.KINDS.get(name)
    assert sources.kind_of("nothing") is None
