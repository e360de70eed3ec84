"""Which run folder a search writes, and on what terms.

:func:`resolve` checks a whole configuration and picks the run folder without creating
anything; for ``--resume`` it takes the run's own settings and its own copy of the space,
and refuses any other setting given differently. :func:`claim` then takes the run's writer
lock (a new run's folder is created under it), and :func:`check_resumable` checks what
only the loaded dataset can tell. :func:`resume_command` is the line that continues a run.
"""
from __future__ import annotations

import os
import shlex
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import strategies
from .._util import read_bounded, utc_now
from ..errors import ConfigError
from ..limits import LIMITS
from ..space import SearchSpace
from ..train import TrainConfig, data
from .config import SearchConfig
from .reward import RewardConfig
from .runstore import RunLock, RunStore, check_name

# Settings a resume may give differently: where this attempt runs, and how to find the run.
PLACES = ("address", "data_dir")
WHERE = ("name", "runs_dir", *PLACES)
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
    if dataset not in data.names():  # own data: checked by its form (nothing read), a path made absolute;
        dataset = data.check_spec(dataset, allow_code=config.dataset is not None)  # a space file runs no code
    given = replace(config, dataset=dataset)
    strategies.check_options(given.strategy, given.strategy_options)
    RewardConfig.from_dict(given.reward)
    if given.latency:  # a target this machine lacks (cuda, onnxruntime) is refused before Ray starts
        from ..latency import LatencyConfig, check_target

        check_target(LatencyConfig.from_dict(given.latency))
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
        base = default_name(space, given.strategy)
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
    # The run's own copy: an edited or moved original does not change the run.
    raw = read_bounded(store.space_path, LIMITS.max_file_bytes, "run's copy of its search space", ConfigError)
    own = SearchSpace.loads(raw, source=saved.space, path=Path(saved.space))
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
    places = {f: getattr(given, f) for f in PLACES if f in explicit}
    return replace(saved, trials=trials, name=name, runs_dir=given.runs_dir, **places), own, store


def default_name(space: SearchSpace, strategy: str) -> str:
    """``<space>-<strategy>``: the name of a run given none, numbered -2, -3... when taken. A
    strategy named with a colon (``tune:optuna``) gives ``digits-tune-optuna``."""
    return check_name(f"{space.name}-{strategy.replace(':', '-')}")


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


def claim(store: RunStore, *, new: bool, base: str | None = None) -> tuple[RunLock, RunStore]:
    """Take the run's writer lock. A new run's folder is created here, under the lock, and
    re-checked there (two searches may have picked the same name). With ``base``, the run's
    default name, a taken folder moves the new run on to the next free number instead."""
    while True:
        lock = None
        try:
            lock = store.lock()
            if new:
                _check_free(store)
            return lock, store
        except ConfigError:  # RunBusyError included
            if lock is not None:
                lock.release()
            if not (new and base):
                raise
            store = _next_free(store.root.parent, base, _numbered(store.root.name, base))


def check_resumable(store: RunStore, config: SearchConfig, meta: dict[str, Any]) -> None:
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
        stored.setdefault("budget", []).append({"trials": config.trials, "at": utc_now()})
        store.write_config(stored)


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
