"""What a run did: the leaderboard, the Pareto fronts with baselines as reference points, and
plots (``nas report``).

>>> from nas.tune import RunStore
>>> from nas.report import report
>>> report(RunStore.find("digits-reinforce").snapshot())      # doctest: +SKIP
"""
from .fronts import (
    COSTS,
    PARETO_CSV_COLUMNS,
    BaselinePoint,
    Cost,
    Front,
    baseline_points,
    pareto_csv,
    pareto_fronts,
    pareto_md,
)
from .leaderboard import canonical, leaderboard
from .pareto import hypervolume_2d, non_dominated
from .plots import plot_controller, plot_pareto, plot_rewards
from .report import (
    CSV_COLUMNS,
    ReportResult,
    baseline_archs,
    leaderboard_csv,
    leaderboard_md,
    report,
    run_input,
    run_input_shape,
)

__all__ = ["COSTS", "CSV_COLUMNS", "PARETO_CSV_COLUMNS", "BaselinePoint", "Cost", "Front", "ReportResult",
           "baseline_archs", "baseline_points", "canonical", "hypervolume_2d", "leaderboard", "leaderboard_csv",
           "leaderboard_md", "non_dominated", "pareto_csv", "pareto_fronts", "pareto_md", "plot_controller",
           "plot_pareto", "plot_rewards", "report", "run_input", "run_input_shape"]
