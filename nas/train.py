"""The one trainer, used for search trials and for final training alike.

``train(model, splits, config)`` runs SGD with momentum over in-memory tensors and returns a
:class:`TrainResult`; it never raises for a diverging or crashing model (NaN/inf loss,
shape errors, CUDA out-of-memory): those end the trial with ``status="failed"`` and a one-line
``reason``, so a search keeps going. Bad configuration raises :class:`ConfigError`;
``KeyboardInterrupt`` always propagates.

Design, one code path for CPU and CUDA:

* The dataset is moved to ``device`` once (resident); each epoch draws a seeded ``randperm``
  on the device and slices batches from it. No DataLoader, no worker processes, no per-step
  host transfers.
* Augmentation is batched on the device (:func:`random_crop_flip`).
* On CUDA the model and the inputs use channels_last and the forward runs under bf16
  autocast (no GradScaler needed for bf16). Loss and accuracy are accumulated on the device
  and read with one ``.item()`` per epoch; a non-finite loss is recorded on the device (the
  first bad step and its value) and noticed at the end of the epoch. On CPU, where ``.item()``
  is not a device sync, it is checked every step so a divergence stops at once.
* Seeds make CPU runs reproducible: the global RNG (dropout, ...) is forked and seeded for the
  duration of ``train`` and restored after; shuffling and augmentation use a dedicated
  generator. ``threads`` sets ``torch.set_num_threads`` for the run and restores it after;
  ``None`` leaves torch's own setting, which follows ``OMP_NUM_THREADS`` (Ray Tune sets it to
  the trial's CPU count).
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .data import Splits
from .errors import ConfigError
from .registry import Registry, suggest
from .reward import typed_from_dict

SCHEDULES = ("cosine", "step", "plateau", "none")
AUGMENTS = ("auto", "none", "crop", "flip-crop")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run. The defaults are the ``"default"`` preset.

    Example::

        TrainConfig(epochs=5)                                  # a search trial
        TrainConfig.from_dict({"epochs": 5, "lr": 0.1})        # type-checked, errors name the key
        preset("resnet-lecture")                               # He et al. 2015 recipe
    """

    epochs: int = 10
    batch_size: int = 128  # our choice; 10 steps per epoch on digits
    lr: float = 0.05  # peak learning rate (after warmup); our choice for short digits trials
    momentum: float = 0.9
    # Nesterov momentum, as for the child networks of Zoph & Le 2017 (Sec. 4.1).
    nesterov: bool = True
    weight_decay: float = 5e-4
    # True: weight decay on every parameter, as in He et al. 2015 and torchvision's reference
    # recipes by default. False: none on 1-d parameters (norm scales/shifts, biases), timm style.
    decay_norm_bias: bool = True
    # "cosine": half-cosine from lr to 0 over the post-warmup steps (Loshchilov & Hutter 2017,
    # SGDR, without restarts); "step": lr * gamma at each epoch in milestones (MultiStepLR);
    # "plateau": lr * gamma after the validation error stalled for plateau_patience epochs
    # (ReduceLROnPlateau, mode "min", rel threshold 1e-4); "none": constant.
    schedule: str = "cosine"
    milestones: tuple[int, ...] = ()  # 0-based epochs at which "step" multiplies lr by gamma
    gamma: float = 0.1  # the factor of "step" and "plateau"
    plateau_patience: int = 3  # epochs without improvement before "plateau" decays
    warmup_epochs: int = 0  # linear warmup from lr/steps to lr, per step (Goyal et al. 2017)
    label_smoothing: float = 0.0  # Szegedy et al. 2016 Sec. 7; 0.1 is their value
    # "auto": the dataset's recommendation (splits.meta["augment"]): none for digits/MNIST,
    # flip-crop for CIFAR. "crop": random crop of the zero-padded image; "flip-crop": plus a
    # horizontal flip with probability 1/2 (He et al. 2015 Sec. 4.2).
    augment: str = "auto"
    crop_padding: int = 4  # He et al. 2015 Sec. 4.2 pad 4 pixels on each side for 32x32
    seed: int = 0
    device: str = "auto"  # "auto" (cuda when available) | "cpu" | "cuda" | "cuda:N"
    threads: int | None = None  # torch CPU threads during the run; None leaves torch's setting
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    eval_batch_size: int = 1024
    max_seconds: float | None = None  # wall-clock budget; training stops (not fails) past it

    def __post_init__(self):
        def bad(key: str, expected: str) -> ConfigError:
            return ConfigError(f"TrainConfig key {key!r} must be {expected}, got {getattr(self, key)!r}")

        for key in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, key) < 1:
                raise bad(key, ">= 1")
        for key in ("plateau_patience", "warmup_epochs", "crop_padding", "seed"):
            if getattr(self, key) < 0:
                raise bad(key, ">= 0")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise bad("lr", "a positive number")
        if not 0 <= self.momentum < 1:
            raise bad("momentum", "in [0, 1)")
        if self.nesterov and self.momentum == 0:
            raise ConfigError("TrainConfig key 'nesterov' needs momentum > 0")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise bad("weight_decay", ">= 0")
        if not 0 < self.gamma <= 1:
            raise bad("gamma", "in (0, 1]")
        if not 0 <= self.label_smoothing < 1:
            raise bad("label_smoothing", "in [0, 1)")
        if self.schedule not in SCHEDULES:
            hint = suggest(self.schedule, SCHEDULES)
            raise ConfigError(f"TrainConfig key 'schedule' is {self.schedule!r}{hint}")
        if self.schedule == "step" and not self.milestones:
            raise ConfigError("TrainConfig key 'milestones' is required with schedule='step'")
        if any(m < 1 for m in self.milestones) or list(self.milestones) != sorted(set(self.milestones)):
            raise bad("milestones", "strictly increasing positive epochs")
        if self.warmup_epochs >= self.epochs and self.warmup_epochs > 0:
            raise bad("warmup_epochs", f"< epochs ({self.epochs})")
        if self.augment not in AUGMENTS:
            hint = suggest(self.augment, AUGMENTS)
            raise ConfigError(f"TrainConfig key 'augment' is {self.augment!r}{hint}")
        if not (self.device in ("auto", "cpu", "cuda") or _is_cuda_index(self.device)):
            raise bad("device", "'auto', 'cpu', 'cuda' or 'cuda:N'")
        if self.threads is not None and self.threads < 1:
            raise bad("threads", ">= 1 or null")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise bad("max_seconds", "> 0 or null")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base: "TrainConfig | None" = None) -> "TrainConfig":
        """Overrides on top of ``base`` (default: the defaults), type-checked against them.

        >>> TrainConfig.from_dict({"epochs": 3, "milestones": [2]}).milestones
        (2,)
        """
        return typed_from_dict(cls, data, base=base)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        return d


