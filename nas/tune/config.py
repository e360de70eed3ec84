"""The search run's configuration: one frozen dataclass, loaded from YAML and/or flags.

Precedence, lowest to highest: the defaults below, the search space's own ``dataset``, the
``--config`` YAML file, then the command-line flags. Unknown keys and wrongly typed values
are errors naming the key (:func:`nas.config.from_dict`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from .._util import load_yaml, read_bounded
from ..config import from_dict
from ..errors import ConfigError
from ..limits import LIMITS


@dataclass(frozen=True)
class SearchConfig:
    space: str = "digits"  # a file or the name of a shipped space in search_spaces/
    name: str | None = None  # run folder name; default: "<space>-<strategy>", numbered if taken
    runs_dir: str = "runs"
    trials: int = 40  # total trials of the run (resumes included)
    concurrency: int = 2  # trials at a time
    strategy: str = "reinforce"
    strategy_options: dict = field(default_factory=dict)
    dataset: str | None = None  # default: the space's dataset
    data_dir: str | None = None
    val_fraction: float = 0.2
    epochs: int = 10
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    address: str | None = None  # an existing Ray cluster ("auto" or "host:port"); default: start one locally
    seed: int = 0
    train: dict = field(default_factory=dict)  # TrainConfig overrides (nas.train)
    reward: dict = field(default_factory=dict)  # RewardConfig (nas.tune.reward)
    asha: bool = False  # ASHA early stopping (Li et al. 2020)
    asha_grace: int = 2  # epochs every trial gets before ASHA may stop it
    asha_reduction: int = 3  # ASHA's reduction factor eta
    reuse: bool = True  # an architecture already evaluated in this run is not trained again
    max_failures: int = 1  # Ray retries of a trial whose worker died
    reuse_actors: bool = True  # keep trial actors alive between trials (cuts per-trial start-up)
    # How a proposal is scored: "full" trains it from scratch in a Ray trial (Zoph & Le 2017);
    # "shared" by a weight-sharing supernet (ENAS, Pham et al. 2018), "proxy:NAME" by a
    # zero-cost proxy (nas.oneshot.proxies), both in the driver's process. The last two then
    # retrain the ``retrain`` best proposals from scratch, and those results decide best.json.
    evaluation: str = "full"
    retrain: int = 3
    shared: dict = field(default_factory=dict)  # SharedConfig overrides (nas.oneshot.shared)
    # "NAME:K": each proposal is the best of K candidates by the zero-cost proxy NAME.
    prefilter: str | None = None
    proxy_batch_size: int = 64  # images of the one minibatch a proxy sees
    # LatencyConfig settings (nas.latency): target, batch_size, threads, min_run_time. Latency is
    # measured (once per architecture, cached in the run folder) when this is set, when the
    # reward's cost is "latency", when the space has max_latency_ms, or when the strategy needs it.
    latency: dict = field(default_factory=dict)

    @classmethod
    def fields(cls) -> dict[str, Any]:
        return get_type_hints(cls)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "config") -> "SearchConfig":
        return cls().updated(data, where=where)

    def updated(self, data: dict[str, Any], *, where: str = "config") -> "SearchConfig":
        """A copy with ``data`` applied; every key and value type-checked against the fields."""
        cfg = from_dict(SearchConfig, data, base=self, owner=where)
        cfg.validate(where)
        return cfg

    def validate(self, where: str = "config") -> None:
        def need(ok: bool, msg: str):
            if not ok:
                raise ConfigError(f"{where}: {msg}")

        need(self.trials >= 1, f"trials must be at least 1, got {self.trials}")
        need(self.concurrency >= 1, f"concurrency must be at least 1, got {self.concurrency}")
        need(self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}")
        need(0 < self.cpus_per_trial <= 1024, f"cpus_per_trial must be above 0, got {self.cpus_per_trial}")
        need(0 <= self.gpus_per_trial <= 64, f"gpus_per_trial must be 0 or more, got {self.gpus_per_trial}")
        need(0 < self.val_fraction < 1, f"val_fraction must be between 0 and 1, got {self.val_fraction}")
        need(self.asha_grace >= 1 and self.asha_reduction >= 2, "asha_grace must be >= 1 and asha_reduction >= 2")
        need(self.max_failures >= 0, "max_failures must be 0 or more")
        need(self.seed >= 0, f"seed must be 0 or more, got {self.seed}")
        need(self.retrain >= 1, f"retrain must be at least 1, got {self.retrain}")
        need(2 <= self.proxy_batch_size <= 4096, f"proxy_batch_size must be 2 to 4096, got {self.proxy_batch_size}")
        try:
            evaluation_mode(self.evaluation)
            if self.prefilter is not None:
                prefilter_spec(self.prefilter)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        if self.latency:
            from ..latency import LatencyConfig

            try:
                LatencyConfig.from_dict(self.latency)
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}") from None
        if evaluation_mode(self.evaluation)[0] == "shared":
            from ..oneshot.shared import SharedConfig

            try:
                SharedConfig.from_dict(self.shared)
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def evaluation_mode(text: str) -> tuple[str, str | None]:
    """``("full", None)``, ``("shared", None)`` or ``("proxy", NAME)`` from an ``evaluation``
    setting; ConfigError (one line, with a did-you-mean) for anything else."""
    if text in ("full", "shared"):
        return text, None
    if isinstance(text, str) and text.startswith("proxy:"):
        from ..oneshot.proxies import PROXIES

        name = text.split(":", 1)[1]
        PROXIES.get(name)  # an unknown proxy: ConfigError naming it, with a suggestion
        return "proxy", name
    raise ConfigError(f"evaluation must be full, shared or proxy:NAME (a zero-cost proxy), got {text!r}")


def prefilter_spec(text: str) -> tuple[str, int]:
    """``(proxy, K)`` from a ``prefilter`` setting ``NAME:K`` or ``NAME`` (K = 10), with K at
    most :data:`MAX_CANDIDATES`."""
    from ..oneshot.proxies import parse_proxy_spec

    name, k = parse_proxy_spec(text)
    if k > MAX_CANDIDATES:
        raise ConfigError(f"prefilter {text!r}: at most {MAX_CANDIDATES:,} candidates per proposal (each is built and "
                          f"scored, tens of milliseconds apiece), got {k:,}")
    return name, k


# Candidates a prefilter ranks per proposal: 10,000 cost minutes of proxy scoring per trial.
MAX_CANDIDATES = 10_000


def load_yaml_config(path: str | Path) -> dict[str, Any]:
    """A ``--config`` file: a YAML mapping of SearchConfig settings (PyYAML's safe loader), read
    within :data:`nas.limits.LIMITS` (a regular file of bounded size, bounded nesting and numbers)."""
    p = Path(path)
    raw = read_bounded(p, LIMITS.max_file_bytes, "config file", ConfigError)
    try:
        data = load_yaml(raw.decode("utf-8"), LIMITS.max_yaml_depth, LIMITS.max_int_digits)
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: cannot read the config file (it is not UTF-8 text)") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or (str(e) if type(e) is yaml.YAMLError else "")
        raise ConfigError(f"{p}: invalid YAML{at}{': ' + problem if problem else ''}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of settings at the top level")
    return data
