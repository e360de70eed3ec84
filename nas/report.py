"""Reading a run folder, and what ``nas report`` makes of it.

``open_run(path_or_name)`` reads ``runs/NAME/`` **without changing it** (a search may still be
appending to it): ``config.yaml``, ``trials.jsonl`` (a torn last line, the mark of a write in
progress or of a kill, is skipped with a warning; damage anywhere else is an error) and, when
present, ``strategy.pt`` (``torch.load(weights_only=True)``).

``report(run, out_dir)`` writes::

    leaderboard.csv / leaderboard.md   distinct architectures of ok trials, best reward first
    rewards.png      reward per trial, running best; the controller's EMA baseline, batch
                     mean reward and entropy per policy update (strategies that record them)
    pareto.png       val accuracy against params and against MACs (log x), Pareto front
                     marked, hand-designed baselines the run evaluated as labelled stars
    controller.png   per decision, each option's probability over the policy updates
                     (line plots for a few decisions, a grid of heatmaps for many)

Plots use matplotlib's object API on Agg canvases (``matplotlib.figure.Figure``): no pyplot
state, no GUI backend, safe in any process.

During a search the controller's scalars go to TensorBoard through :class:`ControllerLogger`
(``runs/NAME/tensorboard/``), next to Ray Tune's own trial logs under ``runs/NAME/ray/``.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .errors import ConfigError, NasError
from .runstore import check_name

REQUIRED_KEYS = ("trial", "arch", "reward", "status")


# ---------------------------------------------------------------------------------------
# Reading a run
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A run folder as read by :func:`open_run` (read-only)."""

    root: Path
    config: dict[str, Any]
    trials: list[dict[str, Any]]
    state: dict[str, Any] | None  # strategy.pt, None when absent or unreadable
    warnings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def search(self) -> dict[str, Any]:
        return self.config.get("search") or {}

    @property
    def updates(self) -> list[dict[str, Any]]:
        """The controller's policy updates (reinforce), else []."""
        updates = (self.state or {}).get("updates")
        return list(updates) if isinstance(updates, list) else []

    @property
    def decision_names(self) -> list[str]:
        space = (self.state or {}).get("space")
        return [str(s[0]) for s in space] if isinstance(space, list) else []


def find_run(run: str | Path, runs_dir: str | Path = "runs") -> Path:
    """A run folder path, or a run name looked up under ``runs_dir``.

    A plain name that is both a folder here and a run under ``runs_dir`` means the run folder
    here only when that folder is a run (has config.yaml).
    """
    text = str(run)
    path = Path(text).expanduser()
    is_name = "/" not in text and "\\" not in text and text not in (".", "..")
    if path.is_dir() and (not is_name or (path / "config.yaml").exists()):
        return path.resolve()
    if is_name:
        check_name(text)
        candidate = Path(runs_dir).expanduser() / text
        if candidate.is_dir():
            return candidate.resolve()
        if path.is_dir():
            return path.resolve()  # reported as "not a run folder" by open_run
        raise ConfigError(f"no run {text!r}: neither a folder here nor a run in {Path(runs_dir)}/")
    raise ConfigError(f"no run folder {text!r}")


