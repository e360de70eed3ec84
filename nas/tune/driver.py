"""The search driver: it runs (or resumes) a search in a run folder with Ray Tune.

:class:`SearchDriver` owns the strategy, the budget and the run folder; it decides what runs
next and records what finished, durable state first (no Ray needed: unit-tested).
:func:`run_search` resolves a configuration into a run folder and claims it
(:mod:`nas.tune.runs`), starts or joins Ray and runs Tune with :class:`~nas.tune.searcher.StrategySearcher` over the driver. What the search
wants shown (start, each recorded trial, warnings) goes to its :class:`SearchEvents`.
"""
from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import strategies
from .._util import first_line, torch_threads, utc_now
from ..errors import ArchError, ConfigError, NasError, RunFolderError
from ..nn import check_size
from ..space import SearchSpace
from ..strategies import Proposal
from ..train import TrainConfig, data
from .cluster import check_resources, start_ray, stop_ray
from .config import SearchConfig, evaluation_mode, prefilter_spec
from .reward import RewardConfig, compute_reward, window_max
from .runs import check_resumable, claim, default_name, resolve, resume_command
from .runstore import RunStore
from .tensorboard import ControllerLogger
from .trial import run_trial

METRIC = "val_acc"  # what ASHA compares between trials at equal epochs


