"""``nas report``: a run's leaderboard (CSV, Markdown) and plots (PNG), written into
``<run>/report/`` from a read-only :class:`~nas.tune.RunSnapshot`. What each file shows:
docs/reports.md."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._util import atomic_write, finite_number, human
from ..errors import NasError
from ..tune.runstore import RunSnapshot, RunStore
from .leaderboard import canonical, leaderboard
from .plots import plot_controller, plot_pareto, plot_rewards


CSV_COLUMNS = ["rank", "trial", "reward", "val_acc", "params", "macs", "epochs", "seconds", "stopped_early",
               "baseline", "arch"]


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    rows: list[dict[str, Any]]  # the leaderboard
    files: list[Path]
    notes: list[str] = field(default_factory=list)  # what was skipped and why


def report(run: RunSnapshot, out_dir: str | Path | None = None) -> ReportResult:
    """Write the leaderboard and plots of ``run`` into ``out_dir`` (default ``<run>/report``)."""
    out = Path(out_dir) if out_dir is not None else run.root / "report"
    out.mkdir(parents=True, exist_ok=True)
    baselines = baseline_archs(run)
    rows = [dict(r, baseline=baselines.get(canonical(r["arch"]), "")) for r in leaderboard(run.trials)]
    notes: list[str] = []
    files = [out / "leaderboard.csv", out / "leaderboard.md", out / "rewards.png", out / "pareto.png"]
    atomic_write(files[0], leaderboard_csv(rows))
    atomic_write(files[1], leaderboard_md(run, rows))
    plot_rewards(run.trials, run.updates, files[2], title=f"{run.name}: reward per trial")
    plot_pareto(rows, files[3], title=run.name)
    if run.updates and any(u.get("probs") for u in run.updates):
        path = out / "controller.png"
        plot_controller(run.updates, path, names=run.decision_names, options=_option_labels(run),
                        title=f"{run.name}: controller choice distributions")
        files.append(path)
    else:
        strategy = run.search.get("strategy", "?")
        notes.append(f"no controller.png: strategy {strategy!r} recorded no policy updates")
    if not baselines:
        notes.append("no baseline reference points: the run evaluated no architecture equal to a baseline")
    return ReportResult(out, rows, files, notes)


def baseline_archs(run: RunSnapshot) -> dict[str, str]:
    """Canonical arch -> baseline name, for baselines the run actually evaluated."""
    from .. import baselines

    shape = run_input_shape(run)
    if shape is None:
        return {}
    evaluated = {canonical(t["arch"]) for t in run.trials}
    found = {}
    for name in baselines.names():
        try:
            arch = canonical(baselines.get(name, shape))
        except NasError:
            continue
        if arch in evaluated:
            found.setdefault(arch, name)
    return found


def run_input_shape(run: RunSnapshot) -> tuple[int, int, int] | None:
    """The run's input shape: recorded in config.yaml, else its space.yaml's, else the dataset's
    (loaded from disk without downloading); None when none of these is available."""
    meta = run.config.get("dataset")
    for where in (meta if isinstance(meta, dict) else {}, run.config):
        shape = where.get("input_shape")
        if isinstance(shape, (list, tuple)) and len(shape) == 3:
            return tuple(int(d) for d in shape)
    space = run_space(run)
    if space is not None and getattr(space, "input_shape", None):
        return tuple(int(d) for d in space.input_shape)
    name = run.search.get("dataset") or (meta.get("dataset") if isinstance(meta, dict) else None)
    if not name:
        return None
    from ..train import data

    try:
        splits = data.load(name, run.search.get("data_dir"), val_fraction=float(run.search.get("val_fraction", 0.2)),
                           seed=int(run.search.get("seed", 0)), download=False)
    except (NasError, OSError, ValueError, TypeError):
        return None
    return tuple(splits.input_shape)


def run_space(run: RunSnapshot):
    """The run's copy of its search space (``space.yaml``), or None when absent or unloadable."""
    path = RunStore(run.root).space_path
    if not path.is_file():
        return None
    try:
        from ..space import SearchSpace

        return SearchSpace.load(path)
    except (ImportError, AttributeError, NasError, OSError, ValueError, TypeError):
        return None


def leaderboard_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_COLUMNS})
    return buf.getvalue()


def leaderboard_md(run: RunSnapshot, rows: list[dict[str, Any]]) -> str:
    failed = sum(t.get("status") != "ok" for t in run.trials)
    reused = sum(bool(t.get("reused")) for t in run.trials)
    s = run.search
    lines = [
        f"# {run.name}",
        "",
        f"{len(run.trials)} trials ({failed} failed, {reused} reused) of `{s.get('strategy', '?')}` over "
        f"`{s.get('space', '?')}` on `{s.get('dataset') or '?'}`, {s.get('epochs', '?')} epochs per trial. "
        f"{len(rows)} distinct architectures finished; best reward first.",
        "",
        "| rank | trial | reward | val acc | params | MACs | architecture |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        arch = r["arch"].replace("|", "\\|")
        base = f" (= {r['baseline']})" if r.get("baseline") else ""
        lines.append(f"| {r['rank']} | {r['trial']} | {r['reward']:.4f} | {_fmt(r.get('val_acc'))} | "
                     f"{human(int(r.get('params') or 0))} | {human(int(r.get('macs') or 0))} | `{arch}`{base} |")
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    return f"{v:.4f}" if finite_number(v) else "-"


def _option_labels(run: RunSnapshot) -> list[list[str]] | None:
    """Option values per decision from the run's space.yaml, when it loads and matches the state."""
    space = run_space(run)
    decisions = list(getattr(space, "decisions", None) or [])
    if not decisions or [d.name for d in decisions] != run.decision_names:
        return None
    return [[str(o) for o in d.options] for d in decisions]
