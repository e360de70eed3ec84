"""The README written into every export folder: what the model is and how to load each file."""
from __future__ import annotations

from typing import Any

from .programs import ONNX_INPUT, ONNX_OUTPUT

# Format -> (section title, how to load it); {file} is the file's name.
_LOADING = {
    "export": ("torch.export program (plain torch)", [
        "import torch",
        'program = torch.export.load("{file}")',
        "logits = program.module()(x)",
    ]),
    "onnx": ("ONNX (onnxruntime)", [
        "import onnxruntime as ort",
        'session = ort.InferenceSession("{file}", providers=["CPUExecutionProvider"])',
        f'logits = session.run(["{ONNX_OUTPUT}"], {{{{"{ONNX_INPUT}": x.numpy()}}}})[0]',
    ]),
    "torchscript": ("TorchScript (plain torch; TorchScript is deprecated upstream)", [
        "import torch",
        'module = torch.jit.load("{file}")',
        "logits = module(x)",
    ]),
    "safetensors": ("weights (safetensors), rebuilt with nas", [
        "import nas.export",
        'model = nas.export.load(".")  # this folder: arch.txt + meta.json + model.safetensors, no pickle',
        "logits = model(x)",
        "",
        "from safetensors.torch import load_file  # or just the tensors, by name",
        'state = load_file("{file}")',
    ]),
}


def readme(meta: dict[str, Any]) -> str:
    """The README.md of an export folder, from its meta.json."""
    shape = ", ".join(str(d) for d in meta["input_shape"])
    lines = _about(meta, shape) + [
        f"x below is a float32 tensor (or numpy array) of shape `(batch, {shape})`; any batch size works.", ""]
    files = meta["files"]
    for fmt in ("export", "onnx", "torchscript", "safetensors"):  # the programs first, the weights last
        if fmt in files:
            title, code = _LOADING[fmt]
            lines += [f"## `{files[fmt]}`: {title}", "", "```python",
                      *(line.format(file=files[fmt]) for line in code), "```", ""]
    return "\n".join(lines)


def _about(meta: dict[str, Any], shape: str) -> list[str]:
    """Architecture, input and output, accuracy and size, preprocessing, batch-norm folding."""
    acc = [f"{key.replace('_acc', '')} accuracy {meta[key]:.4f}" for key in ("val_acc", "test_acc")
           if isinstance(meta.get(key), (int, float))]
    lines = [
        "# Exported model", "", f"Architecture: `{meta['arch']}`", "",
        f"Input: float32 `(batch, {shape})`; output: `(batch, {meta['num_classes']})` logits."
        + (f" Dataset `{meta['dataset']}`" if meta.get("dataset") else "")
        + (f", {', '.join(acc)}." if acc else "")
        + f" {meta['params']:,} parameters, {meta['macs']:,} MACs per image.",
        "",
    ]
    norm = meta.get("normalization") or {}
    if norm.get("mean") is not None:
        lines += [("Preprocess like training did: `x = (pixel / scale - mean[c]) / std[c]` per channel, with "
                  f"`scale = {norm.get('scale')}`, `mean = {norm['mean']}`, `std = {norm['std']}` "
                  "(also in `meta.json`)."), ""]
    folding = meta["bn_folding"]
    not_folded = folding["not_folded"]
    lines += [
        "The programs below run with batch norm folded into the preceding convolution "
        f"({len(folding['folded'])} conv -> BN pairs). Only conv -> BN pairs fold"
        + (f"; {len(not_folded)} norm layers stay as they are (pre-activation BN or per-sample norms, "
           "listed in `meta.json` under `bn_folding.not_folded`)." if not_folded else "."),
        ("`model.safetensors` keeps the unfolded weights. `meta.json` records how closely each program "
        "matched the PyTorch model (`checks`)."),
        "",
    ]
    return lines
