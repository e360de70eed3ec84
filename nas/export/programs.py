"""The program formats: each writer saves the (folded) model, loads the file back and runs it
on the check input, returning ``(output, metadata or None)`` so the caller can compare it
with the PyTorch model."""
from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch
from torch import nn

ONNX_INPUT, ONNX_OUTPUT = "input", "logits"


def write_export(model: nn.Module, x: torch.Tensor, path: Path, check_x: torch.Tensor):
    """A ``torch.export`` program with a dynamic batch; (its output on ``check_x``, no metadata)."""
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    with torch.no_grad():
        return torch.export.load(str(path)).module()(check_x), None


@contextlib.contextmanager
def _no_jit_deprecation():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated")
        yield


def write_torchscript(model: nn.Module, x: torch.Tensor, path: Path, check_x: torch.Tensor):
    """TorchScript by tracing; (its output on ``check_x``, no metadata)."""
    # Tracing, not scripting: torch.jit.script rejects Network's untyped list attributes
    # (``keep``, ``skips``: "failed to convert Python type: 'list'", torch 2.14);
    # the traced graph has no data-dependent control flow, and the batch size stays symbolic.
    with _no_jit_deprecation(), torch.no_grad():
        traced = torch.jit.trace(model, x)
        traced.save(str(path))
        return torch.jit.load(str(path))(check_x), None


def write_onnx(model: nn.Module, x: torch.Tensor, path: Path, check_x: torch.Tensor):
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


# Format -> its writer; the formats that are programs (safetensors is weights, written first).
WRITERS = {"export": write_export, "torchscript": write_torchscript, "onnx": write_onnx}
