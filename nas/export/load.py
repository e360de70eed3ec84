"""Loading an export folder back into a network: ``load`` (no unpickling: the architecture
is parsed by the grammar and the weights read by safetensors)."""
from __future__ import annotations

from pathlib import Path

import torch

from .._util import first_line
from ..errors import NasError
from ..lang import parse
from ..nn import Network, build
from .folder import FILES, read_meta


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
        raise NasError(f"{weights}: the weights do not fit {arch!r} ({first_line(e)})") from None
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise NasError(f"{weights}: no values for {', '.join(left[:3])}")
    return model.eval()
