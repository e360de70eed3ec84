"""Ray Tune's own searchers as nas strategies: ``tune:optuna`` (``OptunaSearch``) and
``tune:hyperopt`` (``HyperOptSearch``).

The searcher sees one ``tune.choice`` over the option indices per decision, named after the
decision, and the metric ``"reward"`` to maximise, seeded from the strategy's seed. ``ask``
is ``searcher.suggest(trial_id)`` (trial ids ``"t0"``, ``"t1"``, ... in order of suggestion);
``tell`` is ``on_trial_complete(trial_id, {"reward": r})``. Invalid draws and failed proposals
are told as the lowest reward so far (``error=True`` while there is none), so that the model
learns to avoid them; the losers of ``ask(candidates=K)`` and ``sample_path`` draws end with
``error=True``, which both searchers ignore. State is the ordered log of those calls, replayed into a fresh searcher on load and
checked draw by draw (as ``optuna_samplers``): Ray's own ``save`` pickles the searcher.
Ray is imported only when one of these strategies is built (about 2 s).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import ConfigError
from .base import STRATEGIES, NoOptions, Proposal
from .optuna_samplers import OutsideTrials, Replay, param_names, quiet_optuna

METRIC = "reward"


@dataclass(frozen=True)
class HyperOptOptions:
    n_initial_points: int = 20  # Ray's HyperOptSearch default: random suggestions before TPE

    def __post_init__(self):
        if self.n_initial_points < 1:
            raise ConfigError(f"n_initial_points must be >= 1, got {self.n_initial_points}")


class TuneSearcherStrategy(OutsideTrials):
    """Base of the strategies on a Ray Tune ``Searcher``; subclasses implement ``_searcher``
    (a new one over ``param_space``, maximising ``METRIC``, seeded)."""

    def _searcher(self, param_space: dict) -> Any:
        raise NotImplementedError

    def _setup(self) -> None:
        self._names = param_names(self.space)
        self._reset_trials()
        self._new_searcher()

    def _new_searcher(self) -> None:
        from ray import tune

        space = {name: tune.choice(list(range(n))) for name, n in zip(self._names, self._n_options)}
        with quiet_optuna():
            self._search = self._searcher(space)
        self._log = Replay(self.name)
        self._suggested = 0
        self._worst: float | None = None

    def _suggest(self) -> tuple[int, tuple[int, ...]]:
        number = self._suggested
        with quiet_optuna():
            config = self._search.suggest(f"t{number}")
        self._suggested += 1
        choices = tuple(int(config[n]) for n in self._names)
        self._log.asked(choices)
        return number, choices

    def _complete(self, number: int, reward: float | None) -> None:
        with quiet_optuna():
            if reward is None:
                self._search.on_trial_complete(f"t{number}", error=True)
            else:
                self._search.on_trial_complete(f"t{number}", {METRIC: reward})
        self._log.told(number, "FAIL" if reward is None else "COMPLETE",
                       None if reward is None else [reward])
        if reward is not None:
            self._worst = reward if self._worst is None else min(self._worst, reward)

    def _propose(self) -> tuple[int, ...]:
        def draw() -> tuple[int, ...]:
            self._last, choices = self._suggest()
            return choices

        return self._sample_valid(draw, rejected=lambda _: self._complete(self._last, self._worst))

    def _close_unproposed(self, number: int) -> None:
        self._complete(number, None)

    def _observe(self, proposal: Proposal, reward: float, failed: bool, *,
                 metrics: Mapping[str, float]) -> None:
        self._complete(self._trial_of.pop(proposal.id), self._worst if failed else reward)

    def _extra_state(self) -> dict:
        return {"searcher": self._trials_state(self._log.events)}

    def _load_extra_state(self, state: dict) -> None:
        saved = state["searcher"]
        self._new_searcher()  # seeded from self.seed, restored by the base
        for event in saved["events"]:
            if event[0] == "ask":
                number, drew = self._suggest()
                if list(drew) != list(event[1]):
                    raise self._log.mismatch(number, drew, list(event[1]))
            else:
                _, n, state_name, values = event
                self._complete(int(n), None if state_name == "FAIL" else float(values[0]))
        self._load_trials(saved, self._suggested)


@STRATEGIES.register("tune:optuna")
class TuneOptuna(TuneSearcherStrategy):
    """Ray Tune's ``OptunaSearch`` (its default sampler: Optuna's TPE, seeded); takes no options.
    The ``tpe`` strategy drives Optuna directly, with options.

    Example: ``nas.strategies.get("tune:optuna", space, seed=0)``.
    """

    name = "tune:optuna"
    Options = NoOptions

    def _searcher(self, param_space: dict) -> Any:
        from ray.tune.search.optuna import OptunaSearch

        # Converted first, as Ray asks of a space given to the searcher itself.
        return OptunaSearch(OptunaSearch.convert_search_space(param_space), metric=METRIC, mode="max",
                            seed=self.seed)


@STRATEGIES.register("tune:hyperopt")
class TuneHyperOpt(TuneSearcherStrategy):
    """Ray Tune's ``HyperOptSearch`` (hyperopt's TPE, Bergstra et al. 2013), which needs the
    ``hyperopt`` extra. Options: ``n_initial_points=20``.

    Example: ``nas.strategies.get("tune:hyperopt", space, seed=0, n_initial_points=10)``.
    """

    name = "tune:hyperopt"
    Options = HyperOptOptions

    def _searcher(self, param_space: dict) -> Any:
        try:
            import hyperopt  # noqa: F401  (Ray's HyperOptSearch asserts instead of raising)
        except ImportError:
            raise ConfigError(f"strategy {self.name!r} needs hyperopt: pip install 'nas-tune[hyperopt]'") from None
        from ray.tune.search.hyperopt import HyperOptSearch

        return HyperOptSearch(HyperOptSearch.convert_search_space(param_space), metric=METRIC, mode="max",
                              n_initial_points=self.options.n_initial_points, random_state_seed=self.seed)
