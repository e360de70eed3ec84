"""``nas report``: a run's leaderboard and Pareto fronts (CSV, Markdown) and plots (PNG), written into
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
from .fronts import (
    BaselinePoint,
    Front,
    baseline_points,
    pareto_csv,
    pareto_fronts,
    pareto_md,
)
from .leaderboard import canonical, leaderboard
from .plots import plot_controller, plot_pareto, plot_rewards

CSV_COLUMNS = ["rank", "trial", "reward", "val_acc", "params", "macs", "latency_ms", "epochs", "seconds",
               "stopped_early", "baseline", "arch"]


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    rows: list[dict[str, Any]]  # the leaderboard
    files: list[Path]
    notes: list[str] = field(default_factory=list)  # what was skipped and why
    fronts: list[Front] = field(default_factory=list)  # val accuracy against params, MACs (and latency)
    baselines: list[BaselinePoint] = field(default_factory=list)  # counted for the run's input


def report(run: RunSnapshot, out_dir: str | Path | None = None) -> ReportResult:
    """Write the leaderboard, the Pareto fronts and plots of ``run`` into ``out_dir``
    (default ``<run>/report``)."""
    out = Path(out_dir) if out_dir is not None else run.root / "report"
    out.mkdir(parents=True, exist_ok=True)
    space = run_space(run)
    shape, classes = run_input(run, space)
    names = _baseline_names(shape, run.trials)
    rows = [dict(r, baseline=names.get(canonical(r["arch"]), "")) for r in leaderboard(run.trials)]
    fronts = pareto_fronts(rows, getattr(space, "constraints", None))
    notes: list[str] = []
    if shape is None or classes is None:
        points, skipped = None, []
        notes.append("no baselines in pareto.md: the run's input shape or class count is unknown")
    else:
        points, skipped = baseline_points(shape, classes, rows, run.trials)
        if skipped:
            notes.append(f"baselines that do not build for {_input_text(shape, classes)}: {'; '.join(skipped)}")
    files = [out / name for name in ("leaderboard.csv", "leaderboard.md", "rewards.png", "pareto.md", "pareto.csv",
                                     "pareto.png")]
    atomic_write(files[0], leaderboard_csv(rows))
    atomic_write(files[1], leaderboard_md(run, rows))
    plot_rewards(run.trials, run.updates, files[2], title=f"{run.name}: reward per trial")
    atomic_write(files[3], pareto_md(run.name, fronts, points, skipped, input_text=_input_text(shape, classes),
                                     latency=_latency_settings(run)))
    atomic_write(files[4], pareto_csv(fronts))
    plot_pareto(fronts, files[5], baselines=points or (), title=run.name)
    if run.updates and any(u.get("probs") for u in run.updates):
        path = out / "controller.png"
        plot_controller(run.updates, path, names=run.decision_names, options=_option_labels(run, space),
                        title=f"{run.name}: controller choice distributions")
        files.append(path)
    else:
        strategy = run.search.get("strategy", "?")
        notes.append(f"no controller.png: strategy {strategy!r} recorded no policy updates")
    if not names:
        notes.append("no baseline on the leaderboard: the run evaluated no architecture equal to a baseline")
    return ReportResult(out, rows, files, notes, fronts, points or [])


def baseline_archs(run: RunSnapshot) -> dict[str, str]:
    """Canonical arch -> baseline name, for baselines the run actually evaluated."""
    return _baseline_names(run_input_shape(run), run.trials)


def _baseline_names(shape: tuple[int, int, int] | None, trials) -> dict[str, str]:
    from .. import baselines

    if shape is None:
        return {}
    evaluated = {canonical(t["arch"]) for t in trials}
    found = {}
    for name in baselines.names():
        try:
            arch = canonical(baselines.get(name, shape))
        except NasError:
            continue
        if arch in evaluated:
            found.setdefault(arch, name)
    return found


def _input_text(shape, classes) -> str:
    return f"input {'x'.join(map(str, shape))} and {classes} classes" if shape and classes else "an unknown input"


def run_input_shape(run: RunSnapshot) -> tuple[int, int, int] | None:
    """The run's input shape (see :func:`run_input`); None when unknown."""
    return run_input(run)[0]


_NO_SPACE = object()


def run_input(run: RunSnapshot, space: Any = _NO_SPACE) -> tuple[tuple[int, int, int] | None, int | None]:
    """The run's input shape and class count: each as recorded in config.yaml, else its
    space.yaml's (``space``: that space when the caller loaded it already), else the
    dataset's (loaded from disk without downloading); None for what none of these gives.
    Values that are not positive whole numbers count as not recorded."""
    meta = run.config.get("dataset")
    meta = meta if isinstance(meta, dict) else {}
    shape = next((s for s in (_shape(meta.get("input_shape")), _shape(run.config.get("input_shape"))) if s), None)
    classes = next((c for c in (_positive(meta.get(k)) for k in ("num_classes", "classes")) if c), None)
    if shape is None or classes is None:
        space = run_space(run) if space is _NO_SPACE else space
        shape = shape or _shape(getattr(space, "input_shape", None))
        classes = classes or _positive(getattr(space, "num_classes", None))
    name = run.search.get("dataset") or meta.get("dataset")
    if (shape is None or classes is None) and isinstance(name, str) and name:
        from ..train import data

        s = run.search
        try:
            splits = data.load(name, s.get("data_dir"), val_fraction=float(s.get("val_fraction", 0.2)),
                               seed=int(s.get("seed", 0)), download=False)
        except (NasError, OSError, ValueError, TypeError):
            return shape, classes
        shape, classes = shape or _shape(splits.input_shape), classes or _positive(splits.num_classes)
    return shape, classes


def _positive(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 1 else None


def _shape(v) -> tuple[int, int, int] | None:
    if isinstance(v, (list, tuple)) and len(v) == 3 and all(_positive(d) for d in v):
        return tuple(v)
    return None


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


def _option_labels(run: RunSnapshot, space) -> list[list[str]] | None:
    """Option values per decision from the run's space (its space.yaml), when it loaded and
    matches the state."""
    decisions = list(getattr(space, "decisions", None) or [])
    if not decisions or [d.name for d in decisions] != run.decision_names:
        return None
    return [[str(o) for o in d.options] for d in decisions]


def _latency_settings(run: RunSnapshot) -> dict[str, Any]:
    """The latency settings the search measured with: its ``latency`` keys over the defaults (a
    search that measures latency because its reward, space or strategy needs it uses those)."""
    from ..latency import LatencyConfig

    given = run.search.get("latency")
    return {**LatencyConfig().to_dict(), **(given if isinstance(given, dict) else {})}
