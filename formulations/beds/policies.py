"""Bed-expansion policies built on the :class:`BedCapacity` block.

* :class:`MILPPolicy` -- the expected-value capacity plan, solved once, open loop.
* :class:`RollingMILPPolicy` -- the model of the remaining years re-solved
  each year from the current state (model predictive control), updating
  mutable Params of persistent HiGHS models.
* :class:`HindsightPolicy` -- an oracle: the optimal plan for each episode's
  own realised daily demand (by DP, or the MILP with ``method="milp"``). Its
  mean cost is a lower bound, never a policy score.

All three take their data from the scenario's own functions
(:meth:`BedScenario.expected_year_shortage`, :meth:`BedScenario.realised_shortage`,
:meth:`BedScenario.year_cost` weights), never from a second copy of the dynamics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from optalloc.checks import check_memory
from optalloc.exceptions import bad_value
from optalloc.policy import Policy
from optalloc.scenario import Noise, Scenario

from ..solve import Solver
from .capacity import BedCapacity


class _BedMILPBase(Policy):
    """Shared model construction of the bed MILP policies.

    The model covers the scenario's whole horizon in absolute years and its
    whole bed range; year ``t`` can reach at most
    ``initial_beds + max_add * (t + 1)`` beds, which caps the epigraph.
    """

    family = "math_programming"
    supported_families = ("beds",)

    def __init__(self, time_limit: float | None = None, mip_rel_gap: float | None = 1e-9,
                 forecaster: str | None = None, forecast_cutoff: int = 2001) -> None:
        self.time_limit = time_limit
        self.mip_rel_gap = mip_rel_gap
        self.forecaster = forecaster
        self.forecast_cutoff = forecast_cutoff

    def _plan_on(self, scenario: Scenario) -> Any:
        """Build the model on the scenario, or on its forecast-population copy (``forecaster``)."""
        from optalloc.families.beds.planning import planning_scenario

        self._scenario = planning_scenario(scenario, self.forecaster, self.forecast_cutoff)
        self._build(self._scenario)
        return self._scenario

    def _validate_params(self) -> None:
        from optalloc.families.beds.planning import check_forecast_params

        check_forecast_params(type(self).__name__, self.forecaster, self.forecast_cutoff)
        if self.time_limit is not None and (not isinstance(self.time_limit, (int, float)) or self.time_limit <= 0):
            raise bad_value(type(self).__name__, "time_limit", "a positive number of seconds or None", self.time_limit)
        if self.mip_rel_gap is not None and (not isinstance(self.mip_rel_gap, (int, float)) or self.mip_rel_gap < 0):
            raise bad_value(type(self).__name__, "mip_rel_gap", "a non-negative number or None", self.mip_rel_gap)

    def _check_can_act(self, scenario: Scenario) -> str | None:
        """The model covers the fitted horizon and bed range only."""
        own = self._scenario
        if scenario.horizon > own.horizon:
            return f"its model covers {own.horizon} years, the scenario has {scenario.horizon}"
        low, high = scenario.params.initial_beds, scenario.max_beds
        if low < own.params.initial_beds or high > own.max_beds:
            return (f"its model covers {own.params.initial_beds}..{own.max_beds} beds, the scenario "
                    f"{low}..{high}")
        return None

    def _set_grid(self, scenario: Any) -> None:
        """The bed grid ``initial_beds..max_beds`` and the yearly cost weights (discount factors)."""
        beds = scenario.max_beds - scenario.params.initial_beds + 1
        # The epigraph has a cut per (year, bed count); a Pyomo constraint and its HiGHS row take about 2 KiB.
        check_memory(f"the capacity MILP of scenario {scenario.id} ({scenario.horizon} years x {beds:,} bed counts)",
                     2048.0 * scenario.horizon * beds, "lower max_add, max_beds or horizon")
        self._grid = np.arange(scenario.params.initial_beds, scenario.max_beds + 1)
        self._weights = scenario.discount ** np.arange(scenario.horizon)

    def _build(self, scenario: Any, start: int = 0) -> None:
        """Build the expected-cost model of years ``start..horizon-1`` and its persistent solver.

        Year ``s`` of the model is the scenario's year ``start + s``; its bed cap
        is what year can reach from the scenario's initial beds.
        """
        import pyomo.environ as pyo

        p, T = scenario.params, scenario.horizon
        self._set_grid(scenario)
        if start == 0:
            self.__dict__.pop("_rows", None)  # a second fit starts afresh
        model = pyo.ConcreteModel(name=f"{type(self).__name__}[{scenario.id}]" + (f"[from year {start}]" if start else ""))
        model.plan = BedCapacity(
            horizon=T - start,
            initial_beds=p.initial_beds,
            max_add=p.max_add,
            beds_min=p.initial_beds,
            beds_max=scenario.max_beds,
            beds_cap=np.minimum(scenario.max_beds, p.initial_beds + p.max_add * np.arange(start + 1, T + 1)),
            shortage_cost=self._expected_table(scenario, start, 0)[start:],
            bed_cost=p.bed_cost,
            operating_cost=p.operating_cost,
            weights=self._weights[start:],
        )
        model.objective = pyo.Objective(expr=model.plan.cost)
        self._model = model
        self._solver = Solver(model, time_limit=self.time_limit, mip_rel_gap=self.mip_rel_gap, load=[model.plan.add])

    def _solve(self) -> np.ndarray:
        result = self._solver.solve()
        self.solves_ = getattr(self, "solves_", 0) + 1
        self.solve_seconds_ = getattr(self, "solve_seconds_", 0.0) + result.seconds
        self.max_gap_ = max(getattr(self, "max_gap_", 0.0), result.gap or 0.0)
        self.last_status_ = str(result.status)
        return self._model.plan.plan()

    def _expected_table(self, scenario: Any, t0: int, lattice0: int) -> np.ndarray:
        """Expected shortage cost [taka] of years t0.. on the bed grid (earlier rows 0)."""
        if not hasattr(self, "_rows"):
            self._rows = scenario.expected_shortage_rows(self._grid)
        return scenario.params.shortage_cost * scenario.expected_shortage_table(t0, lattice0, self._grid, self._rows)


class MILPPolicy(_BedMILPBase):
    """Open-loop expected-cost capacity plan, fixed at year 0.

    Each year's expected unattended patient-days
    ``E[(N - H)^+]`` of the Poisson census, averaged over the population
    lattice and surge years, is a convex function of the integer bed count
    ``H``; the block represents it exactly by its piecewise-linear epigraph.
    The plan is therefore the optimal open-loop plan (the exact optimum when
    the population path is deterministic).

    Parameters
    ----------
    time_limit : float, optional
        HiGHS time limit per solve [s].
    mip_rel_gap : float, optional
        Relative MIP gap at which HiGHS stops.
    forecaster : str, optional
        Plan on this population forecast (:mod:`optalloc.families.beds.planning`).
    forecast_cutoff : int
        Last census year the forecaster sees.

    Attributes
    ----------
    plan_ : ndarray of int, shape (horizon,)
        Beds added each year.
    objective_ : float
        Optimal objective of the expected-value model [taka].
    """

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        self._plan_on(scenario)
        self.plan_ = self._solve().astype(np.int64)
        self.objective_ = float(self._solver.history[-1].objective)

    def _check_loaded(self) -> None:
        """``plan_`` must hold one addition per year of the manifest's scenario."""
        horizon, n = self._scenario.horizon, self._scenario.action_space.n
        if self.plan_.shape != (horizon,):
            raise ValueError(f"plan_ has shape {self.plan_.shape}; the scenario has {horizon} years")
        if not (0 <= self.plan_.min() and self.plan_.max() < n):
            raise ValueError(f"plan_ holds additions outside 0..{n - 1}")

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        t = observations[:, 0].astype(np.int64)
        return self.plan_[t]


