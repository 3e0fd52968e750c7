"""The one solve path of optalloc: Pyomo models solved by persistent HiGHS.

Every mathematical program in :mod:`optalloc.formulations` is solved through
:class:`Solver`, a thin wrapper around ONE persistent HiGHS interface of
``pyomo.contrib.solver`` (registered as ``"highs"``) bound to ONE model.
The first :meth:`Solver.solve` loads the model into HiGHS; later calls only
push what changed (mutable ``Param`` values, fixed variables, added or removed
constraints) through the interface's automatic updates, so a re-solve after
changing data does not rebuild the HiGHS model.

Status conventions (:class:`SolveStatus`):

* ``OPTIMAL`` -- proven optimal (an LP optimum, or a MIP closed to HiGHS's
  default relative gap of 1e-4 or to the tighter gap that was asked for);
* ``FEASIBLE`` -- stopped early with an incumbent: time, iteration or node
  limit, or a MIP stopped by a relative gap looser than the default; the
  solution is loaded and the gap recorded;
* ``INFEASIBLE`` / ``UNBOUNDED`` -- proven so (when HiGHS's presolve only
  says "infeasible or unbounded", the model is solved once more without
  presolve to tell which);
* ``NO_SOLUTION`` -- a limit was hit before any incumbent was found;
* ``ERROR`` -- HiGHS failed.

HiGHS runs silent and, unless asked otherwise, on one thread so runs are
reproducible.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pyomo.environ as pyo  # noqa: F401  (registers the pyomo.contrib.solver plugins)
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import (
    Results,
    SolutionStatus,
    TerminationCondition,
)

from optalloc.exceptions import (
    ConfigurationError,
    DependencyNotInstalled,
    InfeasibleFormulation,
    bad_value,
)

__all__ = ["SolveResult", "SolveStatus", "Solver", "solve"]

#: HiGHS's default relative MIP gap; a MIP that HiGHS calls optimal with a
#: larger gap (because a looser ``mip_rel_gap`` was asked for) is FEASIBLE.
DEFAULT_MIP_REL_GAP = 1e-4

#: Options given to HiGHS on every run (user options override them).
_BASE_OPTIONS: dict[str, Any] = {"output_flag": False, "presolve": "choose"}

#: Thread count the process-wide HiGHS scheduler was started with (None: not yet).
_scheduler_threads: int | None = None


class SolveStatus(StrEnum):
    """Outcome of one solve (see the module docstring for the exact rules)."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    NO_SOLUTION = "no_solution"
    ERROR = "error"

    @property
    def has_solution(self) -> bool:
        """True when a solution was loaded into the model's variables."""
        return self in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)


@dataclass(frozen=True)
class SolveResult:
    """Summary of one HiGHS solve.

    Attributes
    ----------
    status : SolveStatus
        Outcome of the solve.
    termination : str
        Pyomo termination condition name, e.g. ``"convergenceCriteriaSatisfied"``,
        ``"maxTimeLimit"``, ``"provenInfeasible"``.
    objective : float or None
        Objective value of the loaded solution, in the model's objective units;
        None without an incumbent.
    bound : float or None
        Best proven bound on the optimum, in objective units (equal to
        ``objective`` at an LP optimum); None when HiGHS gives none.
    gap : float or None
        Relative gap ``|objective - bound| / |objective|`` (dimensionless;
        0 at an LP optimum, ``inf`` when the objective is 0 and the bound is
        not); None when objective or bound is missing or infinite.
    seconds : float
        Wall-clock time of the solve call, in seconds, including loading or
        updating the model in HiGHS.
    solver : str
        Solver name and version, e.g. ``"highs 1.15.1"``.
    """

    status: SolveStatus
    termination: str
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    solver: str

    @property
    def has_solution(self) -> bool:
        """True when a solution (optimal or feasible) was loaded."""
        return self.status.has_solution


