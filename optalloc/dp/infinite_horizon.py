"""Infinite-horizon discounted-cost MDPs: value iteration and policy iteration.

All solvers minimise the expected discounted cost
``V*(s) = min_pi E[sum_t gamma^t C(s_t, a_t) | s_0 = s]`` of a finite MDP given
in the action-major layout described in :mod:`optalloc.dp.bellman`.

Error bound (all solvers)
-------------------------
Every solver stops on, and reports, the MacQueen (Porteus) bound of one Bellman
sweep.  For any ``v`` let ``d = T v - v``, ``m = min_s d(s)``, ``M = max_s d(s)``.
Because ``T`` is monotone and ``T(v + c) = T v + gamma c`` for constants ``c``
(rows of ``P`` sum to 1)::

    T v + gamma m / (1 - gamma)  <=  V*  <=  T v + gamma M / (1 - gamma)

so the midpoint ``values = T v + gamma (m + M) / (2 (1 - gamma))`` satisfies::

    ||values - V*||_inf  <=  gamma (M - m) / (2 (1 - gamma))            (*)

``(*)`` uses the *span* ``M - m`` of the change, not its sup-norm: it is never
larger than the classical bound ``gamma ||T v - v||_inf / (1 - gamma)`` and,
on a fast-mixing MDP, orders of magnitude smaller.  The reported ``tolerance``
is ``(*)`` plus an allowance for floating point (twice the worst-case rounding
error of the computed sweep, the difference and the midpoint; see
:func:`optalloc.dp.bellman.rounding_allowance`) and for rows of ``P`` that sum
to 1 only within ``delta <= 1e-9`` (``2 gamma delta max|d| / ((1 - gamma)
(1 - gamma (1 + delta)))``), so it is a guaranteed bound on ``|values - V*|``
for the MDP as given.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.linalg
import scipy.sparse.linalg as spla

from optalloc.dp.bellman import (
    UNIT_ROUNDOFF,
    ActionMajorMDP,
    BellmanSweeper,
    PolicyMatrix,
    Workers,
    _abs_max,
    _as_int,
    check_discount,
    check_mdp,
    resolve_threads,
    rounding_allowance,
)
from optalloc.exceptions import bad_value

__all__ = ["DPResult", "value_iteration", "policy_iteration"]

#: Exact policy evaluation: dense LU up to this many states ...
DENSE_MAX_STATES = 1_000
#: ... sparse LU (no reordering) when ``max |s' - s|`` of ``P_pi`` is at most this ...
BANDED_MAX_WIDTH = 64
#: ... otherwise successive approximation with MacQueen extrapolation while it
#: is predicted to need at most this many sweeps, else restarted GMRES ...
EXTRAPOLATION_MAX_SWEEPS = 200
#: ... (at most this many refinement rounds) ...
GMRES_REFINEMENTS = 4
#: ... with a sparse-LU fallback up to this many states.
LU_FALLBACK_MAX_STATES = 20_000


@dataclass(frozen=True)
class DPResult:
    """Solution of an infinite-horizon discounted-cost MDP.

    Attributes
    ----------
    values : np.ndarray
        Shape ``(S,)``, float64: estimate of the optimal expected discounted
        cost ``V*`` (cost units).
    policy : np.ndarray
        Shape ``(S,)``, int64: greedy action w.r.t. ``values`` (lowest index
        among exact ties); never an infeasible action.
    iterations : int
        Value iteration: Bellman sweeps until the stopping test passed.
        Policy iteration: policy-improvement steps (one Bellman sweep each).
    tolerance : float
        Guaranteed bound on ``max_s |values[s] - V*(s)|`` at stop (cost units).
    evaluations : int
        Value iteration: all sparse matrix-vector sweeps (``iterations`` plus
        the final policy-extraction sweep).  Policy iteration: policy-evaluation
        sweeps over ``P_pi`` (modified PI: partial-evaluation sweeps; exact PI:
        the iterative solvers' matrix-vector products, none when a direct LU
        factorisation is used, plus one residual check per evaluation).
    """

    values: np.ndarray
    policy: np.ndarray
    iterations: int
    tolerance: float
    evaluations: int = 0


@dataclass(frozen=True)
class _Bound:
    shift: float  # gamma (m + M) / (2 (1 - gamma))
    span_bound: float  # (*)
    allowance: float  # floating-point allowance
    bound: float  # span_bound + allowance


def _macqueen(mdp: ActionMajorMDP, gamma: float, tv: np.ndarray, v: np.ndarray, dmin: float, dmax: float) -> _Bound:
    """MacQueen midpoint shift and error bound from ``d = T v - v`` (see module docstring)."""
    k = gamma / (1.0 - gamma)
    span_bound = 0.5 * k * (dmax - dmin)
    shift = 0.5 * k * (dmax + dmin)
    u = UNIT_ROUNDOFF
    err_t = rounding_allowance(mdp, gamma, _abs_max(v))
    d_abs = max(abs(dmin), abs(dmax))
    values_abs = _abs_max(tv) + abs(shift)
    # |fl(Tv)-Tv| -> through (m, M) and the midpoint; fl(d) and fl(values) roundings
    allowance = 2.0 * (err_t / (1.0 - gamma) + k * u * d_abs + u * values_abs + 4.0 * u * abs(shift))
    # rows of P sum to 1 only within mdp.row_sum_dev = delta: T(v + c) = T v + gamma c (1 +- delta),
    # which widens the geometric sums of the bounds by at most gamma delta |d| / ((1-gamma)(1-gamma(1+delta)))
    delta = mdp.row_sum_dev
    if delta > 0.0:
        denom = (1.0 - gamma) * (1.0 - gamma * (1.0 + delta))
        allowance += 2.0 * gamma * delta * d_abs / denom if denom > 0.0 else float("inf")
    return _Bound(shift, span_bound, allowance, span_bound + allowance)


def _check_tol(tol: object, owner: str) -> float:
    try:
        t = float(tol)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        t = float("nan")
    if not (t > 0.0 and np.isfinite(t)):
        raise bad_value(owner, "tol", "a positive finite float", tol)
    return t


def _initial_values(v0: object, n_states: int, owner: str) -> np.ndarray:
    if v0 is None:
        return np.zeros(n_states)
    try:
        v = np.array(v0, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_value(owner, "v0", f"None or a float array of shape ({n_states},)", type(v0).__name__) from None
    if v.shape != (n_states,) or not np.isfinite(v).all():
        raise bad_value(owner, "v0", f"None or a finite float array of shape ({n_states},)", f"shape {v.shape}")
    return v


def _warn_stop(owner: str, reason: str, bound: _Bound, tol: float) -> None:
    warnings.warn(
        f"{owner} stopped {reason} with error bound {bound.bound:.3g} > tol={tol:.3g}"
        + (
            " (the floating-point allowance dominates: tol is below the attainable accuracy)"
            if bound.span_bound <= bound.allowance
            else ""
        ),
        RuntimeWarning,
        stacklevel=3,
    )


def _finish(
    sweeper: BellmanSweeper, tv: np.ndarray, scratch: np.ndarray, bound: _Bound
) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint values and the greedy policy w.r.t. them (one more sweep)."""
    values = tv + bound.shift
    policy = np.empty(values.shape[0], dtype=np.int64)
    sweeper.apply(values, scratch, policy=policy)
    return values, policy


