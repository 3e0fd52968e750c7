"""The :class:`NurseRoster` model built directly with highspy's array API, without Pyomo.

The same rows (:func:`~optalloc.formulations.staff.roster.roster_rows`), the
same columns and the same objective as the Pyomo block, passed to HiGHS in
one ``Highs.passModel`` call as a row-wise (CSR) matrix assembled with NumPy.
It is the yardstick for the cost of the Pyomo build and hand-off
(``benchmarks/roster_gap.py``), and a fast model for callers that need no
Pyomo (a user's own rules cannot be added to it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from optalloc.families.staff.roster_data import OFF, RosterData
from optalloc.formulations.highs_arrays import new_highs
from optalloc.formulations.staff.roster import cell_bounds, roster_rows

__all__ = ["HighsRoster", "build_highs", "solve_highs"]


@dataclass
class HighsRoster:
    """A highspy model of a rostering instance.

    Attributes
    ----------
    highs : highspy.Highs
        The model, passed and ready to run (silent, one thread).
    data : RosterData
        The instance.
    build_seconds : float
        Generating the rows and passing the model [s].
    """

    highs: Any
    data: RosterData
    build_seconds: float

    def roster(self) -> np.ndarray:
        """The roster of the solution HiGHS holds: (N, D) shift index or ``-1``."""
        data = self.data
        size = data.n_nurses * data.days * data.n_shifts
        values = np.asarray(self.highs.getSolution().col_value[:size]).reshape(data.n_nurses, data.days,
                                                                               data.n_shifts)
        return np.where(values.max(axis=2) > 0.5, values.argmax(axis=2), OFF).astype(int)


def build_highs(data: RosterData, *, relax_integrality: bool = False, threads: int = 1) -> HighsRoster:
    """Build the compact rostering model in highspy (one ``passModel`` of NumPy arrays).

    Parameters
    ----------
    data : RosterData
        The instance.
    relax_integrality : bool, default False
        Continuous ``x`` and ``weekend`` in [0, 1] (the LP relaxation).
    threads : int, default 1
        HiGHS threads.

    Returns
    -------
    HighsRoster
        The model and its build time.
    """
    import highspy

    began = time.perf_counter()
    n_n, n_d, n_k, n_w = data.n_nurses, data.days, data.n_shifts, len(data.weekends)
    n_x, n_y, n_s = n_n * n_d * n_k, n_n * n_w, n_d * n_k
    n_col = n_x + n_y + 2 * n_s
    on = np.asarray(data.on_weight, dtype=float).ravel()
    off = np.asarray(data.off_weight, dtype=float).ravel()
    cost = np.concatenate([off - on, np.zeros(n_y), np.asarray(data.under_weight, dtype=float).ravel(),
                           np.asarray(data.over_weight, dtype=float).ravel()])
    upper = np.concatenate([cell_bounds(data).ravel().astype(float), np.ones(n_y), np.full(2 * n_s, highspy.kHighsInf)])

    index, coef, lower, upper_row, length = [], [], [], [], []
    for rows in roster_rows(data).values():
        for block_index, block_coef, block_lower, block_upper in zip(rows.index, rows.coef, rows.lower, rows.upper):
            index.append(block_index.ravel())
            coef.append(np.ascontiguousarray(block_coef).ravel())
            lower.append(block_lower)
            upper_row.append(block_upper)
            length.append(np.full(block_index.shape[0], block_index.shape[1]))
    lengths = np.concatenate(length)
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = len(lengths)
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n_col)
    lp.col_upper_ = upper
    lp.row_lower_ = np.where(np.isfinite(np.concatenate(lower)), np.concatenate(lower), -highspy.kHighsInf)
    lp.row_upper_ = np.where(np.isfinite(np.concatenate(upper_row)), np.concatenate(upper_row), highspy.kHighsInf)
    lp.offset_ = float(on.sum())
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    lp.a_matrix_.index_ = np.concatenate(index).astype(np.int32)
    lp.a_matrix_.value_ = np.concatenate(coef)
    if not relax_integrality:
        kind = np.full(n_col, highspy.HighsVarType.kContinuous)
        kind[: n_x + n_y] = highspy.HighsVarType.kInteger
        lp.integrality_ = kind.tolist()
    highs = new_highs({"threads": threads})
    highs.passModel(lp)
    return HighsRoster(highs=highs, data=data, build_seconds=time.perf_counter() - began)


def solve_highs(model: HighsRoster, *, time_limit: float | None = None) -> tuple[str, float | None, float, float]:
    """Run HiGHS on a :func:`build_highs` model.

    Parameters
    ----------
    model : HighsRoster
        The model.
    time_limit : float, optional
        Wall-clock limit [s].

    Returns
    -------
    (str, float or None, float, float)
        HiGHS's model status, the objective [penalty points] (None without a solution),
        the bound [penalty points] and HiGHS's run time [s].
    """
    highs = model.highs
    if time_limit is not None:
        highs.setOptionValue("time_limit", float(time_limit))
    began = time.perf_counter()
    highs.run()
    seconds = time.perf_counter() - began
    info = highs.getInfo()
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    objective = float(info.objective_function_value) if has_solution else None
    bound = float(info.mip_dual_bound) if highs.getLp().integrality_ else objective
    return highs.modelStatusToString(highs.getModelStatus()), objective, bound, seconds
