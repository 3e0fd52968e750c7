"""An evaluator of nurse rosters written from the benchmark's rules alone (Curtois; Burke & Curtois 2014).

It shares no code with any model of the rostering problem, so a roster a
solver returns can be re-scored here: its objective from the data, and one
readable line for every hard constraint it breaks.

Hard constraints (a roster breaking one is infeasible):

* at most one shift a day (implied by the roster array);
* forbidden successions: shift ``b`` may not follow shift ``a`` on the next day;
  the day before the horizon counts as a day off, so nothing is forbidden on day 0;
* at most ``max_shifts[n, k]`` shifts of type ``k``;
* total minutes worked within ``[min_minutes, max_minutes]``;
* at most ``max_consecutive`` consecutive days worked;
* at least ``min_consecutive`` consecutive days worked and at least
  ``min_consecutive_off`` consecutive days off -- except for a run touching the
  first or the last day of the horizon (the boundary rule the published optima use);
* at most ``max_weekends`` weekends worked (Saturday ``d % 7 == 5`` and Sunday
  ``d % 7 == 6``, day 0 a Monday; a weekend is worked if either day is);
* no shift on a requested day off.

Objective [penalty points]: the weight of every shift-on request not met (the
requested shift not worked that day), of every shift-off request broken (the
unwanted shift worked), plus per day and shift the under-cover weight times the
shortfall and the over-cover weight times the surplus.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optalloc.exceptions import ConfigurationError, bad_value
from optalloc.families.staff.roster_data import OFF, RosterData
from optalloc.validation import did_you_mean

__all__ = ["RosterScore", "roster_from_table", "roster_table", "score_roster"]


@dataclass(frozen=True)
class RosterScore:
    """The cost and the hard-constraint violations of one roster.

    Attributes
    ----------
    objective : float
        Total penalty [points]: ``on_penalty + off_penalty + under_penalty + over_penalty``.
    on_penalty, off_penalty : float
        Weights of the shift-on requests not met / shift-off requests broken [points].
    under_penalty, over_penalty : float
        Under- and over-cover penalties [points].
    violations : tuple of str
        One line per hard constraint broken (``"nurse A: 6 consecutive shifts from day 3 (max 5)"``).
    """

    objective: float
    on_penalty: float
    off_penalty: float
    under_penalty: float
    over_penalty: float
    violations: tuple[str, ...]

    @property
    def feasible(self) -> bool:
        """``True`` when no hard constraint is broken."""
        return not self.violations


def _check_roster(data: RosterData, roster: object, owner: str) -> np.ndarray:
    """The roster as an (N, D) int array, or a ConfigurationError saying what is wrong with it."""
    shape = (data.n_nurses, data.days)
    expected = (f"an {shape} integer array (nurses x days) of shift indices 0..{data.n_shifts - 1} "
                f"or OFF ({OFF})")
    array = np.asarray(roster)
    if array.shape != shape:
        raise bad_value(owner, "roster", expected, f"an array of shape {array.shape}")
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise bad_value(owner, "roster", expected, f"an array of dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise bad_value(owner, "roster", expected, "an array with non-integer values")
    array = array.astype(np.int64)
    outside = (array < OFF) | (array >= data.n_shifts)
    if outside.any():
        n, d = np.argwhere(outside)[0]
        raise bad_value(owner, "roster", expected,
                        f"{int(array[n, d])} for nurse {data.nurse_ids[n]} on day {d}")
    return array


def _runs(worked: list[bool]) -> list[tuple[bool, int, int]]:
    """Maximal runs of equal values: ``(worked, first day, length)``."""
    runs: list[tuple[bool, int, int]] = []
    start = 0
    for d in range(1, len(worked) + 1):
        if d == len(worked) or worked[d] != worked[start]:
            runs.append((worked[start], start, d - start))
            start = d
    return runs


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _nurse_violations(data: RosterData, n: int, row: list[int]) -> list[str]:
    """The hard constraints one nurse's row of the roster breaks, in a fixed order."""
    who = f"nurse {data.nurse_ids[n]}"
    days = data.days
    shift = data.shift_ids
    found: list[str] = []
    day_off = data.days_off[n].tolist()  # Python lists: element access on NumPy arrays is slow here
    forbidden = data.forbidden.tolist()

    for d in range(days):
        if row[d] != OFF and day_off[d]:
            found.append(f"{who}: works shift {shift[row[d]]} on day {d}, a requested day off")
    # Day -1 is off, so successions are checked from day 1 on.
    for d in range(1, days):
        a, b = row[d - 1], row[d]
        if a != OFF and b != OFF and forbidden[a][b]:
            found.append(f"{who}: shift {shift[b]} on day {d} after shift {shift[a]} on day {d - 1} is forbidden")
    counts = Counter(row)
    for k in range(data.n_shifts):
        count = counts[k]
        if count > data.max_shifts[n, k]:
            found.append(f"{who}: {_plural(count, 'shift')} of type {shift[k]} (max {int(data.max_shifts[n, k])})")
    minutes = sum(count * int(data.shift_minutes[k]) for k, count in counts.items() if k != OFF)
    if minutes > data.max_minutes[n]:
        found.append(f"{who}: {minutes} minutes worked (max {int(data.max_minutes[n])})")
    if minutes < data.min_minutes[n]:
        found.append(f"{who}: {minutes} minutes worked (min {int(data.min_minutes[n])})")

    for worked, start, length in _runs([s != OFF for s in row]):
        at_boundary = start == 0 or start + length == days
        if worked and length > data.max_consecutive[n]:
            found.append(f"{who}: {length} consecutive shifts from day {start} (max {int(data.max_consecutive[n])})")
        if worked and not at_boundary and length < data.min_consecutive[n]:
            found.append(f"{who}: {_plural(length, 'consecutive shift')} from day {start} "
                         f"(min {int(data.min_consecutive[n])})")
        if not worked and not at_boundary and length < data.min_consecutive_off[n]:
            found.append(f"{who}: {_plural(length, 'consecutive day')} off from day {start} "
                         f"(min {int(data.min_consecutive_off[n])})")

    # Weekends from the calendar (day 0 a Monday), not from RosterData.weekends, to stay independent.
    # A horizon ending on a Saturday leaves a one-day last weekend, worked if that Saturday is.
    saturdays = [d for d in range(days) if d % 7 == 5]
    worked_weekends = sum(1 for s in saturdays if any(d < days and row[d] != OFF for d in (s, s + 1)))
    if worked_weekends > data.max_weekends[n]:
        found.append(f"{who}: {_plural(worked_weekends, 'working weekend')} (max {int(data.max_weekends[n])})")
    return found


