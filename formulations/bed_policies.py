"""Bed-expansion policies built on the :class:`BedCapacity` block.

* :class:`MILPPolicy` -- the expected-value capacity plan, solved once, open loop.
* :class:`RollingMILPPolicy` -- the same model re-solved each year from the
  current state (model predictive control), updating mutable Params of one
  persistent HiGHS model.
* :class:`HindsightPolicy` -- an oracle: the MILP on each episode's own
  realised daily demand. Its mean cost is a lower bound, never a policy score.

All three take their data from the scenario's own functions
(:meth:`BedScenario.expected_year_shortage`, :meth:`BedScenario.realised_shortage`,
:meth:`BedScenario.year_cost` weights), never from a second copy of the dynamics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from optalloc.exceptions import bad_value
from optalloc.policy import Policy
from optalloc.scenario import Noise, Scenario

from .bed_capacity import BedCapacity
from .solve import Solver


class _BedMILPBase(Policy):
    """Shared model construction of the bed MILP policies."""

    family = "math_programming"
    supported_families = ("beds",)

    def __init__(self, time_limit: float | None = None, mip_rel_gap: float | None = 1e-9) -> None:
        self.time_limit = time_limit
        self.mip_rel_gap = mip_rel_gap

    def _validate_params(self) -> None:
        if self.time_limit is not None and (not isinstance(self.time_limit, (int, float)) or self.time_limit <= 0):
            raise bad_value(type(self).__name__, "time_limit", "a positive number of seconds or None", self.time_limit)
        if self.mip_rel_gap is not None and (not isinstance(self.mip_rel_gap, (int, float)) or self.mip_rel_gap < 0):
            raise bad_value(type(self).__name__, "mip_rel_gap", "a non-negative number or None", self.mip_rel_gap)

    def _build(self, scenario: Any) -> None:
        """Build the expected-value model over the scenario's whole bed grid, and its persistent solver."""
        import pyomo.environ as pyo

        p = scenario.params
        self._grid = np.arange(p.initial_beds, scenario.max_beds + 1)
        self._weights = scenario.discount ** np.arange(scenario.horizon)
        table = self._expected_table(scenario, 0, 0)
        model = pyo.ConcreteModel(name=f"{type(self).__name__}[{scenario.id}]")
        model.plan = BedCapacity(
            horizon=scenario.horizon,
            initial_beds=p.initial_beds,
            max_add=p.max_add,
            beds_min=p.initial_beds,
            beds_max=scenario.max_beds,
            shortage_cost=table,
            bed_cost=p.bed_cost,
            operating_cost=p.operating_cost,
            weights=self._weights,
        )
        model.objective = pyo.Objective(expr=model.plan.cost)
        self._model = model
        self._solver = Solver(model, time_limit=self.time_limit, mip_rel_gap=self.mip_rel_gap)

    def _solve(self) -> np.ndarray:
        result = self._solver.solve()
        self.solves_ = getattr(self, "solves_", 0) + 1
        self.solve_seconds_ = getattr(self, "solve_seconds_", 0.0) + result.seconds
        self.max_gap_ = max(getattr(self, "max_gap_", 0.0), result.gap or 0.0)
        self.last_status_ = str(result.status)
        return self._model.plan.plan()

    def _expected_table(self, scenario: Any, t0: int, lattice0: int) -> np.ndarray:
        """Certainty-equivalent shortage cost table for years t0.. (rows beyond the horizon are 0)."""
        T, p = scenario.horizon, scenario.params
        table = np.zeros((T, len(self._grid)))
        years = np.arange(t0, T)
        from optalloc.scenarios.beds import expected_shortage

        mean = scenario.expected_demand_mean(t0, lattice0, years)
        table[: len(years)] = p.shortage_cost * p.days * expected_shortage(mean[:, None], self._grid[None, :])
        return table


class MILPPolicy(_BedMILPBase):
    """Open-loop expected-value capacity plan.

    Future population and the surge multiplier are replaced by their
    expectations; the Poisson census's expected shortage ``E[(N - H)^+]`` at
    that mean is represented exactly at integer bed counts by the block's
    convex piecewise-linear epigraph. On a deterministic population path this
    is the exact optimum.

    Attributes
    ----------
    plan_ : ndarray of int, shape (horizon,)
        Beds added each year.
    objective_ : float
        Optimal objective of the expected-value model [taka].
    """

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        self._build(scenario)
        self.plan_ = self._solve().astype(np.int64)
        self.objective_ = float(self._solver.history[-1].objective)

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        t = observations[:, 0].astype(np.int64)
        return self.plan_[t]


class RollingMILPPolicy(_BedMILPBase):
    """Model predictive control: each year re-solve the expected-value MILP from the current state.

    The model is built once in ``fit``; each decision updates the mutable
    initial beds, shortage table and year weights (years past the horizon get
    weight 0) and re-solves with the same persistent HiGHS instance. The
    decision is a deterministic function of (year, beds, population), so
    solutions are cached on that key.
    """

    refit_on_load = True

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        self._build(scenario)
        self._cache: dict[tuple[int, int, int], int] = {}

    def _decide(self, t: int, beds: int, lattice: int) -> int:
        key = (t, beds, lattice)
        if key not in self._cache:
            scenario, T = self._scenario, self._scenario.horizon
            block = self._model.plan
            block.set_initial_beds(beds)
            block.set_shortage_cost(self._expected_table(scenario, t, lattice))
            weights = np.zeros(T)
            weights[: T - t] = self._weights[: T - t]
            block.set_weights(weights)
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
    """Perfect-information bound: the MILP on each episode's realised daily demand.

    An oracle: :meth:`reset` receives the batch's noise path and solves one
    MILP per episode (re-using one persistent model). The mean cost is a lower
    bound on every non-anticipative policy's expected cost.

    Parameters
    ----------
    progress : bool
        Show a progress bar over episodes.
    """

    information = "oracle"
    refit_on_load = True

    def __init__(self, time_limit: float | None = None, mip_rel_gap: float | None = 1e-9,
                 progress: bool = False) -> None:
        super().__init__(time_limit=time_limit, mip_rel_gap=mip_rel_gap)
        self.progress = progress

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        self._build(scenario)
        self._plans: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, noise: Noise | None = None) -> None:
        super().reset(seed=seed, noise=noise)
        if noise is None:
            self._plans = None
            return
        scenario = self._scenario
        tables = scenario.params.shortage_cost * scenario.realised_shortage(noise["demand"], self._grid)
        episodes = range(len(tables))
        if self.progress:
            from tqdm.auto import tqdm

            episodes = tqdm(episodes, desc="hindsight MILPs", unit="episode", leave=False)
        plans = np.empty((len(tables), scenario.horizon), dtype=np.int64)
        for i in episodes:
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
