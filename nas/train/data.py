"""Datasets: a registry of loaders that return in-memory, normalized train/val/test splits.

    splits = load("digits", seed=0)             # scikit-learn's bundled 8x8 digits, no files
    splits = load("cifar10", "~/data")          # torchvision layout: ~/data/cifar-10-batches-py/
    splits = load("~/pets")                     # your own: an image folder, a .npz file, module:function

The validation split is carved from train by the seed, the statistics come from the train
split only, the test split is for final evaluation alone. Memory and security: docs/datasets.md.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ..errors import ConfigError
from ..registry import Registry, suggest

# The digits test split is fixed (independent of ``seed``) so that test accuracies of runs
# with different seeds stay comparable; only the validation split moves with ``seed``.
DIGITS_TEST_FRACTION = 0.2
DIGITS_TEST_SEED = 0
# Per-socket-operation timeout while torchvision downloads, so an unreachable mirror fails
# instead of hanging a search forever (urllib has no timeout by default).
DOWNLOAD_TIMEOUT_S = 30.0
# Values per chunk when channel_stats accumulates in float64: a 32 MB temporary at most.
STATS_CHUNK = 1 << 22


@dataclass(frozen=True)
class RawDataset:
    """What a loader returns: official train/test images, not yet split or normalized."""

    train_x: np.ndarray  # (N, C, H, W): uint8, or float32 (only from arrays a user brings)
    train_y: np.ndarray  # int64 (N,)
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int
    scale: float  # the value of a white pixel: 16 for digits, 255 for 8-bit images, 1 for floats
    augment: str  # the augmentation the trainer's augment="auto" uses for this dataset
    sources: tuple[str, ...]  # files, folders, packages or module:function the data came from
    # How the test split was obtained: "official"; "stratified 20% held out with fixed seed 0"
    # (digits, and a user's data without a held-out set); or the held-out folder or arrays
    # a user gave (an image folder's val/ or test/, a .npz file's x_val and y_val).
    test_split: str
    classes: tuple[str, ...] = ()  # class names by index, where the data names them (image folders)


@dataclass(frozen=True, eq=False)
class Splits:
    """In-memory train/val/test tensors. x: float32 (N, C, H, W) normalized; y: int64 (N,).

    ``meta`` (JSON-friendly) records the dataset as named, split sizes, seed, val_fraction,
    mean/std (in units of pixel / scale, computed on the train split only), pixel scale,
    sources (absolute paths or module:function), class names, and the recommended augmentation.
    """

    train_x: torch.Tensor = field(repr=False)
    train_y: torch.Tensor = field(repr=False)
    val_x: torch.Tensor = field(repr=False)
    val_y: torch.Tensor = field(repr=False)
    test_x: torch.Tensor = field(repr=False)
    test_y: torch.Tensor = field(repr=False)
    input_shape: tuple[int, int, int]
    num_classes: int
    name: str
    meta: dict[str, Any] = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"Splits({self.name!r}, input_shape={self.input_shape}, num_classes={self.num_classes}, "
            f"train={len(self.train_y)}, val={len(self.val_y)}, test={len(self.test_y)})"
        )


DATASETS: Registry[Callable[[Path, bool], RawDataset]] = Registry("dataset", ConfigError)


def names() -> list[str]:
    """Registered dataset names."""
    return DATASETS.names()


def own_forms() -> list[str]:
    """How a user names their own data, for help texts: ``["an image folder", ...]``."""
    from . import sources

    kinds = sorted((sources.KINDS.get(n) for n in sources.KINDS), key=lambda k: not k.is_path)
    return [k.form for k in kinds]


def check_spec(spec: str, *, allow_code: bool = True) -> str:
    """Check what ``spec`` names from its text alone (no data read) and return it as a run
    records it: a registered name, an absolute path, or ``module:function``.

    ``allow_code=False`` refuses ``module:function``: a space file is data and may not run code.

    >>> check_spec("digits")
    'digits'
    """
    if spec in DATASETS:
        return spec
    from . import sources

    kind = sources.kind_of(spec)
    if kind is None:
        raise ConfigError(_unknown(spec))
    if not allow_code and not kind.is_path:
        raise ConfigError(f"dataset {spec!r} names Python code ({kind.form}), which a space file may not: "
                          f"give it with --dataset or in --config")
    return sources.canonical(spec, kind)


def short_name(spec: str) -> str:
    """A file-name-safe label: the name, the folder's or file's name, or ``module.function``."""
    from . import sources

    kind = None if spec in DATASETS else sources.kind_of(spec)
    if kind is not None and kind.is_path:
        path = Path(sources.canonical(spec, kind))
        text = path.stem if path.is_file() else path.name
    else:
        text = spec.replace(":", ".")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "dataset"


def check_matches(splits: Splits, input_shape: tuple[int, int, int], num_classes: int, space_name: str) -> None:
    """Refuse, in one line naming only what differs, a dataset whose images or classes are not
    those a search space's networks take (its ``input`` and ``classes``).

    >>> check_matches(load("digits"), (1, 8, 8), 10, "digits")
    """
    shape = tuple(int(d) for d in splits.input_shape)
    other_shape = shape != tuple(int(d) for d in input_shape)
    other_classes = splits.num_classes != num_classes
    if not (other_shape or other_classes):
        return
    gives, expects, fix = [], [], []
    if other_shape:
        gives.append(f"{_dims(shape)} images")
        expects.append(_dims(input_shape) + ("" if other_classes else " images"))
        fix.append(f"`input: [{', '.join(str(d) for d in shape)}]`")
    if other_classes:
        gives.append(f"{splits.num_classes} classes")
        expects.append(f"{num_classes} classes")
        fix.append(f"`classes: {splits.num_classes}`")
    raise ConfigError(f"dataset {splits.name!r} gives {' in '.join(gives)}, but space {space_name!r} expects "
                      f"{' in '.join(expects)}; use a space file with {' and '.join(fix)}")


def _dims(shape) -> str:
    return "x".join(str(int(d)) for d in shape)


def _unknown(spec: str) -> str:
    """One line: what is wrong with ``spec`` (a near miss, a missing path) and the forms."""
    from . import sources

    shown = repr(spec) if len(spec) <= 200 else repr(spec[:197]) + "..."
    near = suggest(spec, DATASETS.names())
    if near.startswith("; did you mean"):
        return f"unknown dataset {shown}{near}"
    if spec.strip() and sources.probe(spec, "is_file"):
        why = f": {Path(spec).expanduser().resolve()} is a file but not a .npz archive"
    elif any(c in spec for c in "/\\") or spec.startswith((".", "~")) or spec.lower().endswith(".npz"):
        why = f": no such folder or .npz file (relative paths start at {Path.cwd()})"
    else:
        why = ""
    forms = own_forms()
    return (f"unknown dataset {shown}{why}; a dataset is a registered name ({', '.join(names())}), "
            f"{', '.join(forms[:-1])} or {forms[-1]}")


def load(
    name: str = "digits",
    data_dir: str | os.PathLike | None = None,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    download: bool = True,
) -> Splits:
    """Load dataset ``name`` into normalized in-memory splits.

    ``data_dir`` is torchvision's ``root`` (default: ``$NAS_DATA_DIR``, else ``./data``);
    ``digits`` needs no files. Missing files are downloaded when ``download`` is true; when
    that fails (offline) or ``download=False``, a :class:`ConfigError` names the files expected.
    ``val_fraction`` of the official training set (by a permutation fixed by ``seed``) becomes
    the validation split.

    ``name`` may also be a user's own data (:mod:`nas.train.sources`): an image folder in
    torchvision's ImageFolder layout, a ``.npz`` file with arrays ``x`` and ``y``, or
    ``module:function`` returning such arrays; paths are relative to the current directory
    and ``data_dir`` does not apply to them.

    >>> s = load("digits")
    >>> s.train_x.shape[1:], s.num_classes
    (torch.Size([1, 8, 8]), 10)
    """
    if not isinstance(name, str):
        raise ConfigError(f"dataset must be a name, a path or module:function, got {name!r}")
    if name in DATASETS:
        loader, kind = DATASETS.get(name), None
    else:
        from . import sources

        kind = sources.kind_of(name)
        if kind is None:
            raise ConfigError(_unknown(name))
    number = isinstance(val_fraction, (int, float)) and not isinstance(val_fraction, bool)
    if not number or not 0 <= val_fraction < 1:
        raise ConfigError(f"val_fraction must be a number in [0, 1), got {val_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if kind is not None:
        raw = kind.load(name)
    else:
        root = Path(data_dir if data_dir is not None else os.environ.get("NAS_DATA_DIR", "data")).expanduser()
        raw = loader(root, download)

    train_idx, val_idx = carve_validation(len(raw.train_y), val_fraction, seed)
    if len(train_idx) == 0:
        raise ConfigError(f"val_fraction={val_fraction} leaves no training images in {name!r}")
    train_u8, val_u8 = raw.train_x[train_idx], raw.train_x[val_idx]
    mean, std = channel_stats(train_u8, raw.scale)
    c, h, w = raw.train_x.shape[1:]
    return Splits(
        train_x=normalize(train_u8, raw.scale, mean, std),
        train_y=torch.from_numpy(raw.train_y[train_idx].astype(np.int64)),
        val_x=normalize(val_u8, raw.scale, mean, std),
        val_y=torch.from_numpy(raw.train_y[val_idx].astype(np.int64)),
        test_x=normalize(raw.test_x, raw.scale, mean, std),
        test_y=torch.from_numpy(raw.test_y.astype(np.int64)),
        input_shape=(int(c), int(h), int(w)),
        num_classes=raw.num_classes,
        name=name,
        meta={
            "dataset": name,
            "sizes": {"train": len(train_idx), "val": len(val_idx), "test": len(raw.test_y)},
            "seed": seed,
            "val_fraction": float(val_fraction),
            "mean": [float(m) for m in mean],
            "std": [float(s) for s in std],
            "scale": float(raw.scale),
            "augment": raw.augment,
            "test_split": raw.test_split,
            "sources": list(raw.sources),
            "classes": list(raw.classes),
        },
    )


# --------------------------------------------------------------------------------------------
# pure helpers


def carve_validation(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into (train, val) index arrays, each sorted, by a seeded permutation.

    ``round(val_fraction * n)`` indices go to val. Uses numpy's PCG64, stable across versions.
    """
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(val_fraction * n))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices of ``y`` into (keep, held) with ``round(fraction * count)`` of each class held.

    Per-class seeded permutations, so every class keeps its share in both parts.
    """
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        held.append(rng.permutation(idx)[: int(round(fraction * len(idx)))])
    held_idx = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    keep_idx = np.setdiff1d(np.arange(len(y)), held_idx)
    return keep_idx, held_idx


def channel_stats(x: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of images (N, C, H, W), uint8 or float, in units of pixel / scale.

    Two passes in float64 over chunks of at most ``STATS_CHUNK`` values, as ``np.std`` computes
    it but without its full-size float64 temporary (8 bytes a value: twice the float32 splits).
    A constant channel gets std 1 so normalizing never divides by zero.
    """
    n, c, h, w = x.shape
    step = max(1, STATS_CHUNK // max(1, c * h * w))
    count = max(1, n * h * w)
    total = np.zeros(c)
    for i in range(0, n, step):
        total += x[i:i + step].sum(axis=(0, 2, 3), dtype=np.float64)
    mean = total / count
    squares = np.zeros(c)
    for i in range(0, n, step):
        d = x[i:i + step].astype(np.float64) - mean[None, :, None, None]
        squares += np.einsum("nchw,nchw->c", d, d)
    std = np.sqrt(squares / count) / scale
    return mean / scale, np.where(std > 0, std, 1.0)


def normalize(x: np.ndarray, scale: float, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """uint8 or float (N, C, H, W) -> a new float32 ``(x / scale - mean) / std``: converted
    once, then normalized in place (``x`` itself is never written, even when float32)."""
    out = torch.from_numpy(np.ascontiguousarray(x)).to(torch.float32, copy=True)
    shape = (1, -1, 1, 1)
    out.div_(scale)
    out.sub_(torch.tensor(mean, dtype=torch.float32).view(shape))
    out.div_(torch.tensor(std, dtype=torch.float32).view(shape))
    return out


# --------------------------------------------------------------------------------------------
# datasets


@DATASETS.register("digits")
def _digits(root: Path, download: bool) -> RawDataset:
    """scikit-learn's bundled UCI digits: 1797 real 8x8 grey images, values 0..16, 10 classes.

    It has no official test split, so a stratified 20% with a fixed seed is held out first.
    """
    import sklearn
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.uint8)[:, None]  # (1797, 1, 8, 8); the values are integers 0..16
    y = bunch.target.astype(np.int64)
    keep, test = stratified_split(y, DIGITS_TEST_FRACTION, DIGITS_TEST_SEED)
    return RawDataset(
        train_x=x[keep],
        train_y=y[keep],
        test_x=x[test],
        test_y=y[test],
        num_classes=10,
        scale=16.0,
        augment="none",  # flipping digits changes their meaning; 8x8 is too small to crop
        sources=(f"sklearn.datasets.load_digits (scikit-learn {sklearn.__version__})",),
        test_split=f"stratified {DIGITS_TEST_FRACTION:.0%} held out with fixed seed {DIGITS_TEST_SEED}",
    )


def _mnist_files(cls: Any, root: Path) -> list[Path]:
    # What torchvision's MNIST._check_exists looks for: root/<ClassName>/raw/<resource without .gz>.
    raw = root / cls.__name__ / "raw"
    return [raw / os.path.splitext(os.path.basename(url))[0] for url, _md5 in cls.resources]


def _cifar_files(cls: Any, root: Path) -> list[Path]:
    # What torchvision's CIFAR10._check_integrity and _load_meta open.
    names = [n for n, _md5 in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    return [root / cls.base_folder / n for n in names]


def _torchvision_dataset(name: str, cls: Any, files: list[Path], root: Path, download: bool, hint: str = ""):
    """Construct torchvision's train and test datasets, downloading only when files are missing.

    Every failure becomes one ConfigError naming the expected files; no traceback text.
    """
    missing = [p for p in files if not p.is_file()]
    if missing and not download:
        raise ConfigError(_missing_message(name, root, missing, "download=False", hint))
    try:
        with _download_timeout(DOWNLOAD_TIMEOUT_S) if missing else contextlib.nullcontext():
            train = cls(str(root), train=True, download=bool(missing))
        test = cls(str(root), train=False, download=False)
    except Exception as exc:  # noqa: BLE001 - URLError, OSError, RuntimeError, corrupt files...
        still_missing = [p for p in files if not p.is_file()]
        if still_missing:
            why = f"download failed: {_one_line(exc)}"
            raise ConfigError(_missing_message(name, root, still_missing, why, hint)) from None
        raise ConfigError(
            f"dataset {name!r}: the files under {root} exist but could not be read "
            f"(checksum mismatch or corrupt file: {_one_line(exc)}); expected {_listing(files)}"
        ) from None
    return train, test


def _missing_message(name: str, root: Path, missing: list[Path], why: str, hint: str) -> str:
    return (
        f"dataset {name!r} not found under {root} ({why}); expected {_listing(missing)}{hint}. "
        f"Place the files there in torchvision's layout or pass another data_dir."
    )


def _listing(paths: list[Path]) -> str:
    return ", ".join(str(p) for p in paths)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


@contextlib.contextmanager
def _download_timeout(seconds: float) -> Iterator[None]:
    old = socket.getdefaulttimeout()
    if old is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _register_mnist_like(name: str, class_name: str, augment: str) -> None:
    def loader(root: Path, download: bool) -> RawDataset:
        import torchvision.datasets as tvd

        cls = getattr(tvd, class_name)
        files = _mnist_files(cls, root)
        # torchvision also extracts the official .gz archives when they sit in raw/ (md5-checked).
        train, test = _torchvision_dataset(name, cls, files, root, download, " (or their official .gz archives)")
        return RawDataset(
            train_x=train.data.numpy()[:, None],  # uint8 (N, 28, 28) -> (N, 1, 28, 28)
            train_y=train.targets.numpy().astype(np.int64),
            test_x=test.data.numpy()[:, None],
            test_y=test.targets.numpy().astype(np.int64),
            num_classes=len(cls.classes),
            scale=255.0,
            augment=augment,
            sources=tuple(str(p) for p in files),
            test_split="official",
        )

    loader.__doc__ = f"torchvision.datasets.{class_name} from <data_dir>/{class_name}/raw/ (idx files)."
    DATASETS.register(name, loader)


def _register_cifar(name: str, class_name: str, num_classes: int) -> None:
    def loader(root: Path, download: bool) -> RawDataset:
        import torchvision.datasets as tvd

        cls = getattr(tvd, class_name)
        files = _cifar_files(cls, root)
        train, test = _torchvision_dataset(name, cls, files, root, download)
        return RawDataset(
            # torchvision keeps CIFAR as uint8 NHWC; we store NCHW.
            train_x=np.ascontiguousarray(train.data.transpose(0, 3, 1, 2)),
            train_y=np.asarray(train.targets, dtype=np.int64),
            test_x=np.ascontiguousarray(test.data.transpose(0, 3, 1, 2)),
            test_y=np.asarray(test.targets, dtype=np.int64),
            num_classes=num_classes,
            scale=255.0,
            # He et al. 2015 Sec. 4.2: "4 pixels are padded on each side, and a 32x32 crop is
            # randomly sampled from the padded image or its horizontal flip".
            augment="flip-crop",
            sources=tuple(str(p) for p in files),
            test_split="official",
        )

    loader.__doc__ = f"torchvision.datasets.{class_name}: the official python batches under <data_dir>."
    DATASETS.register(name, loader)


# Digits and clothes: no flips by default (a flipped digit is a different or invalid digit;
# we keep Fashion-MNIST conservative too). Users can set augment explicitly in TrainConfig.
_register_mnist_like("mnist", "MNIST", augment="none")
_register_mnist_like("fashion-mnist", "FashionMNIST", augment="none")
_register_cifar("cifar10", "CIFAR10", num_classes=10)
_register_cifar("cifar100", "CIFAR100", num_classes=100)
