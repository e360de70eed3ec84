"""A run folder, ``runs/NAME/``: the only code that reads or writes one.

    config.yaml     the resolved run configuration
    space.yaml      a copy of the search-space file (its sha256 is in config.yaml)
    trials.jsonl    one JSON object per finished trial, appended, flushed and fsynced
    strategy.pt     the strategy's state (plain types and tensors; weights_only=True)
    best.json       the best trial so far
    ray/            Ray Tune's own experiment folders, one per attempt

``trials.jsonl`` is the source of truth. The search writes through :class:`RunStore`;
``nas report`` and ``nas export`` read a :class:`RunSnapshot` and never write.
"""
from __future__ import annotations

import fcntl
import json
import os
import pickle
import re
import socket
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from .._util import atomic_torch_save, atomic_write, finite_number, first_line, load_yaml, read_bounded
from ..errors import ConfigError, RunBusyError
from ..limits import LIMITS

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
REQUIRED_KEYS = ("trial", "proposal", "arch", "reward", "status")  # what every trial record has
LOCK = ".lock"  # the writer's lock file; a folder holding only this is a start that never got going
STATUSES = ("ok", "failed")
DAMAGED_HINT = ("nas changed nothing: restore the file from a backup, or repair or remove that line "
                "by hand, then run the command again")


def check_name(name: str) -> str:
    """Run names are plain folder names: they cannot escape ``runs/`` (``../x``, ``/x``)."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ConfigError(
            f"run name {name!r} must be 1-100 letters, digits, '.', '_' or '-', start with a letter or digit, "
            "and contain no '..'"
        )
    return name


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def record_problem(rec: Any, position: int) -> str | None:
    """What is wrong with the ``position``-th (1-based) record of a trials.jsonl, or None; pure.

    The search writes records numbered 1, 2, 3... in file order, so a number out of place
    means a line was lost, doubled (two writers) or edited.
    """
    if not isinstance(rec, dict):
        return f"is not a trial record (a JSON {type(rec).__name__}, not an object)"
    missing = [k for k in REQUIRED_KEYS if k not in rec]
    if missing:
        return f"is not a trial record (missing {', '.join(missing)})"
    if not _is_int(rec["trial"]) or rec["trial"] != position:
        return f"has trial number {rec['trial']!r} where {position} belongs (a line lost, doubled or edited)"
    if not _is_int(rec["proposal"]) or rec["proposal"] < 0:
        return f"has proposal {rec['proposal']!r}, not a whole number >= 0"
    if not isinstance(rec["arch"], str) or not rec["arch"].strip():
        return "has no architecture string"
    if not finite_number(rec["reward"]):
        return f"has reward {rec['reward']!r}, not a finite number"
    if rec["status"] not in STATUSES:
        return f"has status {rec['status']!r}, not one of {', '.join(STATUSES)}"
    for key in ("val_acc", "params", "macs", "seconds", "latency_ms"):
        v = rec.get(key)
        if v is not None and not finite_number(v):
            return f"has {key} {v!r}, not a number"
    return None


def parse_trial_log(raw: bytes, path: Path) -> tuple[list[dict[str, Any]], bytes]:
    """``(records, torn)`` of a trials.jsonl's bytes; pure.

    Every record is checked (:func:`record_problem`). A last line without its newline is a
    write in progress or a kill mid-write: when it is not a whole valid record it is left out
    and returned as ``torn`` (else ``b""``). Blank lines hold nothing and are skipped. Any
    other damage raises ConfigError naming the file and the line: never a silent cut.
    """
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    records: list[dict[str, Any]] = []

    def check(number: int, line: bytes) -> dict[str, Any]:
        try:
            rec = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ConfigError(f"{path}: line {number} is not valid JSON; the file is damaged. {DAMAGED_HINT}") from None
        problem = record_problem(rec, len(records) + 1)
        if problem:
            raise ConfigError(f"{path}: line {number} {problem}; the file is damaged. {DAMAGED_HINT}")
        return rec

    for number, line in enumerate(lines, start=1):
        if line.strip():
            records.append(check(number, line))
    if tail.strip():
        try:  # a whole record that only lacks its newline is kept
            records.append(check(len(lines) + 1, tail))
            tail = b""
        except ConfigError:
            pass
    return records, tail if tail.strip() else b""


class RunLock:
    """The one writer of a run folder: an exclusive ``flock`` on ``runs/NAME/.lock``, held for
    the search's whole life. The kernel drops it when the process ends, however it ends (a
    kill -9 included), so a crashed search never leaves a stale lock. The file keeps who holds
    it (pid, host, start, command) for the message a second writer gets. ``flock`` is reliable
    on local disks; on some network file systems it is not (see the README)."""

    def __init__(self, fd: int, path: Path):
        self.fd = fd
        self.path = path

    @classmethod
    def acquire(cls, root: Path) -> "RunLock":
        path = root / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown process"
            os.close(fd)
            raise RunBusyError(f"run {root.name!r} in {root.parent} is in use by another search ({holder}); "
                               "a run has one writer: wait for that search to end, or stop it") from None
        command = " ".join(["nas", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith("nas") else "python"
        info = (f"pid {os.getpid()} on {socket.gethostname()}, since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime())}: {command[:200]}")
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode() + b"\n", 0)
        return cls(fd, path)

    def release(self) -> None:
        # The file stays: removing it would race with a second search that opened it already.
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@dataclass(frozen=True)
class RunSnapshot:
    """A run folder as :meth:`RunStore.snapshot` read it (read-only)."""

    root: Path
    config: dict[str, Any]
    trials: list[dict[str, Any]]
    state: dict[str, Any] | None  # strategy.pt, None when absent or unreadable
    warnings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def search(self) -> dict[str, Any]:
        return self.config.get("search") or {}

    @property
    def updates(self) -> list[dict[str, Any]]:
        """The controller's policy updates (reinforce), else []."""
        updates = (self.state or {}).get("updates")
        return list(updates) if isinstance(updates, list) else []

    @property
    def decision_names(self) -> list[str]:
        space = (self.state or {}).get("space")
        return [str(s[0]) for s in space] if isinstance(space, list) else []


