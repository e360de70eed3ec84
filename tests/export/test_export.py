"""Export: BN folding, every program format agrees with PyTorch, ``load`` restores the model,
and the ``nas export`` / ``nas train`` commands (tiny models, digits, 1 epoch)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import yaml
from torch import nn

import nas
from nas import baselines
from nas import export as E
from nas.nn.blocks import ConvNormAct
from nas.cli import main
from nas.errors import ConfigError, NasError
from nas.tune import SearchConfig

SHAPE = (1, 8, 8)
# conv -> BN pairs (conv, basic with projection, inception) and pre-activation BN (dense,
# transition, normact), which cannot fold.
BN_ARCH = "conv(16,3) basic(32,stride=2) inception(4,4,8,2,4,4) dense(2,4) transition(8) normact gap"
# LayerNorm, GroupNorm and one BN conv, ResNet-like: folding skips the per-sample norms.
MIXED_ARCH = "norm=gn conv(16,3) basic(16,norm=ln) basic(32,stride=2) conv(32,1,norm=bn) gap"
FOLD_ARCHS = [
    BN_ARCH,
    MIXED_ARCH,
    "norm=ln sepconv(8) bottleneck(16,stride=2) gap dropout(0.2) fc(12)",
    "conv(8,3,bias=true) maxpool(2) conv(16,3,groups=2) gap",  # VGG-BN style conv bias
]



def randomized(arch: str, seed: int = 0) -> nn.Module:
    """A model whose norms are far from their identity init, so folding is really tested."""
    torch.manual_seed(seed)
    model = nas.build(arch, SHAPE, 10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def inputs(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn((n, *SHAPE), generator=torch.Generator().manual_seed(seed))


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max()) / max(1.0, float(b.abs().max()))


# ---------------------------------------------------------------------------------------
# folding


@pytest.mark.parametrize("arch", FOLD_ARCHS)
def test_folding_keeps_outputs_and_leaves_the_input_model_alone(arch):
    model = randomized(arch)
    x = inputs(5)
    with torch.no_grad():
        ref = model(x)
        folded, report = E.fold_batchnorm(model)
        out = folded(x)
    assert rel_diff(out, ref) < E.RTOL
    assert not folded.training
    for m in folded.modules():
        if isinstance(m, ConvNormAct):
            assert not isinstance(m.norm, nn.BatchNorm2d)
    bn_units = [n for n, m in model.named_modules() if isinstance(m, ConvNormAct) and isinstance(m.norm, nn.BatchNorm2d)]
    assert list(report.folded) == bn_units
    assert all(isinstance(dict(model.named_modules())[n].norm, nn.BatchNorm2d) for n in bn_units)  # untouched


def test_folding_reports_what_it_cannot_fold():
    _, report = E.fold_batchnorm(randomized(BN_ARCH))
    reasons = {name: why for name, kind, why in report.not_folded}
    assert "layers.3.layers.0.0.norm" in reasons  # dense block: BN -> ReLU -> conv
    assert "before its convolution" in reasons["layers.3.layers.0.0.norm"]
    assert any(name.startswith("layers.5") for name in reasons)  # normact
    _, report = E.fold_batchnorm(randomized(MIXED_ARCH))
    kinds = {name: why for name, kind, why in report.not_folded}
    assert report.folded == ("layers.3",)
    assert "layer norm" in kinds["layers.1.conv1.norm"] and "GroupNorm" in kinds["layers.0.norm"]


# ---------------------------------------------------------------------------------------
# export round trip


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """BN_ARCH in all four formats and MIXED_ARCH in the default ones; exported once."""
    out = {}
    for key, arch, formats in (("bn", BN_ARCH, E.FORMATS), ("mixed", MIXED_ARCH, E.DEFAULT_FORMATS)):
        model = randomized(arch)
        folder = tmp_path_factory.mktemp(key)
        meta = {"val_acc": 0.5, "dataset": "digits", "normalization": {"mean": [0.3], "std": [0.4], "scale": 16.0}}
        result = E.export_model(model, arch, folder, meta, formats, inputs(2, seed=7))
        out[key] = (model, result, folder)
    return out


@pytest.mark.parametrize("key", ["bn", "mixed"])
def test_every_program_agrees_with_pytorch(exported, key):
    model, result, folder = exported[key]
    expected = {"bn": {"bn_folded", "export", "torchscript", "onnx"}, "mixed": {"bn_folded", "export", "onnx"}}[key]
    assert set(result.checks) == expected
    for name, c in result.checks.items():
        assert c["ok"] and c["rel_diff"] <= 1e-4, (name, c)
    assert result.ok
    assert sorted(p.name for p in folder.iterdir()) == sorted(["arch.txt", "meta.json", "README.md", *result.files.values()])


def test_meta_carries_everything_needed(exported):
    model, result, folder = exported["bn"]
    meta = json.loads((folder / "meta.json").read_text())
    assert (folder / "arch.txt").read_text().strip() == meta["arch"] == str(nas.parse(BN_ARCH))
    s = nas.summarize(BN_ARCH, SHAPE, 10)
    assert (meta["params"], meta["macs"]) == (s.params, s.macs)
    assert meta["input_shape"] == list(SHAPE) and meta["num_classes"] == 10
    assert meta["formats"] == list(E.FORMATS) and meta["files"]["onnx"] == "model.onnx"
    assert meta["nas_version"] == nas.__version__ and meta["torch_version"] == torch.__version__
    assert meta["val_acc"] == 0.5 and meta["normalization"]["mean"] == [0.3]
    assert meta["bn_folding"]["folded"] and meta["bn_folding"]["not_folded"]
    assert meta["onnx"]["input"] == "input" and meta["onnx"]["output"] == "logits"
    readme = (folder / "README.md").read_text()
    for snippet in ("torch.export.load", "ort.InferenceSession", "torch.jit.load", "nas.export.load", "load_file"):
        assert snippet in readme


@pytest.mark.parametrize("key", ["bn", "mixed"])
def test_load_restores_identical_outputs(exported, key):
    model, result, folder = exported[key]
    loaded = E.load(folder)
    assert isinstance(loaded, nas.Network) and not loaded.training
    x = inputs(4)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert loaded.state_dict().keys() == model.state_dict().keys()


def test_programs_run_without_this_package(exported, tmp_path):
    """Plain torch / onnxruntime / safetensors, with ``import nas`` made impossible, other batch sizes."""
    model, result, folder = exported["bn"]
    xs = {n: inputs(n, seed=n).numpy() for n in (1, 5)}
    np.savez(tmp_path / "x.npz", **{str(n): x for n, x in xs.items()})
    script = textwrap.dedent("""
        import sys
        sys.modules["nas"] = None  # any import of nas now fails
        import numpy as np, onnxruntime as ort, torch
        from safetensors.torch import load_file
        xs = np.load(sys.argv[1])
        program = torch.export.load("model.pt2").module()
        script = torch.jit.load("model.torchscript.pt")
        session = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
        out = {}
        with torch.no_grad():
            for n in xs.files:
                x = torch.from_numpy(xs[n])
                out["export" + n] = program(x).numpy()
                out["torchscript" + n] = script(x).numpy()
                out["onnx" + n] = session.run(["logits"], {"input": xs[n]})[0]
        out["tensors"] = np.array(len(load_file("model.safetensors")))
        np.savez(sys.argv[2], **out)
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "x.npz"), str(tmp_path / "out.npz")],
                          cwd=folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    got = np.load(tmp_path / "out.npz")
    assert int(got["tensors"]) == len(model.state_dict())
    for n, x in xs.items():
        with torch.no_grad():
            ref = model(torch.from_numpy(x))
        for fmt in ("export", "torchscript", "onnx"):
            out = torch.from_numpy(got[f"{fmt}{n}"])
            assert out.shape == (n, 10)
            assert rel_diff(out, ref) <= 1e-4, (fmt, n)


