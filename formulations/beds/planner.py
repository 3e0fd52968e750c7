"""The bed family's :class:`~optalloc.formulations.policies.Planner`: the :class:`BedCapacity` MILP.

:class:`BedPlanner` builds the capacity expansion model of the remaining
years from the scenario's own functions
(:meth:`BedScenario.expected_shortage_table`, :meth:`BedScenario.realised_shortage`,
the cost weights of :meth:`BedScenario.year_cost` and the discount), never
from a second copy of the dynamics:

* :meth:`BedPlanner.build` -- years ``start..horizon-1``, shortage cost = the
  expected unattended patient-days of each bed count (exact for a plan fixed
  from ``start`` on), bed caps = what each year can reach from the initial beds;
* :meth:`BedPlanner.update` -- the observed beds in service and the expected
  shortage table conditional on the observed population lattice index;
* :meth:`BedPlanner.build_saa` / :meth:`BedPlanner.update_saa` -- the
  two-stage sample-average model: the shortage cost is the average of the
  paths' realised tables (the second stage has no decisions of its own, so
  the deterministic equivalent is the plan on the averaged table, still
  convex in the bed count). With one path it is that path's
  perfect-information problem.

The generic open-loop (``milp``), rolling-horizon (``milp-rolling``),
sample-average (``saa``) and MILP hindsight (``hindsight-milp``) policies of
:mod:`optalloc.formulations.policies` solve it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from optalloc.checks import check_memory
from optalloc.scenario import Noise, Scenario

from .capacity import BedCapacity

__all__ = ["BedPlanner"]


class BedPlanner:
    """Capacity expansion models of one bed scenario (see the module docstring).

    The models cover the scenario's bed range ``initial_beds..max_beds``;
    year ``t`` can reach at most ``initial_beds + max_add * (t + 1)`` beds,
    which caps the epigraph.

    Parameters
    ----------
    scenario : BedScenario
        The scenario to plan for.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        p = scenario.params
        beds = scenario.max_beds - p.initial_beds + 1
        # The epigraph has a cut per (year, bed count); a Pyomo constraint and its HiGHS row take about 2 KiB.
        check_memory(f"the capacity MILP of scenario {scenario.id} ({scenario.horizon} years x {beds:,} bed counts)",
                     2048.0 * scenario.horizon * beds, "lower max_add, max_beds or horizon")
        self.grid = np.arange(p.initial_beds, scenario.max_beds + 1)
        self.weights = scenario.discount ** np.arange(scenario.horizon)
        self._rows: list[np.ndarray] | None = None

    # ------------------------------------------------------------ Planner
    def build(self, start: int) -> Any:
        """The expected-cost model of years ``start..horizon-1`` from the initial beds (see the module docstring)."""
        return self._model(start, self._expected_table(start, 0)[start:])

    def update(self, model: Any, epoch: int, observation: np.ndarray, info: Mapping[str, Any]) -> None:
        """Past years are sunk: start the model of the remaining years from the observed beds and population."""
        observation = np.asarray(observation)
        beds = int(observation[1])
        lattice = int(self.scenario.lattice_of(epoch, observation[None])[0])
        model.plan.set_initial_beds(beds)
        model.plan.set_shortage_cost(self._expected_table(epoch, lattice)[epoch:])

    def decision(self, model: Any) -> np.ndarray:
        """Beds added in each modelled year, shape ``(years, 1)`` (the one component ``beds``)."""
        return model.plan.plan()[:, None]

    def decision_variables(self, model: Any) -> Sequence[Any]:
        """The additions ``plan.add``."""
        return [model.plan.add]

    def cache_key(self, epoch: int, observations: np.ndarray) -> np.ndarray:
        """``(beds in service, population lattice index)`` of each observation: the model's state."""
        observations = np.asarray(observations)
        return np.stack([observations[:, 1].astype(np.int64), self.scenario.lattice_of(epoch, observations)], axis=1)

    def covers(self, scenario: Scenario) -> str | None:
        """The models cover this scenario's bed range only."""
        own = self.scenario
        low, high = scenario.params.initial_beds, scenario.max_beds
        if low < own.params.initial_beds or high > own.max_beds:
            return (f"its model covers {own.params.initial_beds}..{own.max_beds} beds, the scenario "
                    f"{low}..{high}")
        return None

    # ------------------------------------------------------------ SamplePlanner
    def build_saa(self, noise: Noise) -> Any:
        """The whole-horizon model on the average realised shortage cost of the paths of ``noise``."""
        return self._model(0, self._realised_table(noise))

    def update_saa(self, model: Any, noise: Noise) -> None:
        """Replace the sample: the average realised shortage cost of the paths of ``noise``."""
        model.plan.set_shortage_cost(self._realised_table(noise))

    # ------------------------------------------------------------ data
    def _model(self, start: int, shortage_cost: np.ndarray) -> Any:
        """The model of years ``start..horizon-1`` with a shortage-cost table [taka] of those years."""
        import pyomo.environ as pyo

        scenario = self.scenario
        p, T = scenario.params, scenario.horizon
        model = pyo.ConcreteModel(name=f"BedPlanner[{scenario.id}]" + (f"[from year {start}]" if start else ""))
        model.plan = BedCapacity(
            horizon=T - start,
            initial_beds=p.initial_beds,
            max_add=p.max_add,
            beds_min=p.initial_beds,
            beds_max=scenario.max_beds,
            beds_cap=np.minimum(scenario.max_beds, p.initial_beds + p.max_add * np.arange(start + 1, T + 1)),
            shortage_cost=shortage_cost,
            bed_cost=p.bed_cost,
            operating_cost=p.operating_cost,
            weights=self.weights[start:],
        )
        model.objective = pyo.Objective(expr=model.plan.cost)
        return model

    def _expected_table(self, t0: int, lattice0: int) -> np.ndarray:
        """Expected shortage cost [taka] of years t0.. on the bed grid from lattice index ``lattice0`` (earlier rows 0)."""
        scenario = self.scenario
        if self._rows is None:
            self._rows = scenario.expected_shortage_rows(self.grid)
        return scenario.params.shortage_cost * scenario.expected_shortage_table(t0, lattice0, self.grid, self._rows)

    def _realised_table(self, noise: Noise) -> np.ndarray:
        """Average over the paths of ``noise`` of the realised shortage cost [taka], shape ``(horizon, K)``."""
        scenario = self.scenario
        episodes = len(noise["xi"])
        check_memory(f"the realised shortage tables of {episodes:,} paths of scenario {scenario.id}",
                     16.0 * episodes * scenario.horizon * len(self.grid), "use fewer sample paths")
        return (scenario.params.shortage_cost * scenario.realised_shortage(noise, self.grid)).mean(axis=0)
