"""The search driver: it runs (or resumes) a search in a run folder with Ray Tune.

:class:`SearchDriver` owns the strategy, the budget and the run folder; it decides what runs
next and records what finished, durable state first (no Ray needed: unit-tested).
:func:`run_search` resolves a configuration into a run folder, starts or joins Ray and runs
Tune with :class:`~nas.tune.searcher.StrategySearcher` over the driver. What the search
wants shown (start, each recorded trial, warnings) goes to its :class:`SearchEvents`.
"""
from __future__ import annotations

import datetime as _dt
import os
import shlex
import shutil
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Collection

from .. import strategies
from .._util import first_line, torch_threads
from ..errors import ArchError, ConfigError, NasError, RunBusyError, RunFolderError
from ..nn import check_size
from ..space import SearchSpace
from ..strategies import Proposal
from ..train import TrainConfig, data
from .cluster import check_resources, start_ray, stop_ray
from .config import SearchConfig
from .reward import RewardConfig, compute_reward, window_max
from .runstore import RunLock, RunStore, check_name
from .tensorboard import ControllerLogger
from .trial import run_trial

METRIC = "val_acc"  # what ASHA compares between trials at equal epochs


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class SearchEvents:
    """What a search tells its caller; override to show it. By default: nothing, and warnings
    through Python's ``warnings`` module (the CLI prints them all)."""

    def started(self, driver: "SearchDriver") -> None:
        """The search is about to run (``driver.finished()`` when it has nothing left to do)."""

    def recorded(self, driver: "SearchDriver", record: dict[str, Any]) -> None:
        """A trial was recorded (trials.jsonl, best.json and the strategy state are written)."""

    def warning(self, message: str) -> None:
        warnings.warn(message, stacklevel=2)

    def info(self, message: str) -> None:
        """Something the user should know that is not a problem (a rebuilt strategy state)."""