def _is_cuda_index(device: str) -> bool:
    head, _, index = device.partition(":")
    return head == "cuda" and index.isdigit()


PRESETS: Registry[TrainConfig] = Registry("train preset", ConfigError)
# Search trials: short, cosine-annealed SGD that ranks architectures cheaply on digits.
PRESETS.register("default", TrainConfig())
# The lecture's ResNet recipe, He et al. 2015 ("Deep Residual Learning for Image Recognition")
# Sec. 3.4: SGD, mini-batch 256, lr 0.1 "divided by 10 when the error plateaus", weight decay
# 1e-4, momentum 0.9 (plain momentum: the paper does not use Nesterov). The paper gives no
# epoch count or patience for the plateau rule; 90 epochs is torchvision's reference ResNet
# schedule and patience 5 is our choice. augment="auto" gives CIFAR the Sec. 4.2 flip-crop.
PRESETS.register(
    "resnet-lecture",
    TrainConfig(
        epochs=90,
        batch_size=256,
        lr=0.1,
        momentum=0.9,
        nesterov=False,
        weight_decay=1e-4,
        schedule="plateau",
        gamma=0.1,
        plateau_patience=5,
    ),
)


# Family recipes for the baselines (nas.baselines.preset_for): the papers' optimizer settings
# (lr, momentum / Nesterov, weight decay) on our short schedule (10 epochs, cosine, batch 128),
# so a hand-designed network trains as its authors set it up, at a digits-sized budget. The
# papers' batch sizes and epoch counts are for ImageNet/CIFAR and are not taken. Where the
# paper's setting does not train on digits, the comment says what was measured and why.
_SHORT = dict(epochs=10, batch_size=128, schedule="cosine", momentum=0.9)
# He et al. 2015 Sec. 3.4: lr 0.1, weight decay 1e-4, momentum 0.9 (no Nesterov). For the
# networks with a 512-feature classifier (ResNet-18/34).
PRESETS.register("resnet", TrainConfig(**_SHORT, lr=0.1, nesterov=False, weight_decay=1e-4))
# The same, started as He et al. 2015 Sec. 4.2 start their deepest CIFAR-10 network: "0.1 is
# slightly too large to start converging", so lr 0.01 for the first ~400 iterations, more
# than our whole run (80 on digits). Needed by the networks with a 2048-feature classifier
# (ResNet-50 and deeper, ResNeXt-50 = Xie et al. 2017 Sec. 4, the same recipe): with 10
# classes instead of ImageNet's 1000, each class row of the classifier gets ~100x the
# gradient, and at lr 0.1 ResNeXt-50's logits went from rms 0.9 to 450 within 9 steps
# (epoch-1 loss 18.6, 18% val accuracy after 10 epochs; 64% at lr 0.05); at 0.01, 93%
# (ResNet-50: 94%).
PRESETS.register("resnet-deep", TrainConfig(**_SHORT, lr=0.01, nesterov=False, weight_decay=1e-4))
# Zagoruyko & Komodakis 2016, experimental results ("in all our experiments"): SGD with
# Nesterov momentum 0.9, dampening 0, weight decay 5e-4, mini-batch 128, lr 0.1. WRN-50-2 has
# the 2048-feature classifier above and diverges the same way at lr 0.1 (epoch-1 loss 19.6,
# 14% val accuracy), so it starts at 0.01 as "resnet-deep" does (93%).
PRESETS.register("wide-resnet", TrainConfig(**_SHORT, lr=0.01, nesterov=True, weight_decay=5e-4))
# Simonyan & Zisserman 2014 Sec. 3.1: lr 1e-2, momentum 0.9, weight decay 5e-4 (batch 256).
# Plus one epoch of linear warmup (Goyal et al. 2017 Sec. 2.2): the paper started its deep
# configurations from a trained net A to get past the early instability of a plain deep net,
# which we cannot; measured on digits, VGG-11 without BN reaches 44% val accuracy without it
# (epoch-1 loss 6.5) and 90% with it.
PRESETS.register("vgg", TrainConfig(**_SHORT, lr=0.01, nesterov=False, weight_decay=5e-4, warmup_epochs=1))
# Huang et al. 2017 Sec. 4.2: lr 0.1, weight decay 1e-4, "Nesterov momentum of 0.9 without
# dampening".
PRESETS.register("densenet", TrainConfig(**_SHORT, lr=0.1, nesterov=True, weight_decay=1e-4))