def open_run(run: str | Path, runs_dir: str | Path = "runs") -> Run:
    """Read a run folder; every problem is a :class:`ConfigError` of one line.

    >>> run = open_run("digits-reinforce")   # doctest: +SKIP
    >>> len(run.trials), run.search["strategy"]  # doctest: +SKIP
    (24, 'reinforce')
    """
    import yaml

    root = find_run(run, runs_dir)
    config_path = root / "config.yaml"
    if not config_path.is_file():
        raise ConfigError(f"{root} is not a run folder (no config.yaml)")
    try:
        config = yaml.safe_load(config_path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{config_path}: damaged or unreadable run config ({e.__class__.__name__})") from None
    if not isinstance(config, dict) or not isinstance(config.get("search"), dict):
        raise ConfigError(f"{config_path}: not a run config (no 'search' settings)")
    trials, warnings = read_trials(root / "trials.jsonl")
    state = None
    state_path = root / "strategy.pt"
    if state_path.is_file():
        import pickle

        import torch

        try:
            state = torch.load(state_path, weights_only=True)  # never unpickle arbitrary objects
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
            warnings.append(f"{state_path}: unreadable ({e.__class__.__name__}); no controller plots")
        if state is not None and not isinstance(state, dict):
            warnings.append(f"{state_path}: not a strategy state; no controller plots")
            state = None
    return Run(root, config, trials, state, tuple(warnings))


def read_trials(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Complete records of ``trials.jsonl``, read-only, and warnings.

    A last line without its newline is a write in progress or a kill mid-write: skipped with a
    warning. A broken line before the end means the file is damaged: ConfigError naming it.
    No records at all: ConfigError (nothing to report or export).
    """
    if not path.is_file():
        raise ConfigError(f"{path.parent}: the run has no trials.jsonl (no trial finished yet)")
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    warnings = []
    if tail.strip():
        warnings.append(f"{path}: skipped a torn last line (a write in progress or an interrupted one)")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ConfigError(f"{path}: line {number} is not valid JSON; the file is damaged") from None
        if not isinstance(rec, dict) or any(k not in rec for k in REQUIRED_KEYS):
            missing = [k for k in REQUIRED_KEYS if not isinstance(rec, dict) or k not in rec]
            raise ConfigError(f"{path}: line {number} is not a trial record (missing {', '.join(missing)})")
        records.append(rec)
    if not records:
        raise ConfigError(f"{path}: no complete trial records yet")
    return records, warnings


# ---------------------------------------------------------------------------------------
# Leaderboard and Pareto front (pure)
# ---------------------------------------------------------------------------------------


def canonical(arch: str) -> str:
    """The canonical form of an architecture string (unparsable strings stay as they are)."""
    from .lang import parse

    try:
        return str(parse(arch))
    except NasError:
        return arch


def leaderboard(trials: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Ok trials, one per distinct architecture (its best-reward trial), best reward first.

    Ties go to the earlier trial. Each row is the trial record plus ``rank`` (1-based).
    """
    best: dict[str, dict[str, Any]] = {}
    for t in trials:
        if t.get("status") != "ok" or not _finite(t.get("reward")):
            continue
        key = canonical(t["arch"])
        old = best.get(key)
        if old is None or (t["reward"], -t["trial"]) > (old["reward"], -old["trial"]):
            best[key] = dict(t)
    rows = sorted(best.values(), key=lambda r: (-r["reward"], r["trial"]))
    return [dict(r, rank=i) for i, r in enumerate(rows, start=1)]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated ``(cost, accuracy)`` points, by increasing cost.

    Lower cost and higher accuracy are better; a point is dominated when another is at least
    as good in both and better in one. Identical points do not dominate each other, so all
    copies of a front point are on the front. Points with a non-finite coordinate are ignored.

    >>> pareto_front([(10, 0.9), (5, 0.8), (20, 0.85), (5, 0.7)])
    [1, 0]
    """
    order = sorted((i for i, (c, a) in enumerate(points) if _finite(c) and _finite(a)),
                   key=lambda i: (points[i][0], -points[i][1], i))
    front: list[int] = []
    best = -math.inf
    for i in order:
        c, a = points[i]
        if a > best:
            front.append(i)
            best = a
        elif front and (c, a) == tuple(points[front[-1]]):
            front.append(i)
    return front


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ---------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------

CSV_COLUMNS = ["rank", "trial", "reward", "val_acc", "params", "macs", "epochs", "seconds", "stopped_early",
               "baseline", "arch"]


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    rows: list[dict[str, Any]]  # the leaderboard
    files: list[Path]
    notes: list[str] = field(default_factory=list)  # what was skipped and why


def report(run: Run, out_dir: str | Path | None = None) -> ReportResult:
    """Write the leaderboard and plots of ``run`` into ``out_dir`` (default ``<run>/report``)."""
    from .export import write_text

    out = Path(out_dir) if out_dir is not None else run.root / "report"
    out.mkdir(parents=True, exist_ok=True)
    baselines = baseline_archs(run)
    rows = [dict(r, baseline=baselines.get(canonical(r["arch"]), "")) for r in leaderboard(run.trials)]
    notes: list[str] = []
    files = [out / "leaderboard.csv", out / "leaderboard.md", out / "rewards.png", out / "pareto.png"]
    write_text(files[0], leaderboard_csv(rows))
    write_text(files[1], leaderboard_md(run, rows))
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


def baseline_archs(run: Run) -> dict[str, str]:
    """Canonical arch -> baseline name, for baselines the run actually evaluated."""
    from . import baselines

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


def run_input_shape(run: Run) -> tuple[int, int, int] | None:
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
    from . import data

    try:
        splits = data.load(name, run.search.get("data_dir"), val_fraction=float(run.search.get("val_fraction", 0.2)),
                           seed=int(run.search.get("seed", 0)), download=False)
    except (NasError, OSError, ValueError, TypeError):
        return None
    return tuple(splits.input_shape)


def run_space(run: Run):
    """The run's copy of its search space (``space.yaml``), or None when absent or unloadable."""
    path = run.root / "space.yaml"
    if not path.is_file():
        return None
    try:
        from .space import SearchSpace

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


def leaderboard_md(run: Run, rows: list[dict[str, Any]]) -> str:
    from .commands._util import human

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
    return f"{v:.4f}" if _finite(v) else "-"


def _option_labels(run: Run) -> list[list[str]] | None:
    """Option values per decision from the run's space.yaml, when it loads and matches the state."""
    space = run_space(run)
    decisions = list(getattr(space, "decisions", None) or [])
    if not decisions or [d.name for d in decisions] != run.decision_names:
        return None
    return [[str(o) for o in d.options] for d in decisions]


# ---------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _update_positions(trials: list[Mapping[str, Any]], updates: list[Mapping[str, Any]]) -> list[float]:
    """The trial number at which each policy update happened: its batch's last trial."""
    trial_of = {t.get("proposal"): t["trial"] for t in trials if "proposal" in t}
    xs = []
    for k, u in enumerate(updates):
        ts = [trial_of[i] for i in u.get("ids", []) if i in trial_of]
        xs.append(max(ts) if ts else (xs[-1] + 1 if xs else k + 1))
    return xs


def plot_rewards(trials: list[Mapping[str, Any]], updates: list[Mapping[str, Any]], path: Path,
                 title: str = "reward per trial") -> None:
    """Reward per trial (ok, failed), running best, and the controller's baseline and entropy."""
    has_updates = bool(updates)
    fig = _figure(9, 6.5 if has_updates else 4.5)
    axes = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.3]) if has_updates else [fig.subplots()]
    ax = axes[0]
    ok = [t for t in trials if t.get("status") == "ok" and _finite(t.get("reward"))]
    bad = [t for t in trials if t.get("status") != "ok" and _finite(t.get("reward"))]
    ax.scatter([t["trial"] for t in ok], [t["reward"] for t in ok], s=16, color="C0", alpha=0.75, label="trial reward")
    if bad:
        ax.scatter([t["trial"] for t in bad], [t["reward"] for t in bad], s=22, marker="x", color="C3", label="failed")
    if ok:
        xs, best, run_best = [], [], -math.inf
        for t in sorted(ok, key=lambda t: t["trial"]):
            run_best = max(run_best, t["reward"])
            xs.append(t["trial"])
            best.append(run_best)
        ax.plot(xs, best, drawstyle="steps-post", color="C2", lw=1.5, label="best so far")
    if has_updates:
        ux = _update_positions(list(trials), updates)
        ax.plot(ux, [u.get("baseline", math.nan) for u in updates], color="C1", lw=1.5, marker=".",
                label="EMA baseline (per update)")
        ax.plot(ux, [u.get("mean_reward", math.nan) for u in updates], color="C4", lw=1, ls="--",
                label="batch mean reward")
        ax2 = axes[1]
        ax2.plot(ux, [u.get("entropy", math.nan) for u in updates], color="C5", marker=".", lw=1.2)
        ax2.set_ylabel("entropy (nats)")
        ax2.set_xlabel("trial")
        ax2.set_title("controller entropy of sampled architectures (sum over decisions, batch mean)", fontsize=9)
        ax2.grid(alpha=0.3)
    else:
        ax.set_xlabel("trial")
    ax.set_ylabel("reward")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ok or bad:
        ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path, format="png")