class SearchDriver:
    """The state of one search: strategy, budget, records, live trials; no Ray here.

    ``next_config(trial_id)`` returns the next trial's config, ``None`` to wait, or
    ``"FINISHED"``; ``complete(trial_id, result, error)`` scores and records a trial.
    """

    def __init__(self, config: SearchConfig, space: SearchSpace, store: RunStore, *, attempt: int = 1,
                 events: SearchEvents | None = None, rebuild_strategy: bool = False):
        self.config = config
        self.space = space
        self.store = store
        self.attempt = attempt
        self.events = events if events is not None else SearchEvents()
        self.reward_config = RewardConfig.from_dict(config.reward)
        self.train_config = TrainConfig.from_dict({"epochs": config.epochs, **config.train})
        self.strategy = strategies.get(config.strategy, space, seed=config.seed, **config.strategy_options)
        self.records: list[dict[str, Any]] = store.read_trials()
        self.by_proposal = {r["proposal"]: r for r in self.records}
        self.by_arch: dict[str, dict[str, Any]] = {}
        for r in self.records:
            self._remember(r)
        self.live: dict[str, Proposal] = {}
        self.requeue: list[Proposal] = []
        self.first_done = len(self.records)  # for the ETA: trials finished in this attempt
        if rebuild_strategy:
            self._replay()
        else:
            self._restore_state()
        # The controller's scalars go to runs/NAME/tensorboard/, beside Ray's trial logs.
        self.controller_log = ControllerLogger(store.root, decision_names=[d.name for d in space.decisions],
                                               start_after=len(getattr(self.strategy, "updates", [])))
        self.broken: set[str] = set()  # side outputs that failed once and are off for this attempt
        self.best_written: int | None = None
        self._write_best()  # best.json is always recomputed from the log when a run is opened
        self._reconcile()

    @classmethod
    def resume(cls, config: SearchConfig, space: SearchSpace, store: RunStore, *,
               events: SearchEvents | None = None, rebuild_strategy: bool = False) -> SearchDriver:
        """The driver of an existing run, as ``--resume`` opens it. Only once every check has
        passed is a torn last record (a kill mid-write) set aside, and said: a refused resume
        changes nothing."""
        attempt = 1 + max((int(p.name.split("-")[-1]) for p in store.ray_dir.glob("attempt-*")
                           if p.name.split("-")[-1].isdigit()), default=0)
        driver = cls(config, space, store, attempt=attempt, events=events, rebuild_strategy=rebuild_strategy)
        torn = store.set_aside_torn_tail()
        if torn:
            driver.events.warning(f"{store.trials_path}: set aside a torn last line ({torn} bytes, a write cut off "
                                  "by a crash; kept in trials.jsonl.torn); every complete record is kept")
        return driver

    # -- the strategy's state ------------------------------------------------------------
    def _rebuild_hint(self, what: str) -> ConfigError:
        return ConfigError(f"{what}; the run has {self.done} recorded trials and nothing was changed. To go on, "
                           f"add --rebuild-strategy: it replays the recorded trials into a fresh {self.config.strategy} "
                           "strategy (the old file is kept beside it)")

    def _restore_state(self) -> None:
        """strategy.pt into the strategy. A run with records always has one (it is first written
        when the run is created), so a missing, damaged or foreign one is an error naming it:
        a strategy restarted from scratch would not be the run the records describe."""
        try:
            state = self.store.load_state()
        except ConfigError as e:
            raise self._rebuild_hint(str(e)) from None
        if state is None:
            if self.records:
                raise self._rebuild_hint(f"{self.store.state_path} is missing")
            return
        try:
            self.strategy.load_state_dict(state)
        except Exception as e:  # noqa: BLE001  (a state of another run, format or space: KeyError, ConfigError, ...)
            msg = first_line(e) or type(e).__name__
            raise self._rebuild_hint(f"{self.store.state_path} does not fit this run ({msg})") from None

    def _replay(self) -> None:
        """``--rebuild-strategy``: tell a fresh strategy the recorded trials in the order the
        search told them, asking as the search asked (``concurrency`` proposals in flight; a
        reused architecture is told at its ask). The strategy is deterministic from its seed,
        so every re-asked proposal must give the architecture recorded for it; if one does
        not, the replay is not this run and is refused before anything is changed."""
        concurrency, in_flight = self.config.concurrency, 0
        last = max((r["proposal"] for r in self.records), default=-1)

        def asked() -> int:
            return len(self.strategy.history) + len(self.strategy.pending)

        def fill(need: int) -> None:  # ask up to proposal ``need``, and while slots are free
            nonlocal in_flight
            while asked() <= last and (asked() <= need or in_flight < concurrency):
                p = self.strategy.ask()
                rec = self.by_proposal.get(p.id)
                if rec is not None and rec["arch"] != p.arch:
                    raise ConfigError(
                        f"--rebuild-strategy: replaying the records, proposal {p.id} comes out as {p.arch!r}, but "
                        f"trial {rec['trial']} recorded {rec['arch']!r}: the run cannot be replayed exactly "
                        f"(its trials finished in an order the replay cannot know); nothing was changed")
                if rec is not None and rec.get("reused") is not None:
                    self.strategy.tell(p.id, rec["reward"], failed=rec["status"] != "ok")
                else:
                    in_flight += 1

        for rec in self.records:
            fill(rec["proposal"])
            if rec.get("reused") is None:
                self.strategy.tell(rec["proposal"], rec["reward"], failed=rec["status"] != "ok")
                in_flight -= 1
        aside = self.store.set_aside_state()
        self.store.save_state(self.strategy.state_dict())
        kept = f"; the old one is kept as {aside.name}" if aside else ""
        self.events.info(f"rebuilt {self.store.state_path} from {self.done} recorded trials{kept}")

    # -- resume ------------------------------------------------------------------------
    def _reconcile(self) -> None:
        """Make the restored strategy agree with trials.jsonl (the source of truth)."""
        for p in self.strategy.pending:
            rec = self.by_proposal.get(p.id)
            if rec is not None:  # finished and recorded, but the kill came before the state was saved
                self.strategy.tell(p.id, rec["reward"], failed=rec["status"] != "ok")
            else:  # asked and never finished: run it again, first
                self.requeue.append(p)
        # Records the restored strategy has never seen at all are re-asked in order by
        # ``_ask`` (the strategy is deterministic from its saved state) and told from the file.

    # -- budget --------------------------------------------------------------------------
    @property
    def done(self) -> int:
        return len(self.records)

    @property
    def remaining(self) -> int:
        return max(0, self.config.trials - self.done - len(self.live))

    def finished(self) -> bool:
        return self.done >= self.config.trials

    # -- choosing the next trial -----------------------------------------------------------
    def _ask(self) -> Proposal | None:
        """The next proposal to train, telling the strategy directly where no training is needed."""
        for _ in range(10_000):
            if self.requeue:
                return self.requeue.pop(0)
            if self.remaining <= 0:
                return None
            p = self.strategy.ask()
            rec = self.by_proposal.get(p.id)
            if rec is not None:  # re-asked after a resume: already recorded
                if rec["arch"] != p.arch:
                    raise ConfigError(
                        f"{self.store.state_path} disagrees with {self.store.trials_path}: proposal {p.id} is "
                        f"{p.arch!r} but trial {rec['trial']} recorded {rec['arch']!r}; resume with "
                        "--rebuild-strategy to rebuild the strategy from the records")
                self.strategy.tell(p.id, rec["reward"], failed=rec["status"] != "ok")
                continue
            cached = self.by_arch.get(p.arch) if self.config.reuse else None
            if cached is not None:  # evaluated earlier in this run: reuse, don't train again
                self._record(p, dict(cached, seconds=0.0), reused_from=cached["trial"])
                continue
            too_large = self._too_large(p.arch)
            if too_large:  # refused before anything is allocated: a failed proposal, not a crashed trial
                self._record(p, self._failed(too_large))
                continue
            return p
        raise NasError("the strategy keeps proposing architectures this run has already evaluated")

    def next_config(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.remaining <= 0 and not self.requeue:
            return "FINISHED" if not self.live else None
        p = self._ask()
        if p is None:
            return "FINISHED" if not self.live else None
        self.live[trial_id] = p
        seed = self.train_config.seed + self.config.seed * 100_003 + p.id
        train = dict(self.train_config.to_dict(), seed=seed, threads=max(1, int(self.config.cpus_per_trial)))
        return {"arch": p.arch, "proposal": p.id, "train": train, "report_every_epoch": self.config.asha}

    def _too_large(self, arch: str) -> str | None:
        """Why ``arch`` cannot be built within nas.limits (counted on shapes alone), or None."""
        try:
            check_size(arch, self.space.input_shape, self.space.num_classes)
        except ArchError as e:
            return f"refused before training: {e}"
        return None

    def _failed(self, reason: str) -> dict[str, Any]:
        reward = compute_reward(self.reward_config, [], 0, 0, True)
        return {"reward": reward, "val_acc": None, "val_accs": [], "params": None, "macs": None,
                "status": "failed", "reason": reason, "seconds": 0.0, "epochs": 0}

    # -- recording -----------------------------------------------------------------------
    def complete(self, trial_id: str, result: dict[str, Any] | None, error: bool = False) -> dict[str, Any] | None:
        p = self.live.pop(trial_id, None)
        if p is None:
            return None
        result = dict(result or {})
        if error:
            reason = "the trial raised or its worker died (see Ray's logs under the run's ray/ folder)"
            result.update(status="failed", reason=reason)
        failed = result.get("status") != "ok"
        val_accs = [float(v) for v in result.get("val_accs") or []]
        stopped = (not failed) and len(val_accs) < self.train_config.epochs
        reward = compute_reward(self.reward_config, val_accs, int(result.get("params") or 0),
                                int(result.get("macs") or 0), failed)
        rec = {
            "reward": reward,
            "val_acc": window_max(val_accs, self.reward_config.window) if val_accs else None,
            "val_accs": val_accs,
            "params": result.get("params"),
            "macs": result.get("macs"),
            "status": "failed" if failed else "ok",
            "reason": result.get("reason") if failed else None,
            "seconds": result.get("seconds"),
            "epochs": len(val_accs),
            "stopped_early": stopped,
            "ray_trial_id": trial_id,
            "started_at": result.get("started_at"),
            "device": result.get("device"),
            "gpu_ids": result.get("gpu_ids", []),
            "warnings": list(result.get("warnings") or []),
        }
        return self._record(p, rec)

    def _record(self, p: Proposal, rec: dict[str, Any], reused_from: int | None = None) -> dict[str, Any]:
        record = {
            "trial": self.done + 1,
            "proposal": p.id,
            "arch": p.arch,
            "reward": rec["reward"],
            "val_acc": rec["val_acc"],
            "params": rec["params"],
            "macs": rec["macs"],
            "status": rec["status"],
            "reason": rec.get("reason"),
            "seconds": rec["seconds"],
            "epochs": rec.get("epochs"),
            "val_accs": rec.get("val_accs", []),
            "stopped_early": bool(rec.get("stopped_early")),
            "reused": reused_from,
            "attempt": self.attempt,
            "ray_trial_id": rec.get("ray_trial_id") if reused_from is None else None,
            "device": rec.get("device") if reused_from is None else None,
            "gpu_ids": rec.get("gpu_ids", []) if reused_from is None else [],
            "started_at": rec.get("started_at") if reused_from is None else None,
            "finished_at": _now(),
            "warnings": rec.get("warnings", []) if reused_from is None else [],
        }
        # Durable state first, in this order: the trial record (the source of truth), best.json,
        # the strategy's state. A failure here propagates and stops the search (see
        # StrategySearcher); resume repairs whatever came after the record.
        self.store.append_trial(record)
        self.records.append(record)
        self.by_proposal[p.id] = record
        self._remember(record)
        self._write_best()
        # ASHA's early stop is a verdict of this search, not a failure: the strategy gets the
        # reward of the epochs the trial ran (lower, as its accuracy had not caught up).
        self.strategy.tell(p.id, record["reward"], failed=record["status"] != "ok")
        self.store.save_state(self.strategy.state_dict())
        # Side outputs only then: each failure is one warning, and the search goes on.
        self.side("TensorBoard logging", self.controller_log.log_new, getattr(self.strategy, "updates", []))
        self.side("progress output", self.events.recorded, self, record)
        return record

    def _write_best(self) -> None:
        """best.json names the best ok trial of trials.jsonl; rewritten only when that changes."""
        best = self.best()
        if best is not None and (self.best_written is None or best["trial"] != self.best_written):
            self.store.write_best(best)
            self.best_written = best["trial"]

    def side(self, what: str, fn, *args) -> None:
        """Run an optional side output; the first failure disables it with one warning line."""
        if what in self.broken:
            return
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001  (any failure of a side output is survivable)
            self.broken.add(what)
            msg = first_line(e)
            self.events.warning(f"{what} failed ({type(e).__name__}{': ' + msg if msg else ''}); "
                                "the search goes on without it")

    def _remember(self, record: dict[str, Any]) -> None:
        """An architecture counts as evaluated (for reuse) once it trained to the end."""
        if record["status"] == "ok" and not record.get("stopped_early"):
            self.by_arch.setdefault(record["arch"], record)

    def best(self) -> dict[str, Any] | None:
        ok = [r for r in self.records if r["status"] == "ok"]
        return max(ok, key=lambda r: (r["reward"], -r["trial"])) if ok else None


# ---------------------------------------------------------------------------------------
# Resolving a run: everything is validated before the run folder is created.
# ---------------------------------------------------------------------------------------

# Settings a resume may give differently: how to find the run, and where this attempt runs.
WHERE = ("name", "runs_dir", "address", "data_dir")
# What identifies the dataset's content in config.yaml's `dataset` (not where its files are).
DATASET_FINGERPRINT = ("dataset", "sizes", "seed", "val_fraction", "mean", "std", "scale")


def resolve(config: SearchConfig, *, resume: bool,
            explicit: Collection[str] | None = None) -> tuple[SearchConfig, SearchSpace, RunStore]:
    """Check the whole configuration and pick the run folder; creates nothing on disk.

    On ``resume`` the run continues exactly as it was started. ``explicit`` names the settings
    the caller gave (the CLI: its flags and its --config file; default: every setting that
    differs from SearchConfig's defaults). Of those, ``trials`` may only grow, the places in
    ``WHERE`` may change, and any other that differs from the run's is refused.
    """
    space = SearchSpace.load(config.space)

    dataset = config.dataset or space.dataset
    if dataset is None:
        raise ConfigError(f"space {space.name!r} names no dataset: give one with --dataset "
                          f"(one of {', '.join(data.names())})")
    if dataset not in data.names():
        data.DATASETS.get(dataset)  # raises with a did-you-mean
    given = replace(config, dataset=dataset)
    strategies.check_options(given.strategy, given.strategy_options)
    RewardConfig.from_dict(given.reward)
    TrainConfig.from_dict({"epochs": given.epochs, **given.train})
    runs_dir = Path(given.runs_dir).expanduser().resolve()
    _check_writable(runs_dir)
    if given.name is not None:
        name = check_name(given.name)
        store = RunStore(runs_dir / name)
        if resume and not store.exists():
            raise ConfigError(f"--resume: there is no run {name!r} in {runs_dir}")
        if not resume:
            _check_free(store)
    else:
        base = check_name(f"{space.name}-{given.strategy}")
        if resume:
            taken = _runs_named(runs_dir, base)
            if not taken:
                raise ConfigError(f"--resume: no earlier run named {base}[-N] in {runs_dir}; give --name")
            store = taken[-1]
        else:
            store = _next_free(runs_dir, base)
    if not resume:
        return replace(given, name=store.root.name), space, store
    if explicit is None:
        defaults = SearchConfig()
        explicit = {f for f in SearchConfig.fields() if getattr(config, f) != getattr(defaults, f)}
    return _resumed(store, given, space, set(explicit))


def _resumed(store: RunStore, given: SearchConfig, space: SearchSpace,
             explicit: set[str]) -> tuple[SearchConfig, SearchSpace, RunStore]:
    """The run's own settings and its own copy of the space, checked against what was given."""
    name = store.root.name
    stored = store.read_config()
    saved = SearchConfig.from_dict(stored["search"], where=str(store.config_path))
    try:  # the run's own copy: an edited or moved original does not change the run
        own = SearchSpace.loads(store.space_path.read_bytes(), source=saved.space, path=Path(saved.space))
    except OSError as e:
        raise ConfigError(f"{store.space_path}: cannot read the run's copy of its space ({e.strerror or e})") from None
    if own.hash != stored.get("space_hash"):
        raise ConfigError(f"{store.space_path} differs from the space run {name!r} was started with "
                          f"(sha256 in {store.config_path.name}); restore it")

    def refuse(setting: str, was: Any, now: Any) -> ConfigError:
        return ConfigError(f"run {name!r} was started with {setting} {was}, not {now}; --resume continues a run "
                           "exactly as it was started: leave the setting out, or start a new run with another --name")

    if "space" in explicit and space.hash != own.hash:
        raise refuse("the space", f"{saved.space!r} (its copy is {store.space_path})", f"{given.space!r}")
    for field in sorted(explicit - set(WHERE) - {"space", "trials"}):
        was, now = getattr(saved, field), getattr(given, field)
        if was != now:
            raise refuse(field, repr(was), repr(now))
    trials = saved.trials
    if "trials" in explicit and given.trials != saved.trials:
        if given.trials < saved.trials:
            raise ConfigError(f"run {name!r} has a budget of {saved.trials} trials; --resume can raise it "
                              f"(--trials N with N > {saved.trials}) but not lower it to {given.trials}")
        trials = given.trials
    places = {f: getattr(given, f) for f in ("address", "data_dir") if f in explicit}
    return replace(saved, trials=trials, name=name, runs_dir=given.runs_dir, **places), own, store


def _check_free(store: RunStore) -> None:
    """A new run's folder must not exist, or hold nothing but a lock left by a killed start."""
    if store.exists():
        raise ConfigError(f"run {store.root.name!r} already exists in {store.root.parent}: add --resume to "
                          "continue it, or pick another --name")
    foreign = store.foreign_entries()
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise ConfigError(f"{store.root} exists and is not a run of nas (it holds {shown}); nothing in it is "
                          "touched: pick another --name or move that folder")


def _runs_named(runs_dir: Path, base: str) -> list[RunStore]:
    """The runs ``base``, ``base-2``, ... in ``runs_dir``, by number."""
    found = [p for p in runs_dir.glob(f"{base}*") if _numbered(p.name, base) and (p / "config.yaml").is_file()]
    return [RunStore(p) for p in sorted(found, key=lambda p: _numbered(p.name, base))]


def _next_free(runs_dir: Path, base: str, after: int = 0) -> RunStore:
    """The first free folder ``base``, ``base-2``, ... numbered above every run and above ``after``."""
    taken = _runs_named(runs_dir, base)
    n = max(_numbered(taken[-1].root.name, base) if taken else 0, after) + 1
    while True:
        store = RunStore(runs_dir / (base if n == 1 else f"{base}-{n}"))
        if not store.exists() and not store.foreign_entries():
            return store
        n += 1


def _check_writable(folder: Path) -> None:
    """The runs folder must be creatable and writable, checked without creating anything."""
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"cannot create the runs folder {folder}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write to {probe} (permission denied)")