class SearchEvents:
    """What a search tells its caller; override to show it. By default: nothing, and warnings
    through Python's ``warnings`` module (the CLI prints them all)."""

    def started(self, driver: "SearchDriver") -> None:
        """The search is about to run (``driver.finished()`` when it has nothing left to do)."""

    def recorded(self, driver: "SearchDriver", record: dict[str, Any]) -> None:
        """A trial was recorded (trials.jsonl, best.json and the strategy state are written)."""

    def shared_epoch(self, driver: "SearchDriver", metrics: dict[str, Any]) -> None:
        """A one-shot search trained its shared weights for an epoch (``metrics``: epoch,
        total, loss, seconds) and checkpointed them."""

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
                 events: SearchEvents | None = None, rebuild_strategy: bool = False, splits=None):
        self.config = config
        self.space = space
        self.store = store
        self.attempt = attempt
        self.events = events if events is not None else SearchEvents()
        self.reward_config = RewardConfig.from_dict(config.reward)
        self.train_config = TrainConfig.from_dict({"epochs": config.epochs, **config.train})
        self.strategy = strategies.get(config.strategy, space, seed=config.seed, **config.strategy_options)
        # "full": every proposal is a Ray trial. "shared" / "proxy": proposals are scored in this
        # process (their records say so), then the best are retrained in Ray trials (records
        # with evaluation "full" and retrain_of), which alone decide best.json.
        self.evaluation, self.proxy = evaluation_mode(config.evaluation)
        self.prefilter = prefilter_spec(config.prefilter) if config.prefilter else None
        self._proxy_scores: dict[tuple[str, str], float] = {}
        # Measured latency (MnasNet, Tan et al. 2019: latency on the target device, not a proxy),
        # once per architecture, cached in the run folder so a resume never measures again.
        self.max_latency_ms = getattr(space.constraints, "max_latency_ms", None)
        self.latency_config = self._latency_config()
        self.latency_cache = None
        if self.latency_config is not None:
            from ..latency import LatencyCache

            self.latency_cache = LatencyCache(store.latency_path).load()  # a damaged file stops the search here
        self.splits = splits  # the dataset: what zero-cost proxies score on
        self.records: list[dict[str, Any]] = store.read_trials()
        self.by_proposal = {r["proposal"]: r for r in self.records if self._searched(r)}
        self.by_arch: dict[str, dict[str, Any]] = {}
        for r in self.records:
            self._remember(r)
        self.live: dict[str, Proposal] = {}
        self.live_retrain: dict[str, dict[str, Any]] = {}  # Ray trial id -> the search record it retrains
        self.requeue: list[Proposal] = []
        self.first_done = self.done  # for the ETA: proposals evaluated in this attempt
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
               events: SearchEvents | None = None, rebuild_strategy: bool = False, splits=None) -> SearchDriver:
        """The driver of an existing run, as ``--resume`` opens it. Only once every check has
        passed is a torn last record (a kill mid-write) set aside, and said: a refused resume
        changes nothing."""
        attempt = 1 + max((int(p.name.split("-")[-1]) for p in store.ray_dir.glob("attempt-*")
                           if p.name.split("-")[-1].isdigit()), default=0)
        driver = cls(config, space, store, attempt=attempt, events=events, rebuild_strategy=rebuild_strategy,
                     splits=splits)
        torn = store.set_aside_torn_tail()
        if torn:
            driver.events.warning(f"{store.trials_path}: set aside a torn last line ({torn} bytes, a write cut off "
                                  "by a crash; kept in trials.jsonl.torn); every complete record is kept")
        return driver

    # -- latency -----------------------------------------------------------------------
    def _latency_config(self):
        """The LatencyConfig when this search measures latency, else None: when the settings
        ask for it, the reward's cost is latency, the space bounds it, or the strategy needs it."""
        wanted = (bool(self.config.latency) or self.reward_config.cost == "latency"
                  or self.max_latency_ms is not None
                  or "latency_ms" in getattr(self.strategy, "needs", ()))
        if not wanted:
            return None
        from ..latency import LatencyConfig, check_target

        config = LatencyConfig.from_dict(self.config.latency)
        check_target(config)  # a target this machine lacks (cuda, onnxruntime) is one line, before any trial
        return config

    def latency_ms(self, arch: str) -> float | None:
        """The measured latency of ``arch`` in ms (cached), or None when this search measures none."""
        if self.latency_cache is None:
            return None
        lat = self.latency_cache.measure(arch, self.space.input_shape, self.space.num_classes, self.latency_config)
        return float(lat.ms)

    def _over_latency(self, arch: str) -> dict[str, Any] | None:
        """The failed record of a proposal that cannot be measured or is over the space's
        ``max_latency_ms``: refused before it trains, as MnasNet's hard constraint would score it."""
        if self.latency_cache is None:
            return None
        try:
            ms = self.latency_ms(arch)
        except NasError as e:
            return self._failed(f"cannot measure its latency: {first_line(e)}")
        if self.max_latency_ms is not None and ms > self.max_latency_ms:
            c = self.latency_config
            rec = self._failed(f"refused before training: latency {ms:.3g} ms on {c.target} (batch {c.batch_size}, "
                               f"{c.threads} thread{'s' if c.threads != 1 else ''}) is over the space's "
                               f"max_latency_ms {self.max_latency_ms:g}")
            rec["latency_ms"] = ms
            return rec
        return None

    def _known_latency(self, arch: str) -> float | None:
        """The latency of an architecture ``_ask`` measured (a cache hit), or None."""
        if self.latency_cache is None:
            return None
        try:
            return self.latency_ms(arch)
        except NasError:
            return None

    def _metrics(self, rec: dict[str, Any]) -> dict[str, float]:
        """What a multi-objective strategy is told beside the reward: accuracy and the costs.
        In a proxy search the proxy's score stands in for the accuracy no network was trained for."""
        accuracy = rec.get("val_acc")
        if accuracy is None and rec.get("score") is not None:
            accuracy = rec["score"]
        pairs = (("accuracy", accuracy), ("params", rec.get("params")), ("macs", rec.get("macs")),
                 ("latency_ms", rec.get("latency_ms")))
        return {k: float(v) for k, v in pairs if v is not None}

    # -- the strategy's state ------------------------------------------------------------
    def _rebuild_hint(self, what: str) -> ConfigError:
        return ConfigError(f"{what}; the run has {len(self.records)} recorded trials and nothing was changed. To go on, "
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
        concurrency, in_flight = self.concurrency, 0
        searched = [r for r in self.records if self._searched(r)]
        last = max((r["proposal"] for r in searched), default=-1)

        def asked() -> int:
            return len(self.strategy.history) + len(self.strategy.pending)

        def fill(need: int) -> None:  # ask up to proposal ``need``, and while slots are free
            nonlocal in_flight
            while asked() <= last and (asked() <= need or in_flight < concurrency):
                p = self._strategy_ask()
                rec = self.by_proposal.get(p.id)
                if rec is not None and rec["arch"] != p.arch:
                    raise ConfigError(
                        f"--rebuild-strategy: replaying the records, proposal {p.id} comes out as {p.arch!r}, but "
                        f"trial {rec['trial']} recorded {rec['arch']!r}: the run cannot be replayed exactly "
                        f"(its trials finished in an order the replay cannot know); nothing was changed")
                if rec is not None and rec.get("reused") is not None:
                    self._tell(rec)
                else:
                    in_flight += 1

        for rec in searched:
            fill(rec["proposal"])
            if rec.get("reused") is None:
                self._tell(rec)
                in_flight -= 1
        aside = self.store.set_aside_state()
        self.store.save_state(self.strategy.state_dict())
        kept = f"; the old one is kept as {aside.name}" if aside else ""
        self.events.info(f"rebuilt {self.store.state_path} from {self.done} recorded proposals{kept}")

    def _tell(self, rec: dict[str, Any]) -> None:
        """Tell the strategy a recorded trial's reward; a failure unless its status is ok."""
        self.strategy.tell(rec["proposal"], rec["reward"], failed=rec["status"] != "ok", metrics=self._metrics(rec))

    # -- resume ------------------------------------------------------------------------
    def _reconcile(self) -> None:
        """Make the restored strategy agree with trials.jsonl (the source of truth)."""
        for p in self.strategy.pending:
            rec = self.by_proposal.get(p.id)
            if rec is not None:  # finished and recorded, but the kill came before the state was saved
                self._tell(rec)
            else:  # asked and never finished: run it again, first
                self.requeue.append(p)
        # Records the restored strategy has never seen at all are re-asked in order by
        # ``_ask`` (the strategy is deterministic from its saved state) and told from the file.

    # -- budget --------------------------------------------------------------------------
    @property
    def cheap(self) -> bool:
        """Proposals are scored in this process (shared weights or a proxy), not trained."""
        return self.evaluation != "full"

    @property
    def concurrency(self) -> int:
        """Proposals in flight at once: the Ray trials' concurrency, or 1 when scored here."""
        return 1 if self.cheap else self.config.concurrency

    def _searched(self, record: dict[str, Any]) -> bool:
        """Whether a record is one of the strategy's proposals (not a retraining of one)."""
        return not (self.cheap and record.get("evaluation", "full") == "full")

    @property
    def done(self) -> int:
        """Proposals evaluated (the budget ``trials`` counts them)."""
        return sum(1 for r in self.records if self._searched(r))

    @property
    def retrained(self) -> list[dict[str, Any]]:
        """Records of proposals retrained from scratch after a shared or proxy search."""
        return [r for r in self.records if not self._searched(r)] if self.cheap else []

    @property
    def remaining(self) -> int:
        return max(0, self.config.trials - self.done - len(self.live))

    def searched(self) -> bool:
        """Every proposal of the budget is evaluated."""
        return self.done >= self.config.trials

    def finished(self) -> bool:
        return self.searched() and not self.retrain_queue()

    def retrain_queue(self) -> list[dict[str, Any]]:
        """Search records still to retrain: the ``retrain`` best distinct architectures by
        their shared or proxy reward (the earlier on ties) not yet retrained; [] unless cheap."""
        if not self.cheap:
            return []
        ranked, seen = [], set()
        for r in sorted((r for r in self.records if self._searched(r) and r["status"] == "ok"),
                        key=lambda r: (-r["reward"], r["trial"])):
            if r["arch"] not in seen:
                seen.add(r["arch"])
                ranked.append(r)
        done = {r["arch"] for r in self.retrained}
        return [r for r in ranked[:self.config.retrain] if r["arch"] not in done]

    # -- choosing the next trial -----------------------------------------------------------
    def _ask(self) -> Proposal | None:
        """The next proposal to train, telling the strategy directly where no training is needed."""
        for _ in range(10_000):
            if self.requeue:
                return self.requeue.pop(0)
            if self.remaining <= 0:
                return None
            p = self._strategy_ask()
            rec = self.by_proposal.get(p.id)
            if rec is not None:  # re-asked after a resume: already recorded
                if rec["arch"] != p.arch:
                    raise ConfigError(
                        f"{self.store.state_path} disagrees with {self.store.trials_path}: proposal {p.id} is "
                        f"{p.arch!r} but trial {rec['trial']} recorded {rec['arch']!r}; resume with "
                        "--rebuild-strategy to rebuild the strategy from the records")
                self._tell(rec)
                continue
            # Shared weights change between rounds: a proposal seen before is scored again.
            cached = self.by_arch.get(p.arch) if self.config.reuse and self.evaluation != "shared" else None
            if cached is not None:  # evaluated earlier in this run: reuse, don't train again
                self._record(p, dict(cached, seconds=0.0), reused_from=cached["trial"])
                continue
            too_large = self._too_large(p.arch)
            if too_large:  # refused before anything is allocated: a failed proposal, not a crashed trial
                self._record(p, self._failed(too_large))
                continue
            refused = self._over_latency(p.arch)
            if refused is not None:
                self._record(p, refused)
                continue
            return p
        raise NasError("the strategy keeps proposing architectures this run has already evaluated")

    def _strategy_ask(self) -> Proposal:
        """The strategy's next proposal, prefiltered by a zero-cost proxy when configured."""
        if self.prefilter is None:
            return self.strategy.ask()
        name, k = self.prefilter
        return self.strategy.ask(candidates=k, rank=lambda arch: self.proxy_score(name, arch))

    def proxy_score(self, name: str, arch: str) -> float:
        """Zero-cost proxy ``name`` of ``arch`` at initialization, on one fixed training
        minibatch; deterministic in (run seed, arch), so a replay ranks alike. Cached."""
        key = (name, arch)
        if key not in self._proxy_scores:
            from ..oneshot.proxies import score_arch

            if self.splits is None:
                raise NasError("scoring by a zero-cost proxy needs the dataset: give the driver splits=")
            self._proxy_scores[key] = score_arch(name, arch, self.splits, batch_size=self.config.proxy_batch_size,
                                                 seed=self.config.seed)
        return self._proxy_scores[key]

    def next_config(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.cheap:
            return self._next_retrain(trial_id)
        if self.remaining <= 0 and not self.requeue:
            return "FINISHED" if not self.live else None
        p = self._ask()
        if p is None:
            return "FINISHED" if not self.live else None
        self.live[trial_id] = p
        return self._trial_config(p)

    def _next_retrain(self, trial_id: str) -> dict[str, Any] | str | None:
        """After a shared or proxy search: the next best proposal to retrain from scratch."""
        busy = {r["arch"] for r in self.live_retrain.values()}
        todo = [r for r in self.retrain_queue() if r["arch"] not in busy] if self.searched() else []
        if not todo:
            return "FINISHED" if not self.live_retrain else None
        rec = todo[0]
        self.live_retrain[trial_id] = rec
        return self._trial_config(Proposal(rec["proposal"], rec["arch"], ()))

    def _trial_config(self, p: Proposal) -> dict[str, Any]:
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
                "status": "failed", "reason": reason, "seconds": 0.0, "epochs": 0,
                "evaluation": self.config.evaluation}  # a proposal of the search, however it is scored

    # -- recording -----------------------------------------------------------------------
    def complete(self, trial_id: str, result: dict[str, Any] | None, error: bool = False) -> dict[str, Any] | None:
        retrain_of = self.live_retrain.pop(trial_id, None)
        p = self.live.pop(trial_id, None)
        if retrain_of is not None:
            p = Proposal(retrain_of["proposal"], retrain_of["arch"], ())
        if p is None:
            return None
        result = dict(result or {})
        if error:
            reason = "the trial raised or its worker died (see Ray's logs under the run's ray/ folder)"
            result.update(status="failed", reason=reason)
        failed = result.get("status") != "ok"
        val_accs = [float(v) for v in result.get("val_accs") or []]
        stopped = (not failed) and len(val_accs) < self.train_config.epochs
        latency = None if failed else self._known_latency(p.arch)
        reward = compute_reward(self.reward_config, val_accs, int(result.get("params") or 0),
                                int(result.get("macs") or 0), failed, latency_ms=latency)
        rec = {
            "latency_ms": latency,
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
        if retrain_of is not None:
            rec.update(evaluation="full", retrain_of=retrain_of["trial"])
        return self._record(p, rec)

    def record_score(self, p: Proposal, accuracy: float | None, *, score: float | None = None,
                     seconds: float, failed_reason: str | None = None) -> dict[str, Any]:
        """Record a proposal scored in this process: by the shared weights (``accuracy``, its
        reward as a one-epoch validation curve) or by a proxy (``score``, the reward as is)."""
        if failed_reason is not None:
            rec = self._failed(failed_reason)
        else:
            params, macs = self.space.cost(p.choices)  # a proposal is valid in its space: it can be counted
            latency = self._known_latency(p.arch)
            if self.evaluation == "shared":
                reward = compute_reward(self.reward_config, [accuracy], params, macs, False, latency_ms=latency)
            else:
                reward = float(score)
            rec = {"reward": reward, "latency_ms": latency, "val_acc": accuracy, "val_accs": [] if accuracy is None else [accuracy],
                   "params": params, "macs": macs, "status": "ok", "reason": None, "seconds": seconds,
                   "epochs": 0}
        rec["evaluation"] = self.config.evaluation
        if score is not None:
            rec["score"] = score
        return self._record(p, rec)

    def _record(self, p: Proposal, rec: dict[str, Any], reused_from: int | None = None) -> dict[str, Any]:
        searched = self._searched(rec)
        record = {
            "trial": len(self.records) + 1,
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
            "finished_at": utc_now(),
            "warnings": rec.get("warnings", []) if reused_from is None else [],
            "evaluation": rec.get("evaluation", "full"),
        }
        if self.latency_cache is not None:
            record["latency_ms"] = rec.get("latency_ms")
        for key in ("retrain_of", "score"):
            if key in rec:
                record[key] = rec[key]
        if searched and self.prefilter is not None and reused_from is None:
            name, k = self.prefilter
            record["prefilter"] = {"proxy": name, "candidates": k, "score": self._proxy_scores.get((name, p.arch))}
        # Durable state first, in this order: the trial record (the source of truth), best.json,
        # the strategy's state. A failure here propagates and stops the search (see
        # StrategySearcher); resume repairs whatever came after the record.
        self.store.append_trial(record)
        self.records.append(record)
        self._write_best()
        if searched:
            self.by_proposal[p.id] = record
            self._remember(record)
            # ASHA's early stop is a verdict of this search, not a failure: the strategy gets the
            # reward of the epochs the trial ran (lower, as its accuracy had not caught up).
            self._tell(record)
            self.store.save_state(self.strategy.state_dict())
        # Side outputs only then: each failure is one warning, and the search goes on.
        self.side("TensorBoard logging", self.controller_log.log_new, getattr(self.strategy, "updates", []))
        self.side("progress output", self.events.recorded, self, record)
        return record

    def events_shared_epoch(self, metrics: dict[str, Any]) -> None:
        self.side("progress output", getattr(self.events, "shared_epoch", lambda *a: None), self, metrics)

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
        if record["status"] == "ok" and not record.get("stopped_early") and self._searched(record):
            self.by_arch.setdefault(record["arch"], record)

    def best(self) -> dict[str, Any] | None:
        """The best ok record trained from scratch (in a shared or proxy search: retrained)."""
        ok = [r for r in self.records if r["status"] == "ok" and r.get("evaluation", "full") == "full"]
        return max(ok, key=lambda r: (r["reward"], -r["trial"])) if ok else None


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
    named = config.name is not None
    config, space, store = resolve(config, resume=resume, explicit=explicit)
    splits = data.load(config.dataset, config.data_dir, val_fraction=config.val_fraction, seed=config.seed)
    data.check_matches(splits, space.input_shape, space.num_classes, space.name)  # before any folder or training
    # A default name moves on to the next free number when another search took it meanwhile.
    lock, store = claim(store, new=not resume, base=None if named else default_name(space, config.strategy))
    config = replace(config, name=store.root.name)
    created = not resume
    try:
        if resume:
            check_resumable(store, config, splits.meta)
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
                        if driver.cheap and not driver.searched():
                            from .inprocess import evaluate_in_process

                            # Scored here, on the cores the trials would have had.
                            with torch_threads(max(1, int(config.concurrency * config.cpus_per_trial))):
                                evaluate_in_process(driver, splits)
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


def _open(config: SearchConfig, space: SearchSpace, store: RunStore, splits, *, resume: bool,
          events: SearchEvents, rebuild_strategy: bool) -> SearchDriver:
    """The driver of a new run (config.yaml, space.yaml and the strategy's first state
    written) or of a resumed one (a torn last record set aside first, and said)."""
    if not resume:
        store.write_config({"search": config.to_dict(), "space_file": str(space.path), "space_hash": space.hash,
                            "dataset": splits.meta, "created": utc_now()}, Path(space.path).read_bytes())
        driver = SearchDriver(config, space, store, events=events, splits=splits)
        store.save_state(driver.strategy.state_dict())  # from now on a missing strategy.pt is an error
        return driver
    return SearchDriver.resume(config, space, store, events=events, rebuild_strategy=rebuild_strategy, splits=splits)


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