def plot_pareto(rows: list[Mapping[str, Any]], path: Path, title: str = "") -> None:
    """Val accuracy against params and against MACs (log x), front marked, baselines starred."""
    fig = _figure(11, 4.6)
    axes = fig.subplots(1, 2, sharey=True)
    usable = [r for r in rows if _finite(r.get("val_acc"))]
    sc = None
    for ax, key, label in ((axes[0], "params", "parameters"), (axes[1], "macs", "MACs per image")):
        pts = [r for r in usable if _finite(r.get(key)) and r[key] > 0]
        ax.set_xlabel(f"{label} (log scale)")
        ax.grid(alpha=0.3)
        ax.set_title(f"val accuracy vs {label}" + (f" ({title})" if title else ""), fontsize=10)
        if not pts:
            ax.text(0.5, 0.5, f"no successful trial with {label}", ha="center", va="center", transform=ax.transAxes)
            continue
        ax.set_xscale("log")
        xs, ys = [r[key] for r in pts], [r["val_acc"] for r in pts]
        sc = ax.scatter(xs, ys, c=[r["trial"] for r in pts], cmap="viridis", s=20, alpha=0.85, zorder=2)
        front = pareto_front(list(zip(xs, ys)))
        fx, fy = [xs[i] for i in front], [ys[i] for i in front]
        ax.plot(fx, fy, drawstyle="steps-post", color="C3", lw=1.3, zorder=3, label="Pareto front")
        ax.scatter(fx, fy, s=60, facecolors="none", edgecolors="C3", lw=1.4, zorder=4)
        for r in pts:
            if r.get("baseline"):
                ax.scatter([r[key]], [r["val_acc"]], marker="*", s=180, color="gold", edgecolors="k", zorder=5)
                ax.annotate(r["baseline"], (r[key], r["val_acc"]), xytext=(5, -10), textcoords="offset points",
                            fontsize=8)
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel("validation accuracy")
    if sc is not None:
        fig.colorbar(sc, ax=list(axes), label="trial", shrink=0.9)
    fig.savefig(path, format="png")