def test_export_writes_only_the_asked_formats(tmp_path):
    arch = "conv(8,3) gap"
    E.export_model(nas.build(arch, SHAPE, 10), arch, tmp_path, {}, ["safetensors", "export"], inputs(1))
    assert (tmp_path / "model.pt2").exists()
    result = E.export_model(nas.build(arch, SHAPE, 10), arch, tmp_path, {}, ["safetensors"], inputs(1), force=True)
    assert result.files == {"safetensors": "model.safetensors"}
    assert not (tmp_path / "model.pt2").exists()  # nothing stale of the export it replaced
    assert set(result.checks) == {"bn_folded"}
    assert json.loads((tmp_path / "meta.json").read_text())["formats"] == ["safetensors"]


def test_an_existing_folder_is_replaced_only_with_force_and_only_if_it_is_an_export(tmp_path):
    arch = "conv(8,3) gap"
    model = nas.build(arch, SHAPE, 10)
    target = tmp_path / "rank1"
    E.export_model(model, arch, target, {"val_acc": 0.1}, ["safetensors"], inputs(2))
    with pytest.raises(ConfigError, match="already exists; .*--force"):
        E.export_model(model, arch, target, {"val_acc": 0.2}, ["safetensors"], inputs(2))
    assert json.loads((target / "meta.json").read_text())["val_acc"] == 0.1
    E.export_model(model, arch, target, {"val_acc": 0.2}, ["safetensors"], inputs(2), force=True)
    assert json.loads((target / "meta.json").read_text())["val_acc"] == 0.2
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not an export folder"):
        E.export_model(model, arch, foreign, {}, ["safetensors"], inputs(2), force=True)
    assert (foreign / "notes.txt").read_text() == "keep me" and len(list(foreign.iterdir())) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "rank1"]  # no staging folder left


