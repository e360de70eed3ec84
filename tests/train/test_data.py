"""Datasets: digits splits, and torchvision datasets read from tiny files in their real formats."""
from __future__ import annotations

import collections
import gzip
import hashlib
import pickle
import socket
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd
from sklearn.datasets import load_digits

from nas.train import data
from nas.errors import ConfigError


def _raw(splits: data.Splits, x: torch.Tensor) -> np.ndarray:
    """Undo the normalization: back to integer pixel values."""
    mean = torch.tensor(splits.meta["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(splits.meta["std"]).view(1, -1, 1, 1)
    return torch.round((x * std + mean) * splits.meta["scale"]).to(torch.int64).numpy()


# ---- digits


def test_registry_lists_all_datasets():
    assert set(data.names()) >= {"digits", "mnist", "fashion-mnist", "cifar10", "cifar100"}


def test_unknown_dataset_is_a_config_error_with_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'cifar10'"):
        data.load("cifar-10")


def test_digits_shapes_and_types(digits):
    assert digits.name == "digits"
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    n_train, n_val, n_test = len(digits.train_y), len(digits.val_y), len(digits.test_y)
    assert n_train + n_val + n_test == 1797
    assert n_test == pytest.approx(0.2 * 1797, abs=5)
    assert n_val == round(0.1 * (n_train + n_val))
    for x, y in [(digits.train_x, digits.train_y), (digits.val_x, digits.val_y), (digits.test_x, digits.test_y)]:
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape == (len(y), 1, 8, 8)
        assert set(y.tolist()) <= set(range(10))
    assert digits.meta["sizes"] == {"train": n_train, "val": n_val, "test": n_test}
    assert digits.meta["seed"] == 0 and digits.meta["augment"] == "none"
    assert "load_digits" in digits.meta["sources"][0]


def test_digits_test_split_is_stratified(digits):
    full = np.bincount(load_digits().target, minlength=10)
    test = np.bincount(digits.test_y.numpy(), minlength=10)
    assert np.all(np.abs(test - 0.2 * full) <= 1)


def test_digits_splits_partition_the_real_images(digits):
    # Every original image appears in exactly one split (compared as a multiset of rows).
    images = load_digits().images.astype(np.int64).reshape(1797, -1)
    original = collections.Counter(row.tobytes() for row in images)
    ours = collections.Counter()
    for x in (digits.train_x, digits.val_x, digits.test_x):
        ours.update(row.tobytes() for row in _raw(digits, x).reshape(len(x), -1))
    assert ours == original


def test_digits_normalization_uses_train_only(digits):
    train = _raw(digits, digits.train_x).astype(np.float64) / 16
    assert digits.meta["mean"][0] == pytest.approx(train.mean())
    assert digits.meta["std"][0] == pytest.approx(train.std())
    assert digits.train_x.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert digits.train_x.std().item() == pytest.approx(1.0, abs=1e-3)
    # Statistics over everything would differ: the val/test splits are not used.
    everything = load_digits().images / 16
    assert everything.mean() != pytest.approx(digits.meta["mean"][0], abs=1e-6)


def test_digits_deterministic_by_seed(digits):
    again = data.load("digits", seed=0)
    for key in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
        assert torch.equal(getattr(again, key), getattr(digits, key))
    other = data.load("digits", seed=1)
    assert not torch.equal(other.val_y, digits.val_y) or not torch.equal(other.val_x, digits.val_x)
    # The test split is fixed whatever the seed, so test accuracies stay comparable.
    assert torch.equal(_raw_int(other.test_x, other), _raw_int(digits.test_x, digits))


def _raw_int(x, splits):
    return torch.from_numpy(_raw(splits, x))


def test_val_fraction_is_respected():
    splits = data.load("digits", val_fraction=0.25)
    assert len(splits.val_y) == round(0.25 * (len(splits.train_y) + len(splits.val_y)))
    assert len(data.load("digits", val_fraction=0.0).val_y) == 0


@pytest.mark.parametrize(
    "kwargs", [{"val_fraction": 1.0}, {"val_fraction": -0.1}, {"val_fraction": "0.1"}, {"seed": -1}, {"seed": 1.5}]
)
def test_bad_arguments_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        data.load("digits", **kwargs)


def test_carve_validation_is_a_seeded_partition():
    train, val = data.carve_validation(100, 0.3, seed=7)
    assert len(val) == 30 and len(train) == 70
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(range(100))
    again_train, again_val = data.carve_validation(100, 0.3, seed=7)
    assert np.array_equal(val, again_val) and np.array_equal(train, again_train)
    assert not np.array_equal(val, data.carve_validation(100, 0.3, seed=8)[1])


def test_stratified_split_keeps_class_shares():
    y = np.repeat(np.arange(4), [10, 20, 30, 40])
    keep, held = data.stratified_split(y, 0.2, seed=0)
    assert set(keep).isdisjoint(held) and len(keep) + len(held) == 100
    assert np.bincount(y[held]).tolist() == [2, 4, 6, 8]


def test_splits_repr_is_short(digits):
    text = repr(digits)
    assert "digits" in text and "tensor" not in text and len(text) < 200


# ---- torchvision datasets from files in their real formats


def _write_idx(path: Path, array: np.ndarray, gz: bool = False) -> None:
    """The idx (SN3 / "Pascal Vincent") format: big-endian magic 0x0000 08 <ndim>, dims, uint8 data."""
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if gz else payload)


def _make_mnist(root: Path, folder: str, n_train: int = 30, n_test: int = 10, gz: bool = False):
    rng = np.random.default_rng(0)
    images = {"train": rng.integers(0, 256, (n_train, 28, 28)), "t10k": rng.integers(0, 256, (n_test, 28, 28))}
    labels = {"train": np.arange(n_train) % 10, "t10k": np.arange(n_test) % 10}
    raw = root / folder / "raw"
    for split in ("train", "t10k"):
        suffix = ".gz" if gz else ""
        _write_idx(raw / f"{split}-images-idx3-ubyte{suffix}", images[split], gz)
        _write_idx(raw / f"{split}-labels-idx1-ubyte{suffix}", labels[split], gz)
    return images, labels


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_like_loads_idx_files(tmp_path, name, folder):
    images, labels = _make_mnist(tmp_path, folder)
    splits = data.load(name, tmp_path, val_fraction=0.2, seed=3)
    assert splits.input_shape == (1, 28, 28) and splits.num_classes == 10
    assert (len(splits.train_y), len(splits.val_y), len(splits.test_y)) == (24, 6, 10)
    train_idx, val_idx = data.carve_validation(30, 0.2, seed=3)
    assert np.array_equal(_raw(splits, splits.train_x)[:, 0], images["train"][train_idx])
    assert np.array_equal(_raw(splits, splits.val_x)[:, 0], images["train"][val_idx])
    assert np.array_equal(_raw(splits, splits.test_x)[:, 0], images["t10k"])
    assert splits.train_y.tolist() == labels["train"][train_idx].tolist()
    assert splits.test_y.tolist() == labels["t10k"].tolist()
    assert splits.meta["mean"][0] == pytest.approx(images["train"][train_idx].mean() / 255)
    assert str(tmp_path / folder / "raw" / "train-images-idx3-ubyte") in splits.meta["sources"]


def test_mnist_gz_archives_are_extracted_without_network(tmp_path, monkeypatch, offline):
    # Only the .gz files, as the official mirrors serve them: torchvision checks their md5
    # (pointed at our files' md5s) and extracts them; the offline fixture proves no download.
    images, _labels = _make_mnist(tmp_path, "MNIST", gz=True)
    raw = tmp_path / "MNIST" / "raw"
    resources = [(name, hashlib.md5((raw / name).read_bytes()).hexdigest()) for name, _md5 in tvd.MNIST.resources]
    monkeypatch.setattr(tvd.MNIST, "resources", resources)
    splits = data.load("mnist", tmp_path, val_fraction=0.0)
    assert np.array_equal(_raw(splits, splits.train_x)[:, 0], images["train"])
    assert np.array_equal(_raw(splits, splits.test_x)[:, 0], images["t10k"])


def _write_pickle(path: Path, obj) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=2))  # test fixture only; the library never unpickles
    return hashlib.md5(path.read_bytes()).hexdigest()