def plot_controller(updates: list[Mapping[str, Any]], path: Path, *, names: Sequence[str] | None = None,
                    options: Sequence[Sequence[str]] | None = None, title: str = "controller") -> None:
    """Per decision, the probability of each option over policy updates.

    ``updates[k]["probs"][d]`` is decision d's probability vector after update k (along the
    controller's most likely architecture). Up to 6 decisions: line plots; more: a grid of
    heatmaps (options x updates, one colour scale 0..1), which stays readable for dozens.
    """
    from matplotlib.ticker import MaxNLocator

    steps = [int(u.get("step", k + 1)) for k, u in enumerate(updates)]
    n = max(len(u.get("probs") or []) for u in updates)
    names = list(names or [])[:n] + [f"d{i}" for i in range(len(names or []), n)]

    def series(d: int) -> list[list[float]]:  # rows: options, columns: updates
        k = max(len(u["probs"][d]) for u in updates if len(u.get("probs") or []) > d)
        cols = [u["probs"][d] if len(u.get("probs") or []) > d else [math.nan] * k for u in updates]
        return [[c[o] if o < len(c) else math.nan for c in cols] for o in range(k)]

    def label(d: int, o: int) -> str:
        if options and d < len(options) and o < len(options[d]):
            text = options[d][o]
            return text if len(text) <= 18 else text[:17] + "…"
        return str(o)

    lines = n <= 6
    ncols = math.ceil(math.sqrt(n)) if lines else min(n, max(4, math.ceil(math.sqrt(n * 1.5))))
    nrows = math.ceil(n / ncols)
    cell = (4.2, 2.8) if lines else (2.6, 1.9)
    fig = _figure(min(1 + ncols * cell[0], 40), min(1 + nrows * cell[1], 40))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    image = None
    for d in range(nrows * ncols):
        ax = axes[d // ncols][d % ncols]
        if d >= n:
            ax.set_visible(False)
            continue
        rows = series(d)
        ax.set_title(names[d], fontsize=9 if lines else 7)
        if lines:
            for o, ys in enumerate(rows):
                ax.plot(steps, ys, lw=1.3, label=label(d, o))
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("policy update", fontsize=8)
            ax.set_ylabel("probability", fontsize=8)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6, loc="upper left", ncols=1 if len(rows) <= 6 else 2)
        else:
            image = ax.imshow(rows, aspect="auto", vmin=0, vmax=1, cmap="magma", interpolation="nearest",
                              extent=(steps[0] - 0.5, steps[-1] + 0.5, len(rows) - 0.5, -0.5))
            ax.set_yticks(range(len(rows)), [label(d, o) for o in range(len(rows))], fontsize=5)
            ax.tick_params(axis="x", labelsize=6)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), label="probability", shrink=0.6)
        fig.supxlabel("policy update", fontsize=9)
    fig.suptitle(title)
    fig.savefig(path, format="png")


