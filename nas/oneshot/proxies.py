"""Zero-cost proxies: a score of an untrained network from one minibatch, higher predicting a
better trained accuracy, to rank candidates without training them (Mellor et al. 2021,
"Neural Architecture Search without Training", ICML; Abdelfattah et al. 2021, "Zero-Cost
Proxies for Lightweight NAS", ICLR).

    score = PROXIES.get("naswot")(model, x, y)            # any nn.Module and minibatch
    score = score_arch("synflow", "conv(16,3) basic(32) gap", splits)   # built and seeded here

Every proxy (:data:`PROXIES`, name -> ``(model, x, y) -> float``):

* runs on a deep copy of the model, as Abdelfattah et al.'s code does (``get_prunable_copy``):
  the caller's parameters, buffers (BN running statistics), train/eval mode and ``.grad``
  are left exactly as found, even when the proxy raises halfway;
* puts the copy in the mode its paper uses (train for naswot, grad_norm and snip: batch
  statistics, as at initialisation; eval for synflow) whatever mode the model was in, and
  runs under a fixed RNG seed, so a ``dropout`` layer cannot make it nondeterministic; the
  caller's RNG state is untouched;
* returns a plain float; a score that is not finite (NaN, an overflow, ``log 0``) becomes
  ``-inf``: "nothing measurable", which still ranks (last, all such networks tied) and which
  a caller can test for with ``math.isinf``.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import math
import re
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..lang import parse
from ..nn import build
from ..registry import Registry
from ..train import resolve_device

Proxy = Callable[[nn.Module, torch.Tensor, torch.Tensor], float]

PROXIES: Registry[Proxy] = Registry("proxy", ConfigError)

# Candidates per proposal when a spec names none ("naswot" = "naswot:10"): the smallest
# sample size N that Mellor et al. 2021 report for their search (Sec. 5, N = 10).
DEFAULT_CANDIDATES = 10
_SPEC = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*(\S*)\s*)?")

# The layers whose weights the gradient proxies score: Abdelfattah et al.'s
# get_layer_metric_array takes the weight of every Conv2d and Linear; biases and the affine
# parameters of norms are not scored.
SCORED_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)

# Activation modules whose input's sign is the unit's binary code for naswot. A ReLU unit is
# on or off (Mellor et al. 2021, Sec. 3); the official code hooks every module with "ReLU" in
# its type name (ReLU6 included) and codes ``input > 0``. GELU and SiLU are smooth rectifiers
# with the same "on" side. Tanh and sigmoid are not rectifiers and are not coded: a network
# with none of these has no codes, a zero kernel and the score -inf.
CODED_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU)


def proxy(name: str):
    """Register ``measure(scratch_model, x, y) -> float`` as proxy ``name``, wrapped by
    :func:`isolated`; the decorated name is the wrapped, registered function."""

    def register(measure: Callable[[nn.Module, torch.Tensor, torch.Tensor], float]) -> Proxy:
        return PROXIES.register(name, isolated(measure))

    return register


def isolated(measure: Callable[[nn.Module, torch.Tensor, torch.Tensor], float]) -> Proxy:
    """``measure`` as a proxy: run on a deep copy of the model (gradients cleared, every
    parameter trainable: a proxy measures the architecture), on the model's device, under
    seed 0 with the caller's RNG state restored after, gradients enabled even inside a
    caller's ``no_grad``; a score that is not finite becomes -inf.

    >>> isolated(lambda model, x, y: float("nan"))(nn.Linear(2, 2), torch.ones(1, 2), torch.zeros(1))
    -inf
    """

    @functools.wraps(measure)
    def run(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        scratch = copy.deepcopy(model)
        for p in scratch.parameters():
            p.grad = None
            p.requires_grad_(True)
        device = _device_of(scratch, x)
        cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda), torch.enable_grad():
            torch.manual_seed(0)
            score = float(measure(scratch, x.to(device), y.to(device)))
        return score if math.isfinite(score) else -math.inf

    return run


# ------------------------------------------------------------------------------- the math

def code_kernel(codes: torch.Tensor) -> torch.Tensor:
    """The naswot kernel of one layer's binary codes ``(N, units)``: entry (i, j) is the
    number of units on which inputs i and j agree, N_A - hamming(c_i, c_j) (Mellor et al.
    2021, Sec. 3), computed as ``c c^T + (1 - c)(1 - c)^T`` like the official code. Summed over
    layers it is the kernel of the whole network. float64: counts stay exact.

    >>> code_kernel(torch.tensor([[1., 0., 1.], [1., 1., 0.]])).tolist()
    [[3.0, 1.0], [1.0, 3.0]]
    """
    c = codes.to(torch.float64)
    return c @ c.T + (1 - c) @ (1 - c).T


def log_abs_det(kernel: torch.Tensor) -> float:
    """``log |det K|`` by ``slogdet`` (the naswot score, Mellor et al. 2021, Sec. 3): the
    determinant itself of a 64 x 64 kernel with entries in the thousands overflows float64.
    A singular kernel (two inputs with one code) is ``-inf``.

    >>> log_abs_det(torch.tensor([[2., 0.], [0., 3.]])) == math.log(6)
    True
    """
    return float(torch.linalg.slogdet(kernel.to(torch.float64).cpu()).logabsdet)


def prunable_weights(model: nn.Module) -> list[nn.Parameter]:
    """The weights the gradient proxies sum over: those of ``SCORED_LAYERS``, in module order."""
    return [m.weight for m in model.modules() if isinstance(m, SCORED_LAYERS) and m.weight is not None]


# ---------------------------------------------------------------------------- the proxies

@proxy("naswot")
def naswot(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mellor et al. 2021: how differently the network's rectifiers split one minibatch.
    Every coded activation's input becomes a binary code per image (1 where the
    pre-activation is > 0), the kernel ``K = sum over layers of N_A - hamming`` is summed
    over all of them, and the score is ``log |det K|``: high when the images fall into
    distinct linear regions. The batch labels are not used.

    >>> naswot(build("conv(8,3) gap", (1, 8, 8), 10), torch.randn(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)) > 0
    True
    """
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)

    def count(module, args):
        # A pre-hook sees the input before the activation runs (the official code reads the
        # input in a forward hook; the same tensor, as our activations are never in-place).
        nonlocal kernel
        kernel = kernel + code_kernel(args[0].detach().flatten(1) > 0)

    hooks = [m.register_forward_pre_hook(count) for m in model.modules() if isinstance(m, CODED_ACTIVATIONS)]
    try:
        with torch.no_grad():
            model.train()(x)  # batch statistics, as at initialisation in the official code
    finally:
        for h in hooks:
            h.remove()
    return log_abs_det(kernel)