class RollingMILPPolicy(_BedMILPBase):
    """Model predictive control: each year re-solve the expected-cost MILP from the current state.

    The open-loop-optimal plan from the current (year, beds, population) is
    re-computed every year and its first decision applied (open-loop feedback
    control). Past costs are sunk, so a decision in year ``t`` solves the
    model of years ``t..horizon-1`` (built on first use, one per ``t``, each
    with its persistent HiGHS instance): it sets the model's initial beds to
    the current beds, loads the conditional expected shortage table and
    re-solves. Decisions are a deterministic function of (year, beds,
    population) and are cached on it.

    Parameters
    ----------
    time_limit : float, optional
        HiGHS time limit per solve [s] (each yearly re-plan is a solve).
    mip_rel_gap : float, optional
        Relative MIP gap at which HiGHS stops.
    forecaster : str, optional
        Plan on this population forecast (:mod:`optalloc.families.beds.planning`):
        every re-plan uses the forecast population path.
    forecast_cutoff : int
        Last census year the forecaster sees.
    """

    refit_on_load = True

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        self._plan_on(scenario)
        self._models = {0: (self._model, self._solver)}  # one model per start year, built on first use
        self._cache: dict[tuple[int, int, int], int] = {}

    def _decide(self, t: int, beds: int, lattice: int) -> int:
        key = (t, beds, lattice)
        if key not in self._cache:
            if t not in self._models:
                self._build(self._scenario, start=t)
                self._models[t] = (self._model, self._solver)
            self._model, self._solver = self._models[t]
            # Past years are sunk: the model of the remaining years starts from the current beds.
            block = self._model.plan
            block.set_initial_beds(beds)
            block.set_shortage_cost(self._expected_table(self._scenario, t, lattice)[t:])
            self._cache[key] = int(self._solve()[0])
        return self._cache[key]

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        scenario = self._scenario
        lattice = scenario.lattice_from_observation(observations)
        keys = np.stack([observations[:, 0].astype(np.int64), observations[:, 1].astype(np.int64), lattice], axis=1)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        decisions = np.array([self._decide(*map(int, k)) for k in unique], dtype=np.int64)
        return decisions[inverse.ravel()]


