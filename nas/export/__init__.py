"""Exported models: one self-contained folder each, loadable without this package (torch.export,
ONNX) or rebuilt with it (``load``, from safetensors; no unpickling).

>>> from nas.export import export_model, load
>>> result = export_model(model, arch, "out/rank1", meta, example_input=x)   # doctest: +SKIP
>>> load("out/rank1")(x).shape                                               # doctest: +SKIP
"""
from .fold import FoldReport, fold_batchnorm
from .folder import (
    DEFAULT_FORMATS,
    FILES,
    FORMATS,
    META_FORMAT,
    NEEDS,
    RTOL,
    ExportResult,
    check_formats,
    check_target,
    export_model,
    read_meta,
)
from .load import load
from .programs import ONNX_INPUT, ONNX_OUTPUT

__all__ = ["DEFAULT_FORMATS", "FILES", "FORMATS", "META_FORMAT", "NEEDS", "ONNX_INPUT", "ONNX_OUTPUT", "RTOL",
           "ExportResult", "FoldReport", "check_formats", "check_target", "export_model", "fold_batchnorm", "load",
           "read_meta"]
