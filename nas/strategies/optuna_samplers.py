"""Bayesian and multi-objective search on Optuna's samplers (Akiba et al. 2019, "Optuna: A
Next-generation Hyperparameter Optimization Framework", KDD): ``tpe``, ``gp`` and ``nsga2``.

Each strategy drives one in-memory Optuna study through its ask-and-tell interface
(``study.ask(fixed_distributions)``, ``study.tell``): one ``CategoricalDistribution`` over the
option *indices* ``0..n-1`` per decision, named after the decision. A proposal is one study
trial, RUNNING until it is told, so asynchronous tells in any order work. Draws that are not
proposed (the losers of ``ask(candidates=K)``, ``sample_path``) are closed as FAIL, which the
samplers ignore. Invalid draws and failed proposals are bad outcomes the model must learn
to avoid (a GP's acquisition is deterministic: ignored, it asks for the same invalid point
again): the single-objective strategies tell them as the lowest value told so far; NSGA-II,
whose offspring are random, closes them as FAIL.

State: a sampler is not plain data (``torch.load(weights_only=True)`` cannot hold one), so the
state is the ordered log of every interaction with the study; ``load_state_dict`` builds a
fresh study with the same seeded sampler, replays the log and checks that every replayed ask
draws what was recorded. Design, defaults and the replay's cost: docs/strategies.md.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Mapping

from .._util import torch_threads
from ..errors import ConfigError, SpaceError
from .base import STRATEGIES, Proposal, Strategy

COSTS = ("latency_ms", "params", "macs")


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's INFO log (one line per trial) and its ExperimentalWarnings silenced for the
    duration only: the user's own logging and warning filters are as they were afterwards."""
    import optuna

    logger = logging.getLogger("optuna")
    level = logger.level
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        logger.setLevel(level)


def param_names(space) -> list[str]:
    """The decisions' names, which name the study's parameters; they must be unique."""
    names = [d.name for d in space.decisions]
    seen = set()
    for n in names:
        if n in seen:
            raise SpaceError(f"decision names must be unique to search with Optuna: {n!r} repeats")
        seen.add(n)
    return names


class Replay:
    """The ordered log of a study's asks and tells, and its replay into a fresh study.

    Events are plain lists: ``["ask", [choices...]]`` and ``["tell", number, state, values]``
    (``state`` "COMPLETE" with a list of floats, or "FAIL" with None). Trial numbers count
    asks from 0 in a fresh study, so replaying the events in order rebuilds the same study.
    """

    def __init__(self, strategy: str):
        self.strategy = strategy
        self.events: list[list] = []

    def asked(self, choices: tuple[int, ...]) -> None:
        self.events.append(["ask", list(choices)])

    def told(self, number: int, state: str, values: list[float] | None) -> None:
        self.events.append(["tell", number, state, values])

    def mismatch(self, number: int, drew: tuple[int, ...], recorded: list[int]) -> ConfigError:
        return ConfigError(
            f"strategy {self.strategy!r} cannot be resumed exactly: replayed trial {number} drew "
            f"{list(drew)}, the saved run drew {recorded} (another Optuna version, platform or thread "
            "count?); start a new run"
        )


@dataclass(frozen=True)
class TPEOptions:
    # Optuna's default: the first 10 completed trials are uniform random, then TPE.
    n_startup_trials: int = 10
    # The density over all decisions jointly (Falkner et al. 2018, BOHB) instead of one per
    # decision: layer choices interact (width x depth x block). Optuna's default for one
    # objective since v5; stated so that older releases agree.
    multivariate: bool = True
    # Running trials count as bad ones (Optuna's "constant liar"), so that workers training
    # in parallel are not all handed the same promising architecture.
    constant_liar: bool = True
    n_ei_candidates: int = 24  # Optuna's default: candidates drawn from l(x) per ask

    def __post_init__(self):
        if self.n_startup_trials < 0:
            raise ConfigError(f"n_startup_trials must be >= 0, got {self.n_startup_trials}")
        if self.n_ei_candidates < 1:
            raise ConfigError(f"n_ei_candidates must be >= 1, got {self.n_ei_candidates}")


@dataclass(frozen=True)
class GPOptions:
    n_startup_trials: int = 10  # Optuna's default: random trials before the GP is fitted
    # Training a network is noisy (seeds, data order), so the GP models observation noise.
    deterministic_objective: bool = False

    def __post_init__(self):
        if self.n_startup_trials < 0:
            raise ConfigError(f"n_startup_trials must be >= 0, got {self.n_startup_trials}")


