"""The scanner family's :class:`~optalloc.formulations.policies.Planner` and its perfect-information solve.

:class:`ScannerPlanner` builds :class:`~.schedule.ScannerSchedule` models
from the scenario's own data -- ``params`` (scanners, revenues, costs, cap),
:meth:`ScannerScenario.arrival_distribution` (expected arrivals),
:meth:`ScannerScenario.initial_state` / :meth:`ScannerScenario.observe`
(the starting queues) and the noise's realised arrivals -- never from a
second copy of the dynamics:

* :meth:`ScannerPlanner.build` / :meth:`ScannerPlanner.update` -- the
  rolling-horizon model of slots ``start..slots-1`` on EXPECTED arrivals from
  the observed state: the current slot's CEPs and queues are the observed
  ones; a later slot's CEPs are the expected CEP arrivals of the slot before
  (a fractional loss of scanner capacity), its OP, IP and NCEP arrivals
  their expected counts (fractional queues). Scans stay integer in every
  slot, so a later slot scans at most ``floor(scanners - E[cep])`` patients
  (1 of 2 scanners when ``E[cep] = 0.18``) and at most ``floor`` of its
  fluid queue: a pessimistic view of later capacity that makes the model
  ration scanner time by value. A fluid plan of the later slots
  (``integer_slots=1``: continuous later scans) is the tighter relaxation
  but leaves the current slot's choice between types nearly free whenever
  the expected load is below the expected capacity; on ``gocgun-v0`` it
  decides clearly worse. With a queue cap the fluid queue is capped exactly
  (``min(queue - scans + expected arrivals, cap)``), the natural
  relaxation of the capped random queue;
* :meth:`ScannerPlanner.build_saa` / :meth:`ScannerPlanner.update_saa` --
  the sample-average model of realised paths: one integer plan of scans per
  slot shared by every path, each path with its own queues, CEPs
  (``cep[s]`` = CEP arrivals of slot ``s - 1``) and turned-away patients.
  With one path it is that day's perfect-information problem, exact: for
  integer arrivals the queues, CEPs and turned-away patients are the
  simulator's, so the objective is the rollout's cost.

:func:`perfect_information` solves the one-path model of every episode on one
persistent model (only the path's mutable data change between episodes); it
is what :meth:`ScannerScenario.perfect_information` returns, and the
generic ``hindsight-milp`` policy solves the same models.

Open-loop plans (the generic ``milp`` and ``saa`` policies) fix the scans of
every slot in advance; a plan feasible on its own paths can scan patients
who never arrived on another path, where the simulator masks it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyomo.environ as pyo

from optalloc.checks import check_memory
from optalloc.exceptions import bad_value
from optalloc.scenario import Noise, Scenario

from ..solve import Solver
from .schedule import ScannerSchedule

__all__ = ["ScannerPlanner", "perfect_information"]

#: Estimated memory of one Pyomo variable or constraint with its HiGHS column or row [bytes].
_BYTES_PER_ROW = 2048.0


class ScannerPlanner:
    """Scheduling models of one scanner scenario (see the module docstring).

    Parameters
    ----------
    scenario : ScannerScenario
        The scenario to plan for.
    integer_slots : int, optional
        Slots of the rolling-horizon model, from the current one, whose scans
        are integer (the later ones are a fluid plan); default all. The
        sample-average model's scans are always integer.
    """

    def __init__(self, scenario: Scenario, integer_slots: int | None = None) -> None:
        if integer_slots is not None and (isinstance(integer_slots, bool)
                                          or not isinstance(integer_slots, (int, np.integer)) or integer_slots < 1):
            raise bad_value("ScannerPlanner", "integer_slots", "a positive integer or None (all slots)", integer_slots)
        self.scenario = scenario
        self.integer_slots = scenario.horizon if integer_slots is None else int(integer_slots)
        T = scenario.horizon
        # Expected CEP, OP, IP, NCEP arrivals of every slot, from the scenario's own outcome distribution.
        self.expected_arrivals = np.stack([outcomes.T @ probs for outcomes, probs in
                                           map(scenario.arrival_distribution, range(T))])  # (T, 4)
        self._start = _slot_state(scenario.observe(0, scenario.initial_state(1))[0])

    # ------------------------------------------------------------ Planner
    def build(self, start: int) -> Any:
        """The expected-arrivals model of slots ``start..slots-1`` (see the module docstring).

        Until :meth:`update` sets an observed state, it starts from the
        initial state's queues and the expected CEPs of slot ``start``.
        """
        T = self.scenario.horizon
        if not 0 <= start < T:
            raise bad_value("ScannerPlanner.build", "start", f"a slot in 0..{T - 1}", start)
        mean = self.expected_arrivals
        # CEPs of slot t are the CEP arrivals of slot t-1; none before the first slot's arrivals.
        cep = np.concatenate([[self._start[0]], mean[:-1, 0]])[start:]
        return self._model(mean[start:, 1:][None], cep[None], self._start[1:][None],
                           integer_slots=min(self.integer_slots, T - start), name=f"[from slot {start}]")

    def update(self, model: Any, epoch: int, observation: np.ndarray, info: Mapping[str, Any]) -> None:
        """Start the model of slots ``epoch..`` from the observed CEPs and queues (past slots are sunk)."""
        state = _slot_state(observation)
        model.schedule.set_start(state[1:], state[0])

    def decision(self, model: Any) -> np.ndarray:
        """OP, IP, NCEP scanned in each modelled slot, shape ``(slots covered, 3)``.

        Rows of continuous (fluid) slots are rounded down, so every row is an action of the table.
        """
        return model.schedule.plan()

    def decision_variables(self, model: Any) -> Sequence[Any]:
        """The scans ``schedule.scan``."""
        return [model.schedule.scan]

    def cache_key(self, epoch: int, observations: np.ndarray) -> np.ndarray:
        """``(cep, waiting OP, IP, NCEP)`` of each observation (columns 1..4): the model's state."""
        return np.rint(np.asarray(observations, dtype=float)[:, 1:5]).astype(np.int64)

    def covers(self, scenario: Scenario) -> str | None:
        """The models decide with this planner's scanners, and queues up to its cap."""
        own, other = self.scenario.params, scenario.params
        if other.scanners != own.scanners:
            return f"its model schedules {own.scanners} scanners, the scenario has {other.scanners}"
        if own.queue_cap is not None and (other.queue_cap is None or other.queue_cap > own.queue_cap):
            limit = "no cap" if other.queue_cap is None else f"a cap of {other.queue_cap}"
            return f"its model caps queues at {own.queue_cap} patients, the scenario has {limit}"
        return None

    # ------------------------------------------------------------ SamplePlanner
    def build_saa(self, noise: Noise) -> Any:
        """The whole-day model of one integer plan on the realised arrival paths of ``noise``."""
        arrivals, cep = self._paths(noise)
        E = len(arrivals)
        waiting = np.broadcast_to(self._start[1:], (E, 3))
        return self._model(arrivals, cep, waiting, integer_slots=self.scenario.horizon,
                           name="" if E == 1 else f"[{E} paths]")

    def update_saa(self, model: Any, noise: Noise) -> None:
        """Replace the paths (same number of paths as the model was built with)."""
        arrivals, cep = self._paths(noise)
        built = model.schedule.config.paths
        if len(arrivals) != built:
            raise bad_value("ScannerPlanner.update_saa", "noise", f"{built} paths (as the model was built with)",
                            f"{len(arrivals)} paths")
        model.schedule.set_arrivals(arrivals, cep)

    # ------------------------------------------------------------ data
    def _paths(self, noise: Noise) -> tuple[np.ndarray, np.ndarray]:
        """Realised OP, IP, NCEP arrivals ``(E, T, 3)`` and CEPs scanned ``(E, T)`` of every slot of ``noise``."""
        scenario = self.scenario
        arrivals = np.asarray(noise["arrivals"])
        T = scenario.horizon
        if arrivals.ndim != 3 or arrivals.shape[1:] != (T, 4):
            raise bad_value("ScannerPlanner", "noise['arrivals']",
                            f"an array of shape (episodes, {T}, 4) (scenario.sample_noise)", f"shape {arrivals.shape}")
        E = len(arrivals)
        check_memory(f"the sample-average scanner model of {E:,} paths x {T} slots of scenario {scenario.id}",
                     _BYTES_PER_ROW * 8 * 3 * E * T, "use fewer sample paths")
        cep = np.concatenate([np.full((E, 1), self._start[0]), arrivals[:, :-1, 0]], axis=1)
        return arrivals[:, :, 1:].astype(float), cep.astype(float)

    def _model(self, arrivals: np.ndarray, cep: np.ndarray, waiting: np.ndarray, *, integer_slots: int,
               name: str) -> Any:
        """A model of ``arrivals.shape[1]`` slots on paths ``arrivals`` ``(E, H, 3)``, ``cep`` ``(E, H)``."""
        scenario = self.scenario
        p = scenario.params
        model = pyo.ConcreteModel(name=f"ScannerPlanner[{scenario.id}]{name}")
        model.schedule = ScannerSchedule(
            slots=arrivals.shape[1], paths=len(arrivals), scanners=p.scanners, max_arrivals=p.max_arrivals,
            revenue=p.revenue, cep_revenue=p.cep_revenue, end_of_day_cost=p.end_of_day_cost,
            waiting_cost=p.waiting_cost, queue_cap=p.queue_cap, arrivals=arrivals, cep=cep,
            initial_waiting=waiting, integer_slots=integer_slots)
        model.objective = pyo.Objective(expr=model.schedule.cost)
        return model