class Solver:
    """One persistent HiGHS instance bound to one Pyomo model, for re-solves.

    Parameters
    ----------
    model : pyomo.core.base.block.BlockData
        The model (usually a ``ConcreteModel``) with exactly one active
        ``Objective``.
    time_limit : float, optional
        Wall-clock limit of each HiGHS run, in seconds; None for no limit.
    mip_rel_gap : float, optional
        Relative MIP gap at which HiGHS stops (dimensionless, >= 0); None
        keeps HiGHS's default (1e-4).
    threads : int, default 1
        HiGHS threads. HiGHS has one process-wide scheduler; it is restarted
        when a solve asks for a different thread count than the previous one.
    options : mapping, optional
        Further HiGHS options (``{"primal_feasibility_tolerance": 1e-9}``),
        applied on every run.
    load : sequence of Var, optional
        Variables whose values are loaded after each solve (default: all).
        Loading only the decisions a caller reads makes frequent re-solves of
        large models cheaper.
    params_only : bool, default False
        Promise that between solves only mutable ``Param`` values change (no
        fixing, bounds, added or removed components). Re-solves then push the
        Params and run HiGHS directly, without the interface's scans of the
        model for changes, its per-solve configuration and its output
        capture: a few milliseconds a solve, which dominate the re-solves of
        small planning models in a rolling policy.

    Attributes
    ----------
    model : pyomo.core.base.block.BlockData
        The bound model.
    history : list of SolveResult
        Every solve of this instance, oldest first.

    Notes
    -----
    Change the model between solves through mutable ``Param`` values, variable
    bounds and fixing, or by adding/deactivating constraints; the persistent
    interface pushes only those changes to HiGHS. :attr:`builds` counts how
    often the model was loaded from scratch (1 after any number of solves).
    """

    def __init__(
        self,
        model: Any,
        *,
        time_limit: float | None = None,
        mip_rel_gap: float | None = None,
        threads: int = 1,
        options: Mapping[str, Any] | None = None,
        load: Sequence[Any] | None = None,
        params_only: bool = False,
    ) -> None:
        self.model = model
        self._load = None if load is None else [v for var in load for v in var.values()]
        self.time_limit = _check_time_limit(time_limit)
        self.mip_rel_gap = _check_gap(mip_rel_gap)
        self.threads = _check_threads(threads)
        self.options: dict[str, Any] = {**_BASE_OPTIONS, **dict(options or {})}
        self.history: list[SolveResult] = []
        self._interface = _make_interface()
        self._builds = 0
        self.params_only = bool(params_only)
        self._columns: tuple[list[Any], np.ndarray] | None = None  # load variables and their HiGHS columns
        if self.params_only:
            updates = self._interface.config.auto_updates
            for name in ("check_for_new_or_removed_constraints", "check_for_new_or_removed_vars",
                         "check_for_new_or_removed_params", "check_for_new_objective", "update_constraints",
                         "update_vars", "update_named_expressions", "update_objective"):
                setattr(updates, name, False)

    @property
    def interface(self) -> Any:
        """The underlying ``pyomo.contrib.solver`` HiGHS interface (for duals etc.)."""
        return self._interface

    @property
    def builds(self) -> int:
        """Number of times the model was loaded into HiGHS from scratch."""
        return self._builds

    @property
    def version(self) -> str:
        """Solver name and version, e.g. ``"highs 1.15.1"``."""
        return "highs " + ".".join(str(part) for part in self._interface.version())

    def solve(self, *, raise_on_failure: bool = True) -> SolveResult:
        """Solve (or re-solve) the bound model and load the solution.

        Parameters
        ----------
        raise_on_failure : bool, default True
            Raise :class:`~optalloc.exceptions.InfeasibleFormulation` when no
            solution is available (infeasible, unbounded, no incumbent at the
            limit, solver error). The result is recorded in :attr:`history`
            before raising.

        Returns
        -------
        SolveResult
            Status, objective, bound, gap and timing of this solve.
        """
        _check_single_objective(self.model)
        use_threads(self.threads)
        start = time.perf_counter()
        results = self._run(self.options)
        if results.termination_condition == TerminationCondition.infeasibleOrUnbounded:
            results = self._run({**self.options, "presolve": "off"})
        seconds = time.perf_counter() - start

        result = self._summarise(results, seconds)
        if result.status.has_solution:
            results.solution_loader.load_vars(self._load)
        self.history.append(result)
        if raise_on_failure and not result.status.has_solution:
            raise InfeasibleFormulation(_failure_message(self.model, result))
        return result

    def _run(self, options: Mapping[str, Any]) -> Results:
        """Run HiGHS once on the bound model (load it the first time)."""
        if self.params_only and self._builds and _has_direct_path(self._interface):
            return self._rerun_direct(options)
        results = self._interface.solve(
            self.model,
            tee=False,
            load_solutions=False,
            raise_exception_on_nonoptimal_result=False,
            threads=self.threads,
            # The interface sets only the limits it is given, so "no limit" after a limited solve is inf.
            time_limit=math.inf if self.time_limit is None else self.time_limit,
            rel_gap=DEFAULT_MIP_REL_GAP if self.mip_rel_gap is None else self.mip_rel_gap,
            solver_options=dict(options),
        )
        timer = results.timing_info.timer
        if timer is not None and "set_instance" in timer.timers:
            self._builds += 1
        return results

    def _rerun_direct(self, options: Mapping[str, Any]) -> Any:
        """Re-solve a loaded model whose Params alone changed: push them, run HiGHS, read its outcome.

        The interface's own solve would also walk the model for changes and, to build its results, for
        import suffixes: milliseconds a solve. HiGHS is silent (``output_flag`` is off), so nothing is
        captured either.
        """
        interface = self._interface
        interface.update_parameters()
        highs = interface._solver_model
        highs.setOptionValue("threads", self.threads)
        highs.setOptionValue("time_limit", math.inf if self.time_limit is None else float(self.time_limit))
        highs.setOptionValue("mip_rel_gap", DEFAULT_MIP_REL_GAP if self.mip_rel_gap is None else self.mip_rel_gap)
        for key, option in options.items():
            highs.setOptionValue(key, option)
        highs.run()
        if self._columns is None:
            index = interface._pyomo_var_to_solver_var_map
            variables = self._load if self._load is not None else [v for v, *_ in interface._vars.values()]
            self._columns = (list(variables), np.array([index[id(v)] for v in variables], dtype=np.int64))
        return _DirectResults(highs, *self._columns)

    def _summarise(self, results: Results, seconds: float) -> SolveResult:
        """Turn Pyomo results into a :class:`SolveResult`."""
        objective = _as_float(results.incumbent_objective)
        bound = _as_float(results.objective_bound)
        gap = _relative_gap(objective, bound)
        return SolveResult(
            status=self._status(results, gap),
            termination=results.termination_condition.name,
            objective=objective,
            bound=bound,
            gap=gap,
            seconds=seconds,
            solver=self.version,
        )

    def _status(self, results: Results, gap: float | None) -> SolveStatus:
        """Map Pyomo's termination condition and solution status to a SolveStatus."""
        condition = results.termination_condition
        has_incumbent = results.solution_status in (
            SolutionStatus.optimal,
            SolutionStatus.feasible,
        )
        if condition == TerminationCondition.convergenceCriteriaSatisfied:
            loosened = self.mip_rel_gap is not None and self.mip_rel_gap > DEFAULT_MIP_REL_GAP
            if loosened and gap is not None and gap > DEFAULT_MIP_REL_GAP:
                return SolveStatus.FEASIBLE
            return SolveStatus.OPTIMAL
        if condition in (
            TerminationCondition.provenInfeasible,
            TerminationCondition.locallyInfeasible,
            TerminationCondition.infeasibleOrUnbounded,
        ):
            return SolveStatus.INFEASIBLE
        if condition == TerminationCondition.unbounded:
            return SolveStatus.UNBOUNDED
        if condition == TerminationCondition.error:
            return SolveStatus.ERROR
        if has_incumbent:
            return SolveStatus.FEASIBLE
        if condition == TerminationCondition.unknown:
            return SolveStatus.ERROR
        return SolveStatus.NO_SOLUTION


