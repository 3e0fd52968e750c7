"""Tests of the BedCapacity block against independent brute force / dynamic programming."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
from scipy.stats import poisson

from optalloc.exceptions import ConfigurationError
from optalloc.formulations import Solver, SolveStatus, solve
from optalloc.formulations.beds import BedCapacity, BedCapacityData, build_bed_capacity_model

DAYS = 365
COST_PER_PATIENT_DAY = 50_000.0


# ----------------------------------------------------------------- references


def expected_shortage_by_summation(mean: float, beds: np.ndarray) -> np.ndarray:
    """E[(N - h)^+] for N ~ Poisson(mean), by summing the pmf far into the tail."""
    n = np.arange(0, int(mean + 30 * np.sqrt(mean) + 60))
    pmf = poisson.pmf(n, mean)
    return np.array([np.sum(np.maximum(n - h, 0) * pmf) for h in beds])


def shortage_table(daily_means: list[float], beds_min: int, beds_max: int) -> np.ndarray:
    """Yearly cost of unattended demand (currency) on beds_min..beds_max."""
    beds = np.arange(beds_min, beds_max + 1)
    rows = [expected_shortage_by_summation(m, beds) for m in daily_means]
    return np.array(rows) * DAYS * COST_PER_PATIENT_DAY


def plan_cost(plan: np.ndarray, opts: dict[str, Any]) -> float:
    """Total weighted cost of an integer plan (inf if it leaves the table)."""
    table = np.asarray(opts["shortage_cost"])
    weights = np.ones(len(plan)) if opts.get("weights") is None else np.asarray(opts["weights"])
    beds = opts["initial_beds"] + np.cumsum(plan)
    if np.any(beds < opts["beds_min"]) or np.any(beds > opts["beds_max"]) or np.any(np.asarray(plan) > opts["max_add"]):
        return np.inf
    yearly = (
        opts["bed_cost"] * np.asarray(plan)
        + opts.get("operating_cost", 0.0) * beds
        + table[np.arange(len(plan)), beds - opts["beds_min"]]
    )
    return float(np.sum(weights * yearly))


def dp_optimum(opts: dict[str, Any]) -> tuple[float, np.ndarray]:
    """Optimal cost and plan by backward dynamic programming over (year, beds)."""
    table = np.asarray(opts["shortage_cost"])
    horizon = table.shape[0]
    lo, hi, max_add = opts["beds_min"], opts["beds_max"], opts["max_add"]
    weights = np.ones(horizon) if opts.get("weights") is None else np.asarray(opts["weights"])
    levels = np.arange(hi + 1)
    future = np.zeros(hi + 1)  # value after the last year, by beds in service
    decisions = []
    for t in reversed(range(horizon)):
        shortage = np.full(hi + 1, np.inf)
        shortage[lo:] = table[t]
        year = weights[t] * (opts.get("operating_cost", 0.0) * levels + shortage) + future
        value = np.full(hi + 1, np.inf)
        choice = np.zeros(hi + 1, dtype=int)
        for previous in range(hi + 1):
            adds = np.arange(0, min(max_add, hi - previous) + 1)
            totals = weights[t] * opts["bed_cost"] * adds + year[previous + adds]
            choice[previous] = int(np.argmin(totals))
            value[previous] = totals[choice[previous]]
        future = value
        decisions.append(choice)
    decisions.reverse()
    plan, beds = [], opts["initial_beds"]
    for choice in decisions:
        plan.append(choice[beds])
        beds += choice[beds]
    return float(future[opts["initial_beds"]]), np.array(plan)


def small_options(**overrides: Any) -> dict[str, Any]:
    lo, hi = 30, 90
    opts: dict[str, Any] = dict(
        horizon=5,
        initial_beds=40,
        max_add=6,
        beds_min=lo,
        beds_max=hi,
        shortage_cost=shortage_table([40.0, 46.0, 53.0, 61.0, 70.0], lo, hi),
        bed_cost=3.0e7,
        operating_cost=2.0e6,
        weights=0.95 ** np.arange(5),
    )
    opts.update(overrides)
    return opts


# ----------------------------------------------------------------- the block


def test_optimal_plan_matches_dynamic_programming() -> None:
    opts = small_options()
    model = build_bed_capacity_model(**opts)
    result = solve(model)
    best, best_plan = dp_optimum(opts)
    assert result.status is SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(best, rel=1e-6)
    assert pyo.value(model.plan.cost) == pytest.approx(best, rel=1e-6)
    assert plan_cost(model.plan.plan(), opts) == pytest.approx(best, rel=1e-6)
    np.testing.assert_array_equal(model.plan.plan(), best_plan)
    assert model.plan.plan().dtype.kind == "i"
    assert 0 < best_plan.sum() and best_plan.max() == opts["max_add"]  # a non-trivial instance


def test_undiscounted_instance_with_initial_shortfall() -> None:
    # Starting below beds_min forces additions in year 0.
    opts = small_options(initial_beds=25, weights=None, operating_cost=0.0, bed_cost=5.0e7)
    model = build_bed_capacity_model(**opts)
    solve(model)
    best, best_plan = dp_optimum(opts)
    assert pyo.value(model.objective) == pytest.approx(best, rel=1e-6)
    np.testing.assert_array_equal(model.plan.plan(), best_plan)
    assert model.plan.plan()[0] >= 5


@pytest.mark.parametrize("plan", [[3, 0, 2, 1, 0], [0, 0, 0, 0, 0], [6, 6, 6, 6, 6]])
def test_epigraph_is_exact_at_integer_plans(plan: list[int]) -> None:
    opts = small_options()
    model = build_bed_capacity_model(**opts)
    for t, a in enumerate(plan):
        model.plan.add[t].fix(a)
    solve(model)
    beds = opts["initial_beds"] + np.cumsum(plan)
    expected = opts["shortage_cost"][np.arange(5), beds - opts["beds_min"]]
    got = np.array([pyo.value(model.plan.shortage[t]) for t in range(5)])
    np.testing.assert_allclose([pyo.value(model.plan.beds[t]) for t in range(5)], beds, atol=1e-9)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-6)
    assert pyo.value(model.objective) == pytest.approx(plan_cost(np.array(plan), opts), rel=1e-9)


def test_lp_relaxation_is_a_lower_bound() -> None:
    opts = small_options()
    relaxed = build_bed_capacity_model(**opts, relax_integrality=True)
    integer = build_bed_capacity_model(**opts)
    lower = solve(relaxed).objective
    upper = solve(integer).objective
    assert lower <= upper * (1 + 1e-9)
    assert relaxed.plan.add[0].domain is pyo.NonNegativeReals


def test_block_declares_no_objective_and_exposes_cost() -> None:
    model = pyo.ConcreteModel()
    model.plan = BedCapacity(**small_options())
    assert isinstance(model.plan, BedCapacityData)
    assert list(model.component_data_objects(pyo.Objective)) == []
    assert isinstance(model.plan.cost, pyo.Expression)
    for name in ("add", "beds", "shortage", "cost", "piece_slope", "piece_intercept", "weights", "initial_beds"):
        component = getattr(model.plan, name)
        assert component.doc, name
    assert model.plan.config.horizon == 5
    with pytest.raises(ConfigurationError, match="exactly one active Objective"):
        solve(model)


def test_params_are_mutable_and_resolve_does_not_rebuild() -> None:
    opts = small_options()
    model = build_bed_capacity_model(**opts)
    assert model.plan.piece_slope.mutable and model.plan.piece_intercept.mutable
    assert model.plan.weights.mutable and model.plan.initial_beds.mutable
    solver = Solver(model)
    first = solver.solve()

    busier = shortage_table([50.0, 60.0, 70.0, 80.0, 90.0], opts["beds_min"], opts["beds_max"])
    model.plan.set_shortage_cost(busier)
    second = solver.solve()
    best, best_plan = dp_optimum({**opts, "shortage_cost": busier})
    assert second.objective == pytest.approx(best, rel=1e-6)
    np.testing.assert_array_equal(model.plan.plan(), best_plan)
    assert second.objective > first.objective
    assert len(solver.history) == 2 and solver.history == [first, second]
    assert solver.builds == 1
    np.testing.assert_array_equal(model.plan.config.shortage_cost, busier)


def test_initial_beds_and_weights_setters_resolve() -> None:
    opts = small_options()
    model = build_bed_capacity_model(**opts)
    solver = Solver(model)
    solver.solve()
    model.plan.set_initial_beds(55)
    model.plan.set_weights(np.array([1.0, 0.5, 0.25, 0.125, 0.0625]))
    result = solver.solve()
    best, _ = dp_optimum({**opts, "initial_beds": 55, "weights": np.array([1.0, 0.5, 0.25, 0.125, 0.0625])})
    assert result.objective == pytest.approx(best, rel=1e-6)
    assert solver.builds == 1


def test_two_hospitals_with_a_shared_budget_match_brute_force() -> None:
    lo, hi, horizon, max_add, budget = 8, 25, 3, 4, 6
    hospital_a = dict(
        horizon=horizon, initial_beds=10, max_add=max_add, beds_min=lo, beds_max=hi,
        shortage_cost=shortage_table([11.0, 13.0, 15.0], lo, hi), bed_cost=1.5e7, operating_cost=1.0e6,
    )
    hospital_b = dict(
        hospital_a, initial_beds=9, shortage_cost=shortage_table([12.0, 15.0, 18.0], lo, hi), bed_cost=1.5e7,
    )
    model = pyo.ConcreteModel(name="two_hospitals")
    model.a = BedCapacity(**hospital_a)
    model.b = BedCapacity(**hospital_b)
    model.budget = pyo.Constraint(
        expr=sum(model.a.add[t] for t in model.a.years) + sum(model.b.add[t] for t in model.b.years) <= budget
    )
    model.objective = pyo.Objective(expr=model.a.cost + model.b.cost)
    result = solve(model)

    plans = [np.array(p) for p in itertools.product(range(max_add + 1), repeat=horizon)]
    costs_a = {tuple(p): plan_cost(p, hospital_a) for p in plans}
    costs_b = {tuple(p): plan_cost(p, hospital_b) for p in plans}
    brute = min(
        costs_a[pa] + costs_b[pb]
        for pa in costs_a
        for pb in costs_b
        if sum(pa) + sum(pb) <= budget
    )
    unconstrained = min(costs_a.values()) + min(costs_b.values())
    assert result.objective == pytest.approx(brute, rel=1e-6)
    assert result.objective > unconstrained * (1 + 1e-6)  # the budget costs something ...
    assert model.a.plan().sum() + model.b.plan().sum() == budget  # ... and binds
    achieved = plan_cost(model.a.plan(), hospital_a) + plan_cost(model.b.plan(), hospital_b)
    assert achieved == pytest.approx(brute, rel=1e-6)


def test_single_level_table_keeps_beds_fixed() -> None:
    # beds_min == beds_max: one flat segment, the shortage equals the single table value.
    table = np.array([[5.0], [7.0]])
    model = build_bed_capacity_model(
        horizon=2, initial_beds=12, max_add=3, beds_min=12, beds_max=12, shortage_cost=table, bed_cost=1.0
    )
    result = solve(model)
    np.testing.assert_array_equal(model.plan.plan(), [0, 0])
    assert result.objective == pytest.approx(12.0)


def test_indexed_block_shares_options() -> None:
    model = pyo.ConcreteModel()
    model.wards = BedCapacity(["north", "south"], **small_options())
    model.objective = pyo.Objective(expr=sum(model.wards[w].cost for w in ["north", "south"]))
    solve(model)
    np.testing.assert_array_equal(model.wards["north"].plan(), model.wards["south"].plan())
    assert model.wards["north"].config is not model.wards["south"].config


# ----------------------------------------------------------------- validation


def test_non_convex_table_names_the_year() -> None:
    opts = small_options()
    table = opts["shortage_cost"].copy()
    table[3, 20] += 0.3 * (table[3, 19] - table[3, 21])  # a bump: not convex in year 3 only
    with pytest.raises(ConfigurationError, match=r"shortage_cost.*convex.*year 3"):
        BedCapacity(**{**opts, "shortage_cost": table})
    model = build_bed_capacity_model(**opts)
    with pytest.raises(ConfigurationError, match="year 3"):
        model.plan.set_shortage_cost(table)
    np.testing.assert_array_equal(model.plan.config.shortage_cost, opts["shortage_cost"])


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ({"horizon": 0}, r"'horizon' parameter of BedCapacity must be a positive integer"),
        ({"beds_max": 20}, r"'beds_max' parameter of BedCapacity must be at least beds_min"),
        ({"initial_beds": 95}, r"'initial_beds' parameter of BedCapacity must be at most beds_max"),
        ({"shortage_cost": np.ones((4, 61))}, r"'shortage_cost'.*shape \(5, 61\)"),
        ({"weights": np.ones(3)}, r"'weights'.*shape \(5,\)"),
        ({"weights": -np.ones(5)}, r"'weights' parameter of BedCapacity must be a 1-D array of finite non-negative"),
        ({"bed_cost": -1.0}, r"'bed_cost' parameter of BedCapacity must be a non-negative number"),
        ({"horizn": 5}, r"BedCapacity has no option 'horizn'"),
    ],
)
def test_bad_options_are_configuration_errors(override: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ConfigurationError, match=pattern):
        BedCapacity(**{**small_options(), **override})


def test_missing_required_option() -> None:
    opts = small_options()
    del opts["bed_cost"]
    with pytest.raises(ConfigurationError, match="'bed_cost'"):
        build_bed_capacity_model(**opts)


def test_infeasible_initial_shortfall_raises() -> None:
    from optalloc.exceptions import InfeasibleFormulation

    # 10 beds, at most 6 added per year, but the table starts at 30 beds.
    with pytest.raises(InfeasibleFormulation, match="bed_capacity"):
        solve(build_bed_capacity_model(**small_options(initial_beds=10)))


def test_reachability_caps_keep_the_optimum_and_prune_rows() -> None:
    """Capping year t at initial + max_add*(t+1) beds is exact and builds fewer epigraph rows."""
    opts = small_options()
    T = opts["horizon"]
    caps = np.minimum(opts["beds_max"], opts["initial_beds"] + opts["max_add"] * np.arange(1, T + 1))
    full = build_bed_capacity_model(**opts)
    capped = build_bed_capacity_model(**opts, beds_cap=caps)
    a, b = solve(full), solve(capped)
    assert b.objective == pytest.approx(a.objective, rel=1e-9)
    np.testing.assert_array_equal(full.plan.plan(), capped.plan.plan())
    assert len(capped.plan.shortage_epigraph) < len(full.plan.shortage_epigraph)
    # A table change after building reaches the capped model too.
    busier = shortage_table([50.0, 60.0, 70.0, 80.0, 90.0], opts["beds_min"], opts["beds_max"])
    capped.plan.set_shortage_cost(busier)
    best, plan = dp_optimum({**opts, "shortage_cost": busier})
    assert solve(capped).objective == pytest.approx(best, rel=1e-6)
    np.testing.assert_array_equal(capped.plan.plan(), plan)


def test_bad_caps_are_rejected() -> None:
    opts = small_options()
    with pytest.raises(ConfigurationError, match="beds_cap"):
        build_bed_capacity_model(**opts, beds_cap=np.full(opts["horizon"], opts["beds_max"] + 1))
