"""Tests of the one solve path (persistent HiGHS through pyomo.contrib.solver)."""

from __future__ import annotations

import math
import re

import highspy
import numpy as np
import pyomo.environ as pyo
import pytest

from optalloc.exceptions import ConfigurationError, InfeasibleFormulation
from optalloc.formulations import Solver, SolveResult, SolveStatus, solve

HIGHS_VERSION = f"{highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}.{highspy.HIGHS_VERSION_PATCH}"


def small_lp(name: str = "small_lp") -> pyo.ConcreteModel:
    """min x + 2y  s.t.  x + y >= 3, x <= 2, x, y >= 0   (optimum 4 at x=2, y=1)."""
    m = pyo.ConcreteModel(name=name)
    m.x = pyo.Var(bounds=(0, 2))
    m.y = pyo.Var(bounds=(0, None))
    m.rhs = pyo.Param(initialize=3.0, mutable=True)
    m.cover = pyo.Constraint(expr=m.x + m.y >= m.rhs)
    m.objective = pyo.Objective(expr=m.x + 2 * m.y)
    return m


def infeasible_lp() -> pyo.ConcreteModel:
    m = pyo.ConcreteModel(name="clinic_infeasible")
    m.x = pyo.Var(bounds=(0, None))
    m.y = pyo.Var(bounds=(0, None))
    m.c = pyo.Constraint(expr=m.x + m.y <= -1)
    m.objective = pyo.Objective(expr=m.x + m.y)
    return m


def unbounded_lp() -> pyo.ConcreteModel:
    m = pyo.ConcreteModel(name="clinic_unbounded")
    m.x = pyo.Var(bounds=(0, None))
    m.y = pyo.Var(bounds=(0, None))
    m.c = pyo.Constraint(expr=m.x - m.y <= 1)
    m.objective = pyo.Objective(expr=m.x + m.y, sense=pyo.maximize)
    return m


def unbounded_mip() -> pyo.ConcreteModel:
    """HiGHS's presolve only says 'infeasible or unbounded' for this one."""
    m = pyo.ConcreteModel(name="mip_unbounded")
    m.x = pyo.Var(domain=pyo.NonNegativeIntegers)
    m.y = pyo.Var(domain=pyo.NonNegativeIntegers)
    m.c = pyo.Constraint(expr=m.x - m.y <= 1)
    m.objective = pyo.Objective(expr=m.x + m.y, sense=pyo.maximize)
    return m


