"""The contract every search strategy follows: ``ask`` / ``tell`` / ``state_dict``.

A strategy proposes architectures as choice vectors over a ``Space`` (``nas.space``);
the caller trains them and tells back a reward. Proposals may be asked several at a
time and told in any order, as with asynchronous workers (Real et al. 2019, Sec. 3;
Ray Tune's ``Searcher.suggest`` / ``on_trial_complete``), and an evaluation may fail.

Everything a strategy needs to continue exactly is in ``state_dict()``: plain types and
tensors only (``torch.load(path, weights_only=True)``), all randomness from one generator.

    strategy = nas.strategies.get("evolution", space, seed=1, population_size=20)
    p = strategy.ask(); strategy.tell(p.id, reward)
"""
from __future__ import annotations

import copy
import dataclasses
import math
import numbers
import operator
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

import torch

from ..config import from_dict
from ..errors import ConfigError, NasError, SpaceError
from ..registry import Registry
from ..space import Space

STRATEGIES: Registry[type["Strategy"]] = Registry("strategy", ConfigError)

# Rejection sampling gives up after this many invalid draws in a row. With a valid
# fraction f, the chance of a spurious failure is (1 - f) ** MAX_TRIES: below 1e-4
# for f >= 1 %. A space whose constraints admit less than that is reported as such.
MAX_TRIES = 1000

STATE_FORMAT = 1


@dataclass(frozen=True)
class Proposal:
    """One architecture handed out by ``Strategy.ask``.

    ``id`` increases by one per ask, starting at 0; ``arch`` is ``space.decode(choices)``.
    """

    id: int
    arch: str
    choices: tuple[int, ...]


@dataclass(frozen=True)
class NoOptions:
    """Options of a strategy that takes none."""


def space_signature(space: Space) -> list[list]:
    """``[[name, kind, n_options], ...]``: what a saved state must agree with."""
    return [[d.name, d.kind, len(d.options)] for d in space.decisions]


