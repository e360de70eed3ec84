"""Search strategies: ``get(name, space, seed=0, **options)`` and ``names()``.

Registered: ``reinforce`` (LSTM controller + REINFORCE, Zoph & Le 2017 / ENAS),
``random`` (uniform random search) and ``evolution`` (regularized evolution, Real et
al. 2019). All follow ``base.Strategy``: ``ask()`` -> ``Proposal``,
``tell(id, reward, failed=False)``, ``history``, ``best()``, ``state_dict()`` /
``load_state_dict()``.

Example::

    import nas.strategies
    s = nas.strategies.get("reinforce", space, seed=0, batch_size=5)
    p = s.ask(); s.tell(p.id, 0.9)
"""
from __future__ import annotations

# Registration order is the order of names(): reinforce, random, evolution.
from . import reinforce, random_search, evolution  # noqa: F401,I001
from .base import STRATEGIES, Proposal, Strategy, check_options, get, names

__all__ = ["Proposal", "STRATEGIES", "Strategy", "check_options", "get", "names"]
