"""Final training and export: one self-contained folder per architecture.

``export_model(model, arch, out_dir, meta, formats, example_input)`` writes::

    arch.txt            the canonical architecture string
    meta.json           accuracy, params, MACs, dataset + normalization, seed, versions, checks
    model.safetensors   the weights (state dict of the unfolded model), no pickle
    model.pt2           torch.export program          (format "export")
    model.torchscript.pt  TorchScript, traced         (format "torchscript", opt-in)
    model.onnx          ONNX, dynamic batch dimension (format "onnx")
    README.md           how to load each file

The programs (pt2, TorchScript, ONNX) run the model with batch norm folded into the
preceding convolution: in eval mode BN is a fixed per-channel affine map,
``y = gamma * (x - mu) / sqrt(var + eps) + beta``, so ``conv -> BN`` is one conv with
rescaled weights and a bias (Ioffe & Szegedy 2015, Sec. 3.1;
``torch.nn.utils.fusion.fuse_conv_bn_eval``). Only conv -> BN pairs fold. A BN that comes
*before* its conv (DenseNet's pre-activation norm -> act -> conv, and ``normact``) has a
non-linearity between it and any conv, and GroupNorm / LayerNorm / InstanceNorm use
per-sample statistics, so those stay as they are; ``meta.json`` lists every norm that was
not folded and why. ``model.safetensors`` keeps the unfolded weights, so :func:`load`
rebuilds exactly the trained network.

Each program is loaded back after writing and run on the example input (plus one more
sample, so the batch dimension is exercised dynamically); the largest difference to the
PyTorch model, relative to the output scale, is recorded under ``checks`` in meta.json.

Final training (:func:`train_final`, used by ``nas export`` and ``nas train``): the
architecture is built from scratch and trained on the **train split only**, with the
validation split kept held out, so that the reported ``val_acc`` is comparable with the
search's and ``test_acc`` (measured once, at the end) is an honest estimate. Many NAS papers
retrain the found cell on train + val (e.g. DARTS, Liu et al. 2019, Sec. 3.3); we keep the
validation split out so that search, export and hand-designed baselines (``nas train
resnet18``) are all measured the same way.
"""
from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import importlib.util
import io
import json
import math
import os
import shutil
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from .lang import parse
from .nn import Network, build, summarize
from .nn.blocks import ConvNormAct
from .errors import ConfigError, NasError
from .registry import suggest

META_FORMAT = "nas-export/1"
# Format name -> file written. safetensors is always written: it is what ``load`` reads.
FILES = {
    "safetensors": "model.safetensors",
    "export": "model.pt2",
    "torchscript": "model.torchscript.pt",
    "onnx": "model.onnx",
}
FORMATS = tuple(FILES)
# TorchScript is deprecated in recent torch (torch.jit.* warns "Please switch to torch.compile
# or torch.export"); it still works in torch 2.14, so it is offered, but not by default.
DEFAULT_FORMATS = ("safetensors", "export", "onnx")
ONNX_INPUT, ONNX_OUTPUT = "input", "logits"
# Agreement of every program with the PyTorch model: max |difference| / max(1, max |output|).
# float32 convolutions reassociated by folding and by other kernels differ by ~1e-6 relative.
RTOL = 1e-4


# ---------------------------------------------------------------------------------------
# Batch-norm folding
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoldReport:
    """Which norm layers were folded into the preceding convolution, and which were not (and why)."""

    folded: tuple[str, ...]
    not_folded: tuple[tuple[str, str, str], ...]  # (module name, type, reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folded": list(self.folded),
            "not_folded": [{"module": n, "type": t, "reason": r} for n, t, r in self.not_folded],
        }


_NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, FoldReport]:
    """A copy of ``model`` in eval mode with every conv -> BatchNorm pair folded into the conv.

    The input model is not changed. Only :class:`nas.nn.blocks.ConvNormAct` units whose norm is a
    ``BatchNorm2d`` (with running statistics) fold; see the module doc for the rest.

    >>> folded, report = fold_batchnorm(build("conv(8,3) basic(8) gap", (1, 8, 8), 10))
    >>> report.folded
    ('layers.0', 'layers.1.conv1', 'layers.1.conv2')
    """
    folded_model = copy.deepcopy(model).eval()
    folded: list[str] = []
    for name, module in folded_model.named_modules():
        if isinstance(module, ConvNormAct) and _foldable(module.norm):
            module.conv = torch.nn.utils.fusion.fuse_conv_bn_eval(module.conv, module.norm)
            module.norm = nn.Identity()
            folded.append(name)
    not_folded = []
    for name, module in folded_model.named_modules():
        if isinstance(module, _NORMS):
            not_folded.append((name, type(module).__name__, _why_not(module)))
    return folded_model, FoldReport(tuple(folded), tuple(not_folded))


def _foldable(norm: nn.Module) -> bool:
    return isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats and norm.running_mean is not None


def _why_not(norm: nn.Module) -> str:
    if isinstance(norm, nn.BatchNorm2d):
        if not _foldable(norm):
            return "batch norm without running statistics is not a fixed map at test time"
        return ("batch norm before its convolution (pre-activation norm -> act -> conv, DenseNet): "
                "an activation separates it from any convolution, so it cannot fold")
    kind = type(norm).__name__
    if isinstance(norm, nn.GroupNorm) and norm.num_groups == 1:
        kind = "layer norm (GroupNorm with 1 group)"
    return f"{kind} normalizes with per-sample statistics, not a fixed linear map at test time"


# ---------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    """What ``export_model`` wrote. ``checks[name]`` = {max_abs_diff, rel_diff, tolerance, ok}."""

    out_dir: Path
    files: dict[str, str]  # format -> file name inside out_dir
    meta: dict[str, Any]
    fold: FoldReport
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.checks.values())


# Format -> the modules it needs beyond torch. All are dependencies of the package, so they
# are missing only in a damaged environment; checked by name (no import) before any training.
NEEDS = {
    "safetensors": ("safetensors",),
    "onnx": ("onnx", "onnxscript", "onnxruntime"),  # the dynamo exporter; onnxruntime checks the file
}


def check_formats(formats: Sequence[str] | None) -> tuple[str, ...]:
    """Validated formats, in canonical order, safetensors always included; every module a
    format needs must be installed (ConfigError with the pip command that installs it)."""
    wanted = set(DEFAULT_FORMATS if formats is None else formats)
    for f in wanted:
        if f not in FILES:
            raise ConfigError(f"unknown export format {f!r}{suggest(f, FILES)}")
    chosen = tuple(f for f in FORMATS if f in wanted or f == "safetensors")
    for f in chosen:
        missing = [m for m in NEEDS.get(f, ()) if importlib.util.find_spec(m) is None]
        if missing:
            # sys.executable -m pip installs into the environment this command runs in, whichever
            # way the package itself was installed (editable checkout, wheel, venv or not).
            raise ConfigError(f"format {f!r} needs {', '.join(missing)}, which this environment lacks "
                              f"(install with: {sys.executable} -m pip install {' '.join(missing)})")
    return chosen