def value_iteration(
    P: object,
    C: object,
    gamma: float,
    *,
    tol: float = 1e-8,
    max_iter: int = 100_000,
    v0: np.ndarray | None = None,
    n_threads: int | None = None,
) -> DPResult:
    """Solve a discounted-cost MDP by value iteration with MacQueen bounds.

    Iterates ``v <- T v`` (Jacobi sweeps) until the MacQueen bound
    ``gamma * span(T v - v) / (2 (1 - gamma))`` plus the floating-point
    allowance is at most ``tol`` (see the module docstring), then returns the
    midpoint ``T v + gamma (min + max)(T v - v) / (2 (1 - gamma))``.

    Parameters
    ----------
    P : scipy.sparse.csr_array or csr_matrix
        Transition matrix, shape ``(A*S, S)``, action-major rows (row
        ``a*S + s`` = next-state distribution after action ``a`` in state ``s``).
    C : array_like
        Expected one-period costs, shape ``(S, A)``; ``np.inf`` = infeasible.
    gamma : float
        Discount factor in ``[0, 1)``.
    tol : float, default 1e-8
        Required bound on ``max_s |values[s] - V*(s)|`` (cost units).
    max_iter : int, default 100_000
        Maximum number of sweeps; a ``RuntimeWarning`` is issued if reached.
    v0 : np.ndarray, optional
        Initial values, shape ``(S,)`` (default zeros).
    n_threads : int, optional
        Threads for large sweeps (default: the CPUs available, at most 8).

    Returns
    -------
    DPResult

    Raises
    ------
    optalloc.exceptions.ConfigurationError
        Invalid shapes, probabilities, costs, ``gamma``, ``tol`` or ``v0``.
    """
    owner = "value_iteration"
    mdp = check_mdp(P, C, owner=owner)
    gamma = check_discount(gamma, owner, allow_one=False)
    tol = _check_tol(tol, owner)
    max_iter = _as_int(max_iter, owner, "max_iter", 1)
    v = _initial_values(v0, mdp.n_states, owner)
    tv = np.empty_like(v)
    with Workers(resolve_threads(n_threads, owner)) as workers:
        sweeper = BellmanSweeper(mdp, gamma, workers)
        it = 0
        while True:
            it += 1
            dmin, dmax = sweeper.apply(v, tv, diff_from=v)
            bound = _macqueen(mdp, gamma, tv, v, dmin, dmax)
            v, tv = tv, v  # v <- T v
            if bound.bound <= tol:
                break
            if bound.span_bound <= bound.allowance:
                _warn_stop(owner, f"after {it} sweeps at the rounding floor", bound, tol)
                break
            if it >= max_iter:
                _warn_stop(owner, f"at max_iter={max_iter}", bound, tol)
                break
        values, policy = _finish(sweeper, v, tv, bound)
    return DPResult(values, policy, it, bound.bound, evaluations=it + 1)