def _cifar_batch(rng, n: int, label_key: str, num_classes: int) -> dict:
    # The official layout: "data" is uint8 (n, 3072) with the 1024 R, then G, then B values of
    # each 32x32 image, row-major; labels are a list of ints.
    batch = {
        "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        label_key: [int(i % num_classes) for i in range(n)],
    }
    if label_key == "fine_labels":
        batch["coarse_labels"] = [int(i % 20) for i in range(n)]
    return batch


def _make_cifar(root: Path, monkeypatch, cls, label_key: str, num_classes: int, meta_key: str, per_batch: int = 4):
    """Write the batches, then point ONLY the class's md5 table at our files' md5s."""
    rng = np.random.default_rng(1)
    folder = root / cls.base_folder
    train_list, train_batches = [], []
    for file_name, _official_md5 in cls.train_list:
        batch = _cifar_batch(rng, per_batch, label_key, num_classes)
        train_batches.append(batch)
        train_list.append([file_name, _write_pickle(folder / file_name, batch)])
    test_name = cls.test_list[0][0]
    test_batch = _cifar_batch(rng, 6, label_key, num_classes)
    test_list = [[test_name, _write_pickle(folder / test_name, test_batch)]]
    meta_md5 = _write_pickle(folder / cls.meta["filename"], {meta_key: [f"class{i}" for i in range(num_classes)]})
    monkeypatch.setattr(cls, "train_list", train_list)
    monkeypatch.setattr(cls, "test_list", test_list)
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": meta_md5})
    return train_batches, test_batch