class HindsightPolicy(_BedMILPBase):
    """Perfect-information bound: the optimal plan for each episode's realised daily demand.

    An oracle: :meth:`reset` receives the batch's noise path and solves, per
    episode, the deterministic expansion problem whose shortage cost is the
    episode's realised table (:meth:`BedScenario.realised_shortage`). The mean
    cost is a lower bound on every non-anticipative policy's expected cost.

    Parameters
    ----------
    method : {"dp", "milp"}
        ``"dp"`` (default): backward induction over (year, beds) for all
        episodes at once (:func:`optalloc.families.beds.hindsight.capacity_expansion_dp`),
        exact for any table, about 1 ms an episode. ``"milp"``: the
        :class:`BedCapacity` MILP per episode, re-using one persistent HiGHS
        model (about 70 ms an episode). Both give the optimal cost; they may
        differ only between equally cheap plans.
    time_limit : float, optional
        HiGHS time limit per episode's solve [s] (``method="milp"`` only).
    mip_rel_gap : float, optional
        Relative MIP gap at which HiGHS stops (``method="milp"`` only).
    progress : bool
        Show a progress bar over episodes (``method="milp"``).
    """

    information = "oracle"
    refit_on_load = True

    def __init__(self, method: str = "dp", time_limit: float | None = None, mip_rel_gap: float | None = 1e-9,
                 progress: bool = False) -> None:
        super().__init__(time_limit=time_limit, mip_rel_gap=mip_rel_gap)
        self.method = method
        self.progress = progress

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.method not in ("dp", "milp"):
            raise bad_value(type(self).__name__, "method", "'dp' or 'milp'", self.method)

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        if self.method == "milp":
            self._build(scenario)
        else:
            self._set_grid(scenario)
        self._plans: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, noise: Noise | None = None) -> None:
        super().reset(seed=seed, noise=noise)
        if noise is None:
            self._plans = None
            return
        scenario = self._scenario
        tables = scenario.params.shortage_cost * scenario.realised_shortage(noise, self._grid)
        if self.method == "dp":
            from optalloc.families.beds.hindsight import capacity_expansion_dp

            p = scenario.params
            self._plans, _ = capacity_expansion_dp(tables, p.bed_cost, p.operating_cost, self._weights, p.max_add,
                                                   self._grid)
            return
        episodes = range(len(tables))
        if self.progress:
            from tqdm.auto import tqdm

            episodes = tqdm(episodes, desc="hindsight MILPs", unit="episode", leave=False)
        plans = np.empty((len(tables), scenario.horizon), dtype=np.int64)
        for i in episodes:  # one persistent model: only the table changes between episodes
            self._model.plan.set_shortage_cost(tables[i])
            plans[i] = self._solve()
        self._plans = plans

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        if self._plans is None:
            from optalloc.exceptions import OptallocError

            raise OptallocError("HindsightPolicy is an oracle: call reset(noise=...) with the episodes' noise first.")
        t = observations[:, 0].astype(np.int64)
        return self._plans[np.asarray(infos["episode"]), t]