def policy_iteration(
    P: object,
    C: object,
    gamma: float,
    *,
    tol: float = 1e-8,
    max_iter: int = 10_000,
    evaluation: Literal["exact"] | int = "exact",
    v0: np.ndarray | None = None,
    n_threads: int | None = None,
) -> DPResult:
    """Solve a discounted-cost MDP by (modified) policy iteration.

    ``evaluation="exact"`` -- Howard's policy iteration.  Each policy ``pi`` is
    evaluated by solving ``(I - gamma P_pi) v = c_pi``: dense LU up to
    1,000 states, sparse LU if ``P_pi`` is banded (``max |s' - s| <= 64``),
    otherwise iteratively to a guaranteed error ``max(0.01 tol, rounding
    floor)``: successive approximation ``v <- c_pi + gamma P_pi v`` with
    MacQueen extrapolation (fast on well-mixing chains; no BLAS, so it does
    not fight the sweep threads), switching to restarted GMRES when its
    observed contraction predicts more than 200 sweeps, then to sparse LU
    (up to 20,000 states) if GMRES fails.  The
    policy is then improved greedily, keeping the current action wherever it
    is still minimal within the rounding error (no cycling on ties), and the
    iteration stops when the policy no longer changes.

    ``evaluation=k`` (int >= 1) -- modified policy iteration (Puterman &
    Shin): after each improvement sweep ``u = T v`` with greedy policy ``pi``,
    ``v <- T_pi^k u`` (``k`` partial-evaluation sweeps over ``P_pi``).  It stops
    when the MacQueen bound of the improvement sweep is at most ``tol``.

    In both cases ``values`` is the MacQueen midpoint of the last improvement
    sweep and ``tolerance`` its guaranteed error bound (module docstring).

    Parameters
    ----------
    P : scipy.sparse.csr_array or csr_matrix
        Transition matrix, shape ``(A*S, S)``, action-major rows.
    C : array_like
        Expected one-period costs, shape ``(S, A)``; ``np.inf`` = infeasible.
    gamma : float
        Discount factor in ``[0, 1)``.
    tol : float, default 1e-8
        Modified PI: required error bound (cost units).  Exact PI: sets the
        accuracy of the iterative policy evaluation; the reported bound is
        usually far below it.
    max_iter : int, default 10_000
        Maximum number of improvement steps (``RuntimeWarning`` if reached).
    evaluation : "exact" or int, default "exact"
        Policy-evaluation method, see above.
    v0 : np.ndarray, optional
        Initial values, shape ``(S,)`` (default zeros).  Exact PI starts from
        the greedy policy w.r.t. ``v0``.
    n_threads : int, optional
        Threads for large sweeps (default: the CPUs available, at most 8).

    Returns
    -------
    DPResult

    Raises
    ------
    optalloc.exceptions.ConfigurationError
        Invalid inputs, including ``evaluation`` not ``"exact"`` nor a positive int.
    """
    owner = "policy_iteration"
    if isinstance(evaluation, str):
        if evaluation != "exact":
            raise bad_value(owner, "evaluation", '"exact" or a positive integer', evaluation)
        sweeps = 0
    else:
        sweeps = _as_int(evaluation, owner, "evaluation", 1)
    mdp = check_mdp(P, C, owner=owner)
    gamma = check_discount(gamma, owner, allow_one=False)
    tol = _check_tol(tol, owner)
    max_iter = _as_int(max_iter, owner, "max_iter", 1)
    v = _initial_values(v0, mdp.n_states, owner)
    with Workers(resolve_threads(n_threads, owner)) as workers:
        if sweeps == 0:
            return _howard(mdp, gamma, tol, max_iter, v, workers, owner)
        return _modified(mdp, gamma, tol, max_iter, sweeps, v, workers, owner)