def check_target(out_dir: str | Path, *, force: bool = False) -> Path:
    """Where an export folder may be written: a new or empty folder, or with ``force`` an earlier
    export (``meta.json`` of this format). Anything else is refused before any work is done."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return out
    if not force:
        raise ConfigError(f"{out} already exists; pass --force to replace it, or choose another --out")
    try:
        read_meta(out)
    except NasError:
        raise ConfigError(f"{out} exists and is not an export folder (no valid meta.json); "
                          "refusing to replace it even with --force") from None
    return out


@contextlib.contextmanager
def _staged(out_dir: Path):
    """A fresh folder beside ``out_dir`` to write into, renamed into place only when complete:
    a crash or an error leaves ``out_dir`` as it was (and no partial folder)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if out_dir.exists():  # checked by check_target: empty, or an earlier export with force
            old = out_dir.with_name(f".{out_dir.name}.replaced-{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def export_model(
    model: nn.Module,
    arch: str,
    out_dir: str | Path,
    meta: Mapping[str, Any] | None = None,
    formats: Sequence[str] | None = DEFAULT_FORMATS,
    example_input: torch.Tensor | None = None,
    *,
    force: bool = False,
) -> ExportResult:
    """Write ``model`` (built from ``arch``) as a self-contained folder; see the module doc.

    The folder is written beside ``out_dir`` and renamed into place when complete. An existing
    non-empty ``out_dir`` is replaced only with ``force`` and only if it is an earlier export.

    ``meta`` is the caller's metadata (accuracy, dataset, normalization, seed, source...);
    the architecture, shapes, params, MACs, versions, formats, folding and checks are added
    here. ``example_input`` (N, C, H, W), real data preferably, is what the programs are traced
    and checked with; default: 2 seeded random images of ``meta["input_shape"]``.

    >>> model = build("conv(16,3) basic(32,stride=2) gap", (1, 8, 8), 10)
    >>> result = export_model(model, str(model.arch_string), "out/rank1", {"input_shape": [1, 8, 8]})  # doctest: +SKIP
    >>> result.checks["onnx"]["ok"]  # doctest: +SKIP
    True
    """
    formats = check_formats(formats)
    out_dir = check_target(out_dir, force=force)
    arch = str(parse(arch))
    if isinstance(model, Network) and model.arch_string != arch:
        raise NasError(f"the model was built from {model.arch_string!r}, not {arch!r}")
    meta = dict(meta or {})
    cpu = copy.deepcopy(model).to("cpu", memory_format=torch.contiguous_format).float().eval()
    x = _example(example_input, meta)
    input_shape = tuple(int(d) for d in x.shape[1:])
    with torch.no_grad():
        num_classes = int(cpu(x[:1]).shape[1])
    with _staged(out_dir) as tmp:
        files, checks, fold, full = _write_folder(cpu, arch, tmp, meta, formats, x, input_shape, num_classes)
    return ExportResult(out_dir, files, full, fold, checks)


