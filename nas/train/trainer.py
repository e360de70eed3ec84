"""The one trainer, for search trials and final training alike: ``train(model, splits,
config)`` runs SGD with momentum over in-memory tensors and returns a :class:`TrainResult`.
A diverging or crashing model (NaN loss, shape error, CUDA out-of-memory) ends with
``status="failed"`` and a one-line reason, never an exception; bad configuration raises
:class:`~nas.errors.ConfigError`. The design (resident data, one sync per epoch on CUDA,
seeding): docs/trainer.md.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .._util import first_line, torch_threads
from ..errors import ConfigError
from .augment import black_pixel, random_crop_flip
from .config import TrainConfig
from .data import Splits
from .schedule import Plateau, lr_at, plateau_update

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
        with torch.inference_mode(), autocast(device, amp):
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


def autocast(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when ``amp``; nothing on the CPU (no speed-up there)."""
    if device.type == "cuda" and amp:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


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

    >>> result = train(model, nas.train.data.load("digits"), TrainConfig(epochs=3))  # doctest: +SKIP
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
    rng_devices = []
    if device.type == "cuda":
        rng_devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch_threads(config.threads), torch.random.fork_rng(devices=rng_devices, device_type=device.type):
        torch.manual_seed(config.seed)
        return _TrainingLoop(model, splits, config, device, augment, on_epoch, evaluate_test).run()



@dataclass
class _Epoch:
    """What one pass over the training split measured."""

    loss: float
    acc: float
    seen: int
    seconds: float
    first_lr: float
    out_of_time: bool