@proxy("synflow")
def synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """log of SynFlow (Tanaka et al. 2020, NeurIPS; as a NAS proxy by Abdelfattah et al.
    2021): every parameter and buffer made non-negative, an input of ones of the data's
    shape (batch of one), R = sum of the output, score = sum over the weights of
    ``|theta * dR/dtheta|``. Data-free: ``x`` gives only the shape, ``y`` is unused.

    Eval mode: BN uses its (non-negative) running statistics, not the statistics of a batch
    of one (Tanaka et al.'s prune loop scores in eval mode by default; Abdelfattah et al.
    drop BN altogether), and dropout is off. float64, as Abdelfattah et al.'s code does: R
    is a product over the layers and overflows float32 in deep networks. The log (monotone:
    the ranking is unchanged) turns raw scores that span tens of orders of magnitude across
    a space (about e^3 to e^45 on digits) into numbers usable as a reward or a plotted axis;
    a bias-free ReLU chain of L layers scores exactly ``log(L * R)`` (Euler's theorem on its
    L-homogeneous R). Past float64's range (~1e308) the score is -inf, like any non-finite one.
    """
    model.eval().double()
    with torch.no_grad():
        for t in itertools.chain(model.parameters(), model.buffers()):
            if t.is_floating_point():
                t.abs_()
    weights = prunable_weights(model)
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
    flow = model(ones).sum()
    grads = torch.autograd.grad(flow, weights, allow_unused=True)
    total = sum(float((w.detach() * g).abs().sum()) for w, g in zip(weights, grads) if g is not None)
    return math.log(total) if total > 0 else -math.inf