@dataclass(frozen=True)
class NSGA2Options:
    # Optuna's default is 50; scaled down, as evolution's, for budgets of a few hundred
    # evaluations, so that about ten generations fit in 200.
    population_size: int = 20
    cost: str = "latency_ms"  # the objective minimised beside accuracy: latency_ms, params or macs

    def __post_init__(self):
        if self.population_size < 2:
            raise ConfigError(f"population_size must be >= 2, got {self.population_size}")
        if self.cost not in COSTS:
            raise ConfigError(f"cost must be one of {', '.join(COSTS)}, got {self.cost!r}")


class OutsideTrials(Strategy):
    """Base of the strategies whose draws are trials of an outside optimiser (an Optuna study,
    a Ray Tune searcher), numbered from 0 in the order drawn. It keeps which trial each pending
    proposal is, and closes with ``_close_unproposed(number)`` every draw that never becomes a
    proposal (the losers of ``ask(candidates=K)``, ``sample_path`` draws), so that only pending
    proposals stay open in the optimiser. Subclasses set ``self._last`` to each draw's number."""

    def _reset_trials(self) -> None:
        self._trial_of: dict[int, int] = {}  # pending proposal id -> the optimiser's trial number
        self._loose: list[int] = []  # trials drawn by the current ask, not yet proposed or closed
        self._last = -1

    def _close_unproposed(self, number: int) -> None:
        raise NotImplementedError

    def _drawn(self) -> int:
        self._loose.append(self._last)
        return self._last

    def _accept(self, proposal: Proposal, drawn: int) -> None:
        self._close_loose(keep=drawn)
        self._trial_of[proposal.id] = drawn

    def sample_path(self) -> tuple[int, ...]:
        choices = super().sample_path()
        self._close_loose()
        return choices

    def _close_loose(self, keep: int | None = None) -> None:
        for number in self._loose:
            if number != keep:
                self._close_unproposed(number)
        self._loose = []

    def _trials_state(self, events: list) -> dict:
        """The saved bookkeeping: the replay log, which trial each pending proposal is, and the
        loose draws."""
        return {"events": events, "trials": [[pid, n] for pid, n in sorted(self._trial_of.items())],
                "loose": list(self._loose)}

    def _load_trials(self, saved: Mapping, drawn: int) -> None:
        """The bookkeeping of :meth:`_trials_state`, once the replay has drawn ``drawn`` trials."""
        self._trial_of = {int(pid): int(n) for pid, n in saved["trials"]}
        self._loose = [int(n) for n in saved["loose"]]
        self._last = drawn - 1


class OptunaStrategy(OutsideTrials):
    """Base of the strategies on one Optuna sampler. Subclasses set ``directions`` and
    implement ``_sampler`` (a new seeded sampler) and ``_values`` (what a successful tell
    reports to the study)."""

    directions: ClassVar[tuple[str, ...]] = ("maximize",)
    # Invalid draws and failed proposals told as the lowest value so far (FAIL while there is none).
    impute_worst: ClassVar[bool] = True

    def _sampler(self) -> Any:
        raise NotImplementedError

    def _values(self, reward: float, metrics: Mapping[str, float]) -> list[float]:
        return [reward]

    def _setup(self) -> None:
        from optuna.distributions import CategoricalDistribution

        self._names = param_names(self.space)
        self._dists = {name: CategoricalDistribution(list(range(n)))
                       for name, n in zip(self._names, self._n_options)}
        self._reset_trials()
        self._worst: float | None = None  # the lowest value told to the study
        self._new_study()

    def _new_study(self) -> None:
        import optuna

        with quiet_optuna():
            self._study = optuna.create_study(sampler=self._sampler(), directions=list(self.directions))
        self._log = Replay(self.name)
        self._worst = None

    # -- the study, and the log of everything done to it ------------------------------------

    def _ask_study(self) -> tuple[int, tuple[int, ...]]:
        # One torch thread: GPSampler's fit and acquisition come out the same on any machine
        # (a replay checks that), and on a loaded machine one thread was the faster.
        with quiet_optuna(), torch_threads(1):
            trial = self._study.ask(self._dists)
        choices = tuple(int(trial.params[n]) for n in self._names)
        self._log.asked(choices)
        return trial.number, choices

    def _tell_study(self, number: int, values: list[float] | None) -> None:
        from optuna.trial import TrialState

        state = TrialState.FAIL if values is None else TrialState.COMPLETE
        with quiet_optuna():
            self._study.tell(number, values, state=state)
        self._log.told(number, state.name, values)
        if values is not None and len(values) == 1:
            self._worst = values[0] if self._worst is None else min(self._worst, values[0])

    def _tell_bad(self, number: int) -> None:
        """An invalid draw or a failed proposal: as bad as the worst seen, or FAIL."""
        bad = self._worst is not None and self.impute_worst
        self._tell_study(number, [self._worst] if bad else None)

    # -- the hooks of Strategy ------------------------------------------------------------

    def _propose(self) -> tuple[int, ...]:
        def draw() -> tuple[int, ...]:
            self._last, choices = self._ask_study()
            return choices

        return self._sample_valid(draw, rejected=lambda _: self._tell_bad(self._last))

    def _close_unproposed(self, number: int) -> None:
        self._tell_study(number, None)

    def _observe(self, proposal: Proposal, reward: float, failed: bool, *,
                 metrics: Mapping[str, float]) -> None:
        number = self._trial_of.pop(proposal.id)
        if failed:
            self._tell_bad(number)
        else:
            self._tell_study(number, self._values(reward, metrics))

    def _extra_state(self) -> dict:
        return {"study": self._trials_state(self._log.events)}

    def _load_extra_state(self, state: dict) -> None:
        saved = state["study"]
        self._new_study()  # the sampler is seeded from self.seed, which the base has restored
        number = 0
        for event in saved["events"]:
            if event[0] == "ask":
                got_number, drew = self._ask_study()
                if got_number != number or list(drew) != list(event[1]):
                    raise self._log.mismatch(number, drew, list(event[1]))
                number += 1
            else:
                _, n, state_name, values = event
                self._tell_study(int(n), None if state_name == "FAIL" else [float(v) for v in values])
        self._load_trials(saved, number)