def _slot_state(observation: np.ndarray) -> np.ndarray:
    """``(cep, waiting OP, IP, NCEP)`` of one observation (columns 1..4) [patients]."""
    return np.rint(np.asarray(observation, dtype=float)[1:5]).astype(np.int64)


def perfect_information(scenario: Scenario, noise: Noise, *, time_limit: float | None = None,
                        mip_rel_gap: float | None = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Each episode's optimal schedule knowing its whole day of arrivals (the hindsight bound).

    One persistent model of one path (:meth:`ScannerPlanner.build_saa`);
    between episodes only the path's arrivals and CEPs change.

    Parameters
    ----------
    scenario : ScannerScenario
    noise : dict of ndarray
        ``{"arrivals": (E, slots, 4)}`` (:meth:`ScannerScenario.sample_noise`).
    time_limit : float, optional
        HiGHS time limit of each episode's solve [s].
    mip_rel_gap : float, optional
        Relative MIP gap at which HiGHS stops (dimensionless).

    Returns
    -------
    actions : ndarray of int, shape (E, slots)
        The action index of every episode and slot (``scenario.action_table().encode``).
    costs : ndarray, shape (E,)
        The optimal cost of every episode [revenue units]: minus its best net revenue.

    Raises
    ------
    InfeasibleFormulation
        A solve ended without a solution (a time limit too short).
    """
    planner, table = ScannerPlanner(scenario), scenario.action_table()
    arrivals = np.asarray(noise["arrivals"])
    E, T = len(arrivals), scenario.horizon
    actions, costs = np.empty((E, T), dtype=np.int64), np.empty(E)
    model = solver = None
    for i in range(E):
        path = {key: np.asarray(value)[i:i + 1] for key, value in noise.items()}
        if model is None:
            model = planner.build_saa(path)
            solver = Solver(model, time_limit=time_limit, mip_rel_gap=mip_rel_gap,
                            load=planner.decision_variables(model))
        else:
            planner.update_saa(model, path)
        result = solver.solve()
        actions[i] = table.encode(planner.decision(model))
        costs[i] = result.objective
    return actions, costs