def preset(name: str) -> TrainConfig:
    """A named TrainConfig; ``preset("resnet-lecture")``. Unknown names: ConfigError with a suggestion."""
    return PRESETS.get(name)


@dataclass(frozen=True)
class TrainResult:
    """Outcome of ``train``. Per-epoch tuples have one entry per completed (or budget-cut) epoch.

    ``val_acc`` is the last epoch's validation accuracy (None if no epoch finished);
    ``test_acc`` is set only with ``evaluate_test=True``. ``lrs`` holds each epoch's first-step
    learning rate. ``images_per_sec`` counts training images over training time (eval excluded).
    ``warnings`` holds advice about a run that did not learn (:func:`chance_warning`), at most one.
    """

    status: str  # "ok" | "failed"
    reason: str | None
    train_losses: tuple[float, ...]
    train_accs: tuple[float, ...]
    val_accs: tuple[float, ...]
    val_losses: tuple[float, ...]
    lrs: tuple[float, ...]
    epoch_seconds: tuple[float, ...]
    val_acc: float | None
    test_acc: float | None
    seconds: float
    images_per_sec: float
    stopped_early: bool
    device: str
    warnings: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


class StopTrial(Exception):
    """Raise from ``on_epoch`` (or return True) to stop training early; the result stays "ok"."""


class _Failed(Exception):
    """Internal: ends the run as failed with a one-line reason."""


class _CallbackError(Exception):
    """Internal: carries an exception raised by on_epoch past the trial-failure handler."""

    def __init__(self, original: Exception):
        super().__init__(str(original))
        self.original = original


# --------------------------------------------------------------------------------------------
# pure pieces: learning rate, plateau rule, augmentation