def _numbered(folder: str, base: str) -> int:
    if folder == base:
        return 1
    rest = folder[len(base):]
    return int(rest[1:]) if rest.startswith("-") and rest[1:].isdigit() else 0


def run_search(config: SearchConfig, *, resume: bool = False, events: SearchEvents | None = None,
               trainable: Callable = run_trial, explicit: Collection[str] | None = None,
               rebuild_strategy: bool = False) -> SearchDriver:
    """Run (or resume) a search to its full budget of trials; returns its finished driver.

    Everything that can fail on bad input (config, space, dataset files, the Ray address)
    is checked before the run folder is created, and a new run that fails before its first
    record leaves no folder behind. The search holds the run's writer lock throughout.
    ``trainable(config, splits=...)`` trains one trial (default :func:`~nas.tune.trial.run_trial`);
    ``explicit`` and ``rebuild_strategy``: see :func:`resolve` and :class:`SearchDriver`.
    """
    events = events if events is not None else SearchEvents()
    auto_name = config.name is None  # a default name moves on to the next free number when taken
    config, space, store = resolve(config, resume=resume, explicit=explicit)
    splits = data.load(config.dataset, config.data_dir, val_fraction=config.val_fraction, seed=config.seed)
    lock, store = _claim(store, new=not resume, auto_name=auto_name)
    config = replace(config, name=store.root.name)
    created = not resume
    try:
        if resume:
            _check_resumable(store, config, splits.meta)
        started_ray = start_ray(config)
        # The driver only runs the controller: its tiny ops are ~10x slower with several
        # threads competing with the trials for the same cores.
        with torch_threads(1):
            try:
                check_resources(config)
                driver = _open(config, space, store, splits, resume=resume, events=events,
                               rebuild_strategy=rebuild_strategy)
                events.started(driver)
                if not driver.finished():
                    try:
                        _tune(driver, splits, trainable)
                    finally:
                        driver.side("TensorBoard logging", driver.controller_log.close)
                return driver
            finally:
                if started_ray:
                    stop_ray()
    except BaseException:
        if created and not store.read_trials():
            shutil.rmtree(store.root, ignore_errors=True)  # a new run with no result: leave no half-made folder
        raise
    finally:
        lock.release()


