"""`nas search` and `nas train` on a user's own data: a folder of real PNG files searched end to
end through Ray, a .npz file trained and exported, and data that does not fit the space, or
cannot be read, refused in one line with no run folder left behind."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from sklearn.datasets import load_digits

from nas.cli import main
from nas.tune import SearchConfig, resolve


def _digit_pngs(root: Path, per_class: int = 30) -> Path:
    """The first ``per_class`` scikit-learn digits of each class as 8x8 grey PNGs, root/<digit>/i.png."""
    bunch = load_digits()
    for label in range(10):
        folder = root / str(label)
        folder.mkdir(parents=True)
        for i, image in enumerate(bunch.images[bunch.target == label][:per_class]):
            Image.fromarray((image * 15).astype(np.uint8), mode="L").save(folder / f"{i}.png")
    return root


def _rgb_pngs(root: Path, classes: int = 3, per_class: int = 5) -> Path:
    for label in range(classes):
        (root / f"c{label}").mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (8, 8), (40 * label, 10 * i, 0)).save(root / f"c{label}" / f"{i}.png")
    return root


def _err_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nas: error:") and "Traceback" not in err, err
    return err


def test_search_on_a_folder_of_pngs_against_the_digits_space(tmp_path, monkeypatch, ray_local):
    _digit_pngs(tmp_path / "digit-pngs")
    monkeypatch.chdir(tmp_path)  # the dataset is given relative to the current folder
    argv = ["search", "--dataset", "digit-pngs", "--trials", "2", "--epochs", "1", "--concurrency", "1",
            "--runs-dir", "runs", "--name", "own", "--strategy", "random"]
    assert main(argv) == 0
    root = tmp_path / "runs" / "own"
    recs = [json.loads(line) for line in (root / "trials.jsonl").read_text().splitlines()]
    # One epoch of 2 steps may still predict one class: the search ran, not how well it learnt.
    assert len(recs) == 2 and all(r["status"] == "ok" and 0 <= r["val_acc"] <= 1 for r in recs)
    config = yaml.safe_load((root / "config.yaml").read_text())
    absolute = str(tmp_path / "digit-pngs")
    assert config["search"]["dataset"] == absolute  # recorded absolute: export and resume work from anywhere
    meta = config["dataset"]
    assert meta["dataset"] == absolute and meta["sources"] == [absolute]
    assert meta["classes"] == [str(d) for d in range(10)] and meta["scale"] == 255.0
    assert meta["sizes"]["test"] == 60 and meta["sizes"]["train"] + meta["sizes"]["val"] == 240


def test_a_dataset_that_does_not_fit_the_space_is_one_line_and_no_run(tmp_path, capsys, ray_local):
    # Needs run_search to call data.check_matches right after data.load (nas/tune/driver.py).
    folder = _rgb_pngs(tmp_path / "rgb")
    runs = tmp_path / "runs"
    argv = ["search", "--dataset", str(folder), "--trials", "1", "--epochs", "1", "--concurrency", "1",
            "--runs-dir", str(runs)]
    assert main(argv) == 2
    err = _err_line(capsys)
    assert "gives 3x8x8 images in 3 classes, but space 'digits' expects 1x8x8 in 10 classes" in err
    assert "`input: [3, 8, 8]` and `classes: 3`" in err
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize("make, words", [
    (lambda t: None, "no such folder or .npz file"),
    (lambda t: _rgb_pngs(t / "data", classes=1), "has 1 class folder, needs at least 2"),
    (lambda t: (_digit_pngs(t / "data", per_class=2), (t / "data" / "3" / "1.png").write_bytes(b"\x89PNG broken")),
     "cannot read image"),
    (lambda t: np.savez(t / "data.npz", x=np.zeros((4, 8, 8)), y=np.array([0, 1, 1, -2])), "has label -2"),
])
def test_own_data_that_cannot_be_read_is_one_line_and_no_run(tmp_path, capsys, make, words):
    make(tmp_path)
    spec = str(tmp_path / "data.npz") if (tmp_path / "data.npz").exists() else str(tmp_path / "data")
    runs = tmp_path / "runs"
    assert main(["search", "--dataset", spec, "--runs-dir", str(runs)]) == 2
    assert words in _err_line(capsys)
    assert not runs.exists() or not any(runs.iterdir())


def test_a_space_file_may_not_name_python_code(tmp_path, capsys):
    space = tmp_path / "sp.yaml"
    space.write_text("input: [1, 8, 8]\nclasses: 10\ndataset: mydata:load\nstages:\n  - {block: conv, width: 8}\n")
    runs = tmp_path / "runs"
    assert main(["search", str(space), "--runs-dir", str(runs)]) == 2
    assert "names Python code" in _err_line(capsys) and not runs.exists()


def test_resolve_records_paths_absolute_and_callables_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imgs").mkdir()
    config, _, _ = resolve(SearchConfig(dataset="imgs", runs_dir="runs"), resume=False)
    assert config.dataset == str(tmp_path / "imgs")
    config, _, _ = resolve(SearchConfig(dataset="mydata:load", runs_dir="runs"), resume=False)
    assert config.dataset == "mydata:load"
    assert not (tmp_path / "runs").exists()  # resolve reads no data and creates nothing


def test_train_on_a_module_function_names_its_folder_safely(tmp_path, monkeypatch, capsys):
    (tmp_path / "mydata_cli.py").write_text(
        "from sklearn.datasets import load_digits\n"
        "def load():\n"
        "    b = load_digits()\n"
        "    return b.images[:200, None].astype('float32') / 16, b.target[:200]\n")
    monkeypatch.chdir(tmp_path)
    try:
        rc = main(["train", "conv(8,3) gap", "--dataset", "mydata_cli:load", "--epochs", "1",
                   "--formats", "safetensors"])
    finally:
        sys.modules.pop("mydata_cli", None)
    assert rc == 0, capsys.readouterr().err
    (out,) = (tmp_path / "runs" / "train").iterdir()
    assert out.name.startswith("arch-") and out.name.endswith("-mydata_cli.load")
    meta = json.loads((out / "meta.json").read_text())
    assert json.dumps(meta).count("mydata_cli:load") >= 1


def test_help_names_every_form(capsys):
    for command in ("search", "train"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert "an image folder, a .npz file, module:function" in out and "digits" in out
