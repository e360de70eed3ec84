"""``nas report RUN``: leaderboard (terminal, CSV, Markdown), Pareto fronts and plots of a run."""
from __future__ import annotations

import sys

from ._util import human, positive_int, table


def add_parser(sub):
    p = sub.add_parser("report", help="leaderboard, Pareto fronts and plots of a run (works while it is still running)",
                       description="Print the leaderboard and the Pareto fronts of a run and write "
                                   "leaderboard.csv/.md, pareto.md/.csv (fronts of val accuracy against params, MACs "
                                   "and latency, their hypervolumes, baselines as reference points), rewards.png, "
                                   "pareto.png and controller.png (when the strategy recorded its updates).")
    p.add_argument("run", metavar="RUN", help="run folder, or a run name under --runs-dir")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: RUN/report)")
    p.add_argument("--top", default="10", metavar="N", help="rows of the leaderboard printed here (default 10; "
                                                             "the files list every architecture)")
    p.add_argument("--runs-dir", default="runs", help="where run names are looked up (default: runs)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..report import report
    from ..tune import RunStore

    top = positive_int("--top", args.top)
    r = RunStore.find(args.run, args.runs_dir).snapshot()
    for w in r.warnings:
        print(f"nas: warning: {w}", file=sys.stderr)
    result = report(r, args.out)
    trials = r.trials
    failed = sum(t.get("status") != "ok" for t in trials)
    reused = sum(bool(t.get("reused")) for t in trials)
    print(f"{r.name}: {len(trials)} trials ({failed} failed, {reused} reused), "
          f"{len(result.rows)} distinct architectures finished")
    if result.rows:
        rows = [[str(x["rank"]), str(x["trial"]), f"{x['reward']:.4f}",
                 f"{x['val_acc']:.4f}" if isinstance(x.get("val_acc"), float) else "-",
                 human(int(x.get("params") or 0)), human(int(x.get("macs") or 0)),
                 x["arch"] + (f"  (= {x['baseline']})" if x.get("baseline") else "")] for x in result.rows[:top]]
        print()
        print(table(rows, ["rank", "trial", "reward", "val_acc", "params", "MACs", "architecture"],
                    right={0, 1, 2, 3, 4, 5}))
    if result.fronts:
        print()
        for front in result.fronts:
            print(front.summary())
    print(f"\nwrote {', '.join(p.name for p in result.files)} to {result.out_dir}")
    for note in result.notes:
        print(f"  ({note})")
    return 0