def score_roster(data: RosterData, roster: object) -> RosterScore:
    """Score a roster: its objective and the hard constraints it breaks.

    Parameters
    ----------
    data : RosterData
        The instance.
    roster : array_like of int, shape (N, D)
        ``roster[n, d]``: the shift index nurse ``n`` works on day ``d``, or ``OFF`` (-1).

    Returns
    -------
    RosterScore
        Objective and its four parts [points], and the violations (empty when feasible).

    Raises
    ------
    ConfigurationError
        If ``roster`` has the wrong shape, is not integer or holds a value outside ``-1..K-1``.
    """
    array = _check_roster(data, roster, "score_roster")
    rows = array.tolist()
    violations: list[str] = []
    for n, row in enumerate(rows):
        violations.extend(_nurse_violations(data, n, row))

    on = sum((float(data.on_weight[n, d, k]) for n, d, k in np.argwhere(data.on_weight > 0)
              if rows[n][d] != k), 0.0)
    off = sum((float(data.off_weight[n, d, k]) for n, d, k in np.argwhere(data.off_weight > 0)
               if rows[n][d] == k), 0.0)
    under = over = 0.0
    for d in range(data.days):
        staffing = Counter(row[d] for row in rows)
        for k in range(data.n_shifts):
            staffed = staffing[k]
            wanted = int(data.cover[d, k])
            under += float(data.under_weight[d, k]) * max(wanted - staffed, 0)
            over += float(data.over_weight[d, k]) * max(staffed - wanted, 0)
    return RosterScore(objective=on + off + under + over, on_penalty=on, off_penalty=off,
                       under_penalty=under, over_penalty=over, violations=tuple(violations))


