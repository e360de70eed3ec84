"""The controller's scalars, per policy update, to TensorBoard in ``runs/NAME/tensorboard/``
(beside Ray Tune's own trial logs under ``runs/NAME/ray/``): ``tensorboard --logdir runs/NAME``."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .._util import finite_number



class ControllerLogger:
    """The controller's scalars, per policy update, to TensorBoard in ``<run_dir>/tensorboard``.

    Scalars (x = update step): ``controller/mean_reward``, ``controller/baseline``,
    ``controller/entropy``, ``controller/loss``, and per decision
    ``controller_max_prob/<decision>`` (probability of the most likely option: 1 when the
    controller has made up its mind). The writer opens on the first update, so strategies
    without a controller leave no folder.

    Example, in the search driver (updates already logged on an earlier attempt are skipped)::

        log = ControllerLogger(store.root, start_after=len(getattr(strategy, "updates", [])))
        ...after each strategy.tell(...):
        log.log_new(getattr(strategy, "updates", []))
    """

    def __init__(self, run_dir: str | Path, *, decision_names: Sequence[str] | None = None, start_after: int = 0):
        self.log_dir = Path(run_dir) / "tensorboard"
        self.decision_names = list(decision_names) if decision_names is not None else None
        self.last_step = int(start_after)
        self._writer = None

    def log(self, update: Mapping[str, Any]) -> None:
        """Log one update dict (``Reinforce.updates`` entry) and flush."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        step = int(update["step"])
        for key in ("mean_reward", "baseline", "entropy", "loss"):
            if finite_number(update.get(key)):
                self._writer.add_scalar(f"controller/{key}", float(update[key]), step)
        for d, probs in enumerate(update.get("probs") or []):
            if probs:
                names = self.decision_names
                name = names[d] if names and d < len(names) else f"d{d}"
                self._writer.add_scalar(f"controller_max_prob/{name}", float(max(probs)), step)
        self._writer.flush()
        self.last_step = max(self.last_step, step)

    def log_new(self, updates: Iterable[Mapping[str, Any]]) -> int:
        """Log the updates with a step above the last one logged; returns how many."""
        n = 0
        for u in updates:
            if int(u["step"]) > self.last_step:
                self.log(u)
                n += 1
        return n

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "ControllerLogger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def log_controller_scalars(run_dir: str | Path, state_or_updates: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
    """All policy updates of a strategy state (or a list of updates) to TensorBoard at once."""
    if isinstance(state_or_updates, Mapping):
        updates = state_or_updates.get("updates") or []
        space = state_or_updates.get("space")
        names = [str(s[0]) for s in space] if isinstance(space, list) else None
    else:
        updates, names = list(state_or_updates), None
    with ControllerLogger(run_dir, decision_names=names) as log:
        return log.log_new(updates)
