"""Math-programming policies written once over a family's :class:`Planner`.

A family implements the :class:`Planner` protocol once (its scenario returns
one from :meth:`optalloc.scenario.Scenario.planner`, capability ``planner``):
build a Pyomo model of the remaining epochs, update its mutable data to an
observed state, and read the decision back as component counts, which the
policies encode through the scenario's :class:`~optalloc.actions.ActionTable`.
The policies here then come for free:

* :class:`OpenLoopPolicy` -- solve the model of the whole horizon once at
  ``fit`` and act from the plan by epoch (``info["epoch"]``);
* :class:`RollingHorizonPolicy` -- model predictive control: in every epoch,
  re-solve the model of the remaining epochs from the observed state and
  apply its first decision; one persistent model per start epoch, decisions
  cached per state (:meth:`Planner.cache_key`);
* :class:`SAAPolicy` -- two-stage sample-average approximation: the plan
  (first stage) minimises the average cost over training noise paths
  (second stage: each path's own cost), solved once at ``fit``;
* :class:`PlannerHindsightPolicy` -- an oracle: the sample-average model of
  each episode's own noise path alone, i.e. the perfect-information plan by
  the MILP (a bound, never a policy score).

Every solve goes through :class:`~optalloc.formulations.solve.Solver` (one
persistent HiGHS instance per model, so a re-solve pushes only changed
mutable Params) and is recorded in ``solves_`` (:class:`SolveRecord`: kind,
epoch, status, objective, bound, gap, seconds; :meth:`solve_table` gives them
as a DataFrame). A solve that ends without a solution raises
:class:`~optalloc.exceptions.InfeasibleFormulation` naming the policy, the
epoch and the status; a solve stopped early with an incumbent (time limit,
loose gap) is used and recorded with status ``"feasible"`` and its gap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from optalloc.exceptions import (
    ConfigurationError,
    InfeasibleFormulation,
    UnsupportedScenarioError,
    bad_value,
)
from optalloc.policies.hindsight import ActsFromPlans
from optalloc.policy import Policy, epochs_of
from optalloc.scenario import Noise, Scenario
from optalloc.tags import ACTION_KINDS, PolicyTags

from .solve import Solver, SolveResult

__all__ = [
    "OpenLoopPolicy",
    "Planner",
    "PlannerHindsightPolicy",
    "RollingHorizonPolicy",
    "SAAPolicy",
    "SamplePlanner",
    "SolveRecord",
]


# ---------------------------------------------------------------------- protocols
@runtime_checkable
class Planner(Protocol):
    """What a family implements once so that the generic planner policies solve its scenarios.

    A planner is bound to one scenario (:meth:`Scenario.planner` makes it) and
    may keep caches of that scenario's data. Its models are Pyomo models with
    exactly one active ``Objective`` (the expected cost of the epochs they
    cover, in the scenario's cost unit); the policies solve them through
    :class:`~optalloc.formulations.solve.Solver`.

    Attributes
    ----------
    scenario : Scenario
        The scenario the planner models.
    """

    scenario: Scenario

    def build(self, start: int) -> Any:
        """The model of epochs ``start..horizon-1``, from the scenario's initial state.

        Parameters
        ----------
        start : int
            First epoch the model covers; its epoch ``s`` is the scenario's
            epoch ``start + s``.

        Returns
        -------
        pyomo.environ.ConcreteModel
            With one active objective; its data that :meth:`update` changes
            are mutable Params, so a persistent solver re-solves without a rebuild.
        """

    def update(self, model: Any, epoch: int, observation: np.ndarray, info: Mapping[str, Any]) -> None:
        """Set the mutable data of ``model`` (built with ``start = epoch``) to an observed state.

        Parameters
        ----------
        model
            A model of :meth:`build`.
        epoch : int
            The current epoch.
        observation : ndarray
            One episode's observation (``scenario.observation_space.shape``).
        info : mapping
            That episode's info entries (``action_mask``, ``episode``, ``epoch``).
        """

    def decision(self, model: Any) -> np.ndarray:
        """The component counts of the loaded solution, shape ``(epochs covered, components)``.

        Row ``s`` holds the counts of the model's epoch ``s``, one column per
        component of ``scenario.action_table()``.
        """

    def decision_variables(self, model: Any) -> Sequence[Any]:
        """The Pyomo variables :meth:`decision` reads (only they are loaded after a solve)."""

    def cache_key(self, epoch: int, observations: np.ndarray) -> np.ndarray:
        """Integer keys of a batch of observations of one epoch, shape ``(n, k)``.

        Two observations with equal keys in the same epoch must give models
        with the same solution (the key is a sufficient statistic of the
        state for the model), so the rolling-horizon policy solves once per key.
        """

    def covers(self, scenario: Scenario) -> str | None:
        """Why models of this planner cannot decide in ``scenario``'s states (None: they can)."""


@runtime_checkable
class SamplePlanner(Planner, Protocol):
    """A :class:`Planner` that also builds the two-stage sample-average model.

    The first stage is the plan of every epoch; the second stage is each
    noise path's own cost of that plan. With one path the model is that
    path's perfect-information problem.
    """

    def build_saa(self, noise: Noise) -> Any:
        """The model minimising the average cost over the paths of ``noise`` (``(E, horizon, ...)`` arrays).

        :meth:`Planner.decision` reads its plan of all epochs.
        """

    def update_saa(self, model: Any, noise: Noise) -> None:
        """Replace the paths of a :meth:`build_saa` model by those of ``noise`` (mutable Params)."""


# ---------------------------------------------------------------------- solve records
@dataclass(frozen=True)
class SolveRecord:
    """One solve of a planner policy.

    Attributes
    ----------
    kind : str
        ``"plan"`` (open loop), ``"replan"`` (rolling horizon), ``"saa"`` or ``"hindsight"``.
    epoch : int
        First epoch of the solved model (``"hindsight"``: the episode's index in the batch).
    status : str
        :class:`~optalloc.formulations.solve.SolveStatus` value (``"optimal"``, ``"feasible"``, ...).
    objective : float or None
        Objective of the loaded solution [scenario cost unit]; None without one.
    bound : float or None
        Best proven bound [scenario cost unit].
    gap : float or None
        Relative MIP gap (dimensionless).
    seconds : float
        Wall-clock time of the solve [s].
    termination : str
        HiGHS's termination condition (``"maxTimeLimit"``, ...); ``""`` if not known.
    """

    kind: str
    epoch: int
    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    termination: str = ""

    @classmethod
    def of(cls, kind: str, epoch: int, result: SolveResult) -> SolveRecord:
        """The record of one :class:`~optalloc.formulations.solve.SolveResult`."""
        return cls(kind, int(epoch), result.status.value, result.objective, result.bound, result.gap, result.seconds,
                   str(result.termination or ""))


_RECORD_FIELDS = [f.name for f in dataclasses.fields(SolveRecord)]


# ---------------------------------------------------------------------- shared machinery
class _PlannerPolicy(Policy):
    """Shared machinery: the bound planner, its solvers, the solve records and the plan checks."""

    tags = PolicyTags(method="math_programming", action_kinds=frozenset(ACTION_KINDS), needs=frozenset({"planner"}))

    def __init__(self, time_limit: float | None = None, mip_rel_gap: float | None = 1e-9) -> None:
        self.time_limit = time_limit
        self.mip_rel_gap = mip_rel_gap

    def _validate_params(self) -> None:
        owner = type(self).__name__
        if self.time_limit is not None and (isinstance(self.time_limit, bool)
                                            or not isinstance(self.time_limit, (int, float)) or self.time_limit <= 0):
            raise bad_value(owner, "time_limit", "a positive number of seconds or None", self.time_limit)
        if self.mip_rel_gap is not None and (isinstance(self.mip_rel_gap, bool)
                                             or not isinstance(self.mip_rel_gap, (int, float))
                                             or not 0 <= self.mip_rel_gap <= 1):
            raise bad_value(owner, "mip_rel_gap", "a number in [0, 1] or None", self.mip_rel_gap)

    # ------------------------------------------------------------ planner and solves
    def _bind(self, scenario: Scenario, protocol: type = Planner) -> Any:
        """The scenario's planner, checked against ``protocol``; starts a fresh solve record."""
        planner = scenario.planner()
        if not isinstance(planner, protocol):
            missing = sorted(name for name in _protocol_members(protocol) if not hasattr(planner, name))
            if protocol is SamplePlanner and isinstance(planner, Planner):
                raise UnsupportedScenarioError(
                    f"{type(self).__name__} cannot be fitted on scenario {scenario.id!r} (family "
                    f"{scenario.family!r}): its planner {type(planner).__name__} builds no sample-average model "
                    f"(it lacks {', '.join(missing)}).")
            raise ConfigurationError(
                f"The planner of scenario {scenario.id!r} ({type(planner).__name__}) must implement the "
                f"{protocol.__name__} protocol of optalloc.formulations.policies. Got one without "
                f"{', '.join(missing)} instead.")
        self._planner = planner
        self._table = scenario.action_table()
        self.solves_: list[SolveRecord] = []
        return planner

    def _solver(self, model: Any) -> Solver:
        """A persistent HiGHS instance for ``model``, loading only the decision variables."""
        return Solver(model, time_limit=self.time_limit, mip_rel_gap=self.mip_rel_gap,
                      load=list(self._planner.decision_variables(model)))

    def _solve(self, solver: Solver, kind: str, epoch: int, what: str) -> SolveResult:
        """Solve, record, and refuse to go on without a solution."""
        result = solver.solve(raise_on_failure=False)
        self.solves_.append(SolveRecord.of(kind, epoch, result))
        if not result.has_solution:
            raise InfeasibleFormulation(
                f"Policy {self.name} ({type(self).__name__}) could not {what}: the model "
                f"{solver.model.local_name!r} ended with status "
                f"{result.status.value} (HiGHS termination {result.termination}, {result.seconds:.3g} s); "
                + ("raise time_limit." if result.status.value == "no_solution"
                   else "the planner's model has no feasible plan from this state."))
        return result

    def _encode(self, counts: np.ndarray) -> np.ndarray:
        """Actions of component counts ``(..., components)``, through the scenario's action table."""
        return np.asarray(self._table.encode(np.asarray(counts)), dtype=np.int64)

    def solve_table(self) -> pd.DataFrame:
        """Every solve so far, one row per :class:`SolveRecord` (columns are its fields)."""
        self._check_fitted()
        return pd.DataFrame([dataclasses.asdict(r) for r in self.solves_], columns=_RECORD_FIELDS)

    # ------------------------------------------------------------ acting elsewhere, persistence
    def _check_can_act(self, scenario: Scenario) -> str | None:
        """The models cover the fitted horizon, and the states the planner says they cover."""
        own = self._scenario
        if scenario.horizon > own.horizon:
            epochs = f"{own.tags.epoch_name}s"  # "years", "steps": the scenario's own word
            return f"its model covers {own.horizon} {epochs}, the scenario has {scenario.horizon}"
        planner = getattr(self, "_planner", None) or own.planner()
        return planner.covers(scenario)

    def _state(self) -> dict[str, Any]:
        state = super()._state()
        state["solves_"] = [dataclasses.asdict(r) for r in self.solves_]
        return state

    def _load_state(self, state: Mapping[str, Any]) -> None:
        super()._load_state(state)
        self.solves_ = [SolveRecord(**r) for r in state.get("solves_", [])]


class _PlanPolicy(_PlannerPolicy):
    """A policy that acts from a fixed plan ``plan_`` (one action per epoch).

    It needs a scenario on which a fixed plan stays feasible (capability ``open_loop``):
    where the feasible actions depend on the noise (patients who may not arrive), a
    plan cannot be acted on.
    """

    tags = PolicyTags(method="math_programming", action_kinds=frozenset(ACTION_KINDS),
                      needs=frozenset({"planner", "open_loop"}))

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        return self.plan_[epochs_of(infos, len(observations))]

    def _check_loaded(self) -> None:
        """``plan_`` must hold one action of the manifest's scenario per epoch."""
        space, horizon = self._scenario.action_space, self._scenario.horizon
        plan = np.asarray(self.plan_)
        if plan.shape != (horizon, *space.shape):
            raise ValueError(f"plan_ has shape {plan.shape}; the scenario has {horizon} epochs of actions "
                             f"of shape {space.shape}")
        outside = [t for t in range(horizon) if not space.contains(plan[t])]
        if outside:
            raise ValueError(f"plan_ holds actions outside {space} (epoch {outside[0]})")

    def _set_plan(self, model: Any, result: SolveResult) -> None:
        self.plan_ = self._encode(self._planner.decision(model))
        self.objective_ = result.objective


# ---------------------------------------------------------------------- the policies
class OpenLoopPolicy(_PlanPolicy):
    """The open-loop plan of the planner's expected-cost model, solved once at fit.

    The plan fixes every epoch's decision at epoch 0 and acts from it by
    ``info["epoch"]``, whatever the state. It is the optimal open-loop plan
    of the planner's model (the exact optimum when the state does not depend
    on the noise).

    Parameters
    ----------
    time_limit : float, optional
        HiGHS time limit of the solve [s].
    mip_rel_gap : float, optional
        Relative MIP gap at which HiGHS stops (dimensionless).

    Attributes
    ----------
    plan_ : ndarray of int, shape (horizon, ...)
        The action of every epoch.
    objective_ : float
        Optimal objective of the model [scenario cost unit].
    solves_ : list of SolveRecord
        The one solve.
    """

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        planner = self._bind(scenario)
        model = planner.build(0)
        self._set_plan(model, self._solve(self._solver(model), "plan", 0, "plan from epoch 0"))


class RollingHorizonPolicy(_PlannerPolicy):
    """Model predictive control: in every epoch, re-solve the planner's model from the current state.

    The plan of the remaining epochs from the observed state is re-computed
    every epoch and its first decision applied (open-loop feedback control).
    Past costs are sunk, so a decision in epoch ``t`` solves the model of
    epochs ``t..horizon-1`` (built on first use, one per ``t``, each with its
    persistent HiGHS instance, its mutable data set by
    :meth:`Planner.update`). Decisions are a deterministic function of
    ``(t, Planner.cache_key)`` and are cached on it.

    Parameters
    ----------
    time_limit : float, optional
        HiGHS time limit per solve [s] (each re-plan is a solve).
    mip_rel_gap : float, optional
        Relative MIP gap at which HiGHS stops (dimensionless).

    Attributes
    ----------
    solves_ : list of SolveRecord
        Every re-plan so far (one per new (epoch, state key)).
    """

    refit_on_load = True

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        planner = self._bind(scenario)
        model = planner.build(0)
        self._models = {0: (model, self._solver(model))}  # one model per start epoch, built on first use
        self._cache: dict[tuple[int, ...], np.ndarray] = {}

    def cache_size(self) -> int:
        """Number of (epoch, state key) decisions solved and cached."""
        self._check_fitted()
        return len(self._cache)

    def _decide(self, epoch: int, key: tuple[int, ...], observation: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        full: Hashable = (epoch, *key)
        if full not in self._cache:
            if epoch not in self._models:
                model = self._planner.build(epoch)
                self._models[epoch] = (model, self._solver(model))
            model, solver = self._models[epoch]
            self._planner.update(model, epoch, observation, info)
            self._solve(solver, "replan", epoch, f"re-plan in epoch {epoch} from the state observed as "
                                                  f"{np.asarray(observation).tolist()}")
            self._cache[full] = self._encode(self._planner.decision(model)[0])
        return self._cache[full]

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        observations = np.asarray(observations)
        t = epochs_of(infos, len(observations))
        actions = np.empty((len(observations), *self._scenario.action_space.shape), dtype=np.int64)
        for epoch in np.unique(t):  # one epoch in a rollout; a user's batch may mix them
            rows = np.flatnonzero(t == epoch)
            keys = np.asarray(self._planner.cache_key(int(epoch), observations[rows]), dtype=np.int64)
            keys = keys.reshape(len(rows), -1)
            # Solve each distinct state once, in key order, on a representative observation.
            unique, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
            decided = np.stack([
                self._decide(int(epoch), tuple(int(k) for k in key), observations[rows[i]],
                             {name: np.asarray(value)[rows[i]] for name, value in infos.items()})
                for key, i in zip(unique, first)])
            actions[rows] = decided[inverse.ravel()]
        return actions


class SAAPolicy(_PlanPolicy):
    """Two-stage sample-average approximation on training noise paths, solved once at fit.

    The first-stage decision is the plan of every epoch; the second stage is
    each path's own cost of that plan. ``fit(scenario, seed=s)`` draws
    ``samples`` paths of the ``"train"`` stream with seed ``s`` (0 if None)
    and solves :meth:`SamplePlanner.build_saa` on them; the policy acts from
    the plan by epoch. Its objective is the in-sample average cost
    (optimistic for the plan's true expected cost).

    Parameters
    ----------
    samples : int
        Training noise paths in the sample average.
    time_limit : float, optional
        HiGHS time limit of the solve [s].
    mip_rel_gap : float, optional
        Relative MIP gap at which HiGHS stops (dimensionless).

    Attributes
    ----------
    plan_ : ndarray of int, shape (horizon, ...)
        The action of every epoch.
    objective_ : float
        Average cost of the plan over the training paths [scenario cost unit].
    solves_ : list of SolveRecord
        The one solve.
    """

    def __init__(self, samples: int = 100, time_limit: float | None = None, mip_rel_gap: float | None = 1e-9) -> None:
        super().__init__(time_limit=time_limit, mip_rel_gap=mip_rel_gap)
        self.samples = samples

    def _validate_params(self) -> None:
        super()._validate_params()
        if isinstance(self.samples, bool) or not isinstance(self.samples, (int, np.integer)) or self.samples < 1:
            raise bad_value(type(self).__name__, "samples", "a positive integer", self.samples)

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        from optalloc.evaluation import check_evaluation_size

        planner = self._bind(scenario, SamplePlanner)
        check_evaluation_size(scenario, int(self.samples))
        noise = scenario.sample_noise(0 if seed is None else seed, int(self.samples), stream="train")
        model = planner.build_saa(noise)
        self._set_plan(model, self._solve(self._solver(model), "saa", 0,
                                          f"plan on {self.samples} training paths"))


class PlannerHindsightPolicy(ActsFromPlans, _PlannerPolicy):
    """Perfect-information bound by the planner's MILP: each episode's plan for its own noise path.

    An oracle: :meth:`reset` receives the batch's noise and solves, per
    episode, the sample-average model of that path alone
    (:meth:`SamplePlanner.build_saa` once, then
    :meth:`SamplePlanner.update_saa` on one persistent model). The mean cost
    is a lower bound on every non-anticipative policy's expected cost. The
    exact perfect-information solve of a scenario that has one
    (:class:`optalloc.policies.hindsight.HindsightPolicy`) gives the same
    costs; the plans may differ only between equally cheap ones.

    Parameters
    ----------
    time_limit : float, optional
        HiGHS time limit per episode's solve [s].
    mip_rel_gap : float, optional
        Relative MIP gap at which HiGHS stops (dimensionless).
    progress : bool
        Show a progress bar over episodes.

    Attributes
    ----------
    solves_ : list of SolveRecord
        One ``"hindsight"`` solve per episode of every batch.
    """

    tags = PolicyTags(method="math_programming", information="oracle", action_kinds=frozenset(ACTION_KINDS),
                      needs=frozenset({"planner"}))
    refit_on_load = True

    def __init__(self, time_limit: float | None = None, mip_rel_gap: float | None = 1e-9,
                 progress: bool = False) -> None:
        super().__init__(time_limit=time_limit, mip_rel_gap=mip_rel_gap)
        self.progress = progress

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        self._bind(scenario, SamplePlanner)
        self._model: tuple[Any, Solver] | None = None
        self._plans: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, noise: Noise | None = None) -> None:
        super().reset(seed=seed, noise=noise)
        if noise is None:
            self._plans = None
            return
        episodes = len(next(iter(noise.values()))) if noise else 0
        order: Any = range(episodes)
        if self.progress:
            from optalloc.progress import progress_bar

            order = progress_bar(order, desc="hindsight MILPs", unit="episode")
        plans = np.empty((episodes, self._scenario.horizon, *self._scenario.action_space.shape), dtype=np.int64)
        for i in order:  # one persistent model: only the path changes between episodes
            path = {key: value[i:i + 1] for key, value in noise.items()}
            if self._model is None:
                model = self._planner.build_saa(path)
                self._model = (model, self._solver(model))
            else:
                self._planner.update_saa(self._model[0], path)
            model, solver = self._model
            self._solve(solver, "hindsight", i, f"solve the perfect-information plan of episode {i}")
            plans[i] = self._encode(self._planner.decision(model))
        self._plans = plans


def _protocol_members(protocol: type) -> list[str]:
    """The members a runtime-checkable protocol asks for (methods and attributes)."""
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass is object or klass.__name__ in ("Generic", "Protocol"):
            continue
        names |= {n for n in vars(klass) if not n.startswith("_")}
        names |= set(getattr(klass, "__annotations__", {}))
    return sorted(names)