def solve(
    model: Any,
    *,
    time_limit: float | None = None,
    mip_rel_gap: float | None = None,
    raise_on_failure: bool = True,
    threads: int = 1,
    options: Mapping[str, Any] | None = None,
) -> SolveResult:
    """Solve a model once with HiGHS and load the solution.

    Parameters
    ----------
    model : pyomo.core.base.block.BlockData
        Model with exactly one active ``Objective``.
    time_limit : float, optional
        Wall-clock limit, in seconds.
    mip_rel_gap : float, optional
        Relative MIP gap at which to stop (dimensionless).
    raise_on_failure : bool, default True
        Raise :class:`~optalloc.exceptions.InfeasibleFormulation` when no
        solution is available; otherwise return the result with its status.
    threads : int, default 1
        HiGHS threads.
    options : mapping, optional
        Further HiGHS options.

    Returns
    -------
    SolveResult
        Status, objective, bound, gap and timing.
    """
    solver = Solver(
        model,
        time_limit=time_limit,
        mip_rel_gap=mip_rel_gap,
        threads=threads,
        options=options,
    )
    return solver.solve(raise_on_failure=raise_on_failure)


class _DirectSolution:
    """Loads the primal values of a direct re-solve into the variables (``load_vars`` of Pyomo's loaders)."""

    def __init__(self, values: np.ndarray | None, variables: list[Any]) -> None:
        self._values, self._variables = values, variables

    def load_vars(self, variables: Sequence[Any] | None = None) -> None:
        # ``variables`` is the solver's own ``load`` list or None: the columns were indexed for exactly those.
        if self._values is None:
            raise InfeasibleFormulation("HiGHS holds no primal solution to load.")
        for var, val in zip(self._variables, self._values.tolist()):
            var.set_value(val, skip_validation=True)