def _write_folder(cpu: nn.Module, arch: str, out_dir: Path, meta: dict[str, Any], formats: tuple[str, ...],
                  x: torch.Tensor, input_shape: tuple[int, ...], num_classes: int):
    """Every file of an export folder into ``out_dir`` (a staging folder); meta.json last."""
    # Checking input: the traced batch plus one more sample, so a fixed batch size would fail.
    check_x = torch.cat([x, x[:1].flip(-1)], 0)
    with torch.no_grad():
        ref = cpu(check_x)
    scale = max(1.0, float(ref.abs().max()))

    def check(out: torch.Tensor) -> dict[str, Any]:
        diff = float((out.float() - ref).abs().max()) if out.shape == ref.shape else math.inf
        return {"max_abs_diff": diff, "rel_diff": diff / scale, "tolerance": RTOL, "ok": diff / scale <= RTOL}

    files = {"safetensors": FILES["safetensors"]}
    _save_safetensors(cpu, out_dir / FILES["safetensors"], arch)
    folded, fold = fold_batchnorm(cpu)
    checks: dict[str, dict[str, Any]] = {}
    with torch.no_grad():
        checks["bn_folded"] = check(folded(check_x))
    extra: dict[str, Any] = {}
    if "export" in formats:
        checks["export"] = check(_write_export(folded, x, out_dir / FILES["export"], check_x))
        files["export"] = FILES["export"]
    if "torchscript" in formats:
        checks["torchscript"] = check(_write_torchscript(folded, x, out_dir / FILES["torchscript"], check_x))
        files["torchscript"] = FILES["torchscript"]
    if "onnx" in formats:
        out, extra["onnx"] = _write_onnx(folded, x, out_dir / FILES["onnx"], check_x)
        checks["onnx"] = check(out)
        files["onnx"] = FILES["onnx"]

    if "params" not in meta or "macs" not in meta:
        s = summarize(arch, input_shape, num_classes)
        meta.setdefault("params", s.params)
        meta.setdefault("macs", s.macs)
    from . import __version__ as nas_version  # at call time: nas/__init__ imports this module's neighbours

    full = {
        "format": META_FORMAT,
        "arch": arch,
        "input_shape": list(input_shape),
        "num_classes": num_classes,
        **{k: v for k, v in meta.items() if k not in ("format", "arch", "input_shape", "num_classes")},
        "formats": list(files),
        "files": dict(files),
        "bn_folding": {
            **fold.to_dict(),
            "applies_to": [f for f in files if f != "safetensors"],
            "note": "model.safetensors holds the unfolded weights (nas.load rebuilds the trained network); "
                    "the programs run with each conv -> batch-norm pair folded into the conv. Only conv -> BN "
                    "pairs fold; the norms listed under not_folded run as they are.",
        },
        "checks": checks,
        **extra,
        "nas_version": nas_version,
        "torch_version": torch.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    full = _jsonable(full)
    write_text(out_dir / "arch.txt", arch + "\n")
    write_text(out_dir / "README.md", _readme(full))
    write_text(out_dir / "meta.json", json.dumps(full, indent=2, allow_nan=False) + "\n")  # last: marks done
    return files, checks, fold, full


def write_text(path: str | Path, text: str | bytes) -> None:
    """Write via a temporary file in the same folder and a rename, so readers never see half a
    file. Unlike ``runstore.atomic_write`` (mkstemp: mode 0600) the file gets the usual
    umask-based mode: exports and reports are meant to be shared."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _example(example_input: torch.Tensor | None, meta: Mapping[str, Any]) -> torch.Tensor:
    if example_input is None:
        shape = meta.get("input_shape")
        if not shape:
            raise NasError("export_model needs example_input or meta['input_shape']")
        g = torch.Generator().manual_seed(0)
        return torch.randn((2, *[int(d) for d in shape]), generator=g)
    x = example_input.detach().to("cpu", torch.float32).contiguous()
    if x.dim() != 4 or len(x) < 1:
        raise NasError(f"example_input must be a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if len(x) == 1:  # trace with batch 2: batch 1 invites specializations on the batch size
        x = torch.cat([x, x.flip(-1)], 0)
    return x[:2]


def _save_safetensors(model: nn.Module, path: Path, arch: str) -> None:
    from safetensors.torch import save

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    write_text(path, save(state, metadata={"format": META_FORMAT, "arch": arch}))


def _write_export(model: nn.Module, x: torch.Tensor, path: Path, check_x: torch.Tensor) -> torch.Tensor:
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    with torch.no_grad():
        return torch.export.load(str(path)).module()(check_x)


@contextlib.contextmanager
def _no_jit_deprecation():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated")
        yield


def _write_torchscript(model: nn.Module, x: torch.Tensor, path: Path, check_x: torch.Tensor) -> torch.Tensor:
    # Tracing, not scripting: torch.jit.script rejects Network's untyped list attributes
    # (``keep``, ``skips``: "failed to convert Python type: 'list'", torch 2.14);
    # the traced graph has no data-dependent control flow, and the batch size stays symbolic.
    with _no_jit_deprecation(), torch.no_grad():
        traced = torch.jit.trace(model, x)
        traced.save(str(path))
        return torch.jit.load(str(path))(check_x)


def _write_onnx(model: nn.Module, x: torch.Tensor, path: Path, check_x: torch.Tensor):
    """torch.onnx's dynamo exporter (torch.export underneath), one file, dynamic batch.

    Returns (onnxruntime's output on ``check_x``, onnx metadata).
    """
    batch = torch.export.Dim("batch")
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
        program = torch.onnx.export(model, (x,), str(path), dynamo=True, input_names=[ONNX_INPUT],
                                    output_names=[ONNX_OUTPUT], dynamic_shapes=({0: batch},),
                                    external_data=False, verbose=False)
    opset = getattr(program, "model", None)
    opset = dict(getattr(opset, "opset_imports", {}) or {}).get("")
    info = {"input": ONNX_INPUT, "output": ONNX_OUTPUT, "dynamic_axes": {ONNX_INPUT: {"0": "batch"}},
            "opset": opset}
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run([ONNX_OUTPUT], {ONNX_INPUT: check_x.numpy()})[0]
    info["onnxruntime_version"] = ort.__version__
    return torch.from_numpy(out), info


def _jsonable(obj):
    """Tuples -> lists, non-finite floats -> None, so meta.json is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, torch.Tensor):
        return _jsonable(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return obj


# ---------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------


def read_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta.json`` of an export folder, checked."""
    folder = Path(path)
    if not folder.is_dir():
        raise NasError(f"{folder}: no such export folder")
    meta_path = folder / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise NasError(f"{folder}: not an export folder (no meta.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NasError(f"{meta_path}: unreadable ({e.__class__.__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise NasError(f"{meta_path}: not a {META_FORMAT} metadata file")
    return meta


def load(path: str | Path, *, device: str | torch.device = "cpu") -> Network:
    """Rebuild an exported model from ``arch.txt`` + ``meta.json`` and ``model.safetensors``.

    Nothing is unpickled: the architecture is parsed by the grammar and the weights are read
    by safetensors. The model is returned in eval mode (batch norm not folded; see
    :func:`fold_batchnorm`). Inputs are normalized as ``meta.json``'s ``normalization`` says.

    >>> model = load("runs/digits-reinforce/export/rank1")  # doctest: +SKIP
    >>> model(torch.zeros(1, 1, 8, 8)).shape  # doctest: +SKIP
    torch.Size([1, 10])
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(path)
    meta = read_meta(folder)
    try:
        arch = (folder / "arch.txt").read_text().strip()
    except FileNotFoundError:
        raise NasError(f"{folder}: not an export folder (no arch.txt)") from None
    if str(parse(arch)) != meta.get("arch"):
        raise NasError(f"{folder}: arch.txt and meta.json describe different architectures")
    weights = folder / FILES["safetensors"]
    try:
        state = load_file(str(weights), device=str(device))
    except FileNotFoundError:
        raise NasError(f"{folder}: no {FILES['safetensors']}") from None
    except (SafetensorError, OSError) as e:
        raise NasError(f"{weights}: unreadable weights ({e})") from None
    with torch.device("meta"):  # no random init: every tensor comes from the file
        model = build(arch, tuple(meta["input_shape"]), int(meta["num_classes"]))
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise NasError(f"{weights}: the weights do not fit {arch!r} ({first})") from None
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise NasError(f"{weights}: no values for {', '.join(left[:3])}")
    return model.eval()


# ---------------------------------------------------------------------------------------
# Final training (shared by ``nas export`` and ``nas train``)
# ---------------------------------------------------------------------------------------


def train_final(arch: str, splits, config, *, on_epoch: Callable | None = None):
    """Build ``arch`` from scratch (initialized with ``config.seed``) and train it on the train
    split, validating each epoch and measuring test accuracy once at the end.

    Returns ``(model, TrainResult)``; a diverging model gives ``result.status == "failed"``.
    """
    from .train import train

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build(arch, splits.input_shape, splits.num_classes)
    result = train(model, splits, config, on_epoch=on_epoch, evaluate_test=True)
    return model, result


def training_meta(result, splits, config, source: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's part of meta.json after :func:`train_final`: accuracy, data, recipe, source."""
    m = splits.meta
    return {
        "val_acc": result.val_acc,
        "test_acc": result.test_acc,
        "val_accs": list(result.val_accs),
        "epochs": len(result.val_accs),
        "train_seconds": round(result.seconds, 2),
        "device": result.device,
        "dataset": splits.name,
        "dataset_splits": m.get("sizes"),
        "trained_on": "train split only; val held out for val_acc, test measured once at the end",
        "normalization": {
            "mean": m.get("mean"),
            "std": m.get("std"),
            "scale": m.get("scale"),
            "formula": "x = (pixel / scale - mean[c]) / std[c] per channel c, as float32 NCHW",
        },
        "seed": config.seed,
        "train_config": config.to_dict(),
        **dict(source),
    }


def example_batch(splits, n: int = 2) -> torch.Tensor:
    """Real (normalized) images to trace and check the programs with."""
    for x in (splits.val_x, splits.test_x, splits.train_x):
        if len(x) >= 1:
            return x[:n]
    raise NasError(f"dataset {splits.name!r} has no images")


# ---------------------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------------------


def _readme(meta: dict[str, Any]) -> str:
    shape = ", ".join(str(d) for d in meta["input_shape"])
    files = meta["files"]
    acc = []
    for key in ("val_acc", "test_acc"):
        if isinstance(meta.get(key), (int, float)):
            acc.append(f"{key.replace('_acc', '')} accuracy {meta[key]:.4f}")
    norm = meta.get("normalization") or {}
    lines = [
        "# Exported model",
        "",
        f"Architecture: `{meta['arch']}`",
        "",
        f"Input: float32 `(batch, {shape})`; output: `(batch, {meta['num_classes']})` logits."
        + (f" Dataset `{meta['dataset']}`" if meta.get("dataset") else "")
        + (f", {', '.join(acc)}." if acc else "")
        + f" {meta['params']:,} parameters, {meta['macs']:,} MACs per image.",
        "",
    ]
    if norm.get("mean") is not None:
        lines += [
            "Preprocess like training did: `x = (pixel / scale - mean[c]) / std[c]` per channel, with "
            f"`scale = {norm.get('scale')}`, `mean = {norm['mean']}`, `std = {norm['std']}` (also in `meta.json`).",
            "",
        ]
    not_folded = meta["bn_folding"]["not_folded"]
    lines += [
        "The programs below run with batch norm folded into the preceding convolution "
        f"({len(meta['bn_folding']['folded'])} conv -> BN pairs). Only conv -> BN pairs fold"
        + (f"; {len(not_folded)} norm layers stay as they are (pre-activation BN or per-sample norms, "
           "listed in `meta.json` under `bn_folding.not_folded`)." if not_folded else "."),
        "`model.safetensors` keeps the unfolded weights. `meta.json` records how closely each program "
        "matched the PyTorch model (`checks`).",
        "",
        "x below is a float32 tensor (or numpy array) of shape `(batch, " + shape + ")`; any batch size works.",
        "",
    ]
    if "export" in files:
        lines += [
            f"## `{files['export']}`: torch.export program (plain torch)",
            "",
            "```python",
            "import torch",
            f"program = torch.export.load(\"{files['export']}\")",
            "logits = program.module()(x)",
            "```",
            "",
        ]
    if "onnx" in files:
        lines += [
            f"## `{files['onnx']}`: ONNX (onnxruntime)",
            "",
            "```python",
            "import onnxruntime as ort",
            f"session = ort.InferenceSession(\"{files['onnx']}\", providers=[\"CPUExecutionProvider\"])",
            f"logits = session.run([\"{ONNX_OUTPUT}\"], {{\"{ONNX_INPUT}\": x.numpy()}})[0]",
            "```",
            "",
        ]
    if "torchscript" in files:
        lines += [
            f"## `{files['torchscript']}`: TorchScript (plain torch; TorchScript is deprecated upstream)",
            "",
            "```python",
            "import torch",
            f"module = torch.jit.load(\"{files['torchscript']}\")",
            "logits = module(x)",
            "```",
            "",
        ]
    lines += [
        f"## `{files['safetensors']}`: weights (safetensors), rebuilt with nas",
        "",
        "```python",
        "import nas.export",
        "model = nas.export.load(\".\")  # this folder: arch.txt + meta.json + model.safetensors, no pickle",
        "logits = model(x)",
        "",
        "from safetensors.torch import load_file  # or just the tensors, by name",
        f"state = load_file(\"{files['safetensors']}\")",
        "```",
        "",
    ]
    return "\n".join(lines)
