"""A run's Pareto fronts (validation accuracy against each cost) with their hypervolumes, the
hand-designed baselines as reference points, and the files that show them (pareto.md,
pareto.csv). What the numbers mean and why the references are fixed: docs/reports.md."""
from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .._util import finite_number, first_line, human
from ..errors import NasError
from .leaderboard import canonical
from .pareto import hypervolume_2d, non_dominated


@dataclass(frozen=True)
class Cost:
    """A cost the front is drawn against: the trial record's key and the space constraint
    that bounds it (the hypervolume's reference when the space sets it)."""

    key: str
    label: str  # in titles and sentences
    short: str  # before a value: "params 2.00K"
    constraint: str
    optional: bool = False  # shown only when some record has it

    def format(self, v: float) -> str:
        return f"{v:.3g} ms" if self.key == "latency_ms" else human(v)


COSTS = (
    Cost("params", "parameters", "params", "max_params"),
    Cost("macs", "MACs per image", "MACs", "max_macs"),
    Cost("latency_ms", "latency", "latency", "max_latency_ms", optional=True),
)


def usable_cost(v: Any) -> bool:
    """A cost a point can be placed at: finite and positive (the plots' axes are log)."""
    return finite_number(v) and v > 0


@dataclass(frozen=True)
class Front:
    """Validation accuracy against one cost: the rows that could be placed (``points``), the
    non-dominated ones among them (``front``, indices into ``points`` by increasing cost) and
    the hypervolume of [0, 1] x [0, 1] (val accuracy, cost / ``reference``) they dominate,
    with reference point (accuracy 0, cost 1)."""

    cost: Cost
    points: tuple[Mapping[str, Any], ...]
    front: tuple[int, ...]
    left_out: int  # rows without a finite val accuracy or a positive cost
    reference: float | None  # the cost that normalises it; None when no point
    reference_source: str  # where the reference comes from, in words
    hypervolume: float | None

    @property
    def rows(self) -> list[Mapping[str, Any]]:
        """The rows on the front, by increasing cost."""
        return [self.points[i] for i in self.front]

    @property
    def title(self) -> str:
        return f"val acc vs {self.cost.label}"

    def reference_text(self) -> str:
        if self.reference is None:
            return "none"
        return f"val acc 0 and {self.cost.short} {self.cost.format(self.reference)}, {self.reference_source}"

    def summary(self) -> str:
        """One line: how many architectures are on the front, and its hypervolume."""
        if not self.points:
            return f"Pareto front ({self.title}): no architecture with both values"
        return (f"Pareto front ({self.title}): {len(self.front)} of {len(self.points)} architectures; "
                f"hypervolume {self.hypervolume:.4f} (reference: {self.reference_text()})")


def pareto_fronts(rows: Sequence[Mapping[str, Any]], constraints: Any = None) -> list[Front]:
    """The front of ``rows`` (leaderboard rows) for params, MACs and, when some row has it,
    latency; ``constraints`` (a space's, or None) supplies fixed references.

    The reference cost is the space's constraint on that cost when set (the same for every
    run over the space, so their hypervolumes compare), else the largest cost among the rows
    (then the hypervolume describes this run only, and the file says so).
    """
    fronts = []
    for cost in COSTS:
        if cost.optional and not any(usable_cost(r.get(cost.key)) for r in rows):
            continue
        points = tuple(r for r in rows if finite_number(r.get("val_acc")) and usable_cost(r.get(cost.key)))
        xy = [(r["val_acc"], r[cost.key]) for r in points]
        front = tuple(non_dominated([(c, a) for a, c in xy], ("min", "max")))  # by increasing cost
        bound = getattr(constraints, cost.constraint, None)
        if usable_cost(bound):
            reference, source = float(bound), f"the space's {cost.constraint}"
        elif points:
            reference, source = float(max(c for _, c in xy)), "the largest in this run (the space sets no bound)"
        else:
            reference, source = None, "no point"
        hv = None
        if reference is not None:
            hv = hypervolume_2d([(a, c / reference) for a, c in xy], (0.0, 1.0), ("max", "min"))
        fronts.append(Front(cost, points, front, len(rows) - len(points), reference, source, hv))
    return fronts


# ---------------------------------------------------------------------------------------
# baselines as reference points


@dataclass(frozen=True)
class BaselinePoint:
    """A built-in baseline for the run's input: counted, not trained; its accuracy only when
    the run trained that exact architecture, its latency only when a record measured it."""

    name: str
    arch: str
    params: int
    macs: int
    val_acc: float | None = None
    trial: int | None = None
    latency_ms: float | None = None


@functools.lru_cache(maxsize=256)
def _count(name: str, shape: tuple[int, int, int], num_classes: int) -> tuple[str, int, int] | str:
    """(arch, params, MACs) of a baseline for an input, or why it does not build there.
    ``check_size`` counts on the meta device: no weights are allocated, even for ResNet-152."""
    from .. import baselines
    from ..nn import check_size

    try:
        arch = baselines.get(name, shape)
        s = check_size(arch, shape, num_classes)
    except NasError as e:
        return first_line(e)
    return canonical(arch), s.params, s.macs


