"""What a run did: the leaderboard, the Pareto front and plots (``nas report``).

>>> from nas.tune import RunStore
>>> from nas.report import report
>>> report(RunStore.find("digits-reinforce").snapshot())      # doctest: +SKIP
"""
from .leaderboard import canonical, leaderboard, pareto_front
from .plots import plot_controller, plot_pareto, plot_rewards
from .report import CSV_COLUMNS, ReportResult, baseline_archs, leaderboard_csv, leaderboard_md, report, run_input_shape

__all__ = ["CSV_COLUMNS", "ReportResult", "baseline_archs", "canonical", "leaderboard", "leaderboard_csv",
           "leaderboard_md", "pareto_front", "plot_controller", "plot_pareto", "plot_rewards", "report",
           "run_input_shape"]
