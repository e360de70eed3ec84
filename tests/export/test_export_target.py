"""``nas export`` / ``nas train`` over an existing target: refused without --force; with --force
only an earlier export (nothing else in it) is replaced, whole; a user's folder, a symlink or a
folder that appears meanwhile is never touched, and no staging folder is left behind.

The reported case: ``nas export RUN --out DIR`` over a user's DIR/rank1 overwrote four files
and deleted three, exit 0."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from test_export import fake_run  # pytest puts this folder on sys.path
from test_load_hardening import make_export

import nas
from nas import export as E
from nas.cli import main
from nas.errors import ConfigError

ARCH = "conv(4,3) gap"
USER_FILES = {"arch.txt": "my notes on the arch", "meta.json": '{"mine": true}', "README.md": "# my project",
              "model.safetensors": "my weights", "notes.txt": "keep", "data.csv": "1,2", "plot.png": "png"}


def command(kind: str, target: Path, tmp: Path, force: bool) -> list[str]:
    """argv writing ``target``: ``nas export`` (target is DIR/rank1) or ``nas train``."""
    if kind == "export":
        run = tmp / "runs" / "tiny"
        if not run.exists():
            fake_run(run, [(ARCH, 0.5, "ok")])
        argv = ["export", str(run), "--out", str(target.parent), "--retrain-epochs", "1"]
    else:
        argv = ["train", ARCH, "--epochs", "1", "--out", str(target)]
    return argv + ["--formats", "safetensors"] + (["--force"] if force else [])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.fixture(params=["export", "train"])
def kind(request) -> str:
    return request.param


@pytest.fixture
def target(tmp_path) -> Path:
    return tmp_path / "out" / "rank1"


def user_folder(target: Path) -> Path:
    target.mkdir(parents=True)
    for name, text in USER_FILES.items():
        (target / name).write_text(text)
    return target


@pytest.mark.parametrize("force", [False, True])
def test_a_user_s_folder_is_never_touched(kind, target, tmp_path, capsys, force):
    before = snapshot(user_folder(target))
    assert main(command(kind, target, tmp_path, force)) == 2
    out, err = capsys.readouterr()
    assert ("not an export folder" if force else "already exists") in err and err.count("\n") == 1
    assert "epoch" not in out  # refused before any training
    assert snapshot(target) == before and leftovers(target.parent) == []


def test_an_earlier_export_is_refused_without_force_and_replaced_whole_with_it(kind, target, tmp_path, capsys):
    make_export(target)
    before = snapshot(target)
    assert main(command(kind, target, tmp_path, False)) == 2
    assert "--force" in capsys.readouterr().err and snapshot(target) == before
    (target / "model.pt2").write_bytes(b"from an export with more formats")  # not written this time
    assert main(command(kind, target, tmp_path, True)) == 0
    meta = json.loads((target / "meta.json").read_text())
    assert meta["source"]["kind"] == ("search" if kind == "export" else "train")  # the new export
    assert sorted(p.name for p in target.iterdir()) == ["README.md", "arch.txt", "meta.json", "model.safetensors"]
    assert leftovers(target.parent) == []
    E.load(target)


def test_an_earlier_export_holding_a_user_s_file_is_not_replaced(kind, target, tmp_path, capsys):
    make_export(target)
    (target / "notes.txt").write_text("mine")
    before = snapshot(target)
    assert main(command(kind, target, tmp_path, True)) == 2
    assert "holds more than an earlier export (notes.txt)" in capsys.readouterr().err
    assert snapshot(target) == before


@pytest.mark.parametrize("force", [False, True])
def test_a_symlinked_target_is_refused(kind, target, tmp_path, capsys, force):
    real = make_export(tmp_path / "real")
    before = snapshot(real)
    target.parent.mkdir(parents=True)
    target.symlink_to(real)
    assert main(command(kind, target, tmp_path, force)) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert target.is_symlink() and snapshot(real) == before and leftovers(target.parent) == []


def test_a_folder_appearing_during_the_export_is_not_replaced(tmp_path, monkeypatch):
    """The target is checked before training and again just before the rename."""
    from nas.export import programs

    target = tmp_path / "rank1"
    real = programs.WRITERS["export"]

    def meanwhile(*args):
        user_folder(target)  # the user's folder arrives while the programs are written
        return real(*args)

    monkeypatch.setitem(programs.WRITERS, "export", meanwhile)
    with pytest.raises(ConfigError, match="already exists"):
        E.export_model(nas.build(ARCH, (1, 8, 8), 10), ARCH, target, {"input_shape": [1, 8, 8]},
                       ["safetensors", "export"])
    assert snapshot(target) == {n: t.encode() for n, t in sorted(USER_FILES.items())}
    assert leftovers(tmp_path) == []


def test_staging_left_by_a_killed_export_is_swept_and_a_live_one_kept(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()  # its PID is now free: the export that staged with it "was killed"
    dead, alive = tmp_path / f".rank1.partial-{gone.pid}", tmp_path / ".rank1.partial-1"  # 1: init, running
    for stale in (dead, alive):
        stale.mkdir()
        (stale / "model.safetensors").write_bytes(b"half")
    E.export_model(nas.build(ARCH, (1, 8, 8), 10), ARCH, tmp_path / "rank1", {"input_shape": [1, 8, 8]},
                   ["safetensors"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".rank1.partial-1", "rank1"]