class _DirectResults:
    """What :meth:`Solver._summarise` reads of a Pyomo ``Results``, read from HiGHS after a direct re-solve.

    The status mapping and the bound follow the HiGHS interface of ``pyomo.contrib.solver`` (an LP's bound
    is its optimal objective, a MIP's is HiGHS's dual bound), so both paths report a solve alike.
    """

    def __init__(self, highs: Any, variables: list[Any], columns: np.ndarray) -> None:
        import highspy

        status, info = highs.getModelStatus(), highs.getInfo()
        self.termination_condition = _TERMINATION.get(highspy.HighsModelStatus(status).name,
                                                      TerminationCondition.unknown)
        feasible = info.primal_solution_status == 2
        optimal = status == highspy.HighsModelStatus.kOptimal
        self.solution_status = (SolutionStatus.optimal if optimal else
                                SolutionStatus.feasible if feasible else SolutionStatus.noSolution)
        self.incumbent_objective = info.objective_function_value if feasible else None
        if info.mip_node_count == -1:
            self.objective_bound = info.objective_function_value if feasible and optimal else None
        else:
            self.objective_bound = info.mip_dual_bound
        values = np.asarray(highs.getSolution().col_value)[columns] if feasible else None
        self.solution_loader = _DirectSolution(values, variables)


#: HiGHS model statuses (by name) as the termination conditions of ``pyomo.contrib.solver``; others: unknown.
_TERMINATION: dict[str, TerminationCondition] = {
    "kOptimal": TerminationCondition.convergenceCriteriaSatisfied,
    "kInfeasible": TerminationCondition.provenInfeasible,
    "kUnboundedOrInfeasible": TerminationCondition.infeasibleOrUnbounded,
    "kUnbounded": TerminationCondition.unbounded,
    "kObjectiveBound": TerminationCondition.objectiveLimit,
    "kObjectiveTarget": TerminationCondition.objectiveLimit,
    "kTimeLimit": TerminationCondition.maxTimeLimit,
    "kIterationLimit": TerminationCondition.iterationLimit,
    "kSolutionLimit": TerminationCondition.iterationLimit,
    **{name: TerminationCondition.error for name in
       ("kLoadError", "kModelError", "kPresolveError", "kSolveError", "kPostsolveError")},
}


