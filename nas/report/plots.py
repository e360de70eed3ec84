"""The report's plots: reward per trial with the controller's baseline and entropy, accuracy
against params, MACs and latency with the Pareto front and the baselines, the controller's
choice distributions.
matplotlib's object API on Agg canvases: no pyplot state, no GUI backend, safe anywhere."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from .._util import finite_number
from .fronts import BaselinePoint, Front, usable_cost


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
    ok = [t for t in trials if t.get("status") == "ok" and finite_number(t.get("reward"))]
    bad = [t for t in trials if t.get("status") != "ok" and finite_number(t.get("reward"))]
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


def plot_pareto(fronts: Sequence[Front], path: Path, *, baselines: Sequence[BaselinePoint] = (), title: str = ""):
    """Val accuracy against each front's cost (log x), one panel each: every placed row, the
    front (the same set as pareto.md's), baselines as labelled vertical lines at their cost
    (a star where the run trained one). Returns the figure."""
    fig = _figure(5.5 * len(fronts), 4.6)
    axes = fig.subplots(1, len(fronts), sharey=True, squeeze=False)[0]
    sc = None
    for ax, f in zip(axes, fronts):
        key, label = f.cost.key, f.cost.label
        ax.set_xlabel(f"{label}{' (ms)' if key == 'latency_ms' else ''} (log scale)")
        ax.grid(alpha=0.3)
        ax.set_title(f"{f.title}" + (f" ({title})" if title else ""), fontsize=10)
        refs = [b for b in baselines if usable_cost(getattr(b, key))]
        if not f.points and not refs:
            ax.text(0.5, 0.5, f"no successful trial with {label}", ha="center", va="center", transform=ax.transAxes)
            continue
        ax.set_xscale("log")
        xs, ys = [r[key] for r in f.points], [r["val_acc"] for r in f.points]
        if f.points:
            sc = ax.scatter(xs, ys, c=[r.get("trial", 0) for r in f.points], cmap="viridis", s=20, alpha=0.85,
                            zorder=2)
            fx, fy = [xs[i] for i in f.front], [ys[i] for i in f.front]
            ax.plot(fx, fy, drawstyle="steps-post", color="C3", lw=1.3, zorder=3, label="Pareto front",
                    gid="pareto-front")
            ax.scatter(fx, fy, s=60, facecolors="none", edgecolors="C3", lw=1.4, zorder=4)
        _baseline_lines(ax, refs, key, xs)
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel("validation accuracy")
    if sc is not None:
        fig.colorbar(sc, ax=list(axes), label="trial", shrink=0.9)
    fig.savefig(path, format="png")
    return fig


def _baseline_lines(ax, refs: Sequence[BaselinePoint], key: str, xs: Sequence[float]) -> None:
    """A dotted vertical line per baseline at its cost. Lines closer than ~3.5% of the axis
    width (about a label's height) share one label, and a label names at most three, so the
    labels do not print over each other; pareto.md lists every baseline."""
    refs = sorted(refs, key=lambda b: getattr(b, key))
    logs = [math.log10(x) for x in list(xs) + [getattr(b, key) for b in refs]]
    near = 0.035 * max(max(logs) - min(logs), 1.0) if logs else 0.0
    groups: list[list[BaselinePoint]] = []
    for b in refs:  # single linkage: a line joins the group of the line just left of it
        if groups and math.log10(getattr(b, key)) - math.log10(getattr(groups[-1][-1], key)) < near:
            groups[-1].append(b)
        else:
            groups.append([b])
    for k, group in enumerate(groups):
        for j, b in enumerate(group):
            ax.axvline(getattr(b, key), color="0.55", ls=":", lw=0.9, zorder=1, gid=f"baseline:{b.name}",
                       label="baselines (counted)" if k == j == 0 else None)
            if b.val_acc is not None:
                ax.scatter([getattr(b, key)], [b.val_acc], marker="*", s=180, color="gold", edgecolors="k", zorder=5)
        names = [b.name for b in group]
        text = ", ".join(names) if len(names) <= 3 else f"{names[0]}, {names[1]} +{len(names) - 2} more"
        ax.text(getattr(group[0], key), 0.98, text + " ", rotation=90, va="top", ha="right", fontsize=6, color="0.3",
                clip_on=True, transform=ax.get_xaxis_transform())


def plot_controller(updates: list[Mapping[str, Any]], path: Path, *, names: Sequence[str] | None = None,
                    options: Sequence[Sequence[str]] | None = None, title: str = "controller"):
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
    return fig