class _TrainingLoop:
    """One call of ``train``: the loop's state, so that each step reads at a glance."""

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
        self.plateau = Plateau()

    def run(self) -> TrainResult:
        start = time.perf_counter()
        status, reason, stopped, test_acc = "ok", None, False, None
        try:
            self._prepare()
            stopped, reason = self._epochs(start)
            if self.evaluate_test:
                self.where = "test evaluation"
                test_acc, _ = evaluate(self.model, self.test_x, self.splits.test_y,
                                       batch_size=self.config.eval_batch_size, amp=self.config.amp)
        except _Failed as exc:
            status, reason = "failed", str(exc)
        except (RuntimeError, ValueError) as exc:
            # Shape mismatches, CUDA out-of-memory (a RuntimeError), BatchNorm on a 1-sample
            # batch (a ValueError): the architecture's problem, not the search's.
            detail = first_line(exc) or type(exc).__name__
            status, reason = "failed", f"{type(exc).__name__} at {self.where}: {detail}"
        except _CallbackError as exc:
            raise exc.original  # on_epoch's own errors are the caller's, not a failed trial
        finally:
            self.test_x = None  # drop the resident copy before the caller builds the next model
        if status == "failed" and self.device.type == "cuda":
            torch.cuda.empty_cache()
        return self._result(status, reason, stopped, test_acc, time.perf_counter() - start)

    def _result(self, status, reason, stopped, test_acc, seconds) -> TrainResult:
        h = self.history
        warning = chance_warning(h["train_losses"], self.splits.num_classes, h["val_accs"])
        return TrainResult(
            status=status, reason=reason, **{k: tuple(v) for k, v in h.items()},
            val_acc=h["val_accs"][-1] if h["val_accs"] else None, test_acc=test_acc, seconds=seconds,
            images_per_sec=self.images / self.train_seconds if self.train_seconds > 0 else 0.0,
            stopped_early=stopped, device=str(self.device), warnings=(warning,) if warning else (),
        )

    def _prepare(self) -> None:
        """Model and data on the device (resident copies), optimizer, loss, steps per epoch."""
        config, device, splits = self.config, self.device, self.splits
        self.model = self.model.to(device)
        if device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model.train()
        if not any(p.requires_grad for p in self.model.parameters()):
            raise _Failed("model has no trainable parameters")
        self.optimizer = torch.optim.SGD(_param_groups(self.model, config.weight_decay, config.decay_norm_bias),
                                         lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.x = splits.train_x.to(device, non_blocking=True).contiguous(memory_format=self.fmt)
        self.y = splits.train_y.to(device, non_blocking=True)
        self.val_x = splits.val_x.to(device, non_blocking=True)
        self.test_x = splits.test_x.to(device, non_blocking=True) if self.evaluate_test else splits.test_x
        self.fill = black_pixel(splits, device)
        # Drop the last partial batch (when there is more than one batch): a 1-image batch
        # breaks BatchNorm, and the permutation changes every epoch so no image is lost for good.
        self.steps = max(1, len(self.y) // config.batch_size)

    def _epochs(self, start: float) -> tuple[bool, str | None]:
        """Train, validate and report each epoch; (stopped early, why) at the end."""
        config = self.config
        for epoch in range(config.epochs):
            t_epoch = time.perf_counter()
            ep = self._train_epoch(epoch, start)
            val_acc, val_loss = self._validate(epoch)
            seconds = time.perf_counter() - t_epoch
            for key, value in zip(self.history, (ep.loss, ep.acc, val_acc, val_loss, ep.first_lr, seconds)):
                self.history[key].append(value)
            if config.schedule == "plateau":
                # He et al. 2015: divide lr by 10 "when the error plateaus": the validation error.
                self.plateau = plateau_update(self.plateau, 1.0 - val_acc, factor=config.gamma,
                                              patience=config.plateau_patience)
            metrics = {"train_loss": ep.loss, "train_acc": ep.acc, "val_acc": val_acc, "val_loss": val_loss,
                       "lr": ep.first_lr, "epoch_seconds": seconds,
                       "images_per_sec": ep.seen / ep.seconds if ep.seconds > 0 else 0.0}
            stopped = self._notify(epoch, metrics)
            if stopped:
                return True, stopped
            if ep.out_of_time:
                return True, f"time budget of {config.max_seconds:g} s reached in epoch {epoch + 1}"
        return False, None

    def _train_epoch(self, epoch: int, start: float) -> _Epoch:
        """One pass over a fresh permutation of the training split.

        Loss and accuracy accumulate on the device; a non-finite loss is recorded there (its
        first step and value) and read with the epoch's one sync, except on CPU, where
        ``.item()`` is no sync and a divergence stops at once.
        """
        config, device = self.config, self.device
        t_epoch = time.perf_counter()
        perm = torch.randperm(len(self.y), device=device, generator=self.generator)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        bad_step = torch.full((), -1, device=device, dtype=torch.long)
        bad_value = torch.zeros((), device=device)
        seen, out_of_time = 0, False
        for step in range(self.steps):
            self.where = f"epoch {epoch + 1} step {step + 1}"
            logits, yb, loss = self._forward(epoch, step, perm)
            detached = loss.detach().float()
            newly_bad = torch.logical_and(~torch.isfinite(detached), bad_step < 0)
            bad_step = torch.where(newly_bad, step, bad_step)
            bad_value = torch.where(newly_bad, detached, bad_value)
            if device.type == "cpu" and bad_step.item() >= 0:
                break
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_sum += detached * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(yb)
            last_step = epoch == config.epochs - 1 and step == self.steps - 1
            if config.max_seconds is not None and not last_step and time.perf_counter() - start > config.max_seconds:
                out_of_time = True
                break
        first_bad = int(bad_step.item())  # the one sync of the epoch
        if first_bad >= 0:
            raise _Failed(f"loss became {_fmt_nonfinite(bad_value.item())} at epoch {epoch + 1} step {first_bad + 1}")
        seconds = time.perf_counter() - t_epoch
        self.train_seconds += seconds
        self.images += seen
        return _Epoch(loss_sum.item() / seen, correct.item() / seen, seen, seconds,
                      lr_at(config, epoch, 0, self.steps, self.plateau.scale), out_of_time)

    def _forward(self, epoch: int, step: int, perm: torch.Tensor):
        """One step's batch (augmented), learning rate, logits and loss."""
        config = self.config
        lr = lr_at(config, epoch, step, self.steps, self.plateau.scale)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        idx = perm[step * config.batch_size: (step + 1) * config.batch_size]
        xb, yb = self.x[idx], self.y[idx]
        if self.augment != "none":
            xb = random_crop_flip(xb, padding=config.crop_padding, flip=self.augment == "flip-crop",
                                  fill=self.fill, generator=self.generator)
        xb = xb.contiguous(memory_format=self.fmt)
        with autocast(self.device, config.amp):
            logits = self.model(xb)
            if logits.shape[1:] != (self.splits.num_classes,) or logits.shape[0] != len(yb):
                raise _Failed(f"model output has shape {tuple(logits.shape)}, "
                              f"expected ({len(yb)}, {self.splits.num_classes}) at {self.where}")
            loss = self.criterion(logits.float(), yb)
        return logits, yb, loss

    def _validate(self, epoch: int) -> tuple[float, float]:
        self.where = f"epoch {epoch + 1} validation"
        val_acc, val_loss = evaluate(self.model, self.val_x, self.splits.val_y,
                                     batch_size=self.config.eval_batch_size, amp=self.config.amp)
        if len(self.splits.val_y) and not math.isfinite(val_loss):
            raise _Failed(f"validation loss became {_fmt_nonfinite(val_loss)} at epoch {epoch + 1}")
        return val_acc, val_loss

    def _notify(self, epoch: int, metrics: dict[str, float]) -> str | None:
        """Call ``on_epoch``; why training stops, or None to go on."""
        if self.on_epoch is None:
            return None
        try:
            stop = self.on_epoch(epoch + 1, metrics)
        except StopTrial as exc:
            return f"stopped by on_epoch after epoch {epoch + 1}" + (f": {exc}" if str(exc) else "")
        except Exception as exc:
            raise _CallbackError(exc) from exc
        return f"stopped by on_epoch after epoch {epoch + 1}" if stop is True else None


def _param_groups(model: nn.Module, weight_decay: float, decay_norm_bias: bool) -> list[dict[str, Any]]:
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_norm_bias:
        return [{"params": params, "weight_decay": weight_decay}]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def _fmt_nonfinite(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")

