"""Evaluation without training a network per proposal, in the search's own process: by a
weight-sharing supernet (``evaluation: shared``, ENAS) or by a zero-cost proxy
(``evaluation: proxy:NAME``). Each scored proposal is recorded and told to the strategy as
a trained one would be; the driver then retrains the best of them in Ray trials.

The shared weights are checkpointed (``supernet.pt``: weights, optimizer, data order)
after every epoch, atomically and after the strategy's state, so a search killed at any
point resumes from its last epoch: a round's proposals are scored with fixed weights, so
the ones recorded before a kill keep their scores and the rest are scored as they would
have been.
"""
from __future__ import annotations

import math
import time

from .._util import first_line
from ..errors import ConfigError, NasError
from ..oneshot.shared import SharedConfig, SharedTrainer
from ..strategies import Proposal


def evaluate_in_process(driver, splits) -> None:
    """Score the proposals left in ``driver``'s budget (a shared or proxy search)."""
    if driver.evaluation == "proxy":
        _proxy_search(driver)
    elif driver.evaluation == "shared":
        _shared_search(driver, splits)
    else:
        raise NasError(f"evaluation {driver.config.evaluation!r} trains its proposals in Ray trials")


def _proxy_search(driver) -> None:
    while not driver.searched():
        p = driver._ask()
        if p is None:
            return
        start = time.perf_counter()
        try:
            score = driver.proxy_score(driver.proxy, p.arch)
        except NasError as e:
            driver.record_score(p, None, seconds=time.perf_counter() - start, failed_reason=f"cannot score: {e}")
            continue
        seconds = time.perf_counter() - start
        if not math.isfinite(score):
            driver.record_score(p, None, seconds=seconds, failed_reason=f"the {driver.proxy} score is {score}")
        else:
            driver.record_score(p, None, score=score, seconds=seconds)


def _shared_search(driver, splits) -> None:
    config = SharedConfig.from_dict(driver.config.shared)
    total = config.total_epochs(driver.config.trials)
    trainer = SharedTrainer(driver.space, splits, config, total_epochs=total, seed=driver.config.seed)
    _restore(driver, trainer)
    trainer.total_epochs = max(trainer.total_epochs, total)  # a raised budget lengthens the schedule
    while not driver.searched():
        round_index = driver.done // config.round_size
        while trainer.epochs_done < config.epochs_before(round_index):
            metrics = trainer.train_epoch(driver.strategy.sample_path)
            # The strategy drew the epoch's paths: its state first, then the weights trained on them.
            driver.store.save_state(driver.strategy.state_dict())
            driver.store.save_supernet(trainer.state_dict())
            driver.events_shared_epoch(dict(metrics, total=trainer.total_epochs))
        end = min((round_index + 1) * config.round_size, driver.config.trials)
        while driver.done < end:
            p = driver._ask()
            if p is None:
                return
            _score(driver, trainer, p)


def _score(driver, trainer: SharedTrainer, p: Proposal) -> None:
    start = time.perf_counter()
    try:
        accuracy = trainer.score(p.choices)
    except NasError as e:
        driver.record_score(p, None, seconds=time.perf_counter() - start, failed_reason=f"cannot score: {e}")
        return
    driver.record_score(p, accuracy, seconds=round(time.perf_counter() - start, 4))


def _restore(driver, trainer: SharedTrainer) -> None:
    """The checkpointed shared weights into ``trainer``; a missing or damaged checkpoint of a
    run that has scored proposals is said, and the weights are trained again from scratch."""
    try:
        state = driver.store.load_supernet()
        if state is not None:
            trainer.load_state_dict(state)
            return
        problem = f"{driver.store.supernet_path} is missing"
    except (ConfigError, RuntimeError, KeyError, ValueError) as e:  # damaged, foreign, or of another shape
        problem = f"{driver.store.supernet_path} cannot be used ({first_line(e) or type(e).__name__})"
    if driver.done:
        driver.events.warning(f"{problem}; the shared weights are trained again from scratch (the proposals "
                              f"recorded so far keep their scores)")