# ---------------------------------------------------------------------------------------
# TensorBoard
# ---------------------------------------------------------------------------------------


class ControllerLogger:
    """The controller's scalars, per policy update, to TensorBoard in ``<run_dir>/tensorboard``.

    Scalars (x = update step): ``controller/mean_reward``, ``controller/baseline``,
    ``controller/entropy``, ``controller/loss``, and per decision
    ``controller_max_prob/<decision>`` (probability of the most likely option: 1 when the
    controller has made up its mind). The writer opens on the first update, so strategies
    without a controller leave no folder.

    Example, in the search driver (updates already logged on an earlier attempt are skipped)::

        log = ControllerLogger(store.root, start_after=len(getattr(strategy, "updates", [])))
        ...after each strategy.tell(...):
        log.log_new(getattr(strategy, "updates", []))
    """

    def __init__(self, run_dir: str | Path, *, decision_names: Sequence[str] | None = None, start_after: int = 0):
        self.log_dir = Path(run_dir) / "tensorboard"
        self.decision_names = list(decision_names) if decision_names is not None else None
        self.last_step = int(start_after)
        self._writer = None

    def log(self, update: Mapping[str, Any]) -> None:
        """Log one update dict (``Reinforce.updates`` entry) and flush."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        step = int(update["step"])
        for key in ("mean_reward", "baseline", "entropy", "loss"):
            if _finite(update.get(key)):
                self._writer.add_scalar(f"controller/{key}", float(update[key]), step)
        for d, probs in enumerate(update.get("probs") or []):
            if probs:
                names = self.decision_names
                name = names[d] if names and d < len(names) else f"d{d}"
                self._writer.add_scalar(f"controller_max_prob/{name}", float(max(probs)), step)
        self._writer.flush()
        self.last_step = max(self.last_step, step)

    def log_new(self, updates: Iterable[Mapping[str, Any]]) -> int:
        """Log the updates with a step above the last one logged; returns how many."""
        n = 0
        for u in updates:
            if int(u["step"]) > self.last_step:
                self.log(u)
                n += 1
        return n

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "ControllerLogger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def log_controller_scalars(run_dir: str | Path, state_or_updates: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
    """All policy updates of a strategy state (or a list of updates) to TensorBoard at once."""
    if isinstance(state_or_updates, Mapping):
        updates = state_or_updates.get("updates") or []
        space = state_or_updates.get("space")
        names = [str(s[0]) for s in space] if isinstance(space, list) else None
    else:
        updates, names = list(state_or_updates), None
    with ControllerLogger(run_dir, decision_names=names) as log:
        return log.log_new(updates)
