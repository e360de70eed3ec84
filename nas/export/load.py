"""Loading an export folder back into a network: ``load`` (no unpickling: the architecture
is parsed by the grammar and the weights read by safetensors).

The folder is untrusted input: every file is read only if it is a regular file inside the folder
within a size bound (``files``), ``meta.json`` is checked field by field (``meta``), and the
weights' header is checked against the architecture before any tensor is made (``weights``).
Whatever is wrong ends in one ExportError (a NasError) naming the file.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .._util import first_line
from ..errors import ExportError, NasError
from ..lang import parse
from ..nn import Network, build
from .folder import FILES
from .meta import read_arch, read_meta
from .weights import expected_tensors, read_weights


def load(path: str | Path, *, device: str | torch.device = "cpu") -> Network:
    """Rebuild an exported model from ``arch.txt`` + ``meta.json`` and ``model.safetensors``.

    Nothing is unpickled: the architecture is parsed by the grammar and the weights are read
    by safetensors. The model is returned in eval mode (batch norm not folded; see
    :func:`fold_batchnorm`). Inputs are normalized as ``meta.json``'s ``normalization`` says.
    A folder that is not a complete, consistent export raises ExportError (a NasError).

    >>> model = load("runs/digits-reinforce/export/rank1")  # doctest: +SKIP
    >>> model(torch.zeros(1, 1, 8, 8)).shape  # doctest: +SKIP
    torch.Size([1, 10])
    """
    folder = Path(path)
    meta = read_meta(folder)
    arch = _untrusted(lambda: str(parse(read_arch(folder))), folder / "arch.txt", "cannot be parsed")
    if arch != meta["arch"]:
        raise ExportError(f"{folder}: arch.txt and meta.json describe different architectures")
    model = _untrusted(lambda: _skeleton(arch, meta), folder / "meta.json", "cannot be built")
    weights = folder / FILES["safetensors"]
    state = read_weights(folder, FILES["safetensors"], expected_tensors(model), arch)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:  # the header was checked, so this would be a torch-side surprise
        raise ExportError(f"{weights}: the weights do not fit {arch!r} ({first_line(e)})") from None
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise ExportError(f"{weights}: no values for {', '.join(left[:3])}")
    return model.to(device).eval()


def _skeleton(arch: str, meta: dict) -> Network:
    """The network on the meta device: every shape, no storage and no random init (every
    tensor then comes from the file)."""
    with torch.device("meta"):
        return build(arch, tuple(meta["input_shape"]), meta["num_classes"])


def _untrusted(step, where: Path, what: str):
    """``step()``, which parses or builds text from the folder: its NasError (an ArchError, say)
    is re-raised naming the file, and so is anything else it raises, since hostile text must
    end in a NasError, not a traceback."""
    try:
        return step()
    except ExportError:
        raise
    except NasError as e:
        raise ExportError(f"{where}: {first_line(e)}") from None
    except Exception as e:  # noqa: BLE001  (RecursionError, ValueError... from the parser or builder)
        raise ExportError(f"{where}: {what} ({e.__class__.__name__}: {first_line(e, 120)})") from None
