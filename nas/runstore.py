"""A run folder, ``runs/NAME/``, written durably as results arrive.

    config.yaml     the resolved run configuration
    space.yaml      a copy of the search-space file (its sha256 is in config.yaml)
    trials.jsonl    one JSON object per finished trial, appended, flushed and fsynced
    strategy.pt     the strategy's state (torch.save of plain types + tensors; loads with
                    weights_only=True)
    best.json       the best trial so far
    ray/            Ray Tune's own experiment folders, one per attempt

``trials.jsonl`` is the source of truth: on resume, proposals the saved strategy still
holds as pending but that the file already records are told from the file, so a kill at
any point loses no trial and counts none twice.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml

from .errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(name: str) -> str:
    """Run names are plain folder names: they cannot escape ``runs/`` (``../x``, ``/x``)."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ConfigError(
            f"run name {name!r} must be 1-100 letters, digits, '.', '_' or '-', start with a letter or digit, "
            "and contain no '..'"
        )
    return name


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RunStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

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
    def ray_dir(self) -> Path:
        return self.root / "ray"

    def exists(self) -> bool:
        return self.config_path.exists()

    # -- config
    def write_config(self, config: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write(self.config_path, yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        try:
            data = yaml.safe_load(self.config_path.read_text())
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{self.config_path}: cannot read the run's config ({e.__class__.__name__})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{self.config_path}: not a run config")
        return data

    # -- trials
    def read_trials(self) -> list[dict[str, Any]]:
        """All complete records. A torn last line (a kill mid-write) is dropped from the file."""
        if not self.trials_path.exists():
            return []
        raw = self.trials_path.read_bytes()
        records, good = [], 0
        for line in raw.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
            good += len(line)
        if good != len(raw):
            with open(self.trials_path, "r+b") as f:
                f.truncate(good)
                os.fsync(f.fileno())
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

    def read_best(self) -> dict[str, Any] | None:
        if not self.best_path.exists():
            return None
        return json.loads(self.best_path.read_text())
