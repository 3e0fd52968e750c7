"""Solve one rostering instance with the :class:`NurseRoster` block: the plain MIP, or MIP plus search.

Two methods:

* ``"mip"`` -- the block alone, solved once by HiGHS through
  :class:`~optalloc.formulations.solve.Solver` within the time limit;
* ``"lns"`` (the default) -- a constructive start
  (:func:`~optalloc.formulations.staff.roster_search.construct_roster`) given
  to HiGHS as its start on the full model for ``first_fraction`` of the time
  limit (enough to prove the small instances optimal; it gives a bound);
  then, unless that roster is already within ``switch_gap`` of the bound
  (the full model then gets the rest of the time), the large-neighbourhood
  search of :class:`~optalloc.formulations.staff.roster_search.NeighbourhoodSearch`
  on the same persistent model; the full model once more, from the best
  roster, for the rest of the time when the search stalls (no gain for
  ``stall_fraction`` of the time limit) on a model whose first solve got past
  the root node, or for ``final_fraction`` of it at the end. Without a time limit
  the full model is solved to optimality from the start and no search runs.

Whatever the method, the roster reported is re-scored: the block's cover
slacks are set to the roster's own shortfall and surplus
(:func:`~optalloc.formulations.staff.roster.tighten_slacks`) and the
objective is the block's ``cost`` there, so a time-limited incumbent that
carried both slacks on one row is not over-counted; the bound is the full
model's (a proper lower bound) and the gap is taken against it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pyomo.environ import value

from optalloc.exceptions import bad_value
from optalloc.families.staff.roster_check import score_roster
from optalloc.families.staff.roster_data import RosterData
from optalloc.formulations.solve import DEFAULT_MIP_REL_GAP, Solver, SolveResult, SolveStatus
from optalloc.formulations.staff.roster import build_model, roster, tighten_slacks
from optalloc.formulations.staff.roster_search import (
    NeighbourhoodSearch,
    SearchResult,
    construct_roster,
    offer_start,
)

__all__ = ["METHODS", "RosterSolve", "checker_score", "solve_roster"]

#: Solution methods of :func:`solve_roster`.
METHODS = ("lns", "mip")
#: Time limit of the solve that only loads the model into HiGHS [s].
_LOAD_ONLY = 1e-3
#: Least time of the first solve of the full model [s], where the time limit leaves room for it (at most
#: :data:`_FIRST_CAP` of it): on Instance 8 (30 nurses) 5 % of 20 s stops HiGHS before its root LP, and the
#: bound reported is 19 instead of 1,270; HiGHS 1.16 reaches the end of that root LP after about 2.5 s.
_FIRST_FLOOR = 4.0
_FIRST_CAP = 0.15


@dataclass
class RosterSolve:
    """The outcome of :func:`solve_roster`.

    Attributes
    ----------
    result : SolveResult
        Status, re-scored objective, bound of the full model, gap, total seconds.
    roster : ndarray of int, shape (N, D), or None
        The best roster (shift index or ``-1``); None without one.
    build_seconds : float
        Building the Pyomo model [s].
    handoff_seconds : float
        Loading it into HiGHS (Pyomo's hand-off) [s].
    highs_seconds : float
        HiGHS's own run time over every solve of the full model and the neighbourhoods [s].
    construct_seconds : float
        The constructive start [s] (0 for ``"mip"``).
    best_seconds : float
        When the reported roster's score was first reached, since the start of the solve [s].
    full : SolveResult or None
        The solve of the full model (its bound is the one reported).
    search : SearchResult or None
        The neighbourhood search, when it ran.
    """

    result: SolveResult
    roster: np.ndarray | None
    build_seconds: float = 0.0
    handoff_seconds: float = 0.0
    highs_seconds: float = 0.0
    construct_seconds: float = 0.0
    best_seconds: float = 0.0
    full: SolveResult | None = None
    search: SearchResult | None = None


def checker_score(data: RosterData) -> Callable[[np.ndarray], float | None]:
    """``score(roster)``: the independent checker's objective [penalty points], None if a hard rule is broken."""

    def score(table: np.ndarray) -> float | None:
        checked = score_roster(data, table)
        return checked.objective if checked.feasible else None

    return score


def solve_roster(data: RosterData, *, method: str = "lns", time_limit: float | None = None,
                 mip_rel_gap: float | None = None, threads: int = 1, seed: int = 0,
                 first_fraction: float = 0.05, final_fraction: float = 0.0, switch_gap: float = 0.01,
                 stall_fraction: float = 0.1,
                 score: Callable[[np.ndarray], float | None] | None = None) -> RosterSolve:
    """Build the :class:`NurseRoster` model of ``data`` and solve it.

    Parameters
    ----------
    data : RosterData
        The instance.
    method : {"lns", "mip"}, default "lns"
        See the module docstring.
    time_limit : float, optional
        Wall-clock limit of the whole solve, construction and search included [s]; None: none
        (the full model is solved to optimality).
    mip_rel_gap : float, optional
        Relative gap at which HiGHS (and the search, against the full model's bound) stops;
        None: HiGHS's default, 1e-4.
    threads : int, default 1
        HiGHS threads.
    seed : int, default 0
        Seed of the neighbourhood choice.
    first_fraction : float, default 0.05
        Share of the time limit given to the full model before the search (``"lns"``), in (0, 1):
        on the benchmark (120 s), enough for HiGHS to prove Instances 1-3 optimal and for the root
        bound of the larger ones, whose time is better spent by the search. Never less than 4 s
        where that is at most 15 % of the time limit (short limits would end before the root LP).
    final_fraction : float, default 0
        Share given to the full model again after the search, from the best roster, in [0, 1);
        0: none (on the benchmark the search makes better use of the time than a second
        branch and bound that restarts from the root).
    switch_gap : float, default 0.01
        When the best roster after the first solve of the full model is within this relative gap of
        its bound, the rest of the time goes to the full model again (from that roster) instead of the
        search: branch and bound is then close to a proof, which the search cannot give.
    stall_fraction : float, default 0.1
        The search stops when its score has not fallen for this share of the time limit, in (0, 1],
        and the rest of the time goes to the full model, from the best roster; only when the first
        solve of the full model got past its root node (elsewhere branch and bound makes too little
        progress in the time left). Where the search is stuck in a local optimum (on the benchmark,
        Instance 4), branch and bound from a good incumbent finds what it misses.
    score : callable, optional
        ``score(roster) -> float or None`` by which the search keeps rosters; default
        :func:`checker_score` (the independent checker).

    Returns
    -------
    RosterSolve
        The result, the roster and the timings.
    """
    if method not in METHODS:
        raise bad_value("solve_roster", "method", f"one of {', '.join(map(repr, METHODS))}", method)
    if not 0 < first_fraction < 1:
        raise bad_value("solve_roster", "first_fraction", "a fraction in (0, 1)", first_fraction)
    if not 0 < stall_fraction <= 1:
        raise bad_value("solve_roster", "stall_fraction", "a fraction in (0, 1]", stall_fraction)
    if not 0 <= final_fraction < 1 or first_fraction + final_fraction >= 1:
        raise bad_value("solve_roster", "final_fraction", "a fraction in [0, 1), with first_fraction below 1",
                        final_fraction)
    began = time.perf_counter()
    deadline = math.inf if time_limit is None else began + time_limit
    score = score if score is not None else checker_score(data)

    start, construct_seconds = None, 0.0
    if method == "lns":
        # A nurse's own problem is small; the limit only guards against a pathological one.
        per_nurse = None if time_limit is None else max(0.05, 0.05 * time_limit / max(data.n_nurses, 1))
        # One round of re-scheduling each nurse against all the others: on the benchmark it removes a
        # good part of the start's under-cover in about the time of the construction.
        start = construct_roster(data, time_limit=per_nurse, passes=1)
        construct_seconds = time.perf_counter() - began
        if start is not None and score(start) is None:
            start = None

    built = time.perf_counter()
    model = build_model(data)
    block = model.roster
    build_seconds = time.perf_counter() - built
    solver = Solver(model, time_limit=_LOAD_ONLY, mip_rel_gap=mip_rel_gap, threads=threads)
    load = solver.solve(raise_on_failure=False)
    handoff_seconds = load.seconds - _highs_seconds(solver)
    best = _Best(score, start, began)

    searching = method == "lns" and start is not None and time_limit is not None
    if time_limit is None:
        first_limit = None
    elif searching:
        first_limit = max(first_fraction * time_limit, min(_FIRST_FLOOR, _FIRST_CAP * time_limit))
    else:
        first_limit = deadline - time.perf_counter()
    first = _full_solve(solver, block, best, first_limit)
    tree_nodes = _tree_nodes(solver)
    bound = first.bound
    last = first
    search = None
    if searching and not _proven(first, best) and _gap(best.score, bound) <= switch_gap:
        last = _full_solve(solver, block, best, deadline - time.perf_counter())
        if last.bound is not None and (bound is None or last.bound > bound):
            bound = last.bound
    elif searching and not _proven(first, best):
        final_time = final_fraction * time_limit
        searcher = NeighbourhoodSearch(solver, block, score=score, seed=seed)
        # Branch and bound can only take over from a stalled search where its tree grows within the
        # time: where the first solve did not get past the root, the search keeps all the time.
        patience = stall_fraction * time_limit if tree_nodes > 0 else math.inf
        search = searcher.run(best.roster, deadline - final_time, target=_target(bound, mip_rel_gap, data),
                              patience=patience)
        if search.improvements and search.objective < best.score:
            best.offer(search.roster)
            best.seconds = search.trace[-1][0] + (search.began - began)
        if (final_fraction > 0 or search.stalled) and best.score > _target(bound, mip_rel_gap, data):
            # The full model again, from the best roster: its bound may rise and it may prove the roster optimal.
            last = _full_solve(solver, block, best, deadline - time.perf_counter())
            if last.bound is not None and (bound is None or last.bound > bound):
                bound = last.bound
    full = dataclasses.replace(last, bound=bound)
    result = _result(full, block, best.roster, time.perf_counter() - began, mip_rel_gap)
    return RosterSolve(result=result, roster=best.roster, build_seconds=build_seconds,
                       handoff_seconds=handoff_seconds, highs_seconds=_highs_seconds(solver),
                       construct_seconds=construct_seconds, best_seconds=best.seconds, full=first, search=search)


class _Best:
    """The best feasible roster seen, by ``score``."""

    def __init__(self, score: Callable[[np.ndarray], float | None], start: np.ndarray | None,
                 began: float) -> None:
        self.score_of = score
        self.began = began
        self.roster: np.ndarray | None = None
        self.score = math.inf
        self.seconds = 0.0  # when the best score was first reached, since ``began`` [s]
        if start is not None:
            self.offer(start)

    def offer(self, table: np.ndarray) -> bool:
        """Keep ``table`` if it is feasible and no worse than the best; True if kept."""
        value_ = self.score_of(table)
        if value_ is None or value_ > self.score:
            return False
        if value_ < self.score:
            self.seconds = time.perf_counter() - self.began
        self.roster, self.score = np.array(table, dtype=int), float(value_)
        return True


def _full_solve(solver: Solver, block: object, best: _Best, seconds: float | None) -> SolveResult:
    """Solve the full model (from the best roster, if any) for ``seconds``; offer its roster to ``best``.

    When the roster HiGHS ends with is kept as a new best, ``best.seconds`` is when HiGHS first
    found an incumbent of its score (read from HiGHS's improving-solution callback), not when
    the solve returned.
    """
    if best.roster is not None:
        block.load_roster(best.roster)
        offer_start(solver)
    # math.inf, not None, for no limit: HiGHS keeps its last time limit when Pyomo passes none.
    solver.time_limit = math.inf if seconds is None else max(_LOAD_ONLY, seconds)
    found: list[tuple[float, float]] = []  # (time since best.began [s], HiGHS objective [penalty points])

    def record(event: object) -> None:
        found.append((time.perf_counter() - best.began, float(event.data_out.objective_function_value)))

    highs = getattr(solver.interface, "_solver_model", None)
    callback = getattr(highs, "cbMipImprovingSolution", None)
    if callback is not None:
        callback.subscribe(record)
    try:
        outcome = solver.solve(raise_on_failure=False)
    finally:
        if callback is not None:
            callback.unsubscribe(record)
    previous = best.score
    if outcome.has_solution and best.offer(roster(block)) and best.score < previous:
        # HiGHS's objective may overstate a time-limited incumbent's score (both slacks of a cover row), never
        # understate it: the first incumbent at or below the score is when it was reached.
        best.seconds = next((at for at, objective in found if objective <= best.score + 1e-6), best.seconds)
    return outcome


def _tree_nodes(solver: Solver) -> int:
    """Branch-and-bound nodes of HiGHS's last solve on this solver's model (0 if not exposed)."""
    highs = getattr(solver.interface, "_solver_model", None)
    return max(int(highs.getInfo().mip_node_count), 0) if highs is not None else 0


def _gap(score: float, bound: float | None) -> float:
    """Relative gap of a score to a bound (inf without either)."""
    gap = None if not math.isfinite(score) else _relative_gap(score, bound)
    return math.inf if gap is None else gap


def _proven(outcome: SolveResult, best: _Best) -> bool:
    """True when the solve proved the best roster optimal."""
    return outcome.status == SolveStatus.OPTIMAL and outcome.objective is not None \
        and best.score <= outcome.objective + 1e-6


def _target(bound: float | None, mip_rel_gap: float | None, data: RosterData) -> float:
    """The score at which the search may stop: within the gap of the bound (rounded up for integer weights)."""
    if bound is None or not math.isfinite(bound):
        return -math.inf
    gap = DEFAULT_MIP_REL_GAP if mip_rel_gap is None else mip_rel_gap
    weights = np.concatenate([np.ravel(data.on_weight), np.ravel(data.off_weight), np.ravel(data.under_weight),
                              np.ravel(data.over_weight)])
    lowest = math.ceil(bound - 1e-6) if np.all(weights == np.round(weights)) else bound
    # Any score s with (s - bound) / s <= gap is good enough: s <= bound / (1 - gap).
    return max(lowest, bound / (1 - gap) if gap < 1 else math.inf)


def _result(full: SolveResult, block: object, best: np.ndarray | None, seconds: float,
            mip_rel_gap: float | None) -> SolveResult:
    """The full model's result with the best roster's re-scored objective, the gap to the bound, all the time."""
    if best is None:
        return dataclasses.replace(full, seconds=seconds)
    block.load_roster(best)
    tighten_slacks(block)
    objective = float(value(block.cost))
    gap = _relative_gap(objective, full.bound)
    # As for the solver: optimal within HiGHS's default gap or a tighter one asked for, not a looser one.
    tolerance = DEFAULT_MIP_REL_GAP if mip_rel_gap is None else min(mip_rel_gap, DEFAULT_MIP_REL_GAP)
    closed = gap is not None and gap <= max(tolerance, 1e-9)
    if full.status == SolveStatus.OPTIMAL and math.isclose(objective, full.objective or math.nan, rel_tol=1e-9,
                                                            abs_tol=1e-6):
        status, termination = full.status, full.termination
    elif closed:
        status, termination = SolveStatus.OPTIMAL, "convergenceCriteriaSatisfied"
    else:
        status = SolveStatus.FEASIBLE
        termination = full.termination if full.status == SolveStatus.FEASIBLE else "maxTimeLimit"
    return dataclasses.replace(full, status=status, termination=termination, objective=objective, gap=gap,
                               seconds=seconds)


def _relative_gap(objective: float, bound: float | None) -> float | None:
    """``|objective - bound| / |objective|`` (None without a finite bound; inf for objective 0 and a gap)."""
    if bound is None or not math.isfinite(bound):
        return None
    difference = abs(objective - bound)
    if difference <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return math.inf if objective == 0 else difference / abs(objective)


def _highs_seconds(solver: Solver) -> float:
    """HiGHS's own run time so far on this solver's model [s] (0 if the interface does not expose it)."""
    highs = getattr(solver.interface, "_solver_model", None)
    return float(highs.getRunTime()) if highs is not None else 0.0
