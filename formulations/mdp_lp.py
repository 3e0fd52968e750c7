"""Linear programs of finite Markov decision processes (cost minimisation).

Conventions (shared with :mod:`optalloc.dp`):

* ``S`` states, ``A`` actions;
* ``C`` has shape ``(S, A)``: ``C[s, a]`` is the expected one-step cost of
  action ``a`` in state ``s`` (cost units); ``np.inf`` marks an infeasible
  action; every state needs at least one feasible action;
* ``P`` is a SciPy sparse matrix of shape ``(A*S, S)`` with ACTION-MAJOR
  rows: row ``a*S + s`` is the distribution of the next state after action
  ``a`` in state ``s``; the row of every feasible pair is a probability
  distribution (non-negative, summing to 1 within
  :data:`optalloc.dp.bellman.ROW_SUM_TOL`); rows of infeasible actions are
  ignored.

Inputs are validated by :func:`optalloc.dp.bellman.check_mdp`, the rule the
DP solvers apply, so an MDP the LP accepts is exactly one DP accepts, with
the same error message otherwise.

The discounted problem ``V = min_a C[:, a] + gamma * P_a V`` is the LP

.. math::

    \\max \\sum_s v_s \\quad \\text{s.t.}\\quad
    v_s \\le C[s, a] + \\gamma \\sum_{s'} P[aS+s, s'] \\, v_{s'}
    \\quad \\text{for every feasible } (s, a),

whose unique optimum is the optimal value function (``0 <= gamma < 1``).
The finite-horizon problem with stages ``(P_t, C_t)``, ``t = 0..T-1``, and
terminal values ``V_T`` is the LP with variables ``V_t`` (``t < T``),
constraints ``V_t[s] <= C_t[s, a] + gamma * P_t[a S_t + s] . V_{t+1}`` and
objective ``max sum_t sum_s V_t[s]``; state counts may differ between
stages (``P_t`` has shape ``(A_t S_t, S_{t+1})``).

The Pyomo models (:func:`build_mdp_lp`, :func:`build_finite_horizon_lp`,
for embedding or inspection) are built row by row from the sparse matrix (one
``LinearExpression`` per feasible state-action pair), i.e. in time linear in
the number of non-zeros; :func:`finite_horizon_lp_values` builds its LP as
arrays instead (:func:`finite_horizon_lp_arrays`), which is what lets it solve
days of 10^5 states. Both are solved with tight HiGHS feasibility tolerances
(1e-9). The simplex optimum is a basic solution, i.e. the exact solution of
the optimal policy's Bellman equation, so the values match dynamic
programming to rounding error (about 1e-13 at S = 50, 1e-10 at S = 300,
gamma = 0.99 in tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pyomo.core.expr.numeric_expr import LinearExpression
from pyomo.environ import ConcreteModel, Constraint, Objective, Reals, Var, maximize

from optalloc.dp.bellman import ActionMajorMDP, check_mdp
from optalloc.exceptions import InfeasibleFormulation, bad_value
from optalloc.formulations.highs_arrays import highs_lp, run
from optalloc.formulations.solve import SolveResult, solve

__all__ = [
    "ArrayLP",
    "build_finite_horizon_lp",
    "build_mdp_lp",
    "finite_horizon_lp_arrays",
    "finite_horizon_lp_values",
    "mdp_lp_values",
]

#: HiGHS options for MDP LPs: tight tolerances so LP values equal DP values.
LP_OPTIONS: dict[str, Any] = {
    "primal_feasibility_tolerance": 1e-9,
    "dual_feasibility_tolerance": 1e-9,
}


def mdp_lp_values(P: Any, C: npt.ArrayLike, gamma: float) -> tuple[np.ndarray, SolveResult]:
    """Optimal values of a discounted MDP by its primal LP.

    Parameters
    ----------
    P : scipy.sparse matrix or array, shape (A*S, S)
        Transition probabilities, action-major rows (``a*S + s``).
    C : array_like, shape (S, A)
        One-step costs (cost units); ``np.inf`` marks infeasible actions.
    gamma : float
        Discount factor per step, ``0 <= gamma < 1``.

    Returns
    -------
    values : numpy.ndarray, shape (S,)
        Optimal expected discounted cost from each state (cost units).
    result : SolveResult
        The HiGHS solve.

    Raises
    ------
    ConfigurationError
        For inconsistent shapes, invalid probabilities or costs, a state
        without a feasible action, or a feasible row of ``P`` that is not a
        probability distribution (see :func:`optalloc.dp.bellman.check_mdp`).
    InfeasibleFormulation
        If HiGHS finds no optimum.
    """
    model = build_mdp_lp(P, C, gamma)
    result = solve(model, options=LP_OPTIONS)
    return _var_values(model.v, range(model.n_states)), result


def finite_horizon_lp_values(
    stages: Sequence[tuple[Any, npt.ArrayLike]],
    terminal: npt.ArrayLike,
    gamma: float = 1.0,
) -> tuple[list[np.ndarray], SolveResult]:
    """Optimal values of a finite-horizon MDP by one LP over all stages.

    The LP is built as arrays and handed to HiGHS in one call (see
    :func:`finite_horizon_lp_arrays`), so it takes seconds to build where the
    Pyomo model of :func:`build_finite_horizon_lp` takes minutes (10^5 states).

    Parameters
    ----------
    stages : sequence of (P_t, C_t)
        For ``t = 0..T-1`` (T >= 1): ``P_t`` of shape ``(A_t*S_t, S_{t+1})``
        (action-major rows) and ``C_t`` of shape ``(S_t, A_t)`` (cost units,
        ``np.inf`` = infeasible).
    terminal : array_like, shape (S_T,)
        Terminal values ``V_T`` (cost units), finite.
    gamma : float, default 1.0
        Discount factor per stage, ``0 <= gamma <= 1``.

    Returns
    -------
    values : list of numpy.ndarray
        ``[V_0, ..., V_{T-1}, V_T]``; ``V_t`` has shape ``(S_t,)`` (cost units)
        and ``V_T`` is a copy of ``terminal``.
    result : SolveResult
        The HiGHS solve.

    Raises
    ------
    ConfigurationError
        For stages the DP solvers would refuse (see :func:`optalloc.dp.bellman.check_mdp`).
    InfeasibleFormulation
        If HiGHS finds no optimum, or the optimum touches the value bounds (which cannot
        happen for a valid MDP: the bounds are the sums of each stage's extreme costs).
    """
    checked, terminal_values, gamma = _check_finite_horizon(stages, terminal, gamma)
    lp = finite_horizon_lp_arrays(checked, terminal_values, gamma)
    h = highs_lp(lp.objective, lp.matrix, lp.row_lower, lp.row_upper, lp.col_lower, lp.col_upper, maximize=True,
                 options=LP_OPTIONS)
    x, result = run(h)
    if x is None:
        raise InfeasibleFormulation(f"The finite-horizon MDP LP ended with HiGHS status {result.termination}.")
    if np.any(x <= lp.col_lower) or np.any(x >= lp.col_upper):
        raise InfeasibleFormulation("The finite-horizon MDP LP's optimum touches its value bounds; "
                                    "the stages' costs do not bound the values.")
    values = [x[start:start + n] for start, n in zip(lp.value_starts, lp.stage_sizes, strict=True)]
    values.append(terminal_values.copy())
    return values, result


@dataclass(frozen=True)
class ArrayLP:
    """``max objective . x`` s.t. ``row_lower <= matrix x <= row_upper``, ``col_lower <= x <= col_upper``.

    Attributes
    ----------
    objective, col_lower, col_upper : ndarray, shape (n,)
    matrix : scipy.sparse.csr_array, shape (m, n)
    row_lower, row_upper : ndarray, shape (m,)
    stage_sizes : list of int
        ``S_t`` for ``t < T``.
    value_starts : list of int
        Column of ``V_t[0]``; ``V_t`` occupies the next ``S_t`` columns.
    """

    objective: np.ndarray
    matrix: sp.csr_array
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    stage_sizes: list[int]
    value_starts: list[int]


def finite_horizon_lp_arrays(
    stages: Sequence[tuple[sp.csr_array, np.ndarray]], terminal: np.ndarray, gamma: float
) -> ArrayLP:
    """The finite-horizon MDP LP of validated stages as arrays, with one column per distinct next-state distribution.

    Many state-action pairs of a stage share one distribution of the next state
    (in a queue, every pair that leaves the same patients waiting). Each
    distinct row ``p`` of ``P_t`` gets a column ``W_{t,p} = p . V_{t+1}`` (one
    equality row), and each feasible pair the row
    ``V_t[s] - gamma * W_{t,p(s,a)} <= C_t[s, a]``. Substituting ``W`` gives back
    the LP of the module docstring exactly, with far fewer non-zeros. The last
    stage's expectations are constants (``p . V_T``) and need no column.

    Columns get finite bounds, the sums of each remaining stage's smallest and
    largest finite costs (discounted, plus the terminal values' range, widened by
    one unit), which every value lies within; bounded columns let HiGHS's dual
    simplex start without a phase 1.

    Parameters
    ----------
    stages : sequence of (csr_array, ndarray)
        Validated ``(P_t, C_t)`` (:func:`_check_finite_horizon`).
    terminal : ndarray, shape (S_T,)
        Terminal values.
    gamma : float
        Discount factor in ``[0, 1]``.
    """
    T = len(stages)
    sizes = [costs.shape[0] for _, costs in stages]
    lo, hi = _value_bounds(stages, terminal, gamma)
    distinct = [_distinct_rows(P[_feasible_pairs(costs)[1]]) for P, costs in stages[:-1]]
    value_starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    w_counts = [table.shape[0] for table, _ in distinct]
    w_starts = value_starts[-1] + np.concatenate([[0], np.cumsum(w_counts)]).astype(np.int64)
    n = int(w_starts[-1])
    col_lower, col_upper = np.empty(n), np.empty(n)
    for t in range(T):
        col_lower[value_starts[t]:value_starts[t + 1]], col_upper[value_starts[t]:value_starts[t + 1]] = lo[t], hi[t]
    for t in range(T - 1):
        col_lower[w_starts[t]:w_starts[t + 1]], col_upper[w_starts[t]:w_starts[t + 1]] = lo[t + 1], hi[t + 1]

    blocks, lower, upper = [], [], []
    for t, (P, costs) in enumerate(stages):
        pairs, rows = _feasible_pairs(costs)
        states, actions = pairs
        k = len(states)
        current = sp.csr_array((np.ones(k), (np.arange(k), value_starts[t] + states)), shape=(k, n))
        if t == T - 1:
            blocks.append(current)
            upper.append(costs[states, actions] + gamma * (P[rows] @ terminal))
        else:
            table, inverse = distinct[t]
            expectation = sp.csr_array((np.full(k, -gamma), (np.arange(k), w_starts[t] + inverse)), shape=(k, n))
            blocks.append(current + expectation)
            upper.append(costs[states, actions])
        lower.append(np.full(k, -np.inf))
    for t, (table, _) in enumerate(distinct):
        u = table.shape[0]
        own = sp.csr_array((np.ones(u), (np.arange(u), w_starts[t] + np.arange(u))), shape=(u, n))
        following = sp.csr_array((-table.data, table.indices + value_starts[t + 1], table.indptr), shape=(u, n))
        blocks.append(own + following)
        lower.append(np.zeros(u))
        upper.append(np.zeros(u))
    objective = np.zeros(n)
    objective[:value_starts[-1]] = 1.0
    return ArrayLP(objective=objective, matrix=sp.vstack(blocks, format="csr"), row_lower=np.concatenate(lower),
                   row_upper=np.concatenate(upper), col_lower=col_lower, col_upper=col_upper, stage_sizes=sizes,
                   value_starts=value_starts[:-1].tolist())


def _feasible_pairs(costs: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """``((states, actions), rows)`` of the feasible pairs, state-major; rows are the action-major ``a*S+s``."""
    states, actions = np.nonzero(np.isfinite(costs))
    return (states, actions), actions * costs.shape[0] + states


def _distinct_rows(matrix: sp.csr_array) -> tuple[sp.csr_array, np.ndarray]:
    """The distinct rows of a canonical CSR matrix and, per row, the index of its distinct row."""
    counts = np.diff(matrix.indptr)
    width = int(counts.max()) if len(counts) else 0
    position = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], counts)
    row = np.repeat(np.arange(matrix.shape[0]), counts)
    key = np.full((matrix.shape[0], 2 * width), -1.0)
    key[row, position] = matrix.indices
    key[row, width + position] = matrix.data
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    return matrix[first], inverse.ravel()


def _value_bounds(stages: Sequence[tuple[sp.csr_array, np.ndarray]], terminal: np.ndarray,
                  gamma: float) -> tuple[list[float], list[float]]:
    """Per stage, a lower and an upper bound of every value ``V_t[s]`` (cost units), one unit wide of the truth."""
    lo, hi = [float(terminal.min())], [float(terminal.max())]
    for _, costs in reversed(stages):
        finite = costs[np.isfinite(costs)]
        lo.append(float(finite.min()) + gamma * lo[-1])
        hi.append(float(finite.max()) + gamma * hi[-1])
    lo, hi = lo[:0:-1], hi[:0:-1]
    return [x - 1.0 - abs(x) * 1e-6 for x in lo], [x + 1.0 + abs(x) * 1e-6 for x in hi]


def build_mdp_lp(P: Any, C: npt.ArrayLike, gamma: float) -> ConcreteModel:
    """The primal LP of a discounted MDP as a Pyomo model (not solved).

    Parameters
    ----------
    P, C, gamma
        As in :func:`mdp_lp_values`.

    Returns
    -------
    ConcreteModel
        Named ``"mdp_lp"``, with ``v[s]`` (cost units), ``bellman[s, a]`` for
        every feasible pair, ``objective`` (maximise ``sum_s v[s]``) and the
        plain attribute ``n_states``.
    """
    P, costs, gamma = _check_discounted(P, C, gamma)
    n_states, n_actions = costs.shape
    model = ConcreteModel(name="mdp_lp")
    model.n_states = n_states
    model.v = Var(range(n_states), domain=Reals, doc="Optimal expected discounted cost from state s (cost units)")

    stacked_identity = sp.csr_array(sp.vstack([sp.identity(n_states, format="csr")] * n_actions))
    lhs = sp.csr_array(stacked_identity - gamma * P)
    lhs.sum_duplicates()
    lhs.eliminate_zeros()
    variables = [model.v[s] for s in range(n_states)]

    pairs, rows = _feasible_rows(costs)
    expressions = {
        pair: _row_expression(lhs, row, variables) <= float(costs[pair])
        for pair, row in zip(pairs, rows, strict=True)
    }
    model.bellman = Constraint(
        pairs,
        rule=lambda m, s, a: expressions[s, a],
        doc="v[s] - gamma * sum_s' P[a*S+s, s'] v[s'] <= C[s, a] (cost units)",
    )
    model.objective = Objective(expr=sum(variables), sense=maximize, doc="Sum of state values (cost units)")
    return model


def build_finite_horizon_lp(
    stages: Sequence[tuple[Any, npt.ArrayLike]],
    terminal: npt.ArrayLike,
    gamma: float = 1.0,
) -> ConcreteModel:
    """The LP of a finite-horizon MDP as a Pyomo model (not solved).

    Parameters
    ----------
    stages, terminal, gamma
        As in :func:`finite_horizon_lp_values`.

    Returns
    -------
    ConcreteModel
        Named ``"finite_horizon_mdp_lp"``, with ``v[t, s]`` (cost units) for
        ``t < T``, ``bellman[t, s, a]``, ``objective`` and the plain
        attributes ``stage_sizes`` (``[S_0, ..., S_{T-1}]``) and
        ``terminal_values``.
    """
    checked, terminal_values, gamma = _check_finite_horizon(stages, terminal, gamma)
    sizes = [costs.shape[0] for _, costs in checked]
    model = ConcreteModel(name="finite_horizon_mdp_lp")
    model.stage_sizes = sizes
    model.terminal_values = terminal_values
    index = [(t, s) for t, n in enumerate(sizes) for s in range(n)]
    model.v = Var(index, domain=Reals, doc="Optimal expected cost-to-go at stage t from state s (cost units)")

    expressions: dict[tuple[int, int, int], Any] = {}
    for t, (P, costs) in enumerate(checked):
        n_states, n_actions = costs.shape
        current = [model.v[t, s] for s in range(n_states)]
        last = t == len(checked) - 1
        following = None if last else [model.v[t + 1, s] for s in range(sizes[t + 1])]
        continuation = gamma * (P @ terminal_values) if last else None
        pairs, rows = _feasible_rows(costs)
        for (s, a), row in zip(pairs, rows, strict=True):
            if last:
                expressions[t, s, a] = current[s] <= float(costs[s, a] + continuation[row])
            else:
                body = LinearExpression(
                    constant=0.0,
                    linear_coefs=[1.0] + (-gamma * _row_data(P, row)).tolist(),
                    linear_vars=[current[s]] + [following[j] for j in _row_columns(P, row)],
                )
                expressions[t, s, a] = body <= float(costs[s, a])
    model.bellman = Constraint(
        list(expressions),
        rule=lambda m, t, s, a: expressions[t, s, a],
        doc="V_t[s] - gamma * P_t[a*S_t+s] . V_{t+1} <= C_t[s, a] (cost units)",
    )
    model.objective = Objective(expr=sum(model.v.values()), sense=maximize, doc="Sum of all stage values (cost units)")
    return model


# ------------------------------------------------------------------- building


def _feasible_rows(costs: np.ndarray) -> tuple[list[tuple[int, int]], list[int]]:
    """:func:`_feasible_pairs` as Python lists, for Pyomo's index sets: (s, a) pairs, state-major, and rows a*S+s."""
    (states, actions), rows = _feasible_pairs(costs)
    return list(zip(states.tolist(), actions.tolist(), strict=True)), rows.tolist()


def _row_data(matrix: sp.csr_array, row: int) -> np.ndarray:
    return matrix.data[matrix.indptr[row] : matrix.indptr[row + 1]]


def _row_columns(matrix: sp.csr_array, row: int) -> list[int]:
    return matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]].tolist()


