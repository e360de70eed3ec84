"""Search with Ray Tune: settings, rewards, the run folder, the driver, the Tune searcher,
one trial, and joining or starting Ray.

>>> from nas.tune import SearchConfig, run_search
>>> driver = run_search(SearchConfig(trials=8, epochs=2))        # doctest: +SKIP
>>> driver.best()["arch"]                                        # doctest: +SKIP

:class:`StrategySearcher` also works in your own ``tune.Tuner`` (see the README).
"""
from .config import SearchConfig, load_yaml_config
from .driver import METRIC, SearchDriver, SearchEvents, run_search
from .reward import RewardConfig, compute_reward, cost_factor, window_max
from .runs import resolve, resume_command
from .runstore import RunSnapshot, RunStore, check_name, parse_trial_log


def __getattr__(name: str):
    # The Tune searcher imports Ray Tune (about a second): only when it is asked for.
    if name in ("AskTell", "FatalStopper", "StrategySearcher"):
        from . import searcher

        return getattr(searcher, name)
    raise AttributeError(f"module 'nas.tune' has no attribute {name!r}")


__all__ = ["METRIC", "AskTell", "FatalStopper", "RewardConfig", "RunSnapshot", "RunStore", "SearchConfig",
           "SearchDriver", "SearchEvents", "StrategySearcher", "check_name", "compute_reward", "cost_factor",
           "load_yaml_config", "parse_trial_log", "resolve", "resume_command", "run_search", "run_trial",
           "window_max"]
