"""A Ray Tune ``Searcher`` over any ask/tell strategy: :class:`StrategySearcher`.

It follows the contract of Ray's own searchers (``ray/tune/search/hyperopt/hyperopt_search.py``):
a live-trial map, ``suggest`` returning None while waiting and ``Searcher.FINISHED`` when the
budget is spent, ``error=True`` handled, ``save``/``restore`` atomic, and the optional import
guarded. ``nas search`` uses exactly this class; it works in your own ``Tuner`` too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .._util import atomic_torch_save
from ..strategies import Proposal, Strategy

try:
    from ray.tune import Stopper
    from ray.tune.search import Searcher
except ImportError:  # Ray Tune is a dependency of nas; the guard keeps this module importable without it
    Searcher = Stopper = object


class AskTell:
    """The standalone backend of :class:`StrategySearcher`: each trial is one ``strategy.ask()``;
    its result's metric (negated for ``mode="min"``) is told back as the reward."""

    def __init__(self, strategy: Strategy, metric: str, mode: str, max_trials: int | None,
                 failure_reward: float = 0.0):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.strategy, self.metric, self.sign = strategy, metric, 1.0 if mode == "max" else -1.0
        self.max_trials, self.failure_reward = max_trials, failure_reward
        self.live: dict[str, Proposal] = {}
        self.asked = 0

    def next_config(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.max_trials is not None and self.asked >= self.max_trials:
            return "FINISHED" if not self.live else None
        p = self.strategy.ask()
        self.asked += 1
        self.live[trial_id] = p
        return {"arch": p.arch, "proposal": p.id}

    def complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        p = self.live.pop(trial_id, None)
        if p is None:
            return
        result = result or {}
        value = result.get(self.metric)
        if error or not isinstance(value, (int, float)) or value != value:
            self.strategy.tell(p.id, self.failure_reward, failed=True)
        else:
            self.strategy.tell(p.id, self.sign * float(value), metrics=self._metrics(result, float(value)) or None)

    def _metrics(self, result: dict, value: float) -> dict[str, float]:
        """What a multi-objective strategy needs (``strategy.needs``), from the trial's result:
        report e.g. ``latency_ms`` or ``params`` beside your metric; ``accuracy`` defaults to
        the metric itself."""
        needs = getattr(self.strategy, "needs", ())
        out = {k: float(result[k]) for k in needs
               if isinstance(result.get(k), (int, float)) and not isinstance(result.get(k), bool)}
        if "accuracy" in needs and "accuracy" not in out:
            out["accuracy"] = value
        return out


class StrategySearcher(Searcher):
    """Proposes architectures from a nas strategy to Ray Tune and tells it their results.

    Each trial's config is ``{"arch": <architecture string>, "proposal": <id>}`` merged into
    your ``param_space``; build it with ``nas.build(config["arch"], input_shape, classes)``.

    Example (the README has a complete, tested one)::

        space = nas.SearchSpace.load("digits")
        searcher = StrategySearcher(nas.strategies.get("evolution", space), metric="acc", mode="max",
                                    max_trials=20)
        tune.Tuner(my_trainable, tune_config=tune.TuneConfig(search_alg=searcher, num_samples=-1)).fit()

    ``nas search`` passes its own ``driver`` instead of a strategy: the same two calls,
    ``next_config(trial_id)`` and ``complete(trial_id, result, error)``, plus the run folder's
    bookkeeping. The first exception in either is kept in ``fatal`` (Tune would log it and
    carry on); :meth:`stopper` ends the experiment then, and the caller re-raises it.
    """

    def __init__(self, strategy: Strategy | None = None, *, metric: str | None = None, mode: str | None = None,
                 max_trials: int | None = None, driver=None):
        if Searcher is object:
            raise ImportError("StrategySearcher needs Ray Tune: pip install 'ray[tune]'")
        if (strategy is None) == (driver is None):
            raise ValueError("give StrategySearcher a strategy or a driver, not both")
        if driver is None:
            if metric is None or mode is None:
                raise ValueError("StrategySearcher(strategy, ...) needs the metric and mode that score a trial")
            driver = AskTell(strategy, metric, mode, max_trials)
        super().__init__(metric=metric, mode=mode)
        self.driver = driver
        self.fatal: BaseException | None = None

    def __getstate__(self):
        # Tune pickles the searcher into its experiment folder (for Tuner.restore); the strategy's
        # state goes through save()/restore(), and nas search resumes from its run folder.
        return dict(self.__dict__, driver=None)

    def suggest(self, trial_id: str):
        if self.fatal is not None:
            return Searcher.FINISHED
        try:
            cfg = self.driver.next_config(trial_id)
        except Exception as e:  # noqa: BLE001  (kept; the caller re-raises it once Tune has stopped)
            self.fatal = e
            return Searcher.FINISHED
        return Searcher.FINISHED if cfg == "FINISHED" else cfg

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if self.fatal is not None:
            return
        try:
            self.driver.complete(trial_id, result, error)
        except Exception as e:  # noqa: BLE001  (Tune would log "Error stopping trial" and carry on)
            self.fatal = e

    def stopper(self) -> "FatalStopper":
        """A Tune ``Stopper`` that ends the whole experiment once ``fatal`` is set."""
        return FatalStopper(self)

    def save(self, checkpoint_path: str):
        atomic_torch_save({"strategy": self.driver.strategy.state_dict(),
                           "live": {k: [p.id, p.arch, list(p.choices)] for k, p in self.driver.live.items()}},
                          Path(checkpoint_path))

    def restore(self, checkpoint_path: str):
        import torch

        state = torch.load(checkpoint_path, weights_only=True)
        self.driver.strategy.load_state_dict(state["strategy"])
        self.driver.live = {k: Proposal(v[0], v[1], tuple(v[2])) for k, v in state["live"].items()}


class FatalStopper(Stopper):
    """Stops the whole experiment once its searcher has hit a fatal error."""

    def __init__(self, searcher: StrategySearcher):
        self.searcher = searcher

    def __getstate__(self):  # pickled into Tune's experiment state, like the searcher
        return {"searcher": None}

    def __call__(self, trial_id, result) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.searcher is not None and self.searcher.fatal is not None
