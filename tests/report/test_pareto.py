"""Pareto dominance and hypervolume (checked against brute force and optuna's own code), the
fronts of leaderboard rows with their fixed references, and baselines as reference points."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nas
from nas import baselines
from nas.errors import ArchError
from nas.report import (
    baseline_points,
    hypervolume_2d,
    non_dominated,
    pareto_csv,
    pareto_fronts,
    pareto_md,
)

# ---------------------------------------------------------------------------------------
# non_dominated


def dominates(p, q, senses):
    better_eq = all((a >= b) if s == "max" else (a <= b) for a, b, s in zip(p, q, senses))
    return better_eq and tuple(p) != tuple(q)


def brute_force_front(points, senses):
    ok = [i for i, p in enumerate(points) if all(math.isfinite(v) for v in p)]
    return {i for i in ok if not any(dominates(points[j], points[i], senses) for j in ok)}


def test_non_dominated_examples():
    mm = ("min", "max")  # (cost, accuracy)
    assert non_dominated([], mm) == []
    assert non_dominated([(1.0, 0.5)], mm) == [0]
    # index 1 is cheapest; 0 is better and dearer; 2 is dominated by 0; 3 by 1.
    assert non_dominated([(10, 0.9), (5, 0.8), (20, 0.85), (5, 0.7)], mm) == [1, 0]
    # equal cost: only the more accurate; equal accuracy: only the cheaper
    assert non_dominated([(5, 0.8), (5, 0.9), (7, 0.9)], mm) == [1]
    # identical points do not dominate each other: all copies, earliest first
    assert non_dominated([(3, 0.5), (3, 0.5), (1, 0.1)], mm) == [2, 0, 1]
    # non-finite or non-numeric coordinates are ignored, not on the front
    assert non_dominated([(math.nan, 1.0), (2, 0.4), (math.inf, 0.99), (3, math.nan), (1, None), (True, 2)], mm) == [1]
    # the senses decide: the same points maximized in both
    assert non_dominated([(10, 0.9), (5, 0.8), (20, 0.85)], ("max", "max")) == [2, 0]
    # three objectives: (acc max, params min, latency min)
    pts = [(0.9, 100, 5.0), (0.9, 100, 4.0), (0.8, 50, 9.0), (0.7, 60, 1.0), (0.7, 60, 2.0)]
    assert non_dominated(pts, ("max", "min", "min")) == [1, 2, 3]


@pytest.mark.parametrize("senses, points, message", [
    (("max", "low"), [(1, 2)], "senses must be"),
    ((), [], "senses must be"),
    (("max", "min"), [(1, 2, 3)], "point 0 has 3 coordinates for 2 objectives"),
])
def test_non_dominated_refuses_bad_arguments(senses, points, message):
    with pytest.raises(ValueError, match=message):
        non_dominated(points, senses)


coordinate = st.one_of(st.integers(0, 5).map(float), st.just(math.nan))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4).flatmap(lambda k: st.tuples(
    st.lists(st.sampled_from(["max", "min"]), min_size=k, max_size=k),
    st.lists(st.lists(coordinate, min_size=k, max_size=k), max_size=25))))
def test_non_dominated_properties(case):
    senses, points = case
    front = non_dominated(points, senses)
    assert set(front) == brute_force_front(points, senses)
    assert len(front) == len(set(front))
    # no front point dominates another; every finite point off the front is dominated by one on it
    assert not any(dominates(points[i], points[j], senses) for i in front for j in front)
    for i in set(range(len(points))) - set(front):
        if all(math.isfinite(v) for v in points[i]):
            assert any(dominates(points[j], points[i], senses) for j in front)
    # the documented order: objectives in turn from best to worst, then index
    signs = [-1 if s == "max" else 1 for s in senses]
    keys = [(tuple(s * v for s, v in zip(signs, points[i])), i) for i in front]
    assert keys == sorted(keys)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=30))
def test_non_dominated_agrees_with_optuna(points):
    from optuna.study._multi_objective import (
        _is_pareto_front,  # private: an oracle here, never in the package
    )

    senses = ("max", "min", "min")
    loss = np.array([(-a, b, c) for a, b, c in points], dtype=float)  # optuna minimizes every objective
    expected = set(np.flatnonzero(_is_pareto_front(loss, assume_unique_lexsorted=False)).tolist())
    assert set(non_dominated(points, senses)) == expected


# ---------------------------------------------------------------------------------------
# hypervolume_2d


@pytest.mark.parametrize("points, reference, senses, expected", [
    ([], (0, 1), ("max", "min"), 0.0),
    ([(0.5, 0.5)], (0, 1), ("max", "min"), 0.25),
    # a staircase: (0.5, 0.25) and (1.0, 0.75): 0.5 * 0.75 + 0.5 * 0.25
    ([(0.5, 0.25), (1.0, 0.75)], (0, 1), ("max", "min"), 0.5),
    # a dominated point and a copy add nothing
    ([(0.5, 0.25), (1.0, 0.75), (0.25, 0.5), (1.0, 0.75)], (0, 1), ("max", "min"), 0.5),
    # points not strictly inside the reference add nothing; non-finite ones are ignored
    ([(0.5, 1.0), (0.0, 0.1), (-0.5, 0.1), (0.5, 2.0), (math.nan, 0.1), (0.5, 0.5)], (0, 1), ("max", "min"), 0.25),
    # both minimized, reference (4, 4): (1, 3) and (2, 1) -> 3*1 + 2*3 - 2*1 overlap
    ([(1, 3), (2, 1)], (4, 4), ("min", "min"), 7.0),
    # both maximized, reference at the origin
    ([(1, 3), (2, 1)], (0, 0), ("max", "max"), 4.0),
])
def test_hypervolume_hand_computed(points, reference, senses, expected):
    assert hypervolume_2d(points, reference, senses) == pytest.approx(expected)


@pytest.mark.parametrize("reference, senses, message", [
    ((0, math.inf), ("max", "min"), "reference point must be finite"),
    ((0, 1, 2), ("max", "min", "min"), "two objectives"),
    ((0, 1), ("max", "up"), "senses must be"),
])
def test_hypervolume_refuses_bad_arguments(reference, senses, message):
    with pytest.raises(ValueError, match=message):
        hypervolume_2d([(0.5, 0.5)], reference, senses)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), max_size=20))
def test_hypervolume_agrees_with_a_grid_and_with_optuna(points):
    import optuna._hypervolume as ohv  # private: an oracle here, never in the package

    senses, ref = ("max", "min"), (0, 8)  # accuracy-like up, cost-like down, integer cells
    value = hypervolume_2d(points, ref, senses)
    cells = sum(any(a >= x + 1 and c <= y for a, c in points) for x in range(8) for y in range(8))
    assert value == pytest.approx(cells)  # cell [x, x+1] x [y, y+1] is dominated when a point is past its corner
    inside = np.array([(-a, c) for a, c in points if a > 0 and c < 8], dtype=float).reshape(-1, 2)
    expected = ohv.compute_hypervolume(inside, np.array([0.0, 8.0])) if len(inside) else 0.0
    assert value == pytest.approx(expected)


# ---------------------------------------------------------------------------------------
# fronts of leaderboard rows


def row(trial, acc, params, macs, latency=None, arch=None):
    return {"trial": trial, "val_acc": acc, "params": params, "macs": macs, "latency_ms": latency,
            "arch": arch or f"conv({trial},3) gap"}


ROWS = [row(1, 0.5, 100, 1000), row(2, 0.7, 300, 900), row(3, 0.6, 400, 5000), row(4, 0.9, 1000, 8000)]


def test_fronts_use_the_space_constraints_as_fixed_references():
    limits = SimpleNamespace(max_params=2000, max_macs=None)
    params, macs = pareto_fronts(ROWS, limits)  # no row has a latency: no latency front
    assert [r["trial"] for r in params.rows] == [1, 2, 4]
    assert [r["trial"] for r in macs.rows] == [2, 4]
    assert params.reference == 2000 and "max_params" in params.reference_source
    assert macs.reference == 8000 and "largest in this run" in macs.reference_source
    # staircase on (acc, params/2000): 0.5*(0.15-0.05) + 0.7*(0.5-0.15) + 0.9*(1-0.5)
    assert params.hypervolume == pytest.approx(0.05 + 0.245 + 0.45)
    assert macs.hypervolume == pytest.approx(0.7 * (8000 - 900) / 8000)
    assert params.summary().startswith("Pareto front (val acc vs parameters): 3 of 4 architectures; hypervolume 0.7450")
    assert "params 2.00K, the space's max_params" in params.summary()


def test_the_reference_does_not_depend_on_the_run_when_the_space_bounds_it():
    limits = SimpleNamespace(max_params=2000, max_macs=10_000)
    small = pareto_fronts(ROWS[:2], limits)
    more = pareto_fronts(ROWS + [row(5, 0.3, 1900, 9999)], limits)  # a dominated point changes nothing
    assert [f.reference for f in small] == [f.reference for f in more] == [2000, 10_000]
    assert more[0].hypervolume == pytest.approx(pareto_fronts(ROWS, limits)[0].hypervolume)


def test_latency_front_only_when_some_row_has_a_latency():
    rows = [dict(r, latency_ms=lat) for r, lat in zip(ROWS, (2.0, None, 1.0, 4.0))]
    fronts = pareto_fronts(rows, SimpleNamespace(max_latency_ms=8.0))
    assert [f.cost.key for f in fronts] == ["params", "macs", "latency_ms"]
    lat = fronts[2]
    assert [r["trial"] for r in lat.rows] == [3, 4] and lat.left_out == 1
    assert lat.reference == 8.0 and "max_latency_ms" in lat.reference_source
    assert lat.hypervolume == pytest.approx(0.6 * (4 - 1) / 8 + 0.9 * (8 - 4) / 8)  # x in units of 8 ms
    # a space without the constraint (getattr default): the largest latency seen
    assert pareto_fronts(rows, SimpleNamespace(max_params=None))[2].reference == 4.0


def test_damaged_values_are_left_out_not_fatal():
    rows = ROWS + [row(5, math.nan, 10, 10), row(6, 0.99, "abc", -5, math.inf), row(7, None, 10, 10),
                   row(8, 0.95, True, 0, -1.0), row(9, 0.97, math.inf, 10, 0.5)]
    fronts = pareto_fronts(rows, SimpleNamespace(max_params=math.nan, max_macs=-3, max_latency_ms="x"))
    params, macs, lat = fronts
    assert [r["trial"] for r in params.rows] == [1, 2, 4] and params.left_out == 5
    assert params.reference == 1000  # a damaged constraint falls back to the largest seen
    assert [r["trial"] for r in macs.rows] == [9] and macs.reference == 8000
    assert [r["trial"] for r in lat.rows] == [9] and lat.hypervolume == 0.0  # its only point is at the reference
    md = pareto_md("damaged", fronts, [], input_text="input 1x8x8 and 10 classes")
    assert "5 without both values left out" in md
    csv_text = pareto_csv(fronts)
    assert csv_text.count("\n") == 1 + 3 + 1 + 1


def test_no_rows_no_front():
    fronts = pareto_fronts([], None)
    assert [f.cost.key for f in fronts] == ["params", "macs"]
    assert all(f.hypervolume is None and not f.rows for f in fronts)
    assert fronts[0].summary() == "Pareto front (val acc vs parameters): no architecture with both values"
    assert "No architecture has both a val accuracy and parameters." in pareto_md("empty", fronts, None)


# ---------------------------------------------------------------------------------------
# baselines as reference points


def test_baselines_for_a_cifar_sized_input_are_counted():
    resnet18 = baselines.get("resnet18", (3, 32, 32))
    rows = [row(7, 0.91, 11_173_962, 555_422_720, arch=resnet18)]
    trials = rows + [{"trial": 8, "arch": baselines.get("vgg11", (3, 32, 32)), "latency_ms": 3.5, "status": "failed"}]
    points, skipped = baseline_points((3, 32, 32), 10, rows, trials)
    assert [p.name for p in points] == baselines.names() and skipped == []
    by_name = {p.name: p for p in points}
    s = nas.summarize(resnet18, (3, 32, 32), 10)
    assert (by_name["resnet18"].params, by_name["resnet18"].macs) == (s.params, s.macs)
    assert (by_name["resnet18"].val_acc, by_name["resnet18"].trial) == (0.91, 7)
    assert by_name["vgg11"].val_acc is None and by_name["vgg11"].latency_ms == 3.5  # measured, never trained
    assert all(p.val_acc is None for p in points if p.name != "resnet18")
    md = pareto_md("c", [], points, skipped, input_text="input 3x32x32 and 10 classes")
    assert "| resnet18 | 11.17M | 555.42M | - | 0.9100 | 7 |" in md
    assert "| vgg11 | 28.14M | 171.68M | 3.5 | not trained in this run | - |" in md
    assert "Skipped" not in md


def test_baselines_too_large_for_the_input_are_skipped_with_the_reason():
    points, skipped = baseline_points((3, 1024, 1024), 10, [], [])
    assert {p.name for p in points} | {s.split(" ")[0] for s in skipped} == set(baselines.names())
    assert points and skipped
    assert any(s.startswith("resnet50 (the activations of one input") for s in skipped)
    md = pareto_md("big", [], points, skipped, input_text="input 3x1024x1024 and 10 classes")
    line = next(line for line in md.splitlines() if line.startswith("Skipped"))
    assert line.count("above the limit") == len(skipped)  # one line, every skipped baseline and why


def test_baseline_that_does_not_build_for_a_small_input_is_skipped(monkeypatch):
    real_get, real_names = baselines.get, baselines.names

    def get(name, shape=baselines.IMAGENET):
        if name == "needs32":
            if min(shape[1:]) < 32:
                raise ArchError("needs32: the input must be at least 32x32")
            return real_get("resnet18", shape)
        return real_get(name, shape)

    monkeypatch.setattr(baselines, "get", get)
    monkeypatch.setattr(baselines, "names", lambda: real_names() + ["needs32"])
    points, skipped = baseline_points((1, 8, 8), 10, [], [])
    assert skipped == ["needs32 (needs32: the input must be at least 32x32)"]
    assert [p.name for p in points] == real_names()