def _row_expression(matrix: sp.csr_array, row: int, variables: list[Any]) -> LinearExpression:
    """``sum_j matrix[row, j] * variables[j]`` as one linear expression."""
    return LinearExpression(
        constant=0.0,
        linear_coefs=_row_data(matrix, row).tolist(),
        linear_vars=[variables[j] for j in _row_columns(matrix, row)],
    )


def _var_values(var: Any, index: Any) -> np.ndarray:
    return np.array([var[i].value for i in index], dtype=float)


# ------------------------------------------------------------------ validation


def _check_discounted(P: Any, C: npt.ArrayLike, gamma: float) -> tuple[sp.csr_array, np.ndarray, float]:
    owner = "mdp_lp_values"
    if not _is_number(gamma) or not 0.0 <= gamma < 1.0:
        raise bad_value(owner, "gamma", "a number in [0, 1)", gamma)
    matrix, costs = _lp_arrays(check_mdp(P, C, owner=owner))
    return matrix, costs, float(gamma)


def _check_finite_horizon(
    stages: Sequence[tuple[Any, npt.ArrayLike]], terminal: npt.ArrayLike, gamma: float
) -> tuple[list[tuple[sp.csr_array, np.ndarray]], np.ndarray, float]:
    owner = "finite_horizon_lp_values"
    if not _is_number(gamma) or not 0.0 <= gamma <= 1.0:
        raise bad_value(owner, "gamma", "a number in [0, 1]", gamma)
    stages = list(stages)
    if not stages:
        raise bad_value(owner, "stages", "a non-empty sequence of (P_t, C_t) pairs", stages)
    terminal_values = np.array(terminal, dtype=float)
    if terminal_values.ndim != 1 or not np.all(np.isfinite(terminal_values)):
        raise bad_value(owner, "terminal", "a 1-D array of finite values", terminal)
    for t, stage in enumerate(stages):
        if not (isinstance(stage, (tuple, list)) and len(stage) == 2):
            raise bad_value(owner, f"stages[{t}]", "a (P_t, C_t) pair", type(stage).__name__)
    # last stage first: the state count of stage t+1 fixes the columns of P_t
    checked: list[tuple[sp.csr_array, np.ndarray]] = [None] * len(stages)  # type: ignore[list-item]
    n_next = terminal_values.size
    for t in range(len(stages) - 1, -1, -1):
        P_t, C_t = stages[t]
        mdp = check_mdp(
            P_t, C_t, owner=owner, p_name=f"stages[{t}][0] (P_{t})", c_name=f"stages[{t}][1] (C_{t})", n_next=n_next
        )
        checked[t] = _lp_arrays(mdp)
        n_next = mdp.n_states
    return checked, terminal_values, float(gamma)


def _lp_arrays(mdp: ActionMajorMDP) -> tuple[sp.csr_array, np.ndarray]:
    """``P`` (canonical CSR, float64) and ``C`` (shape ``(S, A)``) of a validated MDP."""
    return mdp.rows.to_csr(), np.ascontiguousarray(mdp.cost_t.T)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and np.isfinite(x)
