"""Linear programs given as NumPy/SciPy arrays, handed to ``highspy`` in one call.

Models too large to build constraint by constraint in Pyomo in good time (the
LP of a finite-horizon MDP with 10^5 states and 10^6 non-zeros) are built
here as one row-wise sparse matrix and passed to a ``highspy.Highs`` with
``passModel``; :func:`run` solves it and reports a
:class:`~optalloc.formulations.solve.SolveResult` like the Pyomo path does.
HiGHS runs silent and on one thread unless told otherwise, as on that path.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from optalloc.formulations.solve import SolveResult, SolveStatus, use_threads

__all__ = ["highs_lp", "new_highs", "run"]

#: Options of every array LP (the caller's override them).
BASE_OPTIONS: Mapping[str, Any] = {"output_flag": False, "threads": 1}


def new_highs(options: Mapping[str, Any] | None = None) -> Any:
    """A silent ``highspy.Highs`` with :data:`BASE_OPTIONS` and ``options`` set.

    HiGHS prints its banner to the process's standard output when the first
    instance is made, before any option can be set: the construction runs with
    that output captured, as Pyomo's own HiGHS interface does.
    """
    import highspy
    from pyomo.common.tee import capture_output

    settings = {**BASE_OPTIONS, **(options or {})}
    use_threads(int(settings["threads"]))  # HiGHS keeps one process-wide scheduler
    with capture_output(capture_fd=True):
        h = highspy.Highs()
    for key, value in settings.items():
        h.setOptionValue(key, value)
    return h


def highs_lp(objective: np.ndarray, matrix: sp.csr_array, row_lower: np.ndarray, row_upper: np.ndarray,
             col_lower: np.ndarray | None = None, col_upper: np.ndarray | None = None, *, maximize: bool = False,
             options: Mapping[str, Any] | None = None) -> Any:
    """A ``highspy.Highs`` holding ``min/max objective . x`` s.t. ``row_lower <= A x <= row_upper``, bounds on ``x``.

    Parameters
    ----------
    objective : ndarray, shape (n,)
        Objective coefficients.
    matrix : scipy.sparse.csr_array, shape (m, n)
        Constraint matrix ``A``, row-wise.
    row_lower, row_upper : ndarray, shape (m,)
        Row bounds; ``-inf`` / ``inf`` for none.
    col_lower, col_upper : ndarray, shape (n,), optional
        Column bounds; None: free columns.
    maximize : bool, default False
        Sense of the objective.
    options : mapping, optional
        HiGHS options on top of :data:`BASE_OPTIONS`.

    Returns
    -------
    highspy.Highs
        Loaded, not solved (rows may still be added with ``addRows``).
    """
    import highspy

    h = new_highs(options)
    m, n = matrix.shape
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, m
    lp.col_cost_ = np.asarray(objective, dtype=float)
    lp.col_lower_ = np.full(n, -inf) if col_lower is None else np.where(np.isfinite(col_lower), col_lower, -inf)
    lp.col_upper_ = np.full(n, inf) if col_upper is None else np.where(np.isfinite(col_upper), col_upper, inf)
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -inf)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = np.asarray(matrix.data, dtype=float)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    h.passModel(lp)
    return h


def run(h: Any) -> tuple[np.ndarray | None, SolveResult]:
    """Solve ``h``; its optimal columns (None without an optimum) and the solve's :class:`SolveResult`."""
    import highspy

    start = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - start
    status = h.getModelStatus()
    statuses = {highspy.HighsModelStatus.kOptimal: SolveStatus.OPTIMAL,
                highspy.HighsModelStatus.kInfeasible: SolveStatus.INFEASIBLE,
                highspy.HighsModelStatus.kUnbounded: SolveStatus.UNBOUNDED}
    outcome = statuses.get(status, SolveStatus.ERROR)
    optimal = outcome is SolveStatus.OPTIMAL
    objective = float(h.getInfo().objective_function_value) if optimal else None
    result = SolveResult(status=outcome, termination=h.modelStatusToString(status), objective=objective,
                         bound=objective, gap=0.0 if optimal else None, seconds=seconds,
                         solver=f"highs {h.version()}")
    return (np.asarray(h.getSolution().col_value, dtype=float) if optimal else None), result