@pytest.mark.parametrize(
    "name, cls, label_key, num_classes, meta_key",
    [
        ("cifar10", tvd.CIFAR10, "labels", 10, "label_names"),
        ("cifar100", tvd.CIFAR100, "fine_labels", 100, "fine_label_names"),
    ],
)
def test_cifar_loads_python_batches(tmp_path, monkeypatch, name, cls, label_key, num_classes, meta_key):
    train_batches, test_batch = _make_cifar(tmp_path, monkeypatch, cls, label_key, num_classes, meta_key)
    splits = data.load(name, tmp_path, val_fraction=0.25, seed=0)
    n_train = sum(len(b[label_key]) for b in train_batches)
    assert splits.input_shape == (3, 32, 32) and splits.num_classes == num_classes
    assert (len(splits.train_y) + len(splits.val_y), len(splits.test_y)) == (n_train, 6)
    assert splits.meta["augment"] == "flip-crop"
    all_train = np.concatenate([b["data"] for b in train_batches]).reshape(-1, 3, 32, 32)
    all_labels = np.concatenate([b[label_key] for b in train_batches])
    train_idx, _ = data.carve_validation(n_train, 0.25, seed=0)
    assert np.array_equal(_raw(splits, splits.train_x), all_train[train_idx])  # NCHW, channels in order
    assert splits.train_y.tolist() == all_labels[train_idx].tolist()
    assert np.array_equal(_raw(splits, splits.test_x), test_batch["data"].reshape(-1, 3, 32, 32))
    expected_mean = all_train[train_idx].mean(axis=(0, 2, 3)) / 255
    assert splits.meta["mean"] == pytest.approx(expected_mean.tolist())


def test_cifar_with_wrong_checksum_is_refused_before_unpickling(tmp_path, monkeypatch):
    _make_cifar(tmp_path, monkeypatch, tvd.CIFAR10, "labels", 10, "label_names")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"tampered")
    with pytest.raises(ConfigError, match="checksum mismatch or corrupt"):
        data.load("cifar10", tmp_path, download=False)


@pytest.fixture
def offline(monkeypatch):
    """No network, deterministically: name resolution fails at once (no hang, whatever the host)."""

    def refuse(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "offline (test)")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


EXPECTED = {
    "mnist": ["MNIST/raw/train-images-idx3-ubyte", "MNIST/raw/t10k-labels-idx1-ubyte"],
    "fashion-mnist": ["FashionMNIST/raw/train-images-idx3-ubyte"],
    "cifar10": [
        "cifar-10-batches-py/data_batch_1",
        "cifar-10-batches-py/test_batch",
        "cifar-10-batches-py/batches.meta",
    ],
    "cifar100": ["cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_missing_files_offline_is_one_clear_config_error(tmp_path, offline, name):
    with pytest.raises(ConfigError) as info:
        data.load(name, tmp_path)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert "download failed" in message and "offline (test)" in message
    for rel in EXPECTED[name]:
        assert str(tmp_path / rel) in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_missing_files_without_download_never_touch_the_network(tmp_path, offline, name):
    with pytest.raises(ConfigError, match="download=False") as info:
        data.load(name, tmp_path, download=False)
    for rel in EXPECTED[name]:
        assert str(tmp_path / rel) in str(info.value)
    assert not (tmp_path / "MNIST").exists()  # nothing attempted, nothing created


def test_partly_missing_files_name_only_the_missing_ones(tmp_path):
    _make_mnist(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(ConfigError) as info:
        data.load("mnist", tmp_path, download=False)
    assert "t10k-images-idx3-ubyte" in str(info.value)
    assert "train-images-idx3-ubyte" not in str(info.value)


def test_corrupt_idx_file_is_a_config_error(tmp_path):
    _make_mnist(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x07garbage")
    with pytest.raises(ConfigError, match="could not be read"):
        data.load("mnist", tmp_path, download=False)


def test_data_dir_defaults_to_env(tmp_path, monkeypatch):
    _make_mnist(tmp_path, "MNIST")
    monkeypatch.setenv("NAS_DATA_DIR", str(tmp_path))
    assert len(data.load("mnist").test_y) == 10