def _loss_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """(weights, dL/dweights) of the mean cross-entropy on the minibatch, in train mode (batch
    statistics, as a network at initialisation is trained); an unused weight's gradient is None."""
    weights = prunable_weights(model)
    loss = F.cross_entropy(model.train()(x), y)
    return weights, torch.autograd.grad(loss, weights, allow_unused=True)


@proxy("grad_norm")
def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over the weights (per layer) of the L2 norm of the loss gradient on the
    minibatch (Abdelfattah et al. 2021, "grad_norm")."""
    weights, grads = _loss_gradients(model, x, y)
    return sum(float(g.double().norm()) for g in grads if g is not None)


@proxy("snip")
def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """SNIP connection sensitivity (Lee et al. 2019, ICLR; without the paper's
    normalisation, which would make every network sum to 1) summed over the weights:
    ``sum |theta * dL/dtheta|`` on the minibatch (Abdelfattah et al. 2021; their code takes
    dL/dmask at mask = 1, which is the same number)."""
    weights, grads = _loss_gradients(model, x, y)
    return sum(float((w.detach().double() * g.double()).abs().sum()) for w, g in zip(weights, grads) if g is not None)


# ----------------------------------------------------------------- scoring an architecture

def arch_seed(arch: str, seed: int = 0) -> int:
    """The initialisation seed of ``arch`` under run seed ``seed``: the first 63 bits of
    sha256("seed:arch"), so the same architecture always gets the same weights (a proxy is
    then a deterministic function of the string) and different ones independent weights.

    >>> arch_seed("conv(8,3) gap") == arch_seed("conv(8,3) gap") != arch_seed("conv(8,3) gap", 1)
    True
    """
    digest = hashlib.sha256(f"{seed}:{arch}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def minibatch(splits, batch_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``batch_size`` training images of a permutation fixed by ``seed`` (numpy's
    PCG64): one batch shared by every architecture scored with that seed."""
    n = len(splits.train_y)
    idx = torch.from_numpy(np.random.default_rng(seed).permutation(n)[:batch_size])
    return splits.train_x[idx], splits.train_y[idx]


def score_arch(name: str, arch: str, splits, *, batch_size: int = 64, seed: int = 0, device="cpu") -> float:
    """Proxy ``name`` of architecture ``arch``, built for ``splits`` (a
    :class:`nas.train.data.Splits`) with the weights of :func:`arch_seed` of its canonical
    form, on the :func:`minibatch` of ``batch_size`` training images drawn by ``seed``.

    >>> from nas.train import data
    >>> splits = data.load("digits", None, val_fraction=0.2, seed=0)
    >>> score_arch("naswot", "conv(8,3) gap", splits) == score_arch("naswot", "conv(8, 3)  gap", splits)
    True
    """
    measure = PROXIES.get(name)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ConfigError(f"batch_size must be a whole number of at least 2, got {batch_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a whole number of 0 or more, got {seed!r}")
    text = str(parse(arch))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(arch_seed(text, seed))
        model = build(text, splits.input_shape, splits.num_classes)
    where = resolve_device(str(device))
    x, y = minibatch(splits, batch_size, seed)
    return measure(model.to(where), x.to(where), y.to(where))


def parse_proxy_spec(text: str, *, default_k: int = DEFAULT_CANDIDATES) -> tuple[str, int]:
    """``"naswot:20"`` -> ``("naswot", 20)``: a proxy and K, the candidates it ranks per
    proposal (``default_k`` when the spec gives none). One ConfigError line otherwise.

    >>> parse_proxy_spec("synflow:5"), parse_proxy_spec("naswot")
    (('synflow', 5), ('naswot', 10))
    """
    shown = text if len(str(text)) <= 40 else str(text)[:37] + "..."
    m = _SPEC.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ConfigError(f"a proxy spec is NAME or NAME:K (e.g. naswot:20), got {shown!r}")
    name, k = m.group(1), m.group(2)
    PROXIES.get(name)  # unknown: ConfigError with a did-you-mean
    if k is None:
        return name, default_k
    if not re.fullmatch(r"\d{1,9}", k) or int(k) < 1:
        raise ConfigError(f"K in proxy spec {shown!r} must be a whole number of at least 1 (candidates per proposal)")
    return name, int(k)


def _device_of(model: nn.Module, x: torch.Tensor) -> torch.device:
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else x.device
