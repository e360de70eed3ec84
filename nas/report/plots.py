"""The report's plots: reward per trial with the controller's baseline and entropy, accuracy
against params and MACs with the Pareto front, the controller's choice distributions.
matplotlib's object API on Agg canvases: no pyplot state, no GUI backend, safe anywhere."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from .._util import finite_number
from .leaderboard import pareto_front


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


def plot_pareto(rows: list[Mapping[str, Any]], path: Path, title: str = "") -> None:
    """Val accuracy against params and against MACs (log x), front marked, baselines starred."""
    fig = _figure(11, 4.6)
    axes = fig.subplots(1, 2, sharey=True)
    usable = [r for r in rows if finite_number(r.get("val_acc"))]
    sc = None
    for ax, key, label in ((axes[0], "params", "parameters"), (axes[1], "macs", "MACs per image")):
        pts = [r for r in usable if finite_number(r.get(key)) and r[key] > 0]
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
