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

import json
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from .._util import atomic_torch_save, atomic_write
from ..errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
REQUIRED_KEYS = ("trial", "arch", "reward", "status")  # what every trial record has


def check_name(name: str) -> str:
    """Run names are plain folder names: they cannot escape ``runs/`` (``../x``, ``/x``)."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ConfigError(
            f"run name {name!r} must be 1-100 letters, digits, '.', '_' or '-', start with a letter or digit, "
            "and contain no '..'"
        )
    return name


def parse_trial_log(raw: bytes, path: Path) -> tuple[list[dict[str, Any]], bool]:
    """``(records, torn)`` of a trials.jsonl's bytes; pure.

    A last line without its newline is a write in progress or a kill mid-write: left out,
    ``torn`` is True. Blank lines are skipped. Any other line that is not a JSON trial
    record means the file is damaged: ConfigError naming the line, never a silent cut.
    """
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ConfigError(f"{path}: line {number} is not valid JSON; the file is damaged") from None
        if not isinstance(rec, dict) or any(k not in rec for k in REQUIRED_KEYS):
            missing = [k for k in REQUIRED_KEYS if not isinstance(rec, dict) or k not in rec]
            raise ConfigError(f"{path}: line {number} is not a trial record (missing {', '.join(missing)})")
        records.append(rec)
    return records, bool(tail.strip())


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

    def exists(self) -> bool:
        return self.config_path.exists()

    # -- config
    def write_config(self, config: dict[str, Any], space_bytes: bytes | None = None) -> None:
        """config.yaml (and the copy of the space file) of a new run."""
        self.root.mkdir(parents=True, exist_ok=True)
        if space_bytes is not None:
            atomic_write(self.space_path, space_bytes)
        atomic_write(self.config_path, yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        try:
            data = yaml.safe_load(self.config_path.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise ConfigError(f"{self.config_path}: damaged or unreadable run config ({e.__class__.__name__})") from None
        if not isinstance(data, dict) or not isinstance(data.get("search"), dict):
            raise ConfigError(f"{self.config_path}: not a run config (no 'search' settings)")
        return data

    # -- trials
    def read_trials(self) -> list[dict[str, Any]]:
        """Every complete record, for the search that continues the run: a torn last line (a
        kill mid-write) is cut from the file so the next append starts on a fresh line."""
        if not self.trials_path.exists():
            return []
        raw = self.trials_path.read_bytes()
        records, torn = parse_trial_log(raw, self.trials_path)
        if torn:
            with open(self.trials_path, "r+b") as f:
                f.truncate(raw.rfind(b"\n") + 1)
        return records

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
        if not self.state_path.exists():
            return None
        # weights_only: never unpickle arbitrary objects from a file on disk.
        return torch.load(self.state_path, weights_only=True)

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
        trials, torn = parse_trial_log(self.trials_path.read_bytes(), self.trials_path)
        warnings = [f"{self.trials_path}: skipped a torn last line (a write in progress or an interrupted one)"] if torn else []
        if not trials:
            raise ConfigError(f"{self.trials_path}: no complete trial records yet")
        return RunSnapshot(self.root, config, trials, self._state_for_reading(warnings), tuple(warnings))

    def _state_for_reading(self, warnings: list[str]) -> dict[str, Any] | None:
        if not self.state_path.is_file():
            return None
        try:
            state = self.load_state()
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
            warnings.append(f"{self.state_path}: unreadable ({e.__class__.__name__}); no controller plots")
            return None
        if not isinstance(state, dict):
            warnings.append(f"{self.state_path}: not a strategy state; no controller plots")
            return None
        return state
