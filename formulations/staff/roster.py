"""Nurse rostering (Curtois benchmark rules) as a reusable Pyomo block.

Nurses ``n = 0..N-1``, days ``d = 0..D-1`` (day 0 a Monday), shift types
``k = 0..K-1``, the data of one :class:`~optalloc.families.staff.roster_data.RosterData`.
The block is the compact 0-1 model::

    x[n, d, k] in {0, 1}            nurse n works shift k on day d
    w[n, d] = sum_k x[n, d, k]      nurse n works on day d (an expression, not a variable)

with the hard rules as linear rows:

* ``one_shift``: ``w[n, d] <= 1``;
* ``succession``: ``x[n, d, a] + sum_{b forbidden after a} x[n, d+1, b] <= 1``
  (nothing is forbidden on day 0: the day before the horizon is a day off);
* ``max_shifts``: ``sum_d x[n, d, k] <= max_shifts[n, k]`` (a zero limit, like a
  fixed day off, is the upper bound 0 of the variables instead of a row);
* ``minutes``: ``min_minutes[n] <= sum_{d,k} minutes[k] x[n, d, k] <= max_minutes[n]``;
* ``max_run``: every window of ``max_consecutive[n] + 1`` days holds a day off;
* ``work_window``: at most ``cap(l)`` worked days in every window of ``l``
  consecutive days, where ``cap(l)`` is the most any schedule obeying the
  nurse's run rules can work in ``l`` days (:func:`window_caps`), for the
  lengths ``l`` whose cap is not the sum of shorter ones. These rows cut off no
  schedule; they cut off fractional ones, e.g. with runs of at most 5 worked
  days and of at least 2 days off, ``w = 5/6`` every day meets every
  ``max_run`` row but works 35/6 days of every 7, where 5 is the most;
* ``min_run`` / ``min_off``: for every length ``l`` below the minimum, no run of
  ``l`` worked days (days off) bounded by a day off (worked day) on both sides::

      -w[s-1] + sum_{j<l} w[s+j] - w[s+l] <= l - 1        (worked run s..s+l-1)
       w[s-1] - sum_{j<l} w[s+j] + w[s+l] <= 1            (run of days off)

  for ``1 <= s`` and ``s + l <= D - 1`` only: a run touching day 0 or day
  ``D-1`` is exempt (the rule of the published optima);
* ``weekend_link`` / ``max_weekends``: one binary ``weekend[n, i]`` per weekend
  ``i`` (:attr:`RosterData.weekends`), ``weekend[n, i] >= w[n, d]`` for its days,
  and ``sum_i weekend[n, i] <= max_weekends[n]``;
* ``cover``: ``sum_n x[n, d, k] + under[d, k] - over[d, k] = cover[d, k]`` with
  continuous slacks ``under, over >= 0``.

The block never declares an active ``Objective``; it exposes ``cost`` (an
``Expression``, penalty points), the sum of ``on_penalty`` (weights of the
shift-on requests not met), ``off_penalty`` (of the shift-off requests
violated), ``under_penalty`` and ``over_penalty`` (cover weights times the
shortfall and surplus [nurses]). At an optimum no cover row carries both
slacks; a time-limited incumbent can, so :meth:`NurseRosterData.load_roster`
(or :func:`tighten_slacks`) sets them to the roster's own shortfall and
surplus before its cost is read.

The rows are generated from NumPy index arrays (:func:`roster_rows`, shared
with the direct highspy build of :mod:`~optalloc.formulations.staff.roster_highspy`)
and each row is one ``LinearExpression``: Instance 8 of the benchmark (30
nurses, 28 days, 4 shifts; 6,654 rows) builds in about 0.4 s and loads into
HiGHS in about as long, against minutes of branch and bound.

Example
-------
>>> model = ConcreteModel()
>>> model.roster = NurseRoster(data=data)
>>> model.a_works_day_3 = Constraint(expr=sum(model.roster.x[0, 3, k] for k in model.roster.shifts) == 1)
>>> model.objective = Objective(expr=model.roster.cost)
>>> solve(model)                                                      # doctest: +SKIP
>>> roster(model.roster)                                              # (N, D) shift index or -1
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt
from pyomo.common.config import Bool, ConfigDict, ConfigValue
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression
from pyomo.environ import (
    Binary,
    ConcreteModel,
    Constraint,
    Expression,
    NonNegativeReals,
    Objective,
    RangeSet,
    UnitInterval,
    Var,
    minimize,
)

from optalloc.exceptions import ConfigurationError, bad_value
from optalloc.families.staff.roster_data import OFF, RosterData
from optalloc.formulations._block import FormulationData, component_class, declare_formulation

__all__ = ["NurseRoster", "NurseRosterData", "build_model", "cell_bounds", "roster", "tighten_slacks", "window_caps"]


def _roster_data(data: Any) -> RosterData | None:
    """Config domain: a :class:`RosterData` (or None: not given)."""
    if data is None:
        return None
    if not isinstance(data, RosterData):
        raise ValueError(f"expected a RosterData, got {type(data).__name__}")
    return data


_roster_data.domain_name = lambda: "a RosterData (optalloc.families.staff.roster_data)"  # type: ignore[attr-defined]


def _config() -> ConfigDict:
    """Declared options of :class:`NurseRoster` (name, domain, default, description)."""
    config = ConfigDict(description="Options of the NurseRoster block")
    config.declare("data", ConfigValue(domain=_roster_data, default=None,
                                       description="The rostering instance (nurses, days, shift types, rules)."))
    config.declare("relax_integrality", ConfigValue(domain=Bool, default=False,
                                                    description="Make x and weekend continuous in [0, 1] (the LP "
                                                                "relaxation)."))
    return config


def cell_bounds(data: RosterData) -> np.ndarray:
    """Upper bound of each assignment variable: 0 on fixed days off and for shift types a nurse may not work.

    Parameters
    ----------
    data : RosterData
        The instance.

    Returns
    -------
    numpy.ndarray of int, shape (N, D, K)
        1 where ``x[n, d, k]`` may be 1, else 0.
    """
    allowed = ~data.days_off[:, :, None] & (np.asarray(data.max_shifts) > 0)[:, None, :]
    return allowed.astype(int)


class _Rows:
    """Linear rows ``lb <= sum_j coef_j * column_j <= ub`` collected from NumPy blocks of equal-length rows."""

    def __init__(self) -> None:
        self.index: list[np.ndarray] = []
        self.coef: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []

    def add(self, index: np.ndarray, coef: npt.ArrayLike, lower: npt.ArrayLike, upper: npt.ArrayLike) -> None:
        """Add ``m`` rows of ``r`` terms: column ``index[i]`` (shape (m, r)), coefficients broadcast to (m, r)."""
        index = np.asarray(index, dtype=np.int64)
        if index.size == 0:
            return
        m = index.shape[0]
        self.index.append(index)
        self.coef.append(np.broadcast_to(np.asarray(coef, dtype=float), index.shape))
        self.lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (m,)))
        self.upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (m,)))

    def rows(self) -> list[tuple[list[int], list[float], float | None, float | None]]:
        """The rows as (columns, coefficients, lower or None, upper or None)."""
        out = []
        for index, coef, lower, upper in zip(self.index, self.coef, self.lower, self.upper):
            lows = [None if not np.isfinite(v) else float(v) for v in lower]
            ups = [None if not np.isfinite(v) else float(v) for v in upper]
            out.extend(zip(index.tolist(), coef.tolist(), lows, ups))
        return out


def roster_rows(data: RosterData) -> dict[str, _Rows]:
    """The hard rules and the cover rows of ``data`` as index arrays over the model's columns.

    Columns are numbered ``x`` first (``(n * D + d) * K + k``), then ``weekend``
    (``N*D*K + n * W + i``), ``under`` and ``over`` (``... + d * K + k``); the
    same numbering serves the Pyomo block and a direct highspy build.

    Parameters
    ----------
    data : RosterData
        The instance.

    Returns
    -------
    dict of str to rows
        One entry per constraint family (the block's constraint names).
    """
    n_n, n_d, n_k = data.n_nurses, data.days, data.n_shifts
    weekends = data.weekends
    n_w = len(weekends)
    x0, y0 = 0, n_n * n_d * n_k
    u0 = y0 + n_n * n_w
    o0 = u0 + n_d * n_k
    nurses = np.arange(n_n)
    allowed = cell_bounds(data)
    available_days = allowed.sum(axis=1)  # (N, K) days a nurse could work a shift type at all

    def col(n: np.ndarray, d: np.ndarray, k: np.ndarray | int) -> np.ndarray:
        return x0 + (n * n_d + d) * n_k + k

    def work(n: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Columns of w[n, d] (rows of day indices d, shape (m, r)) expanded over shift types: (m, r * K)."""
        cols = col(np.asarray(n)[:, None, None], np.asarray(d)[:, :, None], np.arange(n_k)[None, None, :])
        return cols.reshape(cols.shape[0], -1)

    rows = {name: _Rows() for name in ("one_shift", "succession", "max_shifts", "minutes", "max_run",
                                       "work_window", "min_run", "min_off", "weekend_link", "max_weekends",
                                       "cover")}
    inf = np.inf
    nn, dd = np.meshgrid(nurses, np.arange(n_d), indexing="ij")
    nn, dd = nn.ravel(), dd.ravel()
    if n_k > 1:
        rows["one_shift"].add(work(nn, dd[:, None]), 1.0, -inf, 1.0)

    # Successions: shift a on day d, any forbidden b on day d+1 (a clique with the one-shift rows).
    if n_d > 1:
        pn, pd = np.meshgrid(nurses, np.arange(n_d - 1), indexing="ij")
        pn, pd = pn.ravel(), pd.ravel()
        for a in range(n_k):
            after = np.flatnonzero(data.forbidden[a])
            if after.size == 0:
                continue
            index = np.column_stack([col(pn, pd, a)] + [col(pn, pd + 1, b) for b in after])
            rows["succession"].add(index, 1.0, -inf, 1.0)

    limit = np.asarray(data.max_shifts)
    tight_n, tight_k = np.nonzero((limit > 0) & (limit < available_days))
    if tight_n.size:
        index = col(tight_n[:, None], np.arange(n_d)[None, :], tight_k[:, None])
        rows["max_shifts"].add(index, 1.0, -inf, limit[tight_n, tight_k])

    minutes = np.tile(np.asarray(data.shift_minutes, dtype=float), n_d)
    rows["minutes"].add(work(nurses, np.tile(np.arange(n_d), (n_n, 1))), minutes,
                        np.asarray(data.min_minutes, dtype=float), np.asarray(data.max_minutes, dtype=float))

    for n in range(n_n):
        _run_rows(rows, data, n, work)

    # Weekends: weekend[n, i] >= w[n, d] for each (not fixed-off) day of the weekend.
    link_index, link_coef = [], []
    for n in range(n_n):
        for i, days in enumerate(weekends):
            for d in days:
                if data.days_off[n, d]:
                    continue
                link_index.append(np.concatenate([[y0 + n * n_w + i], col(n, d, np.arange(n_k))]))
                link_coef.append(np.concatenate([[1.0], -np.ones(n_k)]))
    if link_index:
        rows["weekend_link"].add(np.array(link_index), np.array(link_coef), 0.0, inf)
    capped = np.flatnonzero(np.asarray(data.max_weekends) < n_w)
    if capped.size and n_w:
        index = y0 + capped[:, None] * n_w + np.arange(n_w)[None, :]
        rows["max_weekends"].add(index, 1.0, -inf, np.asarray(data.max_weekends)[capped])

    cd, ck = np.meshgrid(np.arange(n_d), np.arange(n_k), indexing="ij")
    cd, ck = cd.ravel(), ck.ravel()
    index = np.column_stack([col(nurses[None, :], cd[:, None], ck[:, None]), u0 + cd * n_k + ck,
                             o0 + cd * n_k + ck])
    coef = np.concatenate([np.ones(n_n), [1.0, -1.0]])
    target = np.asarray(data.cover, dtype=float)[cd, ck]
    rows["cover"].add(index, coef, target, target)
    return rows


def _run_rows(rows: dict[str, _Rows], data: RosterData, n: int, work: Any) -> None:
    """Max-consecutive windows and the min-consecutive (work and off) pattern rows of nurse ``n``."""
    n_d = data.days
    inf = np.inf
    longest = int(data.max_consecutive[n])
    if longest < n_d:
        starts = np.arange(n_d - longest)
        days = starts[:, None] + np.arange(longest + 1)[None, :]
        rows["max_run"].add(work(np.full(len(starts), n), days), 1.0, -inf, float(longest))
    caps = window_caps(longest, int(data.min_consecutive[n]), int(data.min_consecutive_off[n]), n_d)
    for length, cap in caps.items():
        starts = np.arange(n_d - length + 1)
        days = starts[:, None] + np.arange(length)[None, :]
        rows["work_window"].add(work(np.full(len(starts), n), days), 1.0, -inf, float(cap))
    for name, shortest, sign in (("min_run", int(data.min_consecutive[n]), 1.0),
                                 ("min_off", int(data.min_consecutive_off[n]), -1.0)):
        for length in range(1, shortest):
            starts = np.arange(1, n_d - length)  # s - 1 >= 0 and s + length <= D - 1: away from both ends
            if starts.size == 0:
                continue
            days = starts[:, None] + np.arange(-1, length + 1)[None, :]
            day_coef = np.concatenate([[-sign], np.full(length, sign), [-sign]])
            coef = np.repeat(day_coef, data.n_shifts)
            upper = float(length - 1) if sign > 0 else 1.0
            rows[name].add(work(np.full(len(starts), n), days), coef, -inf, upper)


@functools.cache
def window_caps(longest: int, shortest: int, shortest_off: int, days: int) -> dict[int, int]:
    """The most worked days in ``l`` consecutive days, for the lengths ``l`` where it says more than shorter windows.

    A window may cut the runs at its two ends anywhere, so those two runs obey
    only the maximum ``longest``; every run inside it lies between a worked day
    and a day off on each side and obeys all three rules (it is away from the
    horizon's ends, where the minimums are waived). ``cap(l)`` is found by a
    dynamic programme over the window's days; a length is kept only when its cap
    is below ``cap(a) + cap(l - a)`` for every split, since otherwise the rows of
    the two shorter windows imply it.

    Parameters
    ----------
    longest : int
        Most consecutive worked days [days].
    shortest : int
        Fewest consecutive worked days of a run between two days off [days].
    shortest_off : int
        Fewest consecutive days off of a run between two worked days [days].
    days : int
        Horizon [days]: the longest window.

    Returns
    -------
    dict of int to int
        Window length [days] to its cap [days], for the lengths longer than ``longest + 1`` that are kept.
    """
    if longest >= days:
        return {}
    top_off = max(shortest_off, 1)

    def successors(on: bool, run: int, first: bool) -> list[tuple[tuple[bool, int, bool], int]]:
        """The states of the next day with the worked day it adds."""
        if on:
            nxt = [((True, run + 1, first), 1)] if run < longest else []
            return nxt + ([((False, 1, False), 0)] if first or run >= shortest else [])
        nxt = [((False, min(run + 1, top_off), first), 0)]
        return nxt + ([((True, 1, False), 1)] if first or run >= top_off else [])

    # A state is (worked, length of the current run -- a run of days off counted up to its minimum --,
    # still the window's first run); ``reach`` maps each state to the most worked days reaching it.
    reach = {(True, 1, True): 1, (False, 1, True): 0}
    cap = [0, 1]
    for _ in range(2, days + 1):
        step: dict[tuple[bool, int, bool], int] = {}
        for state, worked in reach.items():
            for following, gain in successors(*state):
                step[following] = max(step.get(following, -1), worked + gain)
        reach = step
        cap.append(max(reach.values()))  # the window's last run may stop anywhere
    return {length: cap[length] for length in range(longest + 2, days + 1)
            if all(cap[length] < cap[a] + cap[length - a] for a in range(1, length // 2 + 1))}


_DOCS = {
    "one_shift": "At most one shift a day: sum_k x[n, d, k] <= 1",
    "succession": "No forbidden succession: x[n, d, a] + sum_{b forbidden after a} x[n, d+1, b] <= 1",
    "max_shifts": "Most shifts of each type: sum_d x[n, d, k] <= max_shifts[n, k]",
    "minutes": "min_minutes[n] <= minutes worked <= max_minutes[n] [minutes]",
    "max_run": "A day off in every max_consecutive[n] + 1 consecutive days",
    "work_window": "At most cap(l) worked days in every l consecutive days (what the run rules allow)",
    "min_run": "No run of worked days shorter than min_consecutive[n] between two days off (away from the ends)",
    "min_off": "No run of days off shorter than min_consecutive_off[n] between two worked days (away from the ends)",
    "weekend_link": "weekend[n, i] >= w[n, d] for each day d of weekend i",
    "max_weekends": "sum_i weekend[n, i] <= max_weekends[n]",
    "cover": "sum_n x[n, d, k] + under[d, k] - over[d, k] = cover[d, k] [nurses]",
}


@declare_formulation("NurseRoster")
class NurseRosterData(FormulationData):
    """Data class of the :class:`NurseRoster` block (see the module docstring).

    Options (keywords of ``NurseRoster(...)``)
    ------------------------------------------
    data : RosterData
        The instance: nurses, days, shift types, contract rules, requests, cover.
    relax_integrality : bool, default False
        Make ``x`` and ``weekend`` continuous in [0, 1]: the LP relaxation.

    Components
    ----------
    nurses, days, shifts, weekend_index : RangeSet
        ``0..N-1``, ``0..D-1``, ``0..K-1``, ``0..W-1``.
    x : Var
        Binary ``x[n, d, k]``: nurse ``n`` works shift type ``k`` on day ``d``; upper bound 0 on the
        nurse's fixed days off and for shift types she may not work.
    weekend : Var
        Binary ``weekend[n, i]``: nurse ``n`` works on weekend ``i``.
    under, over : Var
        Nurses short of / beyond the cover on shift ``k`` of day ``d`` [nurses], >= 0.
    one_shift, succession, max_shifts, minutes, max_run, work_window, min_run, min_off, weekend_link, max_weekends, cover : Constraint
        The rules (see the module docstring; each has its ``doc``), indexed ``0..rows-1``.
    on_penalty, off_penalty, under_penalty, over_penalty, cost : Expression
        The soft objective and its parts [penalty points].
    """

    CONFIG = _config()

    @classmethod
    def validate_config(cls, config: ConfigDict, owner: str) -> None:
        """Check that the data is given and consistent in its shapes."""
        if config.data is None:
            raise ConfigurationError(f"{owner} needs the option 'data' (a RosterData).")
        _check_shapes(config.data, owner)

    def build(self, *args: Any) -> None:
        """Declare sets, variables, constraints and the objective expressions."""
        super().build(*args)
        data: RosterData = self.config.data
        n_n, n_d, n_k, n_w = data.n_nurses, data.days, data.n_shifts, len(data.weekends)
        self.nurses = RangeSet(0, n_n - 1, doc="Nurses n = 0..N-1 (data.nurse_ids)")
        self.days = RangeSet(0, n_d - 1, doc="Days d = 0..D-1, day 0 a Monday")
        self.shifts = RangeSet(0, n_k - 1, doc="Shift types k = 0..K-1 (data.shift_ids)")
        self.weekend_index = RangeSet(0, n_w - 1, doc="Weekends i = 0..W-1 (data.weekends)")
        domain = UnitInterval if self.config.relax_integrality else Binary
        self.x = Var(self.nurses, self.days, self.shifts, domain=domain, initialize=0,
                     doc="1: nurse n works shift type k on day d")
        self.weekend = Var(self.nurses, self.weekend_index, domain=domain, initialize=0,
                           doc="1: nurse n works on weekend i (Saturday or Sunday)")
        self.under = Var(self.days, self.shifts, domain=NonNegativeReals, initialize=0,
                         doc="Nurses short of the cover [nurses]")
        self.over = Var(self.days, self.shifts, domain=NonNegativeReals, initialize=0,
                        doc="Nurses beyond the cover [nurses]")
        self._x_flat = [self.x[n, d, k] for n in range(n_n) for d in range(n_d) for k in range(n_k)]
        for var, allowed in zip(self._x_flat, cell_bounds(data).ravel().tolist()):
            if not allowed:
                var.setub(0)
        columns = (self._x_flat + [self.weekend[n, i] for n in range(n_n) for i in range(n_w)]
                   + [self.under[d, k] for d in range(n_d) for k in range(n_k)]
                   + [self.over[d, k] for d in range(n_d) for k in range(n_k)])
        for name, rows in roster_rows(data).items():
            self.add_component(name, _constraint(rows.rows(), columns, _DOCS[name]))
        self._declare_objective(data)

    def _declare_objective(self, data: RosterData) -> None:
        on = np.asarray(data.on_weight, dtype=float).ravel()
        off = np.asarray(data.off_weight, dtype=float).ravel()
        x = self._x_flat

        def linear(constant: float, coefs: np.ndarray, variables: list[Any]) -> LinearExpression:
            keep = np.flatnonzero(coefs)
            return LinearExpression(constant=float(constant), linear_coefs=coefs[keep].tolist(),
                                    linear_vars=[variables[j] for j in keep])

        under = [self.under[d, k] for d in self.days for k in self.shifts]
        over = [self.over[d, k] for d in self.days for k in self.shifts]
        self.on_penalty = Expression(expr=linear(on.sum(), -on, x),
                                     doc="Weights of the shift-on requests not met [penalty points]")
        self.off_penalty = Expression(expr=linear(0.0, off, x),
                                      doc="Weights of the shift-off requests violated [penalty points]")
        self.under_penalty = Expression(expr=linear(0.0, np.asarray(data.under_weight, float).ravel(), under),
                                        doc="Under-cover weights x shortfall [penalty points]")
        self.over_penalty = Expression(expr=linear(0.0, np.asarray(data.over_weight, float).ravel(), over),
                                       doc="Over-cover weights x surplus [penalty points]")
        # One flat linear expression (not a sum of the four) so the solver interface reads it in one pass.
        self.cost = Expression(expr=linear(on.sum(), np.concatenate([off - on,
                                                                     np.asarray(data.under_weight, float).ravel(),
                                                                     np.asarray(data.over_weight, float).ravel()]),
                                           x + under + over),
                               doc="Total penalty: requests, under- and over-cover [penalty points]")

    # ------------------------------------------------------------------ reading and writing rosters

    @property
    def data(self) -> RosterData:
        """The instance the block was built for."""
        return self.config.data

    def roster(self) -> np.ndarray:
        """The loaded solution as a roster (see :func:`roster`)."""
        return roster(self)

    def load_roster(self, shifts: npt.ArrayLike) -> None:
        """Set the variables to a roster: ``x`` to its assignments, weekends, and the least cover slacks.

        Parameters
        ----------
        shifts : array_like of int, shape (N, D)
            Shift index worked by each nurse on each day, or ``-1`` (off).

        Notes
        -----
        Afterwards ``value(block.cost)`` is the roster's penalty [penalty points]
        (whether or not it breaks a hard rule); the values also serve as a solver start.
        """
        data = self.data
        table = _checked_roster(data, shifts, self._owner())
        n_k = data.n_shifts
        onehot = (table[:, :, None] == np.arange(n_k)[None, None, :]).astype(float).ravel()
        for var, v in zip(self._x_flat, onehot.tolist()):
            var.set_value(v, skip_validation=True)
        worked = table != OFF
        for n in range(data.n_nurses):
            for i, days in enumerate(data.weekends):
                self.weekend[n, i].set_value(float(any(worked[n, d] for d in days)), skip_validation=True)
        tighten_slacks(self)

    def _owner(self) -> str:
        return f"NurseRoster block {self.name!r}"


#: The block component: ``NurseRoster(data=...)`` (``NurseRoster(index, data=...)`` for an indexed
#: block); created with ScalarNurseRoster and IndexedNurseRoster by ``declare_formulation``.
NurseRoster = component_class(NurseRosterData)


def _constraint(rows: list[tuple[list[int], list[float], float | None, float | None]], columns: list[Any],
                doc: str) -> Constraint:
    """An indexed ``Constraint`` over ``0..len(rows)-1``, one ``LinearExpression`` per row."""

    def rule(block: Any, i: int) -> Any:
        index, coef, lower, upper = rows[i]
        # A unit coefficient needs no MonomialTermExpression: the bare variable is a linear term already.
        expr = LinearExpression([columns[j] if c == 1 else MonomialTermExpression((c, columns[j]))
                                 for j, c in zip(index, coef)])
        if lower is not None and lower == upper:
            return expr == lower
        return (lower, expr, upper)

    return Constraint(range(len(rows)), rule=rule, doc=doc)


def roster(block: NurseRosterData) -> np.ndarray:
    """The roster in a solved (or loaded) block.

    Parameters
    ----------
    block : NurseRosterData
        A :class:`NurseRoster` block whose ``x`` holds values (after a solve).

    Returns
    -------
    numpy.ndarray of int, shape (N, D)
        Shift index worked by each nurse on each day, ``-1`` (:data:`OFF`) on a day off.
    """
    data = block.data
    values = np.array([v.value or 0.0 for v in block._x_flat], dtype=float)
    values = values.reshape(data.n_nurses, data.days, data.n_shifts)
    worked = values.max(axis=2) > 0.5
    return np.where(worked, values.argmax(axis=2), OFF).astype(int)


def tighten_slacks(block: NurseRosterData) -> None:
    """Set ``under`` and ``over`` to the shortfall and surplus of the current ``x`` values [nurses].

    A time-limited incumbent may carry both slacks on one cover row; the
    roster's true cost counts only the net shortfall or surplus.
    """
    data = block.data
    current = roster(block)
    staffed = np.zeros((data.days, data.n_shifts), dtype=int)
    for n in range(data.n_nurses):
        for d in np.flatnonzero(current[n] != OFF):
            staffed[d, current[n, d]] += 1
    gap = np.asarray(data.cover) - staffed
    for d in range(data.days):
        for k in range(data.n_shifts):
            block.under[d, k].set_value(float(max(gap[d, k], 0)), skip_validation=True)
            block.over[d, k].set_value(float(max(-gap[d, k], 0)), skip_validation=True)


def build_model(data: RosterData, **options: Any) -> ConcreteModel:
    """A stand-alone rostering model: ``model.roster`` and its objective.

    Parameters
    ----------
    data : RosterData
        The instance.
    **options
        Further options of :class:`NurseRoster` (``relax_integrality``).

    Returns
    -------
    ConcreteModel
        Model named after the instance with block ``roster`` and
        ``objective = minimize roster.cost`` [penalty points].
    """
    model = ConcreteModel(name=data.name or "nurse_roster")
    model.roster = NurseRoster(data=data, **options)
    model.objective = Objective(expr=model.roster.cost, sense=minimize, doc="Total penalty [penalty points]")
    return model


# ---------------------------------------------------------------------- checks


def _check_shapes(data: RosterData, owner: str) -> None:
    """Refuse data whose arrays do not match its nurse, day and shift counts."""
    n_n, n_d, n_k = data.n_nurses, data.days, data.n_shifts
    if n_n < 1 or n_d < 1 or n_k < 1:
        raise bad_value(owner, "data", "an instance with at least one nurse, day and shift type",
                        f"{n_n} nurses, {n_d} days, {n_k} shift types")
    expected = {
        "shift_minutes": (n_k,), "forbidden": (n_k, n_k), "max_shifts": (n_n, n_k), "max_minutes": (n_n,),
        "min_minutes": (n_n,), "max_consecutive": (n_n,), "min_consecutive": (n_n,),
        "min_consecutive_off": (n_n,), "max_weekends": (n_n,), "days_off": (n_n, n_d),
        "on_weight": (n_n, n_d, n_k), "off_weight": (n_n, n_d, n_k), "cover": (n_d, n_k),
        "under_weight": (n_d, n_k), "over_weight": (n_d, n_k),
    }
    for name, shape in expected.items():
        got = np.shape(getattr(data, name))
        if got != shape:
            raise bad_value(owner, "data", f"a RosterData whose {name} has shape {shape}", f"shape {got}")


def _checked_roster(data: RosterData, shifts: npt.ArrayLike, owner: str) -> np.ndarray:
    table = np.asarray(shifts)
    if table.shape != (data.n_nurses, data.days) or not np.issubdtype(table.dtype, np.integer) \
            or table.min(initial=0) < OFF or table.max(initial=0) >= data.n_shifts:
        raise bad_value(owner, "roster", f"an integer array of shape ({data.n_nurses}, {data.days}) of shift "
                        f"indices 0..{data.n_shifts - 1} or -1", f"{table.dtype} array of shape {table.shape}")
    return table.astype(int)