def _claim(store: RunStore, *, new: bool, auto_name: bool) -> tuple[RunLock, RunStore]:
    """Take the run's writer lock. A new run's folder is created here, under the lock, and
    re-checked there (two searches may have picked the same name); a default name moves on
    to the next free number instead of failing."""
    while True:
        try:
            lock = store.lock()
        except RunBusyError:
            if not (new and auto_name):
                raise
            store = _next_free(store.root.parent, _base_of(store.root.name), _numbered_any(store.root.name))
            continue
        if not new:
            return lock, store
        try:
            _check_free(store)
            return lock, store
        except ConfigError:
            lock.release()
            if not auto_name:
                raise
            store = _next_free(store.root.parent, _base_of(store.root.name), _numbered_any(store.root.name))


def _base_of(name: str) -> str:
    head, _, tail = name.rpartition("-")
    return head if head and tail.isdigit() else name


def _numbered_any(name: str) -> int:
    return _numbered(name, _base_of(name))


def _check_resumable(store: RunStore, config: SearchConfig, meta: dict[str, Any]) -> None:
    """Under the lock: the dataset is the one the run started with, and a raised budget is
    written to config.yaml before any trial runs on it."""
    stored = store.read_config()
    was = {k: (stored.get("dataset") or {}).get(k) for k in DATASET_FINGERPRINT}
    now = {k: meta.get(k) for k in DATASET_FINGERPRINT}
    if was != now:
        differ = ", ".join(k for k in DATASET_FINGERPRINT if was[k] != now[k])
        raise ConfigError(f"the dataset {config.dataset!r} loaded now differs from the one run {config.name!r} "
                          f"was started with ({differ}); resume with the original files (--data-dir)")
    if stored["search"].get("trials") != config.trials:
        stored["search"]["trials"] = config.trials
        stored.setdefault("budget", []).append({"trials": config.trials, "at": _now()})
        store.write_config(stored)