def lr_at(config: TrainConfig, epoch: int, step: int, steps_per_epoch: int, plateau_scale: float = 1.0) -> float:
    """Learning rate for 0-based ``epoch`` and ``step`` within it. Pure; tested by value.

    Linear warmup over the first ``warmup_epochs`` (per step), then the schedule. Cosine runs
    per step over the remaining epochs and reaches 0 only after the last step.
    """
    warmup_steps = config.warmup_epochs * steps_per_epoch
    t = epoch * steps_per_epoch + step
    if t < warmup_steps:
        return config.lr * (t + 1) / warmup_steps
    if config.schedule == "cosine":
        total = (config.epochs - config.warmup_epochs) * steps_per_epoch
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * (t - warmup_steps) / total))
    if config.schedule == "step":
        return config.lr * config.gamma ** sum(m <= epoch for m in config.milestones)
    if config.schedule == "plateau":
        return config.lr * plateau_scale
    return config.lr


@dataclass(frozen=True)
class Plateau:
    """State of the plateau rule: best metric so far, epochs since, current lr multiplier."""

    best: float = math.inf
    bad_epochs: int = 0
    scale: float = 1.0


def plateau_update(
    state: Plateau, metric: float, *, factor: float, patience: int, threshold: float = 1e-4
) -> Plateau:
    """One epoch of torch's ReduceLROnPlateau (mode "min", threshold_mode "rel", cooldown 0).

    A metric counts as better when below ``best * (1 - threshold)``; after more than
    ``patience`` epochs without that, the scale is multiplied by ``factor``.
    """
    if metric < state.best * (1.0 - threshold):
        return Plateau(metric, 0, state.scale)
    if state.bad_epochs + 1 > patience:
        return Plateau(state.best, 0, state.scale * factor)
    return Plateau(state.best, state.bad_epochs + 1, state.scale)


CHANCE_EPOCHS = 3  # consecutive epochs at chance level before train() warns
CHANCE_TOLERANCE = 0.02  # "at chance": training loss within 2% of ln(num_classes)
CHANCE_VAL_FACTOR = 1.5  # ... and validation accuracy below 1.5x a uniform guess's (1/K)


def chance_warning(
    train_losses, num_classes: int, val_accs=None, *, epochs: int = CHANCE_EPOCHS,
    tolerance: float = CHANCE_TOLERANCE,
) -> str | None:
    """A warning when the training loss stayed at chance level for ``epochs`` epochs in a row.

    Chance level is ln(num_classes), the cross-entropy of a uniform guess (the best any
    input-independent guess scores on balanced classes): an epoch's mean training loss at or above
    ``(1 - tolerance) * ln(K)`` has not beaten it. An epoch whose validation accuracy (when
    given and measured) already reaches ``CHANCE_VAL_FACTOR / K`` is learning, whatever its
    loss: a deep plain network's loss can hover near ln(K) for an epoch or two while its
    predictions already improve. The warning names the first such run of epochs (to its end)
    and what to try. Pure; None when there is nothing to say.

    >>> chance_warning([2.303, 2.302, 2.302], 10)[:60]
    'training loss stayed at chance level (ln(10) = 2.303, what a'
    >>> chance_warning([2.303, 1.9, 2.302, 2.301], 10) is None
    True
    >>> chance_warning([2.303, 2.302, 2.29], 10, [0.1, 0.24, 0.32]) is None
    True
    """
    if num_classes < 2:
        return None
    chance = math.log(num_classes)
    vals = list(val_accs or [])

    def learning(i: int) -> bool:
        return i < len(vals) and vals[i] == vals[i] and vals[i] >= CHANCE_VAL_FACTOR / num_classes

    at_chance = [loss >= (1.0 - tolerance) * chance and not learning(i) for i, loss in enumerate(train_losses)]
    n = len(at_chance)
    for first in range(n - epochs + 1):
        if all(at_chance[first:first + epochs]):  # the first such run: it starts a run of chance epochs
            last = first + epochs
            while last < n and at_chance[last]:
                last += 1
            then = "" if last == n else "; it learned only afterwards"
            return (f"training loss stayed at chance level (ln({num_classes}) = {chance:.3f}, what a uniform "
                    f"guess scores) for epochs {first + 1}-{last}{then}. Try a different (often lower) "
                    "learning rate (lr), another preset (--preset), or normalization layers (e.g. norm=bn in the "
                    "architecture string)")
    return None


