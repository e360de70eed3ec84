"""Shared-weight evaluation (ENAS, Pham et al. 2018): train one supernet's weights on paths
drawn from the search strategy, then score a proposal by its path's validation accuracy,
with no training of its own.

:class:`SharedTrainer` owns the supernet, its optimizer and the data order; it trains one
epoch at a time (one sampled path per minibatch, ENAS Sec. 2.2) and scores a path after
recalibrating its batch-norm statistics (Once-for-All, Cai et al. 2020, Sec. 3.3; BigNAS,
Yu et al. 2020: running statistics of the shared network are wrong for any one path). Its
state is plain tensors, so a search checkpoints it and resumes exactly.

    trainer = SharedTrainer(space, splits, SharedConfig(), total_epochs=10, seed=0)
    trainer.train_epoch(strategy.sample_path)
    acc = trainer.score(choices)
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

from ..config import from_dict
from ..errors import ConfigError
from ..space import SearchSpace
from ..train import augment as augmentation
from ..train.config import AUGMENTS
from ..train.data import Splits
from ..train.trainer import autocast, resolve_device
from .supernet import Supernet

PATHS = ("strategy", "uniform")
STATE_FORMAT = 1


@dataclass(frozen=True)
class SharedConfig:
    """How the shared weights are trained and how a path is scored. Defaults follow the
    official ENAS macro search (github.com/melodyguan/enas, scripts/cifar10_macro_search.sh
    and src/cifar10/main.py) where it has a value; the schedule of training and scoring is
    ours, sized for short searches.

    Example: ``SharedConfig(warmup_epochs=20, paths="uniform")``.
    """

    # Epochs of shared-weight training before the first proposal is scored: rankings of an
    # untrained supernet are noise. Then ``epochs_per_round`` more before each later round of
    # ``round_size`` proposals (ENAS alternates one epoch of shared training with controller
    # steps; a round of 10 matches REINFORCE's default batch, so each controller update sees
    # rewards from one set of shared weights).
    warmup_epochs: int = 10
    epochs_per_round: int = 1
    round_size: int = 10
    # "strategy": paths drawn as the strategy would propose them (ENAS: from the controller's
    # policy). "uniform": uniformly over the valid architectures (single-path one-shot,
    # Guo et al. 2020), which trains every path equally.
    paths: str = "strategy"
    batch_size: int = 128  # ENAS: 128
    lr: float = 0.05  # ENAS child_lr_max 0.05, cosine to child_lr_min 0.0005
    lr_min: float = 0.0005
    momentum: float = 0.9  # ENAS: momentum optimizer, Nesterov
    nesterov: bool = True
    weight_decay: float = 2.5e-4  # ENAS macro: child_l2_reg 0.00025
    grad_clip: float | None = 5.0  # ENAS: child_grad_bound 5.0 (global norm)
    # Batch-norm recalibration: training batches run through the path (no gradient) to
    # re-estimate its running statistics before it is scored.
    calibration_batches: int = 4
    # Validation images that score one path: None is the whole validation split (ENAS uses
    # one minibatch of 128 per controller step; a whole split is less noisy where it is small).
    eval_images: int | None = None
    augment: str = "auto"  # as the trainer's: "auto" is the dataset's recommendation
    crop_padding: int = 4
    device: str = "auto"  # "auto" (cuda when available) | "cpu" | "cuda[:N]"
    amp: bool = True  # bf16 autocast on CUDA, as the trainer's; ignored on the CPU

    def __post_init__(self):
        def need(ok: bool, msg: str):
            if not ok:
                raise ConfigError(f"shared: {msg}")

        need(self.warmup_epochs >= 0, f"warmup_epochs must be 0 or more, got {self.warmup_epochs}")
        need(self.epochs_per_round >= 0, f"epochs_per_round must be 0 or more, got {self.epochs_per_round}")
        need(self.warmup_epochs + self.epochs_per_round >= 1, "warmup_epochs and epochs_per_round are both 0: "
             "the shared weights would never be trained")
        need(self.round_size >= 1, f"round_size must be at least 1, got {self.round_size}")
        need(self.paths in PATHS, f"paths must be one of {', '.join(PATHS)}, got {self.paths!r}")
        need(self.batch_size >= 2, f"batch_size must be at least 2 (batch norm), got {self.batch_size}")
        need(self.lr > 0 and 0 <= self.lr_min <= self.lr, f"need lr > 0 and 0 <= lr_min <= lr, got {self.lr}, "
             f"{self.lr_min}")
        need(0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}")
        need(self.weight_decay >= 0, f"weight_decay must be 0 or more, got {self.weight_decay}")
        need(self.grad_clip is None or self.grad_clip > 0, f"grad_clip must be above 0 or null, got {self.grad_clip}")
        need(self.calibration_batches >= 1, f"calibration_batches must be at least 1, got {self.calibration_batches}")
        need(self.eval_images is None or self.eval_images >= 1, f"eval_images must be at least 1 or null, got "
             f"{self.eval_images}")
        need(self.augment in AUGMENTS, f"augment must be one of {', '.join(AUGMENTS)}, got "
             f"{self.augment!r}")
        need(self.crop_padding >= 0, f"crop_padding must be 0 or more, got {self.crop_padding}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SharedConfig":
        return from_dict(cls, dict(data), owner="shared")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def epochs_before(self, round_index: int) -> int:
        """Shared-weight epochs trained before round ``round_index`` (0-based) is scored."""
        return self.warmup_epochs + round_index * self.epochs_per_round

    def total_epochs(self, proposals: int) -> int:
        """Shared-weight epochs of a search that scores ``proposals``: what the schedule spans."""
        return self.epochs_before(max(0, math.ceil(proposals / self.round_size) - 1))


def cosine_lr(step: int, total: int, lr: float, lr_min: float) -> float:
    """Half-cosine from ``lr`` at step 0 to ``lr_min`` at ``total`` (SGDR without restarts,
    Loshchilov & Hutter 2017; ENAS restarts it, which a short search never reaches); pure."""
    if total <= 0:
        return lr
    t = min(max(step, 0), total) / total
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * t))


class SharedTrainer:
    """A supernet over ``space`` trained on ``splits`` (see the module docstring)."""

    def __init__(self, space: SearchSpace, splits: Splits, config: SharedConfig, *, total_epochs: int,
                 seed: int = 0):
        self.space, self.splits, self.config = space, splits, config
        self.device = resolve_device(config.device)
        states = 1 if config.momentum else 0  # SGD keeps one momentum slot per weight
        self.net = Supernet(space, device=self.device, seed=seed, states=states)  # refuses one that does not fit
        self.net.train()
        params = list(self.net.parameters())
        # Weight decay on norm layers too, as the trainer's default does. A master's gradient
        # is zero outside the path's slice, but decay and momentum still move all of it (as
        # ENAS's L2 term covers every shared weight).
        self.optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                         nesterov=config.nesterov and config.momentum > 0,
                                         weight_decay=config.weight_decay)
        self.total_epochs = max(1, total_epochs)
        self.epochs_done = 0
        self.generator = torch.Generator().manual_seed(seed)  # data order and augmentation
        self.uniform = torch.Generator().manual_seed(seed + 1)  # paths when config.paths == "uniform"
        self.x = splits.train_x.to(self.device)
        self.y = splits.train_y.to(self.device)
        self.steps_per_epoch = max(1, len(self.y) // config.batch_size)
        mode = splits.meta.get("augment", "none") if config.augment == "auto" else config.augment
        self.crop = mode in ("crop", "flip-crop")
        self.flip = mode == "flip-crop"
        self.fill = augmentation.black_pixel(splits, self.device)
        # Calibration batches: fixed training images (a seeded draw), so a path's score does
        # not depend on when it is scored, only on the shared weights.
        order = torch.randperm(len(self.y), generator=torch.Generator().manual_seed(seed + 2))
        n = min(len(self.y), config.calibration_batches * config.batch_size)
        self.calibration = [self.x[order[i:i + config.batch_size]] for i in range(0, n, config.batch_size)]
        n_eval = len(splits.val_y) if config.eval_images is None else min(config.eval_images, len(splits.val_y))
        self.val_x, self.val_y = splits.val_x[:n_eval].to(self.device), splits.val_y[:n_eval].to(self.device)

    # -- training ------------------------------------------------------------------------
    def _path(self, sample: Callable[[], tuple[int, ...]] | None) -> tuple[int, ...]:
        if self.config.paths == "uniform" or sample is None:
            seed = int(torch.randint(2**31 - 1, (1,), generator=self.uniform))
            return self.space.sample(seed)
        return sample()

    def train_epoch(self, sample: Callable[[], tuple[int, ...]] | None) -> dict[str, float]:
        """One epoch over the training split, a path from ``sample()`` per minibatch (ENAS
        Sec. 2.2), or uniform paths when ``sample`` is None or the config says "uniform".
        Returns the epoch number, the mean training loss and the seconds it took."""
        c = self.config
        start = time.perf_counter()
        self.net.train()
        perm = torch.randperm(len(self.y), generator=self.generator).to(self.device)
        total = self.total_epochs * self.steps_per_epoch
        losses = torch.zeros((), device=self.device)
        for step in range(self.steps_per_epoch):
            lr = cosine_lr(self.epochs_done * self.steps_per_epoch + step, total, c.lr, c.lr_min)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            idx = perm[step * c.batch_size:(step + 1) * c.batch_size]
            x, y = self.x[idx], self.y[idx]
            if self.crop or self.flip:
                x = augmentation.random_crop_flip(x, padding=c.crop_padding if self.crop else 0, flip=self.flip,
                                                  fill=self.fill, generator=self._aug_generator())
            with autocast(self.device, c.amp):
                loss = F.cross_entropy(self.net(self._path(sample), x).float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if c.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), c.grad_clip)
            self.optimizer.step()
            losses += loss.detach()
        self.epochs_done += 1
        mean = float(losses) / self.steps_per_epoch
        return {"epoch": self.epochs_done, "loss": mean, "seconds": time.perf_counter() - start}

    def _aug_generator(self) -> torch.Generator | None:
        # Augmentation draws on the data's device; a CPU generator only serves CPU tensors.
        return self.generator if self.device.type == "cpu" else None

    # -- scoring -------------------------------------------------------------------------
    @torch.no_grad()
    def score(self, choices: tuple[int, ...]) -> float:
        """Validation accuracy of the path ``choices`` with the shared weights, after its
        batch-norm statistics are recalibrated on the fixed calibration batches."""
        with autocast(self.device, self.config.amp):
            stats = self.net.calibrate(choices, self.calibration)
        self.net.eval()
        try:
            correct = 0
            for i in range(0, len(self.val_y), 1024):
                with autocast(self.device, self.config.amp):
                    logits = self.net(choices, self.val_x[i:i + 1024], stats=stats)
                correct += int((logits.argmax(1) == self.val_y[i:i + 1024]).sum())
        finally:
            self.net.train()
        return correct / max(1, len(self.val_y))

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain data and tensors (``torch.load(weights_only=True)``), on the CPU."""
        return {
            "format": STATE_FORMAT,
            "config": self.config.to_dict(),
            "space_hash": self.space.hash,
            "epochs_done": self.epochs_done,
            "total_epochs": self.total_epochs,
            "supernet": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
            "optimizer": _to_cpu(self.optimizer.state_dict()),
            "generator": self.generator.get_state(),
            "uniform": self.uniform.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("format") != STATE_FORMAT:
            raise ConfigError(f"unsupported shared-weight state format {state.get('format')!r}")
        if state.get("config") != self.config.to_dict():
            raise ConfigError("the shared-weight state was saved with other shared settings")
        if state.get("space_hash") != self.space.hash:
            raise ConfigError("the shared-weight state was saved for another search space")
        self.net.load_state_dict(state["supernet"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epochs_done = int(state["epochs_done"])
        self.total_epochs = int(state["total_epochs"])
        self.generator.set_state(state["generator"])
        self.uniform.set_state(state["uniform"])


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    return obj