def _has_direct_path(interface: Any) -> bool:
    """Whether ``interface`` offers what :meth:`Solver._rerun_direct` uses (a loaded HiGHS, its postsolve).

    These are the HiGHS interface's own members, not its public API: when a Pyomo release renames them the
    re-solves take the interface's full path, slower and alike in their results.
    """
    return (getattr(interface, "_solver_model", None) is not None and hasattr(interface, "update_parameters")
            and isinstance(getattr(interface, "_pyomo_var_to_solver_var_map", None), dict)
            and isinstance(getattr(interface, "_vars", None), dict))


def _make_interface() -> Any:
    """Create a persistent HiGHS interface, or say how to install HiGHS."""
    try:
        interface = SolverFactory("highs")
    except Exception as err:  # pragma: no cover - depends on the installation
        raise DependencyNotInstalled(
            "The HiGHS interface of pyomo.contrib.solver is not registered; "
            "install pyomo>=6.9 and highspy (pip install highspy)."
        ) from err
    if not interface.available():
        raise DependencyNotInstalled(
            "HiGHS is not available to Pyomo; install it with 'pip install highspy'."
        )
    return interface


def use_threads(threads: int) -> None:
    """Restart HiGHS's process-wide scheduler when the thread count changes.

    HiGHS refuses to run with a ``threads`` option different from the one its
    global scheduler was started with, so switching needs a reset.
    """
    global _scheduler_threads
    if _scheduler_threads is not None and _scheduler_threads != threads:
        import highspy

        highspy.Highs.resetGlobalScheduler(True)
    _scheduler_threads = threads


def _check_single_objective(model: Any) -> None:
    """Reject a model without exactly one active objective."""
    count = sum(1 for _ in model.component_data_objects(pyo.Objective, active=True))
    if count != 1:
        raise ConfigurationError(
            f"The model {model.name!r} given to Solver must have exactly one active "
            f"Objective. Got {count} instead (formulation blocks expose a 'cost' "
            "expression; add Objective(expr=block.cost) to the model)."
        )


def _check_time_limit(time_limit: float | None) -> float | None:
    if time_limit is None:
        return None
    if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)):
        raise bad_value("Solver", "time_limit", "a positive number of seconds or None", time_limit)
    if not (time_limit > 0 and math.isfinite(time_limit)):
        raise bad_value("Solver", "time_limit", "a positive number of seconds or None", time_limit)
    return float(time_limit)


def _check_gap(gap: float | None) -> float | None:
    if gap is None:
        return None
    if isinstance(gap, bool) or not isinstance(gap, (int, float)) or not 0 <= gap <= 1:
        raise bad_value("Solver", "mip_rel_gap", "a number in [0, 1] or None", gap)
    return float(gap)


def _check_threads(threads: int) -> int:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise bad_value("Solver", "threads", "a positive integer", threads)
    return threads


def _as_float(number: float | None) -> float | None:
    return None if number is None else float(number)


def _relative_gap(objective: float | None, bound: float | None) -> float | None:
    """Relative gap ``|objective - bound| / |objective|`` (None if undefined)."""
    if objective is None or bound is None:
        return None
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return None
    difference = abs(objective - bound)
    if difference == 0.0:
        return 0.0
    if objective == 0.0:
        return math.inf
    return difference / abs(objective)


def _failure_message(model: Any, result: SolveResult) -> str:
    return (
        f"The model {model.name!r} could not be solved: status {result.status.value} "
        f"(HiGHS termination {result.termination}, {result.solver}, "
        f"{result.seconds:.3g} s)."
    )