def baseline_points(shape: tuple[int, int, int], num_classes: int, rows: Sequence[Mapping[str, Any]],
                    trials: Sequence[Mapping[str, Any]] = ()) -> tuple[list[BaselinePoint], list[str]]:
    """Every registered baseline that builds for ``shape`` and ``num_classes``, and
    ``"name (why)"`` for each that does not. ``rows`` (leaderboard rows) give the accuracy
    of those the run trained, ``trials`` the latency of those it measured."""
    from .. import baselines

    trained = {canonical(r["arch"]): r for r in rows}
    latency: dict[str, float] = {}
    for t in trials:
        if usable_cost(t.get("latency_ms")) and isinstance(t.get("arch"), str):
            latency.setdefault(canonical(t["arch"]), float(t["latency_ms"]))
    points, skipped = [], []
    for name in baselines.names():
        counted = _count(name, tuple(shape), int(num_classes))
        if isinstance(counted, str):
            skipped.append(f"{name} ({counted})")
            continue
        arch, params, macs = counted
        row = trained.get(arch, {})
        acc = row.get("val_acc") if finite_number(row.get("val_acc")) else None
        lat = row.get("latency_ms") if usable_cost(row.get("latency_ms")) else latency.get(arch)
        points.append(BaselinePoint(name, arch, params, macs, acc, row.get("trial") if row else None, lat))
    return points, skipped


# ---------------------------------------------------------------------------------------
# pareto.md, pareto.csv


PARETO_CSV_COLUMNS = ["front", "trial", "val_acc", "params", "macs", "latency_ms", "baseline", "arch"]


def pareto_csv(fronts: Sequence[Front]) -> str:
    """One row per architecture on each front (``front``: the cost's record key), by
    increasing cost within a front."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, PARETO_CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for f in fronts:
        for r in f.rows:
            w.writerow(dict({k: ("" if r.get(k) is None else r.get(k)) for k in PARETO_CSV_COLUMNS}, front=f.cost.key))
    return buf.getvalue()


def _num(v, fmt: str) -> str:
    return format(v, fmt) if finite_number(v) else "-"


def _count_text(v) -> str:
    return human(v) if finite_number(v) and v >= 0 else "-"


def pareto_md(name: str, fronts: Sequence[Front], baselines: Sequence[BaselinePoint] | None,
              skipped: Sequence[str] = (), *, input_text: str = "", latency: Mapping[str, Any] | None = None) -> str:
    """The fronts and the baselines' reference points as Markdown. ``baselines`` None: the
    run's input shape or class count is unknown, so none could be counted."""
    lines = [
        f"# {name}: Pareto fronts",
        "",
        "Architectures trained from scratch that finished (as in leaderboard.md: one row per distinct "
        "architecture). One is on a front when no other is at least as accurate and at most as costly, "
        "and better in one; identical points are all kept.",
        "",
        "Hypervolume: the area of [0, 1] x [0, 1] (val accuracy, cost / reference cost) that the front "
        "dominates, with reference point (val accuracy 0, cost 1): 1 would be perfect accuracy at no "
        "cost; an architecture at or above the reference cost adds nothing. With the space's constraint "
        "as the reference, runs over the same space compare.",
    ]
    if any(f.cost.key == "latency_ms" for f in fronts):
        settings = ", ".join(f"{k} {latency[k]}" for k in ("target", "batch_size", "threads") if k in (latency or {}))
        lines += ["", "Latency: median inference latency in ms as the search measured it"
                  + (f" ({settings})." if settings else " (its settings are not in config.yaml).")]
    for f in fronts:
        lines += ["", f"## {f.title}", ""]
        if not f.points:
            lines.append(f"No architecture has both a val accuracy and {f.cost.label}.")
            continue
        left = f" ({f.left_out} without both values left out)" if f.left_out else ""
        lines += [f"{len(f.front)} of {len(f.points)} architectures on the front{left}. Hypervolume "
                  f"**{f.hypervolume:.4f}**; reference: {f.reference_text()}.", "",
                  "| trial | val acc | params | MACs | latency (ms) | architecture |",
                  "|---:|---:|---:|---:|---:|---|"]
        for r in f.rows:
            arch = str(r.get("arch", "")).replace("|", "\\|")
            base = f" (= {r['baseline']})" if r.get("baseline") else ""
            lines.append(f"| {r.get('trial', '-')} | {_num(r.get('val_acc'), '.4f')} | "
                         f"{_count_text(r.get('params'))} | {_count_text(r.get('macs'))} | "
                         f"{_num(r.get('latency_ms'), '.3g')} | `{arch}`{base} |")
    lines += ["", "## Baselines (reference points)", ""]
    if baselines is None:
        lines.append("None counted: the run's input shape or class count is unknown.")
    else:
        lines += [f"Built-in baselines adapted to {input_text}: params and MACs counted (nas.summarize's "
                  "convention), not trained; val accuracy only where this run trained that exact architecture, "
                  "latency only where a record measured it.", ""]
        if baselines:
            lines += ["| baseline | params | MACs | latency (ms) | val acc | trial |", "|---|---:|---:|---:|---:|---:|"]
            for b in baselines:
                acc = _num(b.val_acc, ".4f") if b.val_acc is not None else "not trained in this run"
                lines.append(f"| {b.name} | {human(b.params)} | {human(b.macs)} | {_num(b.latency_ms, '.3g')} | "
                             f"{acc} | {b.trial if b.trial is not None else '-'} |")
        if skipped:
            lines += ["", f"Skipped, they do not build for {input_text}: {'; '.join(skipped)}."]
    return "\n".join(lines) + "\n"