def _modified(
    mdp: ActionMajorMDP,
    gamma: float,
    tol: float,
    max_iter: int,
    k: int,
    v: np.ndarray,
    workers: Workers,
    owner: str,
) -> DPResult:
    sweeper = BellmanSweeper(mdp, gamma, workers)
    tv = np.empty_like(v)
    w = np.empty_like(v)
    policy = np.empty(mdp.n_states, dtype=np.int64)
    pm: PolicyMatrix | None = None
    pm_policy = np.full(mdp.n_states, -1, dtype=np.int64)
    n_eval = 0
    it = 0
    while True:
        it += 1
        dmin, dmax = sweeper.apply(v, tv, diff_from=v, policy=policy)
        bound = _macqueen(mdp, gamma, tv, v, dmin, dmax)
        if bound.bound <= tol:
            break
        if bound.span_bound <= bound.allowance:
            _warn_stop(owner, f"after {it} improvement steps at the rounding floor", bound, tol)
            break
        if it >= max_iter:
            _warn_stop(owner, f"at max_iter={max_iter}", bound, tol)
            break
        if pm is None or not np.array_equal(policy, pm_policy):
            pm = PolicyMatrix(mdp, policy, gamma, workers)
            pm_policy[...] = policy
        a, b = tv, w  # partial evaluation v <- T_pi^k (T v)
        for _ in range(k):
            pm.apply(a, b)
            a, b = b, a
        n_eval += k
        v, tv, w = a, v, b
    values, policy = _finish(sweeper, tv, w, bound)
    return DPResult(values, policy, it, bound.bound, evaluations=n_eval)


def _howard(
    mdp: ActionMajorMDP,
    gamma: float,
    tol: float,
    max_iter: int,
    v: np.ndarray,
    workers: Workers,
    owner: str,
) -> DPResult:
    sweeper = BellmanSweeper(mdp, gamma, workers)
    tv = np.empty_like(v)
    policy = np.empty(mdp.n_states, dtype=np.int64)
    new_policy = np.empty_like(policy)
    sweeper.apply(v, tv, policy=policy)  # greedy w.r.t. v0
    n_eval = 0
    it = 0
    while True:
        it += 1
        pm = PolicyMatrix(mdp, policy, gamma, workers)
        v, n_mv, resid = _evaluate_exact(pm, v, mdp, gamma, tol, owner)
        n_eval += n_mv
        dmin, dmax = sweeper.apply(v, tv, diff_from=v, policy=new_policy)
        bound = _macqueen(mdp, gamma, tv, v, dmin, dmax)
        # keep the current action where it is minimal up to evaluation + rounding error
        tie = 2.0 * rounding_allowance(mdp, gamma, _abs_max(v)) + 2.0 * gamma * resid / (1.0 - gamma)
        keep = sweeper.q_of(policy) <= tv + tie
        new_policy[keep] = policy[keep]
        if np.array_equal(new_policy, policy):
            if bound.bound > tol:
                _warn_stop(owner, f"with a stable policy after {it} improvement steps", bound, tol)
            break
        if it >= max_iter:
            _warn_stop(owner, f"at max_iter={max_iter} before the policy was stable", bound, tol)
            break
        policy, new_policy = new_policy, policy
    values, policy = _finish(sweeper, tv, np.empty_like(tv), bound)
    return DPResult(values, policy, it, bound.bound, evaluations=n_eval)