class Strategy:
    """Base class: bookkeeping of ids, pending proposals, history and state.

    Subclasses set ``name`` and ``Options`` and implement ``_propose`` (return a valid
    choice tuple), ``_observe`` (learn from one told proposal) and, when they keep
    more state, ``_extra_state`` / ``_load_extra_state``.
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions

    def __init__(self, space: Space, *, seed: int = 0, **options: Any):
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError(f"seed must be an int, got {seed!r}")
        self.space = space
        self.seed = seed
        self.options = _options(self.Options, options, self.name)
        self._signature = space_signature(space)
        if not self._signature:
            raise SpaceError("the space has no decisions to search over")
        for name, _, n in self._signature:
            if n < 1:
                raise SpaceError(f"decision {name!r} has no options")
        self._n_options = [n for _, _, n in self._signature]
        self._rng = torch.Generator().manual_seed(seed)
        self._next_id = 0
        self._pending: dict[int, Proposal] = {}
        self._history: list[dict] = []
        self._setup()

    # -- the public contract -------------------------------------------------------

    def ask(self, *, candidates: int = 1, rank: Callable[[str], float] | None = None) -> Proposal:
        """Propose one architecture; never one for which ``space.is_valid`` is False.

        With ``candidates`` = K > 1 and ``rank`` (architecture string -> score, higher is
        better), the strategy draws K architectures as it would propose them and hands out
        the one ``rank`` scores highest (the first on ties); the others are forgotten, never
        pending. That is a zero-cost prefilter: rank K untrained candidates by a proxy, train
        only the best (Abdelfattah et al. 2021, Sec. 5; Mellor et al. 2021, Sec. 5). ``rank``
        must be deterministic, so that a replay of the run asks the same proposals.
        """
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise NasError(f"candidates must be a whole number of at least 1, got {candidates!r}")
        best = None
        for _ in range(candidates if rank is not None else 1):
            choices = tuple(int(c) for c in self._propose())
            drawn = self._drawn()
            arch = self.space.decode(choices)
            score = float(rank(arch)) if rank is not None and candidates > 1 else 0.0
            if best is None or score > best[0]:
                best = (score, choices, arch, drawn)
        _, choices, arch, drawn = best
        proposal = Proposal(self._next_id, arch, choices)
        self._next_id += 1
        self._pending[proposal.id] = proposal
        self._accept(proposal, drawn)
        return proposal

    def sample_path(self) -> tuple[int, ...]:
        """A choice vector drawn as ``ask`` would draw it, without proposing it: no id, nothing
        pending, nothing to tell. A one-shot search trains its shared weights on such paths,
        so they follow the strategy's current distribution (ENAS, Pham et al. 2018, Sec. 2.2:
        the shared weights are trained on architectures sampled from the controller's policy)."""
        choices = tuple(int(c) for c in self._propose())
        self._drawn()
        return choices

    def tell(self, pid: int, reward: float, *, failed: bool = False,
             metrics: Mapping[str, float] | None = None) -> None:
        """Report the reward of proposal ``pid`` (higher is better).

        ``failed=True`` marks an evaluation that broke (diverged, ran out of memory);
        what a strategy does with it is documented on the strategy. A reward that is
        not finite must be reported as a failure.

        ``metrics`` are named numbers measured on the architecture beside the reward, e.g.
        ``{"accuracy": 0.93, "params": 1.2e6, "macs": 3.4e7, "latency_ms": 1.8}``; a
        multi-objective strategy learns from them (``needs`` names those it requires in
        every successful tell). They are kept in ``history`` when given. Like the reward,
        they must be finite unless the evaluation failed.
        """
        proposal = self._pending_proposal(pid)
        pid = proposal.id
        try:
            reward = float(reward)
        except (TypeError, ValueError):
            raise NasError(f"reward for proposal {pid} must be a number, got {reward!r}") from None
        if not failed and not math.isfinite(reward):
            raise NasError(
                f"reward for proposal {pid} is {reward}; report a broken evaluation "
                "with tell(pid, reward, failed=True)"
            )
        told = _check_metrics(pid, metrics, bool(failed), self.needs, self.name)
        self._check_tell(reward, failed)
        del self._pending[pid]
        entry = {"id": pid, "arch": proposal.arch, "choices": proposal.choices,
                 "reward": reward, "failed": bool(failed)}
        if metrics is not None:  # only when given: states saved before metrics existed still load
            entry["metrics"] = dict(told)
        self._history.append(entry)
        self._observe(proposal, reward, bool(failed), metrics=told)

    @property
    def needs(self) -> tuple[str, ...]:
        """Names of the metrics every successful ``tell`` must carry (none for a single-objective
        strategy); a search driver reads this to know what to measure, e.g. ``"latency_ms"``."""
        return ()

    @property
    def history(self) -> list[dict]:
        """One dict per told proposal, in the order told: id, arch, choices, reward, failed, and
        ``metrics`` when the tell gave some."""
        return [dict(h) for h in self._history]

    @property
    def pending(self) -> tuple[Proposal, ...]:
        """Proposals asked and not yet told, by id."""
        return tuple(self._pending[i] for i in sorted(self._pending))

    def best(self) -> tuple[str, float] | None:
        """``(arch, reward)`` of the best non-failed proposal (earliest on ties), or None."""
        best = None
        for h in self._history:
            if not h["failed"] and (best is None or h["reward"] > best["reward"]):
                best = h
        return None if best is None else (best["arch"], best["reward"])

    def state_dict(self) -> dict:
        """Everything needed to continue exactly; plain types and tensors only (copies)."""
        state = {
            "strategy": self.name,
            "format": STATE_FORMAT,
            "seed": self.seed,
            "options": dataclasses.asdict(self.options),
            "space": copy.deepcopy(self._signature),
            "rng": self._rng.get_state(),
            "next_id": self._next_id,
            "pending": [_proposal_to_plain(p) for p in self.pending],
            "history": [dict(h, choices=list(h["choices"])) for h in self._history],
        }
        state.update(copy.deepcopy(self._extra_state()))
        return state

    def load_state_dict(self, state: Mapping) -> None:
        """Restore a ``state_dict()`` into a strategy built with the same name, space and options."""
        if state.get("strategy") != self.name:
            raise ConfigError(
                f"state is for strategy {state.get('strategy')!r}, not {self.name!r}"
            )
        if state.get("format") != STATE_FORMAT:
            raise ConfigError(f"unsupported state format {state.get('format')!r}")
        mine = dataclasses.asdict(self.options)
        if set(mine) != set(state["options"]):
            odd = sorted(set(mine) ^ set(state["options"]))
            raise ConfigError(
                f"state was saved by another version of strategy {self.name!r} (options "
                f"{', '.join(odd)} are in one and not the other); it cannot continue here: start a new run"
            )
        for key in sorted(set(mine) | set(state["options"])):
            if mine.get(key) != state["options"].get(key):
                raise ConfigError(
                    f"option {key!r} differs: state has {state['options'].get(key)!r}, "
                    f"this strategy {mine.get(key)!r}"
                )
        if [list(s) for s in state["space"]] != self._signature:
            raise SpaceError("state was saved for a different space (decisions differ)")
        state = copy.deepcopy(dict(state))
        self.seed = int(state["seed"])
        self._rng.set_state(state["rng"])
        self._next_id = int(state["next_id"])
        self._pending = {int(p["id"]): _proposal_from_plain(p) for p in state["pending"]}
        self._history = [dict(h, choices=tuple(h["choices"])) for h in state["history"]]
        self._load_extra_state(state)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(seed={self.seed}, {self.options}, "
                f"told={len(self._history)}, pending={len(self._pending)})")

    # -- for subclasses -----------------------------------------------------------

    def _setup(self) -> None:
        """Build strategy-specific state (called at the end of ``__init__``)."""

    def _propose(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _drawn(self) -> Any:
        """What a strategy keeps about the draw ``_propose`` just made (called right after it),
        handed to ``_accept`` if that draw becomes a proposal."""
        return None

    def _accept(self, proposal: Proposal, drawn: Any) -> None:
        """A draw became ``proposal`` (it is pending now)."""

    def _check_tell(self, reward: float, failed: bool) -> None:
        """Raise before any state changes when this strategy cannot use the reward."""

    def _observe(self, proposal: Proposal, reward: float, failed: bool, *,
                 metrics: Mapping[str, float]) -> None:
        """Learn from one told proposal; ``metrics`` are the tell's (checked, ``{}`` when none)."""

    def _extra_state(self) -> dict:
        return {}

    def _load_extra_state(self, state: dict) -> None:
        pass

    # -- helpers ------------------------------------------------------------------

    def _uniform_choices(self) -> tuple[int, ...]:
        """One option per decision, uniformly, from the strategy's generator."""
        return tuple(
            int(torch.randint(n, (1,), generator=self._rng)) for n in self._n_options
        )

    def _sample_valid(self, draw: Callable[[], tuple[int, ...]],
                      rejected: Callable[[tuple[int, ...]], None] | None = None) -> tuple[int, ...]:
        """Rejection sampling: redraw until ``space.is_valid``, at most ``MAX_TRIES`` times.
        ``rejected`` is called with each invalid draw (a model-based strategy closes its trial)."""
        for _ in range(MAX_TRIES):
            choices = draw()
            if self.space.is_valid(choices):
                return choices
            if rejected is not None:
                rejected(choices)
        raise SpaceError(
            f"strategy {self.name!r} drew {MAX_TRIES} invalid architectures in a row: "
            "the space's constraints (e.g. max params / MACs) admit too little of it; "
            "relax them"
        )

    def _pending_proposal(self, pid: int) -> Proposal:
        try:
            if isinstance(pid, bool):
                raise TypeError
            pid = operator.index(pid)  # int, or numpy / torch integer scalars
        except TypeError:
            raise NasError(f"tell() takes a proposal id (int, e.g. p.id), got {pid!r}") from None
        if pid in self._pending:
            return self._pending[pid]
        if 0 <= pid < self._next_id:
            raise NasError(f"proposal {pid} was already told")
        raise NasError(f"unknown proposal id {pid}: no such proposal was asked")


def _check_metrics(pid: int, metrics: Mapping[str, float] | None, failed: bool,
                   needs: tuple[str, ...], name: str) -> dict[str, float]:
    """The tell's metrics as ``{str: float}``; a NasError naming the bad or missing key."""
    if metrics is None:
        metrics = {}
    if not isinstance(metrics, Mapping):
        raise NasError(f"metrics for proposal {pid} must be a mapping of names to numbers, got {metrics!r}")
    out = {}
    for key, value in metrics.items():
        if not isinstance(key, str):
            raise NasError(f"metric names must be strings, got {key!r} for proposal {pid}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise NasError(f"metric {key!r} of proposal {pid} must be a number, got {value!r}")
        value = float(value)
        if not failed and not math.isfinite(value):
            raise NasError(f"metric {key!r} of proposal {pid} is {value}; report a broken evaluation "
                           "with tell(pid, reward, failed=True)")
        out[key] = value
    if not failed:
        for key in needs:
            if key not in out:
                raise NasError(f"strategy {name!r} needs metric {key!r} in every successful tell; "
                               f"proposal {pid} was told {sorted(out) or 'none'}")
    return out


def _proposal_to_plain(p: Proposal) -> dict:
    return {"id": p.id, "arch": p.arch, "choices": list(p.choices)}


def _proposal_from_plain(d: Mapping) -> Proposal:
    return Proposal(int(d["id"]), str(d["arch"]), tuple(int(c) for c in d["choices"]))


def check_options(name: str, options: Mapping[str, Any]) -> Any:
    """The options of strategy ``name``, checked (a ConfigError naming the key), without
    building the strategy: what a search validates before it creates anything."""
    return _options(STRATEGIES.get(name).Options, options, name)


def _options(cls: type, options: Mapping[str, Any], name: str) -> Any:
    # An options class may expand a preset first (``resolve``); the keys are checked after.
    resolve = getattr(cls, "resolve", None)
    if resolve is not None and isinstance(options, Mapping):
        options = resolve(dict(options))
    return from_dict(cls, options, owner=f"strategy {name!r}")


def get(name: str, space: Space, seed: int = 0, **options: Any) -> Strategy:
    """Build the strategy registered as ``name`` over ``space``.

    >>> s = get("random", space, seed=0)          # doctest: +SKIP
    >>> s = get("reinforce", space, batch_size=10)  # doctest: +SKIP
    """
    return STRATEGIES.get(name)(space, seed=seed, **options)


def names() -> list[str]:
    """Registered strategy names."""
    return STRATEGIES.names()
