"""Search strategies: ``get(name, space, seed=0, **options)`` and ``names()``.

Registered: ``reinforce`` (LSTM controller + REINFORCE, Zoph & Le 2017 / ENAS),
``random`` (uniform random search), ``evolution`` (regularized evolution, Real et
al. 2019), ``tpe``, ``gp`` and ``nsga2`` (Optuna's TPE, GP and NSGA-II samplers; nsga2 is
multi-objective) and ``tune:optuna`` / ``tune:hyperopt`` (Ray Tune's own searchers). All
follow ``base.Strategy``: ``ask()`` -> ``Proposal``, ``tell(id, reward, failed=False,
metrics=None)``, ``needs``, ``history``, ``best()``, ``state_dict()`` / ``load_state_dict()``.

Example::

    import nas.strategies
    s = nas.strategies.get("reinforce", space, seed=0, batch_size=5)
    p = s.ask(); s.tell(p.id, 0.9)
"""
from __future__ import annotations

# Registration order is the order of names(): reinforce, random, evolution, tpe, gp, nsga2,
# tune:optuna, tune:hyperopt. Optuna and Ray are imported only when a strategy is built.
from . import reinforce, random_search, evolution, optuna_samplers, tune_searchers  # noqa: F401,I001
from .base import STRATEGIES, Proposal, Strategy, check_options, get, names

__all__ = ["Proposal", "STRATEGIES", "Strategy", "check_options", "get", "names"]