def _evaluate_exact(
    pm: PolicyMatrix, v_init: np.ndarray, mdp: ActionMajorMDP, gamma: float, tol: float, owner: str
) -> tuple[np.ndarray, int, float]:
    """Solve ``(I - gamma P_pi) v = c_pi``; return ``(v, mat-vecs over P_pi, ||residual||_inf)``.

    Dense LU (small), sparse LU (banded), else extrapolated successive
    approximation; GMRES, then sparse LU, when that contracts too slowly.
    """
    s = pm.n_states
    floor = 4.0 * rounding_allowance(mdp, gamma, _abs_max(v_init) + mdp.max_abs_cost / (1.0 - gamma))
    n_mv = 0
    if s <= DENSE_MAX_STATES:
        v = scipy.linalg.solve(pm.system_matrix().toarray(), pm.cost, check_finite=False)
    elif pm.bandwidth() <= BANDED_MAX_WIDTH:
        v = spla.spsolve(pm.system_matrix().tocsc(), pm.cost, permc_spec="NATURAL")
    else:
        target = max(0.01 * tol, floor / (1.0 - gamma))  # error bound on v_pi
        v, n_mv, ok = _extrapolated_evaluation(pm, v_init, gamma, target)
        if not ok:
            v, n_gmres, ok = _gmres_evaluation(pm, v, target * (1.0 - gamma), floor)
            n_mv += n_gmres
        if not ok and s <= LU_FALLBACK_MAX_STATES:
            v = spla.spsolve(pm.system_matrix().tocsc(), pm.cost)
        elif not ok:
            warnings.warn(
                f"{owner}: iterative policy evaluation did not reach its target; continuing with "
                "an inexact evaluation (the reported error bound stays valid)",
                RuntimeWarning,
                stacklevel=4,
            )
    v = np.ascontiguousarray(v, dtype=np.float64)
    w = np.empty_like(v)
    pm.apply(v, w)
    np.subtract(w, v, out=w)
    return v, n_mv + 1, _abs_max(w)


def _extrapolated_evaluation(
    pm: PolicyMatrix, v_init: np.ndarray, gamma: float, target: float
) -> tuple[np.ndarray, int, bool]:
    """Successive approximation ``w <- T_pi w`` with MacQueen extrapolation.

    For a fixed policy the bounds of the module docstring hold with ``T_pi``:
    the midpoint ``T_pi w + gamma (m + M) / (2 (1 - gamma))`` is within
    ``gamma (M - m) / (2 (1 - gamma))`` of ``v_pi``.  The span ``M - m``
    contracts at the rate of the chain's second eigenvalue (times gamma),
    fast for well-mixing chains.  Gives up (``ok=False``) when the observed
    rate predicts more than :data:`EXTRAPOLATION_MAX_SWEEPS` sweeps.
    """
    k = gamma / (1.0 - gamma)
    w = v_init.copy()
    u = np.empty_like(w)
    d = np.empty_like(w)
    spans: list[float] = []
    for j in range(1, EXTRAPOLATION_MAX_SWEEPS + 1):
        pm.apply(w, u)
        np.subtract(u, w, out=d)
        m, big_m = float(d.min()), float(d.max())
        spans.append(big_m - m)
        w, u = u, w
        if 0.5 * k * spans[-1] <= target:
            w += 0.5 * k * (m + big_m)
            return w, j, True
        if j >= 8:
            rate = (spans[-1] / spans[-5]) ** 0.25 if spans[-5] > 0 else 0.0
            needed = np.log(target / (0.5 * k * spans[-1])) / np.log(rate) if 0.0 < rate < 1.0 else np.inf
            if j + needed > EXTRAPOLATION_MAX_SWEEPS:
                break
    w += 0.5 * k * (m + big_m)
    return w, j, False


def _gmres_evaluation(
    pm: PolicyMatrix, v_init: np.ndarray, resid_target: float, floor: float
) -> tuple[np.ndarray, int, bool]:
    """Restarted GMRES on ``(I - gamma P_pi) v = c_pi`` with iterative refinement.

    GMRES measures the residual in the 2-norm; the target is on the sup-norm
    of ``r = c_pi + gamma P_pi v - v``.  Each round therefore solves for a
    correction ``(I - gamma P_pi) e = r`` to a relative 2-norm accuracy of
    1e-8 and adds it, until ``||r||_inf <= max(resid_target, floor)``.
    """
    s = pm.n_states
    counter = [0]

    def matvec(x: np.ndarray) -> np.ndarray:
        counter[0] += 1
        return pm.matvec_system(np.ascontiguousarray(x, dtype=np.float64).reshape(-1))

    op = spla.LinearOperator((s, s), matvec=matvec, dtype=np.float64)
    target = max(resid_target, floor)
    v = v_init.copy()
    r = np.empty_like(v)
    for _ in range(GMRES_REFINEMENTS):
        pm.apply(v, r)
        counter[0] += 1
        r -= v
        if _abs_max(r) <= target:
            return v, counter[0], True
        e, _ = spla.gmres(op, r, rtol=1e-8, atol=0.0, restart=min(s, 40), maxiter=25)
        v += e
    pm.apply(v, r)
    counter[0] += 1
    r -= v
    return v, counter[0], _abs_max(r) <= target
