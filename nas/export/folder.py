"""``export_model``: a trained model as one self-contained folder (arch.txt, meta.json,
safetensors weights, torch.export and ONNX programs with batch norm folded, a README),
written beside its target and renamed into place; every program is loaded back and
checked against the PyTorch model. The folder's layout and its checks: docs/export.md.
"""
from __future__ import annotations

import copy
import datetime as _dt
import importlib.util
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._util import atomic_write, staged_folder
from .._version import __version__
from ..errors import ConfigError, NasError
from ..lang import parse
from ..nn import Network, summarize
from ..registry import suggest
from .fold import FoldReport, fold_batchnorm
from .meta import META_FILE, META_FORMAT, read_meta
from .programs import WRITERS
from .readme import readme

# Format name -> file written. safetensors is always written: it is what ``load`` reads.
FILES = {
    "safetensors": "model.safetensors",
    "export": "model.pt2",
    "torchscript": "model.torchscript.pt",
    "onnx": "model.onnx",
}
FORMATS = tuple(FILES)
# Every name an export folder can hold: what --force may replace without losing anything of the user's.
EXPORT_NAMES = frozenset({*FILES.values(), "arch.txt", META_FILE, "README.md"})
# TorchScript is deprecated in recent torch (torch.jit.* warns "Please switch to torch.compile
# or torch.export"); it still works in torch 2.14, so it is offered, but not by default.
DEFAULT_FORMATS = ("safetensors", "export", "onnx")
# Agreement of every program with the PyTorch model: max |difference| / max(1, max |output|).
# float32 convolutions reassociated by folding and by other kernels differ by ~1e-6 relative.
RTOL = 1e-4


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
    export (a valid ``meta.json`` and only the files an export writes). Anything else is refused
    (ConfigError) before any work is done: a user's folder is never replaced, even with ``force``."""
    out = Path(out_dir)
    if out.is_symlink():  # replacing it would swap the link for a folder, and the linked folder stays
        raise ConfigError(f"{out} is a symbolic link; refusing to replace it, choose another --out")
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
    foreign = sorted(p.name for p in out.iterdir() if p.name not in EXPORT_NAMES or not _plain_file(p))
    if foreign:
        raise ConfigError(f"{out} holds more than an earlier export ({', '.join(foreign[:3])}"
                          f"{', ...' if len(foreign) > 3 else ''}); refusing to replace it even with --force")
    return out


def _plain_file(p: Path) -> bool:
    return p.is_file() and not p.is_symlink()


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
    with staged_folder(out_dir) as tmp:
        files, checks, fold, full = _write_folder(cpu, arch, tmp, meta, formats, x, input_shape, num_classes)
        # Again just before the rename: the target may have appeared or changed while the
        # programs were written (minutes for a large model); an error here discards the staging.
        check_target(out_dir, force=force)
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
    with torch.no_grad():
        checks: dict[str, dict[str, Any]] = {"bn_folded": check(folded(check_x))}
    extra: dict[str, Any] = {}
    for fmt, write in WRITERS.items():
        if fmt in formats:
            out, info = write(folded, x, out_dir / FILES[fmt], check_x)
            checks[fmt] = check(out)
            files[fmt] = FILES[fmt]
            if info is not None:
                extra[fmt] = info
    full = _meta(arch, input_shape, num_classes, meta, files, fold, checks, extra)
    atomic_write(out_dir / "arch.txt", arch + "\n")
    atomic_write(out_dir / "README.md", readme(full))
    atomic_write(out_dir / "meta.json", json.dumps(full, indent=2, allow_nan=False) + "\n")  # last: marks done
    return files, checks, fold, full


def _meta(arch, input_shape, num_classes, meta, files, fold: FoldReport, checks, extra) -> dict[str, Any]:
    """meta.json: the caller's metadata plus shapes, size, formats, folding, checks, versions."""
    if "params" not in meta or "macs" not in meta:
        s = summarize(arch, input_shape, num_classes)
        meta.setdefault("params", s.params)
        meta.setdefault("macs", s.macs)
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
        "nas_version": __version__,
        "torch_version": torch.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return _jsonable(full)


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
    atomic_write(path, save(state, metadata={"format": META_FORMAT, "arch": arch}))


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