def _open(config: SearchConfig, space: SearchSpace, store: RunStore, splits, *, resume: bool,
          events: SearchEvents, rebuild_strategy: bool) -> SearchDriver:
    """The driver of a new run (config.yaml, space.yaml and the strategy's first state
    written) or of a resumed one (a torn last record set aside first, and said)."""
    if not resume:
        store.write_config({"search": config.to_dict(), "space_file": str(space.path), "space_hash": space.hash,
                            "dataset": splits.meta, "created": _now()}, Path(space.path).read_bytes())
        driver = SearchDriver(config, space, store, events=events)
        store.save_state(driver.strategy.state_dict())  # from now on a missing strategy.pt is an error
        return driver
    return SearchDriver.resume(config, space, store, events=events, rebuild_strategy=rebuild_strategy)


def _tune(driver: SearchDriver, splits, trainable: Callable) -> None:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from .searcher import StrategySearcher

    config = driver.config
    resources = tune.with_resources(
        tune.with_parameters(trainable, splits=splits),  # the dataset goes into the object store once
        {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial},
    )
    scheduler = None
    if config.asha:
        scheduler = ASHAScheduler(time_attr="epoch", max_t=config.epochs, grace_period=config.asha_grace,
                                  reduction_factor=config.asha_reduction)
    searcher = StrategySearcher(driver=driver, metric=METRIC, mode="max")
    tuner = tune.Tuner(
        resources,
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, metric=METRIC, mode="max",
            num_samples=-1, max_concurrent_trials=config.concurrency, reuse_actors=config.reuse_actors,
        ),
        run_config=tune.RunConfig(
            name=f"attempt-{driver.attempt}", storage_path=str(driver.store.ray_dir), verbose=0,
            stop=searcher.stopper(),
            failure_config=tune.FailureConfig(max_failures=config.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        ),
    )
    tuner.fit()
    e = searcher.fatal
    if isinstance(e, OSError):  # disk full, permissions, a vanished folder: one line, exit 1
        where = f" {e.filename}" if e.filename else ""
        raise RunFolderError(f"cannot write{where} ({e.strerror or e}); the search stopped after {driver.done} "
                             f"recorded trials. Fix the cause, then continue with: {resume_command(driver.config)}") from e
    if e is not None:  # a NasError is one line already; anything else is a bug and keeps its traceback
        raise e


def resume_command(config: SearchConfig) -> str:
    """The command that continues this run: every flag needed to find it again, and where it
    ran (the cluster, the dataset's folder). Everything else comes from the run folder."""
    flags = [f"--name {shlex.quote(str(config.name))}"]
    if Path(config.runs_dir) != Path(SearchConfig.runs_dir):
        flags.append(f"--runs-dir {shlex.quote(str(config.runs_dir))}")
    for flag, value in (("--address", config.address), ("--data-dir", config.data_dir)):
        if value:
            flags.append(f"{flag} {shlex.quote(str(value))}")
    return f"nas search {' '.join(flags)} --resume"
