"""A constructive start and a MIP-based large-neighbourhood search (LNS) for the :class:`NurseRoster` block.

HiGHS proves the small benchmark instances optimal, but on the larger ones
(Instance 5 and up) it finds few incumbents in minutes. Two heuristics built
on the same block narrow that distance:

* :func:`construct_roster` -- nurse by nurse, the best schedule of one nurse
  under all her hard rules, priced by the cover still missing after the nurses
  before her (working a shift that is short earns its under-cover weight,
  working one that is full costs its over-cover weight); optionally rounds in
  which each nurse in turn is re-scheduled against all the others (her exact
  marginal price, so a round never raises the score). Each nurse's problem is
  built directly in highspy. Cover is the only rule that couples nurses and
  it is soft, so the result is always feasible when every nurse has some
  feasible schedule.
* :class:`NeighbourhoodSearch` -- on the full model and one persistent
  :class:`~optalloc.formulations.solve.Solver`: fix the assignment variables
  of most nurses and days to the best roster (through their bounds, which the
  persistent interface pushes to HiGHS without a rebuild), re-optimise the
  rest with the best roster as HiGHS's start, and keep the result when it
  is no worse (by the independent checker's score, when given). The free
  parts: a few nurses over the whole horizon; all nurses over a window
  around a day drawn by its penalty; all nurses over two short windows, one
  around a day short of cover and one around a day with surplus or broken
  requests (a shift can move from one to the other while every nurse keeps
  her total); a block of nurses and days; a short shift (one with
  under-cover, drawn by its penalty) with the nurses who could still work
  more of its type over the whole horizon and all nurses over a window
  around it (where a scarce shift type is short, some nurse must take one
  more of it and give up a day elsewhere). Each kind is tried once, then
  drawn by its recent success rate (seeded, so the same HiGHS outcomes give
  the same choices). Each kind's neighbourhoods grow when HiGHS proves them
  optimal without a gain and shrink when it runs out of time.

Neither gives a bound: the bound of a search is that of a solve of the full
model.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pyomo.environ import value

from optalloc.families.staff.roster_check import score_roster
from optalloc.families.staff.roster_data import OFF, RosterData
from optalloc.formulations.solve import Solver, SolveStatus
from optalloc.formulations.staff.roster import NurseRosterData, cell_bounds, roster
from optalloc.formulations.staff.roster_highspy import build_highs, solve_highs

__all__ = ["NeighbourhoodSearch", "SearchResult", "construct_roster", "nurse_data", "offer_start"]

#: Neighbourhood kinds (each is tried once first, in this order, then drawn by its recent success).
KINDS = ("nurses", "pair", "days", "block", "short")
#: HiGHS options of every neighbourhood's solve: each starts from the incumbent, and where a
#: neighbourhood cannot be closed within its time limit, the improving rosters come from the
#: primal heuristics (on the benchmark, more effort than HiGHS's default 0.05 finds them sooner).
SUB_OPTIONS: dict[str, object] = {"mip_heuristic_effort": 0.3}
#: Weight of the latest outcome in a kind's success rate (an exponential average over neighbourhoods).
_RATE_STEP = 0.2
#: Least chance of a kind, whatever its rate, so that a kind that failed early is tried again.
_RATE_FLOOR = 0.05


def nurse_data(data: RosterData, nurse: int, cover: np.ndarray) -> RosterData:
    """The instance restricted to one nurse, with ``cover`` as the cover wanted from her.

    Parameters
    ----------
    data : RosterData
        The instance.
    nurse : int
        Nurse index.
    cover : ndarray of int, shape (D, K)
        Cover still wanted [nurses]; 0 where the shift is already full.

    Returns
    -------
    RosterData
        One nurse, same days, shifts and cover weights.
    """
    one = slice(nurse, nurse + 1)
    return dataclasses.replace(
        data, name=f"{data.name}:{data.nurse_ids[nurse]}", nurse_ids=(data.nurse_ids[nurse],),
        max_shifts=data.max_shifts[one], max_minutes=data.max_minutes[one], min_minutes=data.min_minutes[one],
        max_consecutive=data.max_consecutive[one], min_consecutive=data.min_consecutive[one],
        min_consecutive_off=data.min_consecutive_off[one], max_weekends=data.max_weekends[one],
        days_off=data.days_off[one], on_weight=data.on_weight[one], off_weight=data.off_weight[one],
        cover=np.asarray(cover, dtype=np.int64))


def _best_schedule(data: RosterData, nurse: int, missing: np.ndarray, time_limit: float | None) -> np.ndarray | None:
    """The best schedule of one nurse when ``missing`` is the cover the others leave; None without one."""
    # The direct highspy build: a Pyomo build per nurse would cost more than her solve.
    model = build_highs(nurse_data(data, nurse, missing))
    _, objective, _, _ = solve_highs(model, time_limit=time_limit)
    return None if objective is None else model.roster()[0]


def construct_roster(data: RosterData, *, order: Sequence[int] | None = None,
                     time_limit: float | None = None, passes: int = 0) -> np.ndarray | None:
    """A feasible roster built nurse by nurse, each priced by the cover the nurses before her left.

    Parameters
    ----------
    data : RosterData
        The instance.
    order : sequence of int, optional
        Order in which the nurses are scheduled; default ``0..N-1``.
    time_limit : float, optional
        Wall-clock limit of each nurse's solve [s]; her best schedule found by then is kept.
    passes : int, default 0
        Rounds of re-scheduling after the construction: each nurse in turn gets her best
        schedule given all the others (the cover they leave is her exact marginal price, so
        a round never raises the score while each nurse's solve is optimal).

    Returns
    -------
    ndarray of int, shape (N, D), or None
        The roster (shift index or ``-1``); None when some nurse has no feasible schedule
        (or none was found within the limit).
    """
    order = list(range(data.n_nurses) if order is None else order)
    cover = np.asarray(data.cover)
    table = np.full((data.n_nurses, data.days), OFF, dtype=int)
    staffed = np.zeros((data.days, data.n_shifts), dtype=int)

    def count(n: int, sign: int) -> None:
        worked = np.flatnonzero(table[n] != OFF)
        np.add.at(staffed, (worked, table[n, worked]), sign)

    for n in order:
        schedule = _best_schedule(data, n, np.maximum(cover - staffed, 0), time_limit)
        if schedule is None:
            return None
        table[n] = schedule
        count(n, 1)
    for _ in range(passes):
        changed = False
        for n in order:
            count(n, -1)
            # Surplus the others already give makes her working there cost the over-cover weight: clip at 0.
            missing = np.maximum(cover - staffed, 0)
            schedule = _best_schedule(data, n, missing, time_limit)
            if schedule is not None and not np.array_equal(schedule, table[n]):
                alone = nurse_data(data, n, missing)
                # A time-limited solve may return a worse schedule than hers: keep only a gain.
                if score_roster(alone, schedule[None]).objective < score_roster(alone, table[n][None]).objective:
                    table[n], changed = schedule, True
            count(n, 1)
        if not changed:
            break
    return table


def offer_start(solver: Solver) -> bool:
    """Give HiGHS the current values of the model's variables as the start of the next solve.

    The bound model must have been loaded into HiGHS already (one solve). Any
    pending change to the model (bounds, fixings) is pushed first, since a change
    made after the start would discard it.

    Parameters
    ----------
    solver : Solver
        The persistent solver of the model.

    Returns
    -------
    bool
        True when HiGHS accepted the start; False when this Pyomo version's HiGHS interface
        does not expose what it needs (the search then runs without starts).
    """
    import highspy

    interface = solver.interface
    try:
        interface.update()
        highs = interface._solver_model
        columns = interface._pyomo_var_to_solver_var_map
        variables = interface._vars
    except AttributeError:  # pragma: no cover - another interface layout
        return False
    values = np.zeros(highs.getNumCol())
    for var_id, column in columns.items():
        values[column] = variables[var_id][0].value or 0.0
    start = highspy.HighsSolution()
    start.col_value = values.tolist()
    start.value_valid = True
    return highs.setSolution(start) == highspy.HighsStatus.kOk


@dataclass
class SearchResult:
    """What a neighbourhood search found.

    Attributes
    ----------
    roster : ndarray of int, shape (N, D)
        The best roster (shift index or ``-1``).
    objective : float
        Its score [penalty points].
    iterations : int
        Neighbourhoods solved.
    improvements : int
        Neighbourhoods that lowered the score.
    trace : list of (float, float)
        ``(seconds since the start, score)`` at every improvement.
    began : float
        ``time.perf_counter()`` at the start of the search [s].
    stalled : bool
        True when the search stopped because the score had not fallen for its ``patience``.
    """

    roster: np.ndarray
    objective: float
    began: float = 0.0
    iterations: int = 0
    improvements: int = 0
    stalled: bool = False
    trace: list[tuple[float, float]] = dataclasses.field(default_factory=list)


class NeighbourhoodSearch:
    """Large-neighbourhood search on a model holding a :class:`NurseRoster` block.

    Parameters
    ----------
    solver : Solver
        Persistent solver of the model (``solver.model``), already used for one solve; its
        ``time_limit`` is changed for every neighbourhood and restored afterwards.
    block : NurseRosterData
        The block whose ``x`` the search fixes and frees; any other rows of the model
        (a user's own rules) stay in every neighbourhood.
    score : callable, optional
        ``score(roster) -> float or None``: the score of a roster [penalty points], None when it
        breaks a hard rule; default the block's own ``cost`` at the roster.
    seed : int, default 0
        Seed of the neighbourhood choice.
    nurses, days : float, default 0.25, 0.3
        Initial neighbourhood sizes (of every kind) as fractions of the nurses and of the days.
    sub_time_limit : float, default 3
        Wall-clock limit of one neighbourhood's solve [s].
    kinds : sequence of str, default :data:`KINDS`
        Neighbourhood kinds (see :meth:`neighbourhood`): each is tried once, then drawn with
        probability proportional to its success rate (the share of its recent neighbourhoods
        that lowered the score, exponentially averaged), never less than a floor.
    options : mapping, optional
        HiGHS options of the neighbourhoods' solves, set on ``solver`` for the search and
        restored afterwards; default :data:`SUB_OPTIONS`.

    Notes
    -----
    Bounds changed by the search are restored when :meth:`run` returns.
    """

    def __init__(self, solver: Solver, block: NurseRosterData, *,
                 score: Callable[[np.ndarray], float | None] | None = None, seed: int = 0,
                 nurses: float = 0.25, days: float = 0.3, sub_time_limit: float = 3.0,
                 kinds: Sequence[str] = KINDS, options: Mapping[str, object] | None = None) -> None:
        self.solver = solver
        self.block = block
        self.data: RosterData = block.data
        self.score = score if score is not None else self._model_score
        self.rng = np.random.default_rng(seed)
        # Each kind keeps its own sizes: how much of a window one kind can solve says little of another.
        self.size = {kind: {"nurses": nurses, "days": days} for kind in KINDS}
        # A short shift's neighbourhood frees whole rows and a window: half the sizes keep it as large as the others.
        self.size["short"] = {"nurses": nurses / 2, "days": days / 2}
        self.options = dict(SUB_OPTIONS if options is None else options)
        self.sub_time_limit = float(sub_time_limit)
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown or not kinds:
            raise ValueError(f"neighbourhood kinds must be some of {sorted(set(KINDS))}; got {list(kinds)}")
        self.kinds = tuple(kinds)
        self.rate = dict.fromkeys(self.kinds, 1.0)
        self._allowed = cell_bounds(self.data).ravel()
        self._lower = np.zeros_like(self._allowed)
        self._upper = self._allowed.copy()

    def _model_score(self, table: np.ndarray) -> float:
        self.block.load_roster(table)
        return float(value(self.block.cost))

    # ------------------------------------------------------------------ neighbourhoods

    def _count(self, kind: str, what: str, total: int, low: int) -> int:
        return int(min(total, max(low, round(self.size[kind][what] * total))))

    def staffed(self, table: np.ndarray) -> np.ndarray:
        """Nurses on each shift of each day in ``table``: int array of shape (D, K)."""
        data = self.data
        staffed = np.zeros((data.days, data.n_shifts), dtype=int)
        worked = table != OFF
        np.add.at(staffed, (np.nonzero(worked)[1], table[worked]), 1)
        return staffed

    def day_penalties(self, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per day, the under-cover penalty and the other penalties (over-cover, requests) of ``table`` [points]."""
        data = self.data
        gap = np.asarray(data.cover) - self.staffed(table)
        under = (np.maximum(gap, 0) * data.under_weight).sum(axis=1)
        onehot = table[:, :, None] == np.arange(data.n_shifts)[None, None, :]
        requests = (data.on_weight * ~onehot + data.off_weight * onehot).sum(axis=(0, 2))
        other = (np.maximum(-gap, 0) * data.over_weight).sum(axis=1) + requests
        return under, other

    def _pick_day(self, weights: np.ndarray) -> int:
        """A day drawn with probability proportional to ``weights`` (uniform when they are all 0)."""
        total = float(weights.sum())
        if total <= 0:
            return int(self.rng.integers(0, len(weights)))
        return int(self.rng.choice(len(weights), p=weights / total))

    def _window(self, centre: int, length: int) -> slice:
        """``length`` consecutive days holding ``centre``, at a random offset, inside the horizon."""
        first = int(np.clip(centre - self.rng.integers(0, length), 0, self.data.days - length))
        return slice(first, first + length)

    def neighbourhood(self, kind: str, table: np.ndarray) -> np.ndarray:
        """A free set of (nurse, day) cells: bool array of shape (N, D).

        Kinds: ``"nurses"`` -- a random set of nurses over the whole horizon; ``"days"`` -- all nurses
        over a window around a day drawn by its penalty; ``"pair"`` -- all nurses over two windows,
        one around a day drawn by its under-cover penalty and one around a day drawn by its other
        penalties (a shift can move from the one to the other while each nurse keeps her total);
        ``"block"`` -- a random set of nurses over a window twice as long; ``"short"`` -- a shift with
        under-cover drawn by its penalty, the nurses who could work one more of its type that day
        (below their limit for the type, allowed it, not on it already; first those with room in their
        minutes for one more shift and off that day) and random others up to the count over the whole
        horizon, and all nurses over a window around its day (``"days"`` when no shift is short).
        """
        n_n, n_d = self.data.n_nurses, self.data.days
        free = np.zeros((n_n, n_d), dtype=bool)
        under, other = self.day_penalties(table)
        length = self._count(kind, "days", n_d, 3)
        # With no shift short, the short shift's neighbourhood is a window of days of its own length.
        marked = kind == "short" and self._short_shift(free, table, length)
        if kind == "nurses":
            free[self.rng.choice(n_n, size=self._count(kind, "nurses", n_n, 2), replace=False)] = True
        elif kind == "days" or (kind == "short" and not marked):
            free[:, self._window(self._pick_day(under + other), length)] = True
        elif kind == "pair":
            half = max(2, length // 2)
            free[:, self._window(self._pick_day(under if under.any() else other), half)] = True
            free[:, self._window(self._pick_day(other), half)] = True
        elif kind == "block":
            count = min(n_n, 2 * self._count(kind, "nurses", n_n, 2))
            rows = self.rng.choice(n_n, size=count, replace=False)
            days = self._window(self._pick_day(under + other), min(n_d, 2 * length))
            free[np.ix_(rows, np.arange(n_d)[days])] = True
        return free

    def _short_shift(self, free: np.ndarray, table: np.ndarray, length: int) -> bool:
        """Mark the ``"short"`` neighbourhood of ``table`` in ``free``, with a window of ``length`` days.

        Returns False, marking nothing, when no shift is short (see :meth:`neighbourhood`).
        """
        data = self.data
        n_n, n_d, n_k = data.n_nurses, data.days, data.n_shifts
        short = (np.maximum(np.asarray(data.cover) - self.staffed(table), 0) * data.under_weight).ravel()
        if short.sum() <= 0:
            return False
        day, shift = divmod(int(self.rng.choice(short.size, p=short / short.sum())), n_k)
        allowed = self._allowed.reshape(n_n, n_d, n_k)[:, day, shift] > 0
        can_take = np.flatnonzero(allowed & ((table == shift).sum(axis=1) < data.max_shifts[:, shift])
                                  & (table[:, day] != shift))
        # First those with room for one more shift in their minutes and off that day: they can take it
        # without giving up another; then the rest, each tier in random order.
        minutes = np.asarray(data.shift_minutes)
        worked = np.where(table != OFF, minutes[np.maximum(table, 0)], 0).sum(axis=1)
        room = (data.max_minutes - worked >= minutes[shift]).astype(int) + (table[:, day] == OFF)
        shuffled = self.rng.permutation(can_take)
        count = self._count("short", "nurses", n_n, 2)
        rows = shuffled[np.argsort(-room[shuffled], kind="stable")][:count]
        others = np.setdiff1d(np.arange(n_n), rows)
        rows = np.concatenate([rows, self.rng.choice(others, size=min(count - len(rows), len(others)), replace=False)])
        free[rows.astype(int)] = True
        free[:, self._window(day, length)] = True
        return True

    def _pick_kind(self, iteration: int) -> str:
        """Each kind once in turn, then one drawn by its success rate (at least the floor)."""
        if iteration < len(self.kinds):
            return self.kinds[iteration]
        weights = np.array([max(self.rate[kind], _RATE_FLOOR) for kind in self.kinds])
        return self.kinds[int(self.rng.choice(len(self.kinds), p=weights / weights.sum()))]

    def _resize(self, kind: str, factor: float) -> None:
        keys = {"nurses": ("nurses",), "block": ("nurses", "days"), "short": ("nurses", "days")}.get(kind, ("days",))
        for key in keys:
            self.size[kind][key] = float(np.clip(self.size[kind][key] * factor, 0.05, 1.0))

    def restrict(self, free: np.ndarray, table: np.ndarray) -> None:
        """Fix every cell outside ``free`` to ``table`` and free the cells inside (through variable bounds)."""
        onehot = (table[:, :, None] == np.arange(self.data.n_shifts)[None, None, :]).astype(int).ravel()
        inside = np.repeat(free.ravel(), self.data.n_shifts)
        lower = np.where(inside, 0, onehot)
        upper = np.where(inside, self._allowed, onehot * self._allowed)
        self._set_bounds(lower, upper)

    def release(self) -> None:
        """Restore the bounds the block was built with."""
        self._set_bounds(np.zeros_like(self._allowed), self._allowed)

    def _set_bounds(self, lower: np.ndarray, upper: np.ndarray) -> None:
        variables = self.block._x_flat
        for j in np.flatnonzero((lower != self._lower) | (upper != self._upper)).tolist():
            variables[j].setlb(int(lower[j]))
            variables[j].setub(int(upper[j]))
        self._lower, self._upper = lower, upper

    # ------------------------------------------------------------------ the search

    def run(self, start: np.ndarray, deadline: float, *, target: float = -math.inf,
            patience: float = math.inf) -> SearchResult:
        """Improve ``start`` until ``deadline`` (a ``time.perf_counter()`` value) or until its score reaches ``target``.

        Parameters
        ----------
        start : ndarray of int, shape (N, D)
            A feasible roster.
        deadline : float
            ``time.perf_counter()`` value at which to stop [s].
        target : float, optional
            Stop as soon as the score is at most this [penalty points] (a lower bound: nothing better exists).
        patience : float, optional
            Stop when the score has not fallen for this long [s] (counted from the start of the
            search or its last gain); default: never.

        Returns
        -------
        SearchResult
            The best roster and its score; ``stalled`` says whether ``patience`` ended the search.
        """
        best = np.array(start, dtype=int)
        best_score = self.score(best)
        if best_score is None:
            raise ValueError("the start roster of a neighbourhood search must be feasible")
        began = time.perf_counter()
        result = SearchResult(best, float(best_score), began=began)
        saved_limit, saved_options = self.solver.time_limit, dict(self.solver.options)
        self.solver.options.update(self.options)
        try:
            last_gain = began
            while best_score > target and time.perf_counter() < deadline - 0.05:
                if time.perf_counter() - last_gain > patience:
                    result.stalled = True
                    break
                kind = self._pick_kind(result.iterations)
                free = self.neighbourhood(kind, best)
                self.restrict(free, best)
                self.block.load_roster(best)
                offer_start(self.solver)
                self.solver.time_limit = max(0.05, min(self.sub_time_limit, deadline - time.perf_counter()))
                outcome = self.solver.solve(raise_on_failure=False)
                result.iterations += 1
                if not outcome.has_solution:  # the start is feasible: only a limit ends a solve this way
                    self._resize(kind, 0.8)
                    self.rate[kind] -= _RATE_STEP * self.rate[kind]
                    continue
                candidate = roster(self.block)
                candidate_score = self.score(candidate)
                improved = candidate_score is not None and candidate_score < best_score - 1e-9
                # Success by outcome, not by seconds: the choice then stays the same for the same HiGHS work.
                self.rate[kind] += _RATE_STEP * (float(improved) - self.rate[kind])
                if improved:
                    result.improvements += 1
                    last_gain = time.perf_counter()
                    result.trace.append((last_gain - began, float(candidate_score)))
                if candidate_score is not None and candidate_score <= best_score:
                    best, best_score = candidate, float(candidate_score)  # equal scores too: move on a plateau
                if outcome.status == SolveStatus.OPTIMAL and not improved:
                    self._resize(kind, 1.15)  # this neighbourhood is exhausted: look wider
                elif outcome.status != SolveStatus.OPTIMAL:
                    self._resize(kind, 0.85)  # too big to solve in the time given
        finally:
            self.solver.time_limit = saved_limit
            self.solver.options.clear()
            self.solver.options.update(saved_options)
            self.release()
        result.roster, result.objective = best, best_score
        return result