@STRATEGIES.register("tpe")
class TPE(OptunaStrategy):
    """Tree-structured Parzen Estimator (Bergstra et al. 2011) on Optuna's ``TPESampler``;
    maximises the told reward. Options: ``n_startup_trials=10``, ``multivariate=True``,
    ``constant_liar=True``, ``n_ei_candidates=24``. A failed proposal counts as the worst reward
    told so far.

    Example: ``nas.strategies.get("tpe", space, seed=0, n_startup_trials=20)``.
    """

    name = "tpe"
    Options = TPEOptions

    def _sampler(self) -> Any:
        from optuna.samplers import TPESampler

        o = self.options
        with quiet_optuna():  # multivariate is experimental in Optuna < 5
            return TPESampler(seed=self.seed, n_startup_trials=o.n_startup_trials, multivariate=o.multivariate,
                              constant_liar=o.constant_liar, n_ei_candidates=o.n_ei_candidates)


@STRATEGIES.register("gp")
class GP(OptunaStrategy):
    """Gaussian-process Bayesian optimisation on Optuna's ``GPSampler``; maximises the told
    reward. Options: ``n_startup_trials=10``, ``deterministic_objective=False``. Each ask fits
    the GP and optimises the acquisition: tens to hundreds of ms, see docs/strategies.md.

    Example: ``nas.strategies.get("gp", space, seed=0)``.
    """

    name = "gp"
    Options = GPOptions

    def _sampler(self) -> Any:
        from optuna.samplers import GPSampler

        o = self.options
        with quiet_optuna():
            return GPSampler(seed=self.seed, n_startup_trials=o.n_startup_trials,
                             deterministic_objective=o.deterministic_objective)


@STRATEGIES.register("nsga2")
class NSGA2(OptunaStrategy):
    """NSGA-II (Deb et al. 2002) on Optuna's ``NSGAIISampler``: maximise ``metrics["accuracy"]``
    and minimise ``metrics[cost]`` together. Options: ``population_size=20``,
    ``cost="latency_ms"`` (or ``"params"``, ``"macs"``).

    The scalar reward is recorded in ``history`` as with every strategy but not learnt from;
    every successful tell must carry both metrics (``needs``). A failed proposal is a FAIL
    trial, which never enters a generation.

    Example::

        s = nas.strategies.get("nsga2", space, seed=0, cost="params")
        p = s.ask(); s.tell(p.id, reward, metrics={"accuracy": 0.93, "params": 1.2e6})
    """

    name = "nsga2"
    Options = NSGA2Options
    directions = ("maximize", "minimize")
    impute_worst = False

    @property
    def needs(self) -> tuple[str, ...]:
        return ("accuracy", self.options.cost)

    def _sampler(self) -> Any:
        from optuna.samplers import NSGAIISampler

        with quiet_optuna():
            return NSGAIISampler(seed=self.seed, population_size=self.options.population_size)

    def _values(self, reward: float, metrics: Mapping[str, float]) -> list[float]:
        return [metrics["accuracy"], metrics[self.options.cost]]