class RunStore:
    """Reads and writes one run folder; every write is atomic or an fsynced append."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    @classmethod
    def find(cls, run: str | Path, runs_dir: str | Path = "runs") -> "RunStore":
        """A run folder path, or a run name looked up under ``runs_dir``.

        A plain name that is both a folder here and a run under ``runs_dir`` means the folder
        here only when that folder is a run (has config.yaml).
        """
        text = str(run)
        path = Path(text).expanduser()
        is_name = "/" not in text and "\\" not in text and text not in (".", "..")
        if path.is_dir() and (not is_name or (path / "config.yaml").exists()):
            return cls(path)
        if is_name:
            check_name(text)
            candidate = Path(runs_dir).expanduser() / text
            if candidate.is_dir():
                return cls(candidate)
            if path.is_dir():
                return cls(path)  # reported as "not a run folder" by snapshot()
            raise ConfigError(f"no run {text!r}: neither a folder here nor a run in {Path(runs_dir)}/")
        raise ConfigError(f"no run folder {text!r}")

    # -- paths
    @property
    def trials_path(self) -> Path:
        return self.root / "trials.jsonl"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def state_path(self) -> Path:
        return self.root / "strategy.pt"

    @property
    def best_path(self) -> Path:
        return self.root / "best.json"

    @property
    def space_path(self) -> Path:
        return self.root / "space.yaml"

    @property
    def ray_dir(self) -> Path:
        return self.root / "ray"

    @property
    def supernet_path(self) -> Path:
        """The shared weights of a one-shot search with their optimizer and data order."""
        return self.root / "supernet.pt"

    @property
    def latency_path(self) -> Path:
        """Measured inference latencies, one line per architecture (nas.latency.LatencyCache)."""
        return self.root / "latency.jsonl"

    def exists(self) -> bool:
        return self.config_path.exists()

    def foreign_entries(self) -> list[str]:
        """What makes this folder not free for a new run: its entries other than our lock file
        (a start that was killed before it wrote anything leaves only that). [] when absent."""
        if not self.root.exists() and not self.root.is_symlink():
            return []
        if self.root.is_symlink() or not self.root.is_dir():
            return [self.root.name]
        return sorted(e for e in os.listdir(self.root) if e != LOCK)

    def lock(self) -> RunLock:
        """Take the run's writer lock (RunBusyError naming the holder when another has it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return RunLock.acquire(self.root)

    # -- config
    def write_config(self, config: dict[str, Any], space_bytes: bytes | None = None) -> None:
        """config.yaml (and the copy of the space file) of a new run."""
        self.root.mkdir(parents=True, exist_ok=True)
        if space_bytes is not None:
            atomic_write(self.space_path, space_bytes)
        atomic_write(self.config_path, yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        """config.yaml, read as untrusted input (a regular file within the bounds of nas.limits)."""
        raw = read_bounded(self.config_path, LIMITS.max_file_bytes, "run config", ConfigError)
        try:
            data = load_yaml(raw.decode("utf-8"), LIMITS.max_yaml_depth, LIMITS.max_int_digits)
        except (UnicodeDecodeError, yaml.YAMLError) as e:
            raise ConfigError(f"{self.config_path}: damaged or unreadable run config ({e.__class__.__name__})") from None
        if not isinstance(data, dict) or not isinstance(data.get("search"), dict):
            raise ConfigError(f"{self.config_path}: not a run config (no 'search' settings)")
        return data

    # -- trials
    def read_trials(self) -> list[dict[str, Any]]:
        """Every complete, valid record (read-only; a torn last line is left out)."""
        if not self.trials_path.exists():
            return []
        return parse_trial_log(self.trials_path.read_bytes(), self.trials_path)[0]

    def set_aside_torn_tail(self) -> int:
        """Before a search appends again: move a torn last line (a kill mid-write) out of
        trials.jsonl into trials.jsonl.torn, so the next record starts on a line of its own,
        and give its length in bytes (0 when there was none). A whole record that only lacks
        its newline gets the newline. Any other damage raises (:func:`parse_trial_log`)."""
        if not self.trials_path.exists():
            return 0
        raw = self.trials_path.read_bytes()
        _, torn = parse_trial_log(raw, self.trials_path)
        end = raw.rfind(b"\n") + 1
        if torn:
            with open(self.root / "trials.jsonl.torn", "ab") as f:
                f.write(torn + b"\n")
                f.flush()
                os.fsync(f.fileno())
            with open(self.trials_path, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
        elif raw[end:].strip():
            with open(self.trials_path, "ab") as f:
                f.write(b"\n")
                os.fsync(f.fileno())
        return len(torn)

    def append_trial(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=False) + "\n"
        with open(self.trials_path, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    # -- strategy state and best
    def save_state(self, state: dict[str, Any]) -> None:
        atomic_torch_save(state, self.state_path)

    def load_state(self) -> dict[str, Any] | None:
        """strategy.pt, or None when there is none; a file that is not a plain-data state
        (cut short, garbage, or pickled objects) is one ConfigError naming it."""
        return self._load_plain(self.state_path, "a strategy state")

    def save_supernet(self, state: dict[str, Any]) -> None:
        atomic_torch_save(state, self.supernet_path)

    def load_supernet(self) -> dict[str, Any] | None:
        """supernet.pt, or None when there is none; a damaged one is one ConfigError naming it."""
        return self._load_plain(self.supernet_path, "a shared-weight checkpoint")

    def _load_plain(self, state_path: Path, what: str) -> dict[str, Any] | None:
        if not state_path.exists():
            return None
        try:
            # weights_only: never unpickle arbitrary objects from a file on disk. torch's own
            # warnings about a foreign file would only add a second message to ours.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                state = torch.load(state_path, weights_only=True)
        except pickle.UnpicklingError:
            # torch's own message suggests weights_only=False: never, for a file anyone could have put here
            raise ConfigError(f"{state_path}: damaged or not {what}: not plain data and tensors "
                              "(refused, as objects in it could run code when loaded)") from None
        except Exception as e:  # noqa: BLE001  (torch raises RuntimeError, EOFError, OSError, zip errors...)
            raise ConfigError(f"{state_path}: damaged or not {what} ({type(e).__name__}"
                              f"{': ' + first_line(e, 120) if first_line(e) else ''})") from None
        if not isinstance(state, dict):
            raise ConfigError(f"{state_path}: not {what} (a {type(state).__name__})")
        return state

    def set_aside_state(self) -> Path | None:
        """Rename strategy.pt to strategy.pt.replaced-N (kept, never deleted) before a rebuild."""
        if not self.state_path.exists():
            return None
        n = 1
        while (aside := self.root / f"strategy.pt.replaced-{n}").exists():
            n += 1
        os.replace(self.state_path, aside)
        return aside

    def write_best(self, record: dict[str, Any]) -> None:
        atomic_write(self.best_path, json.dumps(record, indent=2) + "\n")

    # -- reading without writing
    def snapshot(self) -> RunSnapshot:
        """The run as it is now, read-only (a search may still be appending): every problem
        is one ConfigError, a torn last line and an unreadable strategy.pt are warnings."""
        if not self.config_path.is_file():
            raise ConfigError(f"{self.root} is not a run folder (no config.yaml)")
        config = self.read_config()
        if not self.trials_path.is_file():
            raise ConfigError(f"{self.root}: the run has no trials.jsonl (no trial finished yet)")
        trials, torn = parse_trial_log(self.trials_path.read_bytes(), self.trials_path)  # one read: a consistent prefix
        warnings = [f"{self.trials_path}: skipped a torn last line (a write in progress or an interrupted one)"] if torn else []
        if not trials:
            raise ConfigError(f"{self.trials_path}: no complete trial records yet")
        return RunSnapshot(self.root, config, trials, self._state_for_reading(warnings), tuple(warnings))

    def _state_for_reading(self, warnings: list[str]) -> dict[str, Any] | None:
        try:
            return self.load_state()
        except ConfigError as e:
            warnings.append(f"{e}; no controller plots")
            return None