def hard_knapsack(n: int = 150, k: int = 25, seed: int = 1) -> pyo.ConcreteModel:
    """Multi-dimensional 0-1 knapsack that HiGHS needs ~20 s to close (1 thread)."""
    rng = np.random.default_rng(seed)
    weights = rng.integers(10, 100, size=(k, n))
    values = rng.integers(10, 100, size=n)
    m = pyo.ConcreteModel(name="knapsack")
    m.x = pyo.Var(range(n), domain=pyo.Binary)
    m.capacity = pyo.Constraint(
        range(k),
        rule=lambda m, i: sum(int(weights[i, j]) * m.x[j] for j in range(n)) <= int(weights[i].sum() // 2),
    )
    m.objective = pyo.Objective(expr=sum(int(values[j]) * m.x[j] for j in range(n)), sense=pyo.maximize)
    return m


def test_lp_optimum_fields_are_populated() -> None:
    m = small_lp()
    result = solve(m)
    assert isinstance(result, SolveResult)
    assert result.status is SolveStatus.OPTIMAL
    assert result.termination == "convergenceCriteriaSatisfied"
    assert result.objective == pytest.approx(4.0, rel=1e-9)
    assert result.bound == pytest.approx(4.0, rel=1e-9)
    assert result.gap == 0.0
    assert 0.0 < result.seconds < 30.0
    assert result.solver == f"highs {HIGHS_VERSION}"
    assert re.fullmatch(r"highs \d+\.\d+\.\d+", result.solver)
    assert pyo.value(m.x) == pytest.approx(2.0) and pyo.value(m.y) == pytest.approx(1.0)


def test_infeasible_lp_raises_naming_the_model_and_status() -> None:
    with pytest.raises(InfeasibleFormulation, match=r"'clinic_infeasible'.*infeasible"):
        solve(infeasible_lp())


def test_infeasible_lp_without_raising_returns_the_status() -> None:
    result = solve(infeasible_lp(), raise_on_failure=False)
    assert result.status is SolveStatus.INFEASIBLE
    assert result.objective is None
    assert not result.has_solution


def test_unbounded_lp() -> None:
    with pytest.raises(InfeasibleFormulation, match=r"'clinic_unbounded'.*unbounded"):
        solve(unbounded_lp())
    assert solve(unbounded_lp(), raise_on_failure=False).status is SolveStatus.UNBOUNDED


def test_infeasible_or_unbounded_from_presolve_is_resolved() -> None:
    solver = Solver(unbounded_mip())
    result = solver.solve(raise_on_failure=False)
    assert result.status is SolveStatus.UNBOUNDED
    assert result.termination == "unbounded"
    assert solver.builds == 1


def test_time_limited_mip_is_feasible_with_gap_and_solution_loaded() -> None:
    m = hard_knapsack()
    result = solve(m, time_limit=0.5)
    assert result.status is SolveStatus.FEASIBLE
    assert result.termination == "maxTimeLimit"
    assert result.objective is not None and result.bound is not None
    assert result.bound >= result.objective  # maximisation: the bound is above
    assert result.gap == pytest.approx((result.bound - result.objective) / abs(result.objective))
    assert 0.0 < result.gap < 1.0
    chosen = sum(pyo.value(m.x[j]) for j in m.x)
    assert chosen > 0
    assert pyo.value(m.objective) == pytest.approx(result.objective)
    assert result.seconds < 10.0


def test_loose_gap_limit_is_feasible_and_records_the_gap() -> None:
    result = solve(hard_knapsack(), mip_rel_gap=0.05)
    assert result.status is SolveStatus.FEASIBLE
    assert result.termination == "convergenceCriteriaSatisfied"
    assert result.gap is not None and 1e-4 < result.gap <= 0.05 + 1e-9


def test_resolve_updates_mutable_params_without_rebuilding() -> None:
    m = small_lp("resolve")
    solver = Solver(m)
    first = solver.solve()
    m.rhs.set_value(5.0)
    second = solver.solve()
    assert first.objective == pytest.approx(4.0)
    assert second.objective == pytest.approx(2.0 + 2 * 3.0)
    assert solver.history == [first, second]
    assert solver.builds == 1


def test_solver_history_records_failures_before_raising() -> None:
    m = small_lp("goes_infeasible")
    solver = Solver(m)
    solver.solve()
    m.x.setub(-1.0)  # x in [0, -1]: infeasible
    with pytest.raises(InfeasibleFormulation, match="goes_infeasible"):
        solver.solve()
    assert [r.status for r in solver.history] == [SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE]


def test_switching_thread_counts_still_solves() -> None:
    assert solve(small_lp(), options=None).status is SolveStatus.OPTIMAL
    assert Solver(small_lp(), threads=2).solve().status is SolveStatus.OPTIMAL
    assert solve(small_lp()).status is SolveStatus.OPTIMAL


def test_model_without_objective_is_rejected() -> None:
    m = small_lp("no_objective")
    m.objective.deactivate()
    with pytest.raises(ConfigurationError, match="no_objective.*exactly one active Objective"):
        solve(m)


@pytest.mark.parametrize(
    ("keyword", "bad"),
    [("time_limit", 0.0), ("time_limit", math.inf), ("mip_rel_gap", -0.1), ("threads", 0)],
)
def test_bad_solver_options(keyword: str, bad: float) -> None:
    with pytest.raises(ConfigurationError, match=rf"'{keyword}' parameter of Solver"):
        Solver(small_lp(), **{keyword: bad})


def test_solver_output_is_silent(capfd: pytest.CaptureFixture[str]) -> None:
    solve(small_lp())
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


# ---------------------------------------------------------------- re-solves of Params only
def lot_sizing(periods: int = 8) -> pyo.ConcreteModel:
    """A small lot-sizing MIP whose demands, bound and a cost are mutable Params (an objective, a RHS and a bound).

    Cover the demand of each period from stock or production; a set-up (binary) allows production up to
    the capacity; holding and set-up costs. The capacity also bounds the first production variable.
    """
    m = pyo.ConcreteModel(name="lot_sizing")
    m.T = pyo.RangeSet(0, periods - 1)
    m.demand = pyo.Param(m.T, initialize=5.0, mutable=True)
    m.setup_cost = pyo.Param(initialize=20.0, mutable=True)
    m.capacity = pyo.Param(initialize=12.0, mutable=True)
    m.make = pyo.Var(m.T, bounds=(0, None))
    m.stock = pyo.Var(m.T, bounds=(0, None))
    m.on = pyo.Var(m.T, domain=pyo.Binary)
    m.make[0].setub(m.capacity)
    m.balance = pyo.Constraint(m.T, rule=lambda m, t: (m.stock[t - 1] if t else 0) + m.make[t] - m.stock[t] == m.demand[t])
    m.link = pyo.Constraint(m.T, rule=lambda m, t: m.make[t] <= m.capacity * m.on[t])
    m.objective = pyo.Objective(expr=sum(m.setup_cost * m.on[t] + m.stock[t] for t in m.T))
    return m


def test_params_only_resolves_agree_with_the_full_path_on_every_outcome() -> None:
    """The same sequence of Param changes on two solvers, one promising Params only: the same statuses,
    objectives, bounds and loaded decisions, one HiGHS build each; infeasible demands and back again."""
    rng = np.random.default_rng(5)
    changes = [{"demand": rng.integers(0, 12, 8).astype(float), "setup_cost": float(rng.integers(5, 40)),
                "capacity": float(rng.integers(8, 20))} for _ in range(12)]
    changes[4] = {"demand": np.full(8, 30.0), "setup_cost": 10.0, "capacity": 12.0}  # beyond capacity: infeasible
    models = (lot_sizing(), lot_sizing())
    solvers = (Solver(models[0]), Solver(models[1], params_only=True, load=[models[1].make, models[1].on]))
    statuses = []
    for change in [{}] + changes:
        outcomes = []
        for model, solver in zip(models, solvers):
            for t, value in enumerate(change.get("demand", [])):
                model.demand[t].set_value(value)
            if change:
                model.setup_cost.set_value(change["setup_cost"])
                model.capacity.set_value(change["capacity"])
            outcomes.append(solver.solve(raise_on_failure=False))
        full, direct = outcomes
        statuses.append(full.status)
        assert (direct.status, direct.termination) == (full.status, full.termination)
        if full.status.has_solution:
            assert direct.objective == pytest.approx(full.objective, rel=1e-9)
            assert direct.bound == pytest.approx(full.bound, rel=1e-9)
            for t in models[0].T:
                assert pyo.value(models[1].make[t]) == pytest.approx(pyo.value(models[0].make[t]), abs=1e-6)
                assert round(pyo.value(models[1].on[t])) == round(pyo.value(models[0].on[t]))
            # The objective recomputed by Pyomo from the loaded values (stock is not loaded: from the balance).
            stock = np.cumsum([pyo.value(models[1].make[t] - models[1].demand[t]) for t in models[1].T])
            setups = sum(pyo.value(models[1].setup_cost) * round(pyo.value(models[1].on[t])) for t in models[1].T)
            assert setups + stock.sum() == pytest.approx(direct.objective, abs=1e-4)
    assert SolveStatus.INFEASIBLE in statuses and statuses[-1] is SolveStatus.OPTIMAL
    assert [s.builds for s in solvers] == [1, 1]


def test_params_only_lp_bound_is_its_optimum() -> None:
    m = small_lp("params_only_lp")
    solver = Solver(m, params_only=True)
    solver.solve()
    m.rhs.set_value(5.0)
    result = solver.solve()
    assert result.objective == pytest.approx(8.0) and result.bound == pytest.approx(8.0)
    assert (pyo.value(m.x), pyo.value(m.y)) == pytest.approx((2.0, 3.0))


def test_lifting_a_time_limit_lets_the_next_solve_run_to_the_optimum() -> None:
    """A limited solve leaves its limit in HiGHS; ``time_limit = None`` afterwards means no limit, on both paths."""
    for params_only in (False, True):
        m = hard_knapsack(n=60, k=10)
        solver = Solver(m, time_limit=1e-3, params_only=params_only)
        assert solver.solve(raise_on_failure=False).status is not SolveStatus.OPTIMAL
        solver.time_limit = None
        assert solver.solve().status is SolveStatus.OPTIMAL
