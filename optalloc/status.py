"""One status vocabulary for the cells of a suite, whatever the method's paradigm.

A mathematical program, a DP, a learning agent and a heuristic all end a
cell in one of these; the results store and the report use no other words.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import numpy as np

__all__ = ["CellStatus", "cell_status", "decision_status"]


class CellStatus(StrEnum):
    """How a cell ended.

    ``OPTIMAL``
        Every solve of the policy was proved optimal (within its gap tolerance).
    ``TIME_LIMIT``
        Some solve stopped at its time limit with an incumbent, which was used.
    ``GAP``
        Some solve stopped with an incumbent whose gap is above the tolerance
        asked for, for another reason than the time limit.
    ``INFEASIBLE``
        Some solve had no feasible solution (the cell then also has an error).
    ``DIVERGED``
        A cost is NaN or infinite, or a training-log value is infinite (a NaN
        there is a value not measured at that row, such as an evaluation
        between evaluation steps; training that produces a NaN loss stops
        with an error instead).
    ``ERROR``
        The cell raised; its error text is stored with it.
    ``COMPLETED``
        The cell ran to the end and its policy makes no optimality claim
        (a heuristic, a learning agent that did not diverge).
    """

    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    GAP = "gap_above_tolerance"
    INFEASIBLE = "infeasible"
    DIVERGED = "diverged"
    ERROR = "error"
    COMPLETED = "completed"


#: Worst first: the status of several solves is the first of these any of them has.
_SEVERITY = (CellStatus.ERROR, CellStatus.DIVERGED, CellStatus.INFEASIBLE, CellStatus.TIME_LIMIT, CellStatus.GAP,
             CellStatus.OPTIMAL)


def decision_status(status: str, termination: str | None = None) -> CellStatus:
    """The status of one solve, from its solver status and (if known) HiGHS's termination condition.

    Parameters
    ----------
    status : str
        ``optimal``, ``feasible``, ``infeasible``, ``unbounded``, ``no_solution`` or ``error``
        (:class:`optalloc.formulations.solve.SolveStatus` values).
    termination : str, optional
        The termination condition (``maxTimeLimit``, ...).
    """
    if status == "optimal":
        return CellStatus.OPTIMAL
    if status == "feasible":
        return CellStatus.TIME_LIMIT if termination and "time" in termination.lower() else CellStatus.GAP
    if status in ("infeasible", "unbounded", "no_solution"):
        return CellStatus.INFEASIBLE
    return CellStatus.ERROR


def _finite(values: Any) -> bool:
    array = np.asarray(values, dtype=float)
    return bool(np.all(np.isfinite(array))) if array.size else True


def _bounded(values: Any) -> bool:
    """No infinite value (NaN allowed: not measured)."""
    array = np.asarray(values, dtype=float)
    return not bool(np.any(np.isinf(array)))


def cell_status(total_cost: Any, *, solves: Iterable[tuple[str, str | None]] = (),
                curve: Iterable[Any] | None = None) -> CellStatus:
    """The status of a finished cell.

    Parameters
    ----------
    total_cost : array_like
        Its per-episode costs.
    solves : iterable of (status, termination)
        Its policy's solves, if it solves programs.
    curve : iterable of array_like, optional
        Numeric columns of its training log, if it learned (NaN: not measured at that row).
    """
    if not _finite(total_cost) or any(not _bounded(c) for c in (curve or ())):
        return CellStatus.DIVERGED
    statuses = {decision_status(s, t) for s, t in solves}
    if not statuses:
        return CellStatus.COMPLETED
    return next(s for s in _SEVERITY if s in statuses)

