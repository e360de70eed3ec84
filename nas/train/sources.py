"""Datasets a user brings: an image folder, a ``.npz`` file, or a Python function's arrays.

    load("~/pets")          # ImageFolder layout: ~/pets/<class>/*.jpg, or ~/pets/train/ + ~/pets/val/
    load("faces.npz")       # arrays x, y (optional x_val, y_val: the held-out test split)
    load("mydata:load")     # mydata.load() returns (x, y) or (x, y, x_test, y_test), numpy or torch

:data:`KINDS` holds one :class:`SourceKind` per form; :func:`kind_of` tells them apart from
the text alone, in registration order, without reading any data. Each kind's ``load``
returns a :class:`~nas.train.data.RawDataset` (official train and test images, not yet
split or normalized) after checking its size against :func:`check_size` before decoding.
Rules, memory policy and security: docs/datasets.md ("Your own data").
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .. import limits
from ..errors import ConfigError
from ..registry import Registry
from .data import RawDataset, stratified_split

# Without an official held-out set a stratified 20% is held out with a fixed seed, as for
# digits: test accuracies of runs with different seeds stay comparable.
TEST_FRACTION = 0.2
TEST_SEED = 0
HELD_OUT = ("val", "test")  # names of the held-out folder (train/ + val/) or arrays (x_val, y_val)
# Own data gets no augmentation by default: whether a flip keeps the label depends on the data
# (it does for pets, not for digits or text); TrainConfig's augment can ask for one.
AUGMENT = "none"
# How an image's PIL mode decodes (torchvision's default_loader converts everything to RGB; we
# keep grey images grey so that a 1-channel dataset stays 1 channel). A colour mode goes to
# RGB: palette expanded, alpha dropped as default_loader drops it, CMYK/YCbCr converted.
GREY_MODES = frozenset({"1", "L", "LA", "La"})
COLOUR_MODES = frozenset({"P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr"})
# NHWC is recognized by a last axis of 1, 3 or 4 channels when the second axis is not one of
# those (then NCHW is the only reading); any other array of rank 4 is NCHW.
NHWC_CHANNELS = (1, 3, 4)
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
CALLABLE_FORM = re.compile(rf"({_DOTTED}):({_DOTTED})")
ARRAY_KEYS = ("x", "y", *(f"{a}_{h}" for h in HELD_OUT for a in "xy"))  # of a .npz file or a function's dict


@dataclass(frozen=True)
class SourceKind:
    """One way to name a dataset that is not registered."""

    form: str  # how a user writes it, for messages: "an image folder"
    claims: Callable[[str], bool]  # does the text have this form? Cheap: reads no data
    load: Callable[[str], RawDataset]
    is_path: bool  # the text is a path, recorded absolute (a run must find it from anywhere)


KINDS: Registry[SourceKind] = Registry("dataset source", ConfigError)


def kind_of(spec: str) -> SourceKind | None:
    """The first kind, in registration order, whose form ``spec`` has; None for none."""
    if not spec.strip():  # Path("") is the current folder: never a dataset by accident
        return None
    return next((k for k in (KINDS.get(n) for n in KINDS) if k.claims(spec)), None)


def canonical(spec: str, kind: SourceKind) -> str:
    """``spec`` as a run records it: a path made absolute (``~`` expanded), a callable as is."""
    return str(_path(spec).resolve()) if kind.is_path else spec


def _path(spec: str) -> Path:
    return Path(spec).expanduser()  # relative to the current directory, not data_dir


def probe(spec: str, what: str) -> bool:
    """``Path.is_dir`` / ``is_file`` / ``exists`` of ``spec``, False where the name cannot be
    a path at all (too long, a NUL byte, an unreadable parent)."""
    try:
        return getattr(_path(spec), what)()
    except (OSError, ValueError, RuntimeError):  # RuntimeError: expanduser without a home
        return False


# --------------------------------------------------------------------------------------------
# memory policy


def available_memory() -> int | None:
    """Bytes of memory available for new allocations now (``MemAvailable`` of /proc/meminfo,
    else the free physical pages), or None where the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def check_size(where: str, n: int, chw: tuple[int, int, int], available: int | None, itemsize: int = 1) -> None:
    """Refuse, before anything is decoded, ``n`` images of ``chw`` whose float32 splits would take
    more than ``LIMITS.max_dataset_bytes`` or half of ``available`` bytes, or whose loading would
    peak above ``available``; or images larger than a network may take (``max_channels``,
    ``max_input_size``). ``itemsize``: bytes a value takes before conversion (1 for uint8, 4 for
    floats). Loading holds the raw values, one copy of them while splitting, and the splits.
    """
    c, h, w = chw
    lim = limits.LIMITS
    if c > lim.max_channels or max(h, w) > lim.max_input_size:
        raise ConfigError(f"{where}: images of {_shape(chw)} are above the limits of {lim.max_channels} channels "
                          f"and {lim.max_input_size} pixels a side (nas.limits); resize them")
    values = n * c * h * w
    need = values * 4
    what = f"{where}: {n:,} images of {_shape(chw)} take {_gib(need)} as float32 splits"
    if need > lim.max_dataset_bytes:
        raise ConfigError(f"{what}, above the limit of {_gib(lim.max_dataset_bytes)} (max_dataset_bytes in "
                          f"nas/limits.py; the trainer keeps the splits in memory); use fewer or smaller images, "
                          f"or raise the limit on a machine with the memory")
    peak = need + 2 * values * itemsize
    if available is not None and (need > available // 2 or peak > available):
        raise ConfigError(f"{what} and about {_gib(peak)} while loading, more than the {_gib(available)} of memory "
                          f"available now allows (the splits may take half); use fewer or smaller images, or a "
                          f"machine with more memory")


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def _shape(chw: tuple[int, ...]) -> str:
    return "x".join(str(int(d)) for d in chw)


# --------------------------------------------------------------------------------------------
# an image folder


def _claims_folder(spec: str) -> bool:
    return probe(spec, "is_dir")


def load_folder(spec: str) -> RawDataset:
    """Images in torchvision's ImageFolder layout, decoded with PIL into uint8 (N, C, H, W).

    ``DIR/<class>/**/<image>``: class indices are the sorted folder names (``find_classes``),
    and a stratified 20% (fixed seed 0) is held out as the test split. ``DIR/train/<class>/...``
    with ``DIR/val/<class>/...`` (or ``DIR/test/``): that folder is the test split, its classes
    a subset of train's, indexed by train's names. Every image must have one size; all-grey
    images give 1 channel, any colour image makes every image RGB.
    """
    from torchvision.datasets.folder import IMG_EXTENSIONS

    root = _path(spec).resolve()
    where = f"image folder {root}"
    train_dir, test_dir = _layout(root, where)
    classes, class_to_idx = _classes(train_dir, where)
    train = _samples(train_dir, class_to_idx, IMG_EXTENSIONS, where)
    if test_dir is not None:
        test_classes, _ = _classes(test_dir, where, at_least=1)
        extra = [c for c in test_classes if c not in class_to_idx]
        if extra:
            raise ConfigError(f"{where}: {test_dir.name}/ has class folders train/ lacks: {_few(extra)}")
        test = _samples(test_dir, {c: class_to_idx[c] for c in test_classes}, IMG_EXTENSIONS, where)
        test_split = f"the folder's {test_dir.name}/ (official held-out set)"
    else:
        keep, held = stratified_split(np.array([y for _, y in train], dtype=np.int64), TEST_FRACTION, TEST_SEED)
        train, test = [train[i] for i in keep], [train[i] for i in held]
        test_split = f"stratified {TEST_FRACTION:.0%} held out with fixed seed {TEST_SEED}"

    # The first header bounds the size before the others are opened; all headers agree (one
    # size, readable modes) before any pixel is decoded.
    everything = train + test
    first = everything[0][0]
    size, mode = _header(first)
    chw = (1 if mode in GREY_MODES else 3, size[1], size[0])
    check_size(where, len(everything), chw, available_memory())
    grey = True
    for path, _ in everything:
        other, mode = _header(path)
        if other != size:
            raise ConfigError(f"{where}: images differ in size: {first} is {size[0]}x{size[1]}, {path} is "
                              f"{other[0]}x{other[1]} (width x height); resize them to one size")
        grey = grey and mode in GREY_MODES
    if not grey and chw[0] == 1:
        chw = (3, chw[1], chw[2])
        check_size(where, len(everything), chw, available_memory())
    target = "L" if grey else "RGB"
    return RawDataset(
        train_x=_decode(train, target, chw), train_y=np.array([y for _, y in train], dtype=np.int64),
        test_x=_decode(test, target, chw), test_y=np.array([y for _, y in test], dtype=np.int64),
        num_classes=len(classes), scale=255.0, augment=AUGMENT, sources=(str(root),),
        test_split=test_split, classes=tuple(classes),
    )


def _layout(root: Path, where: str) -> tuple[Path, Path | None]:
    """(the folder of training classes, the held-out folder or None)."""
    if not (root / "train").is_dir():
        return root, None
    held = [root / n for n in HELD_OUT if (root / n).is_dir()]
    if len(held) > 1:
        raise ConfigError(f"{where}: has both val/ and test/; keep one held-out folder (the test split) and "
                          f"move the other's images into train/ (the validation split is carved from train/)")
    others = sorted(e.name for e in os.scandir(root) if e.is_dir() and e.name not in ("train", *HELD_OUT))
    if others:
        raise ConfigError(f"{where}: has train/ and also {_few(others)}/; with train/ the folder may only hold "
                          f"train/ and val/ (or test/), each with one folder per class")
    return root / "train", (held[0] if held else None)


def _classes(folder: Path, where: str, at_least: int = 2) -> tuple[list[str], dict[str, int]]:
    from torchvision.datasets.folder import find_classes

    try:
        classes, class_to_idx = find_classes(folder)
    except FileNotFoundError:
        classes, class_to_idx = [], {}
    except OSError as e:
        raise ConfigError(f"{where}: cannot list {folder}: {e.strerror or e}") from None
    if len(classes) < at_least:
        raise ConfigError(f"{where}: {folder} has {len(classes)} class folder{'s' * (len(classes) != 1)}, "
                          f"needs at least {at_least}: one folder per class, e.g. {folder}/cat/1.png")
    return classes, class_to_idx


def _samples(folder: Path, class_to_idx: dict[str, int], extensions, where: str) -> list[tuple[str, int]]:
    from torchvision.datasets.folder import make_dataset

    try:
        samples = make_dataset(str(folder), class_to_idx, extensions=extensions, allow_empty=True)
    except OSError as e:
        raise ConfigError(f"{where}: cannot read {folder}: {e.strerror or e}") from None
    found = {y for _, y in samples}
    empty = [c for c, i in class_to_idx.items() if i not in found]
    if empty:
        raise ConfigError(f"{where}: no image in class folder {folder / empty[0]} (files ending "
                          f"{', '.join(extensions)} are read); remove the folder or add images")
    return samples


def _header(path: str) -> tuple[tuple[int, int], str]:
    """(width, height) and PIL mode, from the header alone."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            size, mode = im.size, im.mode
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds on a file that is no image
        raise ConfigError(f"cannot read image {path}: {_one_line(e)}") from None
    if mode not in GREY_MODES | COLOUR_MODES:
        raise ConfigError(f"image {path} has PIL mode {mode!r} (16-bit or floating point); convert the images "
                          f"to 8-bit grey or RGB, or pass float arrays in a .npz file")
    return size, mode


def _decode(samples: list[tuple[str, int]], mode: str, chw: tuple[int, int, int]) -> np.ndarray:
    """Decode straight into one preallocated uint8 array (no list of arrays, no second copy)."""
    from PIL import Image

    out = np.empty((len(samples), *chw), dtype=np.uint8)
    for i, (path, _) in enumerate(samples):
        try:
            with Image.open(path) as im:
                pixels = np.asarray(im if im.mode == mode else im.convert(mode))
        except Exception as e:  # noqa: BLE001 - truncated or corrupt data shows only when decoded
            raise ConfigError(f"cannot decode image {path}: {_one_line(e)}") from None
        if pixels.shape[:2] != chw[1:]:  # a header that lied about the size
            raise ConfigError(f"cannot decode image {path}: its pixels are {pixels.shape[1]}x{pixels.shape[0]}, "
                              f"its header says {chw[2]}x{chw[1]}")
        out[i] = pixels.transpose(2, 0, 1) if pixels.ndim == 3 else pixels
    return out


# --------------------------------------------------------------------------------------------
# arrays: a .npz file or a Python function


@dataclass(frozen=True)
class _Array:
    """What the header of one array says: enough to check it before loading it."""

    shape: tuple[int, ...]
    dtype: np.dtype


def from_arrays(where: str, arrays: Mapping[str, Any], infos: Mapping[str, _Array] | None = None,
                get: Callable[[str], np.ndarray] | None = None, *, sources: tuple[str, ...]) -> RawDataset:
    """Check arrays named x, y (optional x_val, y_val or x_test, y_test: the test split) and
    make a RawDataset. ``infos`` (shape and dtype per key) is checked first, so that ``get``
    loads an array only after everything about its size is known to be fine."""
    keys = set(arrays)
    unknown = [k for k in arrays if k not in ARRAY_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; expected x, y and optionally x_val, y_val "
                          f"(the held-out test split)")
    for key in ("x", "y"):
        if key not in keys:
            raise ConfigError(f"{where}: missing key {key!r}; expected x (images) and y (integer labels)")
    pairs = [h for h in HELD_OUT if f"x_{h}" in keys or f"y_{h}" in keys]
    if len(pairs) > 1:
        raise ConfigError(f"{where}: has both x_val/y_val and x_test/y_test; give one held-out test split")
    if pairs and not {f"x_{pairs[0]}", f"y_{pairs[0]}"} <= keys:
        missing = f"x_{pairs[0]}" if f"x_{pairs[0]}" not in keys else f"y_{pairs[0]}"
        raise ConfigError(f"{where}: missing key {missing!r}; x_{pairs[0]} and y_{pairs[0]} come together")
    xt, yt = (f"x_{pairs[0]}", f"y_{pairs[0]}") if pairs else (None, None)
    infos = infos if infos is not None else {k: _Array(tuple(v.shape), v.dtype) for k, v in arrays.items()}
    get = get if get is not None else arrays.__getitem__

    x_layout = _image_layout(where, "x", infos["x"])
    chw = x_layout[1]
    n_test = 0
    if xt is not None:
        t_layout = _image_layout(where, xt, infos[xt], nhwc=x_layout[0])
        if t_layout[1] != chw:
            raise ConfigError(f"{where}: {xt!r} holds images of {_shape(t_layout[1])}, 'x' of {_shape(chw)}")
        if infos[xt].dtype != infos["x"].dtype and not (_is_float(infos[xt].dtype) and _is_float(infos["x"].dtype)):
            raise ConfigError(f"{where}: {xt!r} is {infos[xt].dtype}, 'x' is {infos['x'].dtype}; give both as uint8 "
                              f"or both as floats")
        n_test = infos[xt].shape[0]
        if n_test == 0:
            raise ConfigError(f"{where}: {xt!r} holds no images; leave x_{pairs[0]}, y_{pairs[0]} out to hold out "
                              f"a stratified {TEST_FRACTION:.0%} of x instead")
    for xk, yk in (("x", "y"), (xt, yt)):
        if xk is not None:
            _check_labels_header(where, yk, infos[yk], infos[xk].shape[0])
    n_train = infos["x"].shape[0]
    if n_train == 0:
        raise ConfigError(f"{where}: 'x' holds no images")
    check_size(where, n_train + n_test, chw, available_memory(), 1 if infos["x"].dtype == np.uint8 else 4)

    train_x = _images(where, "x", get("x"), x_layout[0])
    train_y = _labels(where, "y", get("y"))
    counts = np.bincount(train_y, minlength=int(train_y.max()) + 1)
    num_classes = len(counts)
    if num_classes < 2:
        raise ConfigError(f"{where}: 'y' has only class 0; a classifier needs at least 2 classes")
    absent = np.flatnonzero(counts == 0)
    if len(absent):
        raise ConfigError(f"{where}: 'y' has no example of class {_few([str(a) for a in absent])} of 0..{num_classes - 1}; "
                          f"labels must be 0..K-1 with every class present (are they 1-based?)")
    if xt is None:
        keep, held = stratified_split(train_y, TEST_FRACTION, TEST_SEED)
        test_x, test_y = train_x[held], train_y[held]
        train_x, train_y = train_x[keep], train_y[keep]
        test_split = f"stratified {TEST_FRACTION:.0%} held out with fixed seed {TEST_SEED}"
    else:
        test_x = _images(where, xt, get(xt), x_layout[0])
        test_y = _labels(where, yt, get(yt))
        if len(test_y) and test_y.max() >= num_classes:
            raise ConfigError(f"{where}: {yt!r} has label {int(test_y.max())}, but 'y' has classes 0..{num_classes - 1}")
        test_split = f"the arrays {xt}, {yt} (official held-out set)"
    scale = 255.0 if train_x.dtype == np.uint8 else 1.0
    return RawDataset(train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y, num_classes=num_classes,
                      scale=scale, augment=AUGMENT, sources=sources, test_split=test_split)


def _is_float(dtype: np.dtype) -> bool:
    return np.issubdtype(dtype, np.floating)


def _image_layout(where: str, key: str, info: _Array, nhwc: bool | None = None) -> tuple[bool, tuple[int, int, int]]:
    """(whether the array is NHWC, its images' C, H, W), from its shape and dtype alone."""
    if info.dtype.hasobject or not (info.dtype == np.uint8 or _is_float(info.dtype)) or info.dtype.fields:
        raise ConfigError(f"{where}: {key!r} is {info.dtype}; images must be uint8 (0..255) or floats "
                          f"(a ragged or object array cannot be read)")
    shape = info.shape
    if len(shape) == 3:
        return False, (1, shape[1], shape[2])
    if len(shape) != 4:
        raise ConfigError(f"{where}: {key!r} has shape {shape}; expected (N, C, H, W), (N, H, W, C) or (N, H, W)")
    if nhwc is None:
        nhwc = shape[3] in NHWC_CHANNELS and shape[1] not in NHWC_CHANNELS
    c, h, w = (shape[3], shape[1], shape[2]) if nhwc else shape[1:]
    if min(c, h, w) < 1:
        raise ConfigError(f"{where}: {key!r} has shape {shape}; every image axis needs at least 1")
    return nhwc, (c, h, w)


def _check_labels_header(where: str, key: str, info: _Array, n: int) -> None:
    ok_dtype = np.issubdtype(info.dtype, np.integer) and info.dtype != np.bool_
    if not ok_dtype:
        raise ConfigError(f"{where}: {key!r} is {info.dtype}; labels must be integers 0..K-1")
    if not (len(info.shape) == 1 or (len(info.shape) == 2 and info.shape[1] == 1)):
        raise ConfigError(f"{where}: {key!r} has shape {info.shape}; expected (N,) labels")
    if info.shape[0] != n:
        raise ConfigError(f"{where}: {key!r} has {info.shape[0]} labels for {n} images")


def _images(where: str, key: str, x: np.ndarray, nhwc: bool) -> np.ndarray:
    """uint8 or float32 (N, C, H, W), contiguous; floats must be finite."""
    if x.ndim == 3:
        x = x[:, None]
    elif nhwc:
        x = x.transpose(0, 3, 1, 2)
    if x.dtype != np.uint8:
        x = x.astype(np.float32, copy=False)  # a copy unless float32, which an NHWC transpose rides on
        if not np.isfinite(x).all():
            raise ConfigError(f"{where}: {key!r} has NaN or infinite values")
    return np.ascontiguousarray(x)


def _labels(where: str, key: str, y: np.ndarray) -> np.ndarray:
    y = y.reshape(-1)
    if len(y) and y.min() < 0:
        raise ConfigError(f"{where}: {key!r} has label {int(y.min())}; labels must be 0..K-1")
    if len(y) and y.max() >= len(y) and key == "y":  # bounds bincount: K classes need K examples
        raise ConfigError(f"{where}: {key!r} has label {int(y.max())} among {len(y)} examples; labels must be "
                          f"0..K-1 with every class present")
    return y.astype(np.int64)


def _claims_npz(spec: str) -> bool:
    return spec.lower().endswith(".npz") and probe(spec, "is_file")


def load_npz(spec: str) -> RawDataset:
    """Arrays ``x``, ``y`` (optional ``x_val``, ``y_val``) of a ``.npz`` file, read with
    ``allow_pickle=False``; shapes and dtypes come from the members' headers first."""
    path = _path(spec).resolve()
    where = f"dataset file {path}"
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - BadZipFile, pickled data, truncated files...
        raise ConfigError(f"{where}: not a .npz archive ({_one_line(e)}); save one with numpy.savez(path, x=..., y=...)") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ConfigError(f"{where}: holds one .npy array, not a .npz archive; save one with numpy.savez(path, x=..., y=...)")
    with npz:
        infos = {key: _npz_header(where, npz, key) for key in npz.files}

        def get(key: str) -> np.ndarray:
            try:
                return npz[key]
            except Exception as e:  # noqa: BLE001 - a member truncated or corrupt past its header
                raise ConfigError(f"{where}: cannot read key {key!r}: {_one_line(e)}") from None

        return from_arrays(where, dict.fromkeys(npz.files), infos, get, sources=(str(path),))


def _npz_header(where: str, npz: Any, key: str) -> _Array:
    """Shape and dtype of one member from its .npy header, without reading its data."""
    from numpy.lib import format as npy

    try:
        with npz.zip.open(f"{key}.npy") as f:
            version = npy.read_magic(f)
            read = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
            if read is None:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, _fortran, dtype = read(f)
    except Exception as e:  # noqa: BLE001 - a member that is no .npy, a bad header
        raise ConfigError(f"{where}: cannot read key {key!r}: {_one_line(e)}") from None
    return _Array(tuple(int(d) for d in shape), np.dtype(dtype))


def _claims_callable(spec: str) -> bool:
    return CALLABLE_FORM.fullmatch(spec) is not None and not probe(spec, "exists")


def load_callable(spec: str) -> RawDataset:
    """Call ``module:function`` (no arguments). It returns ``(x, y)``, ``(x, y, x_test, y_test)``
    or a dict with keys x, y and optionally x_val, y_val; numpy arrays or torch tensors."""
    module_name, attr = CALLABLE_FORM.fullmatch(spec).groups()
    where = f"dataset {spec}"
    fn = _import(where, module_name, attr)
    try:
        got = fn()
    except Exception as e:  # noqa: BLE001 - the user's code: its error, in one line
        raise ConfigError(f"{where}: the function raised {type(e).__name__}: {_one_line(e)}") from None
    if isinstance(got, Mapping):
        arrays = dict(got)
    elif isinstance(got, tuple) and len(got) in (2, 4):
        arrays = dict(zip(("x", "y", "x_val", "y_val"), got))
    else:
        raise ConfigError(f"{where}: returned {type(got).__name__}; expected (x, y), (x, y, x_test, y_test) or a "
                          f"dict with keys x, y and optionally x_val, y_val")
    for key, value in arrays.items():
        if key in ARRAY_KEYS:  # an unknown key is refused by name in from_arrays
            arrays[key] = _as_numpy(where, key, value)
    return from_arrays(where, arrays, sources=(spec,))


def _import(where: str, module_name: str, attr: str) -> Callable[[], Any]:
    """Import ``module_name`` with the current directory importable (as ``python -m`` makes it),
    then look up ``attr``; sys.path is restored afterwards."""
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name) and module_name[len(e.name):][:1] in ("", "."):
            raise ConfigError(f"{where}: no module named {e.name!r} in {cwd} or on sys.path; run nas from the "
                              f"folder that holds it or add its folder to PYTHONPATH") from None
        raise ConfigError(f"{where}: importing {module_name!r} failed: {_one_line(e)}") from None
    except Exception as e:  # noqa: BLE001 - SyntaxError and whatever the module's top level raises
        raise ConfigError(f"{where}: importing {module_name!r} raised {type(e).__name__}: {_one_line(e)}") from None
    finally:
        if added:
            sys.path.remove(cwd)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{where}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{where}: {attr!r} is not callable (type {type(obj).__name__})")
    return obj


def _as_numpy(where: str, key: str, value: Any) -> np.ndarray:
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.float() if value.is_floating_point() and value.dtype != torch.float64 else value).numpy()
    if isinstance(value, np.ndarray):
        return value
    raise ConfigError(f"{where}: {key!r} is a {type(value).__name__}; expected a numpy array or a torch tensor")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _few(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" (and {len(items) - n} more)" if len(items) > n else "")


# Order is precedence: module:function first (a spec like "a:b" that is no existing path),
# then a folder, then a .npz file. Registered names are checked before all of these.
KINDS.register("callable", SourceKind("module:function", _claims_callable, load_callable, is_path=False))
KINDS.register("folder", SourceKind("an image folder", _claims_folder, load_folder, is_path=True))
KINDS.register("npz", SourceKind("a .npz file", _claims_npz, load_npz, is_path=True))