def random_crop_flip(
    x: torch.Tensor,
    *,
    padding: int,
    flip: bool,
    fill: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Batched random crop (of the image padded by ``padding``) and optional horizontal flip.

    Runs on ``x``'s device with no Python loop over images: offsets are drawn per image and
    applied with two ``gather`` calls; the flip is folded into the column index (``where``
    on a random mask). ``fill`` is the per-channel padding value (for normalized data, the
    value of a black pixel); zeros by default. Same shape as ``x`` (N, C, H, W).
    """
    n, c, h, w = x.shape
    device = x.device
    p = padding
    if p > 0:
        fill_value = torch.zeros(c, device=device, dtype=x.dtype) if fill is None else fill.to(device, x.dtype)
        padded = fill_value.view(1, c, 1, 1).expand(n, c, h + 2 * p, w + 2 * p).clone()
        padded[:, :, p : p + h, p : p + w] = x
        dy = torch.randint(0, 2 * p + 1, (n,), device=device, generator=generator)
        dx = torch.randint(0, 2 * p + 1, (n,), device=device, generator=generator)
    else:
        padded = x
        dy = dx = torch.zeros(n, dtype=torch.long, device=device)
    cols = torch.arange(w, device=device).expand(n, w)
    if flip:
        mirror = torch.rand(n, device=device, generator=generator) < 0.5
        cols = torch.where(mirror[:, None], w - 1 - cols, cols)
    rows = dy[:, None] + torch.arange(h, device=device)  # (n, h)
    cols = dx[:, None] + cols  # (n, w)
    out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * p))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))


# --------------------------------------------------------------------------------------------
# evaluation


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> cuda when available, else cpu. Asking for CUDA without one is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"TrainConfig device {name!r} requested but CUDA is not available")
    return device


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024, amp: bool = True
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on ``(x, y)``, batched, in eval mode.

    Runs on the model's device; restores the model's train/eval mode. Empty data -> (nan, nan).
    """
    if len(y) == 0:
        return math.nan, math.nan
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    device = first.device if first is not None else x.device
    fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    try:
        with torch.inference_mode(), _autocast(device, amp):
            for start in range(0, len(y), batch_size):
                xb = x[start : start + batch_size].to(device, non_blocking=True).contiguous(memory_format=fmt)
                yb = y[start : start + batch_size].to(device, non_blocking=True)
                logits = model(xb).float()
                loss_sum += F.cross_entropy(logits, yb, reduction="sum")
                correct += (logits.argmax(1) == yb).sum()
    finally:
        model.train(was_training)
    n = len(y)
    return correct.item() / n, loss_sum.item() / n


def _autocast(device: torch.device, amp: bool):
    if device.type == "cuda" and amp:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --------------------------------------------------------------------------------------------
# training


def train(
    model: nn.Module,
    splits: Splits,
    config: TrainConfig | None = None,
    *,
    on_epoch: Callable[[int, dict[str, float]], bool | None] | None = None,
    evaluate_test: bool = False,
) -> TrainResult:
    """Train ``model`` in place on ``splits.train_*``, validating on ``splits.val_*`` each epoch.

    ``on_epoch(epoch, metrics)`` is called after each epoch (1-based) with ``train_loss``,
    ``train_acc``, ``val_acc``, ``val_loss``, ``lr``, ``epoch_seconds``, ``images_per_sec``;
    returning True or raising :class:`StopTrial` stops training (``stopped_early=True``).
    ``evaluate_test=True`` also measures ``test_acc`` (final training and export only, never
    in search). The model is left on the training device.

    >>> result = train(model, nas.data.load("digits"), TrainConfig(epochs=3))  # doctest: +SKIP
    >>> result.status, result.val_acc  # doctest: +SKIP
    ('ok', 0.95)
    """
    config = config if config is not None else TrainConfig()
    device = resolve_device(config.device)
    augment = config.augment if config.augment != "auto" else splits.meta.get("augment", "none")
    if len(splits.train_y) == 0:
        raise ConfigError(f"dataset {splits.name!r} has an empty training split")
    if config.schedule == "plateau" and len(splits.val_y) == 0:
        raise ConfigError("TrainConfig schedule 'plateau' needs a validation split (val_fraction > 0)")
    threads_before = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    rng_devices = []
    if device.type == "cuda":
        rng_devices = [device.index if device.index is not None else torch.cuda.current_device()]
    try:
        with torch.random.fork_rng(devices=rng_devices, device_type=device.type):
            torch.manual_seed(config.seed)
            return _Run(model, splits, config, device, augment, on_epoch, evaluate_test).run()
    finally:
        torch.set_num_threads(threads_before)


class _Run:
    """One call of ``train``: the state of the loop, so each step stays readable."""

    def __init__(self, model, splits, config, device, augment, on_epoch, evaluate_test):
        self.model, self.splits, self.config, self.device = model, splits, config, device
        self.augment, self.on_epoch, self.evaluate_test = augment, on_epoch, evaluate_test
        self.fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(config.seed)
        keys = ("train_losses", "train_accs", "val_accs", "val_losses", "lrs", "epoch_seconds")
        self.history: dict[str, list[float]] = {k: [] for k in keys}
        self.train_seconds = 0.0
        self.images = 0
        self.where = "setup"

    def run(self) -> TrainResult:
        start = time.perf_counter()
        status, reason, stopped, test_acc = "ok", None, False, None
        try:
            stopped, reason = self._loop(start)
            if self.evaluate_test:
                self.where = "test evaluation"
                test_acc, _ = evaluate(
                    self.model, self.test_x, self.splits.test_y,
                    batch_size=self.config.eval_batch_size, amp=self.config.amp,
                )
        except _Failed as exc:
            status, reason = "failed", str(exc)
        except (RuntimeError, ValueError) as exc:
            # Shape mismatches, CUDA out-of-memory (a RuntimeError), BatchNorm on a 1-sample
            # batch (a ValueError): the architecture's problem, not the search's.
            status, reason = "failed", f"{type(exc).__name__} at {self.where}: {_one_line(exc)}"
        except _CallbackError as exc:
            raise exc.original  # on_epoch's own errors are the caller's, not a failed trial
        finally:
            self.test_x = None  # drop the resident copy before the caller builds the next model
        if status == "failed" and self.device.type == "cuda":
            torch.cuda.empty_cache()
        h = self.history
        warning = chance_warning(h["train_losses"], self.splits.num_classes, h["val_accs"])
        return TrainResult(
            status=status,
            reason=reason,
            **{k: tuple(v) for k, v in h.items()},
            val_acc=h["val_accs"][-1] if h["val_accs"] else None,
            test_acc=test_acc,
            seconds=time.perf_counter() - start,
            images_per_sec=self.images / self.train_seconds if self.train_seconds > 0 else 0.0,
            stopped_early=stopped,
            device=str(self.device),
            warnings=(warning,) if warning else (),
        )

    def _loop(self, start: float) -> tuple[bool, str | None]:
        config, device, splits = self.config, self.device, self.splits
        model = self.model.to(device)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise _Failed("model has no trainable parameters")
        optimizer = torch.optim.SGD(
            _param_groups(model, config.weight_decay, config.decay_norm_bias),
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov,
        )
        criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        # Resident copies (no copy at all when device is cpu).
        x = splits.train_x.to(device, non_blocking=True).contiguous(memory_format=self.fmt)
        y = splits.train_y.to(device, non_blocking=True)
        val_x = splits.val_x.to(device, non_blocking=True)
        self.test_x = splits.test_x if not self.evaluate_test else splits.test_x.to(device, non_blocking=True)
        fill = _black_pixel(splits, device)
        n, bs = len(y), config.batch_size
        # Drop the last partial batch (when there is more than one batch): a 1-image batch
        # breaks BatchNorm, and the permutation changes every epoch so no image is lost for good.
        steps = max(1, n // bs)
        expected_logits = (splits.num_classes,)
        check_each_step = device.type == "cpu"  # .item() on CPU is not a device sync
        plateau = Plateau()

        for epoch in range(config.epochs):
            t_epoch = time.perf_counter()
            perm = torch.randperm(n, device=device, generator=self.generator)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            bad_step = torch.full((), -1, device=device, dtype=torch.long)
            bad_value = torch.zeros((), device=device)
            seen, out_of_time = 0, False
            first_lr = lr_at(config, epoch, 0, steps, plateau.scale)
            for step in range(steps):
                self.where = f"epoch {epoch + 1} step {step + 1}"
                lr = lr_at(config, epoch, step, steps, plateau.scale)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                idx = perm[step * bs : (step + 1) * bs]
                xb, yb = x[idx], y[idx]
                if self.augment != "none":
                    xb = random_crop_flip(
                        xb, padding=config.crop_padding, flip=self.augment == "flip-crop",
                        fill=fill, generator=self.generator,
                    )
                xb = xb.contiguous(memory_format=self.fmt)
                with _autocast(device, config.amp):
                    logits = model(xb)
                    if logits.shape[1:] != expected_logits or logits.shape[0] != len(yb):
                        raise _Failed(
                            f"model output has shape {tuple(logits.shape)}, "
                            f"expected ({len(yb)}, {splits.num_classes}) at {self.where}"
                        )
                    loss = criterion(logits.float(), yb)
                detached = loss.detach().float()
                newly_bad = torch.logical_and(~torch.isfinite(detached), bad_step < 0)
                bad_step = torch.where(newly_bad, step, bad_step)
                bad_value = torch.where(newly_bad, detached, bad_value)
                if check_each_step and bad_step.item() >= 0:
                    break
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += detached * len(yb)
                correct += (logits.detach().argmax(1) == yb).sum()
                seen += len(yb)
                last_step = epoch == config.epochs - 1 and step == steps - 1
                if config.max_seconds is not None and not last_step and time.perf_counter() - start > config.max_seconds:
                    out_of_time = True
                    break

            first_bad = int(bad_step.item())  # the one sync of the epoch
            if first_bad >= 0:
                value = _fmt_nonfinite(bad_value.item())
                raise _Failed(f"loss became {value} at epoch {epoch + 1} step {first_bad + 1}")
            train_loss, train_acc = loss_sum.item() / seen, correct.item() / seen
            train_seconds = time.perf_counter() - t_epoch
            self.train_seconds += train_seconds
            self.images += seen
            self.where = f"epoch {epoch + 1} validation"
            val_acc, val_loss = evaluate(
                model, val_x, splits.val_y, batch_size=config.eval_batch_size, amp=config.amp
            )
            if len(splits.val_y) and not math.isfinite(val_loss):
                raise _Failed(f"validation loss became {_fmt_nonfinite(val_loss)} at epoch {epoch + 1}")
            seconds = time.perf_counter() - t_epoch
            for key, value in zip(self.history, (train_loss, train_acc, val_acc, val_loss, first_lr, seconds)):
                self.history[key].append(value)
            if config.schedule == "plateau":
                # He et al. 2015: divide lr by 10 "when the error plateaus": the validation error.
                plateau = plateau_update(
                    plateau, 1.0 - val_acc, factor=config.gamma, patience=config.plateau_patience
                )
            if self.on_epoch is not None:
                metrics = {
                    "train_loss": train_loss,
                    "train_acc": train_acc,
                    "val_acc": val_acc,
                    "val_loss": val_loss,
                    "lr": first_lr,
                    "epoch_seconds": seconds,
                    "images_per_sec": seen / train_seconds if train_seconds > 0 else 0.0,
                }
                try:
                    stop = self.on_epoch(epoch + 1, metrics)
                except StopTrial as exc:
                    return True, f"stopped by on_epoch after epoch {epoch + 1}" + (f": {exc}" if str(exc) else "")
                except Exception as exc:
                    raise _CallbackError(exc) from exc
                if stop is True:
                    return True, f"stopped by on_epoch after epoch {epoch + 1}"
            if out_of_time:
                return True, f"time budget of {config.max_seconds:g} s reached in epoch {epoch + 1}"
        return False, None


def _param_groups(model: nn.Module, weight_decay: float, decay_norm_bias: bool) -> list[dict[str, Any]]:
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_norm_bias:
        return [{"params": params, "weight_decay": weight_decay}]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def _black_pixel(splits: Splits, device: torch.device) -> torch.Tensor | None:
    """Per-channel normalized value of pixel 0, so crop padding is black as in torchvision's RandomCrop."""
    mean, std = splits.meta.get("mean"), splits.meta.get("std")
    if mean is None or std is None:
        return None
    return (-torch.tensor(mean, dtype=torch.float32) / torch.tensor(std, dtype=torch.float32)).to(device)


def _fmt_nonfinite(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