def roster_table(data: RosterData, roster: object) -> pd.DataFrame:
    """A roster as a table of shift ids.

    Parameters
    ----------
    data : RosterData
        The instance.
    roster : array_like of int, shape (N, D)
        Shift indices or ``OFF`` (-1).

    Returns
    -------
    pandas.DataFrame
        Index: nurse ids (``"nurse"``); columns: days ``0..D-1`` (``"day"``); cells: shift id,
        ``""`` on a day off.
    """
    array = _check_roster(data, roster, "roster_table")
    labels = ["", *data.shift_ids]  # OFF (-1) + 1 -> position 0
    cells = [[labels[s + 1] for s in row] for row in array.tolist()]
    return pd.DataFrame(cells, index=pd.Index(list(data.nurse_ids), name="nurse"),
                        columns=pd.Index(range(data.days), name="day"))


def roster_from_table(data: RosterData, table: pd.DataFrame) -> np.ndarray:
    """The roster array of a table of shift ids (the inverse of :func:`roster_table`).

    Parameters
    ----------
    data : RosterData
        The instance.
    table : pandas.DataFrame
        One row per nurse, indexed by nurse id (any order); one column per day ``0..D-1``
        (integers, or their text as read back from a CSV file); cells a shift id, or ``""``,
        ``None`` or NaN for a day off.

    Returns
    -------
    ndarray of int, shape (N, D)
        Shift indices in the order of ``data.nurse_ids``, ``OFF`` (-1) on days off.

    Raises
    ------
    ConfigurationError
        If the table's nurses or days differ from the instance's, or a cell is not a shift id.
    """
    owner = "roster_from_table"
    if not isinstance(table, pd.DataFrame):
        raise bad_value(owner, "table", "a pandas DataFrame (nurses x days)", type(table).__name__)
    nurses = [str(i) for i in table.index]
    if sorted(nurses) != sorted(data.nurse_ids):
        missing = [i for i in data.nurse_ids if i not in nurses]
        extra = [i for i in nurses if i not in data.nurse_ids]
        raise bad_value(owner, "table", f"one row for each nurse {', '.join(data.nurse_ids)}",
                        f"rows missing {missing} and unknown rows {extra}" if missing or extra
                        else f"repeated rows {nurses}")
    try:
        days = [int(c) for c in table.columns]
    except (TypeError, ValueError):
        raise bad_value(owner, "table", f"columns the days 0..{data.days - 1}", list(table.columns)) from None
    if sorted(days) != list(range(data.days)):
        raise bad_value(owner, "table", f"columns the days 0..{data.days - 1}, each once", list(table.columns))

    index = {shift: k for k, shift in enumerate(data.shift_ids)}
    position = {nurse: n for n, nurse in enumerate(data.nurse_ids)}
    roster = np.full((data.n_nurses, data.days), OFF, dtype=np.int64)
    for nurse, values in zip(nurses, table.itertuples(index=False, name=None)):
        for day, cell in zip(days, values):
            if cell is None or (isinstance(cell, float) and np.isnan(cell)) or cell == "":
                continue
            if str(cell) not in index:
                raise ConfigurationError(
                    f"roster_from_table: nurse {nurse} on day {day}: unknown shift id {cell!r}"
                    f"{did_you_mean(cell, data.shift_ids, clause=True)} (shifts: {', '.join(data.shift_ids)}; "
                    f"'' for a day off)")
            roster[position[nurse], day] = index[str(cell)]
    return roster
