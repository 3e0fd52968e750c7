"""Array LPs handed to HiGHS: a textbook optimum, and the statuses of an infeasible and an unbounded LP."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from optalloc.formulations.highs_arrays import highs_lp, run
from optalloc.formulations.solve import SolveStatus


def test_textbook_lp_optimum():
    # max 3x + 5y s.t. x <= 4, 2y <= 12, 3x + 2y <= 18, x, y >= 0: optimum 36 at (2, 6) (Hillier & Lieberman).
    matrix = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 2.0]]))
    h = highs_lp(np.array([3.0, 5.0]), matrix, np.full(3, -np.inf), np.array([4.0, 12.0, 18.0]),
                 np.zeros(2), np.full(2, np.inf), maximize=True)
    x, result = run(h)
    np.testing.assert_allclose(x, [2.0, 6.0], atol=1e-9)
    assert result.status is SolveStatus.OPTIMAL and result.objective == pytest.approx(36.0)
    assert result.bound == result.objective and result.gap == 0.0 and result.solver.startswith("highs ")


@pytest.mark.parametrize(("rows", "lower", "upper", "status"), [
    ([[1.0, 1.0]], [2.0], [1.0], SolveStatus.INFEASIBLE),  # 2 <= x + y <= 1
    ([[1.0, -1.0]], [-np.inf], [0.0], SolveStatus.UNBOUNDED),  # max x with x <= y, both free
])
def test_infeasible_and_unbounded_have_no_columns(rows, lower, upper, status):
    h = highs_lp(np.array([1.0, 0.0]), sp.csr_array(np.array(rows)), np.array(lower), np.array(upper),
                 maximize=True, options={"presolve": "off"})
    x, result = run(h)
    assert x is None and result.status is status and result.objective is None