def test_a_failed_export_leaves_no_partial_folder_and_the_old_one_intact(tmp_path, monkeypatch):
    arch = "conv(8,3) gap"
    model = nas.build(arch, SHAPE, 10)
    target = tmp_path / "rank1"
    E.export_model(model, arch, target, {"val_acc": 0.1}, ["safetensors"], inputs(2))
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    from nas.export import programs

    monkeypatch.setitem(programs.WRITERS, "export", broken)
    for out, force in ((target, True), (tmp_path / "new", False)):
        with pytest.raises(OSError, match="No space left"):
            E.export_model(model, arch, out, {"val_acc": 0.2}, ["safetensors", "export"], inputs(2), force=force)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank1"]


def test_a_missing_format_package_is_named_before_any_training(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    assert E.check_formats(["safetensors", "export"]) == ("safetensors", "export")
    with pytest.raises(ConfigError, match=r"format 'onnx' needs onnxscript.*-m pip install onnxscript"):
        E.check_formats(None)
    assert main(["train", "conv(8,3) gap", "--epochs", "1", "--out", str(tmp_path / "t")]) == 2
    captured = capsys.readouterr()
    assert "epoch" not in captured.out and captured.err.count("\n") == 1 and "onnxscript" in captured.err
    assert not (tmp_path / "t").exists()


def test_bad_export_arguments(tmp_path):
    model = nas.build("conv(8,3) gap", SHAPE, 10)
    with pytest.raises(ConfigError, match="did you mean 'onnx'"):
        E.export_model(model, "conv(8,3) gap", tmp_path, {}, ["onxx"], inputs(2))
    with pytest.raises(NasError, match="built from"):
        E.export_model(model, "conv(16,3) gap", tmp_path, {}, ["safetensors"], inputs(2))
    with pytest.raises(NasError, match="example_input or"):
        E.export_model(model, "conv(8,3) gap", tmp_path, {}, ["safetensors"], None)


def test_load_refuses_broken_folders(tmp_path):
    with pytest.raises(NasError, match="no such export folder"):
        E.load(tmp_path / "missing")
    with pytest.raises(NasError, match="no meta.json"):
        E.load(tmp_path)
    arch = "conv(8,3) gap"
    E.export_model(nas.build(arch, SHAPE, 10), arch, tmp_path, {}, ["safetensors"], inputs(2))
    (tmp_path / "arch.txt").write_text("conv(16,3) gap\n")
    with pytest.raises(NasError, match="different architectures"):
        E.load(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta["arch"] = "conv(16,3) gap"
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(NasError, match="do not fit"):
        E.load(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(NasError, match="unreadable weights"):
        E.load(tmp_path)


# ---------------------------------------------------------------------------------------
# commands


def test_nas_train_prints_progress_and_exports(tmp_path, capsys):
    out = tmp_path / "trained"
    rc = main(["train", "conv(8,3) basic(8,stride=2) gap", "--epochs", "2", "--out", str(out),
               "--formats", "safetensors"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "epoch 1/2" in text and "epoch 2/2" in text and "test " in text
    meta = json.loads((out / "meta.json").read_text())
    assert 0 <= meta["test_acc"] <= 1 and 0 <= meta["val_acc"] <= 1 and len(meta["val_accs"]) == 2
    assert meta["dataset"] == "digits" and len(meta["normalization"]["mean"]) == 1
    assert meta["source"]["kind"] == "train" and meta["seed"] == 0
    assert meta["train_config"]["epochs"] == 2
    assert E.load(out)(torch.zeros(2, *SHAPE)).shape == (2, 10)


def test_nas_train_resolves_a_baseline_name(tmp_path, capsys, monkeypatch):
    # Real baselines are millions of parameters; a stand-in keeps the test fast.
    names = baselines.names
    monkeypatch.setattr(baselines, "names", lambda: names() + ["toy"])
    monkeypatch.setattr(baselines, "get", lambda name, shape=None: f"conv({4 * shape[0]},3) gap")
    monkeypatch.setattr(baselines, "preset_for", lambda name: "default")
    rc = main(["train", "toy", "--epochs", "1", "--out", str(tmp_path), "--formats", "safetensors"])
    assert rc == 0
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["arch"] == "conv(4,3) gap" and meta["source"]["baseline"] == "toy"


def fake_run(root, trials):
    """A finished run folder: config.yaml and trials.jsonl, as ``nas search`` writes them."""
    root.mkdir(parents=True)
    cfg = SearchConfig(name=root.name, trials=len(trials), epochs=1, dataset="digits")
    (root / "config.yaml").write_text(yaml.safe_dump({"search": cfg.to_dict(), "space_file": "tiny.yaml",
                                                      "space_hash": "cafe", "dataset": {"dataset": "digits"}}))
    lines = []
    for i, (arch, reward, status) in enumerate(trials, start=1):
        lines.append(json.dumps({"trial": i, "proposal": i - 1, "arch": arch, "reward": reward,
                                 "val_acc": reward if status == "ok" else None, "params": 1, "macs": 1,
                                 "status": status, "epochs": 1, "val_accs": [reward], "reused": None}) + "\n")
    (root / "trials.jsonl").write_text("".join(lines))
    return root


def test_nas_export_refuses_an_existing_folder_before_training(tmp_path, capsys):
    run = fake_run(tmp_path / "runs" / "tiny", [("conv(8,3) gap", 0.5, "ok"), ("conv(8,3) conv(8,3) gap", 0.4, "ok")])
    argv = ["export", str(run), "--top", "2", "--retrain-epochs", "1", "--formats", "safetensors"]
    (run / "export" / "rank2").mkdir(parents=True)
    (run / "export" / "rank2" / "model.safetensors").write_text("an earlier, half-written export")
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "rank2 already exists" in captured.err and "--force" in captured.err and "epoch" not in captured.out
    assert not (run / "export" / "rank1").exists()
    assert main(argv + ["--force"]) == 2  # not an export: never replaced, even with --force
    assert "not an export folder" in capsys.readouterr().err
    (run / "export" / "rank2" / "model.safetensors").unlink()
    assert main(argv) == 0  # an empty folder is fine
    assert main(argv) == 2 and "--force" in capsys.readouterr().err
    assert main(argv + ["--force"]) == 0
    assert sorted(p.name for p in (run / "export").iterdir()) == ["rank1", "rank2"]


def test_nas_export_retrains_the_top_distinct_architectures(tmp_path, capsys):
    run = fake_run(tmp_path / "runs" / "tiny", [
        ("conv(8,3) gap", 0.5, "ok"),
        ("conv(8,3) basic(8,stride=2) gap", 0.7, "ok"),
        ("conv(16,3) gap", 0.9, "failed"),
        ("conv(8,3) basic(8,stride=2) gap", 0.6, "ok"),  # same arch again: one entry
    ])
    rc = main(["export", "tiny", "--runs-dir", str(tmp_path / "runs"), "--top", "3", "--retrain-epochs", "1",
               "--formats", "safetensors"])
    text = capsys.readouterr().out
    assert rc == 0, text
    folders = sorted((run / "export").iterdir())
    assert [f.name for f in folders] == ["rank1", "rank2"]
    m1, m2 = (json.loads((f / "meta.json").read_text()) for f in folders)
    assert m1["arch"] == "conv(8,3) basic(8,stride=2) gap" and m1["source"]["trial"] == 2
    assert m2["arch"] == "conv(8,3) gap" and m2["source"]["rank"] == 2
    assert m1["space_hash"] == "cafe" and m1["epochs"] == 1 and m1["test_acc"] is not None
    assert E.load(folders[0])(torch.zeros(1, *SHAPE)).shape == (1, 10)


@pytest.mark.parametrize("argv, message", [
    (["export", "RUN", "--formats", "onnx,tflite"], "unknown export format 'tflite'"),
    (["export", "RUN", "--top", "0"], "--top must be at least 1"),
    (["export", "FAILED"], "no successful trial"),
    (["export", "nowhere/at/all"], "no run folder"),
    (["train", "conv(8,3) gap", "--epochs", "x"], "--epochs must be a whole number"),
    (["train", "conv(8,3) gapp"], "gapp"),
    (["train", "conv(8,3) gap", "--preset", "fast"], "unknown train preset 'fast'"),
])
def test_bad_command_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    run = fake_run(tmp_path / "ok", [("conv(8,3) gap", 0.5, "ok")])
    failed = fake_run(tmp_path / "failed", [("conv(8,3) gap", 0.0, "failed")])
    argv = [str(run) if a == "RUN" else str(failed) if a == "FAILED" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas: error:") and err.count("\n") == 1 and message in err, err


def test_training_progress_warns_once_as_soon_as_the_loss_sits_at_chance(capsys):
    from nas.cli.export import progress

    on_epoch = progress(5, 10)
    for epoch in range(1, 6):
        on_epoch(epoch, {"train_loss": 2.303, "train_acc": 0.1, "val_acc": 0.1, "lr": 0.01, "epoch_seconds": 0.1})
        if epoch == 2:
            assert "warning" not in capsys.readouterr().err
        if epoch == 3:
            assert capsys.readouterr().err.startswith("nas: warning: training loss stayed at chance level")
    out, err = capsys.readouterr()
    assert err == "" and out.count("epoch") == 2  # epochs 4 and 5: lines, no second warning
