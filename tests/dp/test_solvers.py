"""Tests of optalloc.dp: solvers against independent dense computations."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import optalloc.dp.bellman as bellman
from optalloc.dp import (
    DPResult,
    FiniteHorizonResult,
    backward_induction,
    policy_iteration,
    queue_mdp,
    random_mdp,
    value_iteration,
)
from optalloc.exceptions import ConfigurationError

# ---------------------------------------------------------------------------
# independent dense references
# ---------------------------------------------------------------------------


def dense(P: sp.csr_array, C: np.ndarray) -> np.ndarray:
    """P as a dense (A, S, S_next) array."""
    S, A = C.shape
    return P.toarray().reshape(A, S, -1)


def dense_optimal(P: sp.csr_array, C: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """V* and an optimal policy by dense Howard policy iteration (np.linalg.solve)."""
    Pd = dense(P, C)
    S, A = C.shape
    pi = np.array([np.flatnonzero(np.isfinite(C[s]))[0] for s in range(S)])
    for _ in range(200):
        Ppi = Pd[pi, np.arange(S)]
        v = np.linalg.solve(np.eye(S) - gamma * Ppi, C[np.arange(S), pi])
        Q = C.T + gamma * Pd @ v  # (A, S)
        best = Q.min(axis=0)
        improve = Q[pi, np.arange(S)] > best + 1e-12 * (1 + np.abs(best))
        if not improve.any():
            return v, pi
        pi = np.where(improve, Q.argmin(axis=0), pi)
    raise AssertionError("dense policy iteration did not converge")


def policy_value(P: sp.csr_array, C: np.ndarray, gamma: float, pi: np.ndarray) -> np.ndarray:
    Pd = dense(P, C)
    S = C.shape[0]
    return np.linalg.solve(np.eye(S) - gamma * Pd[pi, np.arange(S)], C[np.arange(S), pi])


CASES = [
    # (S, A, successors, gamma, seed)
    (5, 2, 2, 0.5, 0),
    (12, 3, 4, 0.9, 1),
    (40, 4, 6, 0.95, 2),
    (80, 5, 3, 0.99, 3),
    (60, 1, 5, 0.9, 4),
    (30, 3, 30, 0.8, 5),  # dense rows
]


@pytest.mark.parametrize("S,A,k,gamma,seed", CASES)
def test_solvers_agree_with_dense_solution(S: int, A: int, k: int, gamma: float, seed: int) -> None:
    P, C = random_mdp(S, A, k, seed=seed, cost_scale=10.0)
    v_star, _ = dense_optimal(P, C, gamma)
    results = {
        "vi": value_iteration(P, C, gamma, tol=1e-9),
        "pi": policy_iteration(P, C, gamma, tol=1e-9),
        "mpi": policy_iteration(P, C, gamma, tol=1e-9, evaluation=5),
    }
    for name, res in results.items():
        assert isinstance(res, DPResult)
        assert res.values.shape == (S,) and res.values.dtype == np.float64, name
        assert res.policy.shape == (S,) and res.policy.dtype == np.int64, name
        assert np.abs(res.values - v_star).max() < 1e-6, name
        # the returned policy is optimal: its exact value equals V*
        assert np.abs(policy_value(P, C, gamma, res.policy) - v_star).max() < 1e-6, name
        assert res.tolerance <= 1e-9, name
    for a, b in itertools.combinations(results.values(), 2):
        assert np.abs(a.values - b.values).max() < 1e-6


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tol", [1e-1, 1e-3, 1e-5])
def test_tolerance_is_a_true_bound(seed: int, tol: float) -> None:
    gamma = [0.9, 0.95, 0.99, 0.999][seed]
    P, C = random_mdp(25 + 10 * seed, 3, 3, seed=100 + seed, cost_scale=5.0)
    v_star, _ = dense_optimal(P, C, gamma)
    for res in (
        value_iteration(P, C, gamma, tol=tol),
        policy_iteration(P, C, gamma, tol=tol, evaluation=2),
    ):
        err = np.abs(res.values - v_star).max()
        assert res.tolerance <= tol
        assert err <= res.tolerance
    # a deliberately stopped run still reports a true (large) bound, and warns
    with pytest.warns(RuntimeWarning, match="max_iter"):
        res = value_iteration(P, C, gamma, tol=1e-12, max_iter=3)
    assert res.iterations == 3
    assert res.tolerance > 1e-12
    assert np.abs(res.values - v_star).max() <= res.tolerance


def test_queue_bound_holds_and_vi_is_slow() -> None:
    P, C = queue_mdp(400, 4, seed=3)
    gamma = 0.99
    v_star, _ = dense_optimal(P, C, gamma)
    vi = value_iteration(P, C, gamma, tol=1e-6)
    mpi = policy_iteration(P, C, gamma, tol=1e-6, evaluation=50)
    pi = policy_iteration(P, C, gamma, tol=1e-6)
    for res in (vi, mpi, pi):
        assert np.abs(res.values - v_star).max() <= res.tolerance <= 1e-6
    assert vi.iterations > 1000  # slowly mixing: MacQueen bounds do not help VI much
    assert mpi.iterations < vi.iterations / 10
    assert vi.evaluations == vi.iterations + 1
    assert mpi.evaluations == 50 * (mpi.iterations - 1)


def test_queue_structure() -> None:
    P, C = queue_mdp(50, 3, seed=7)
    assert P.shape == (150, 50) and C.shape == (50, 3)
    coo = P.tocoo()
    state = coo.row % 50
    assert np.abs(coo.col - state).max() == 1  # birth-death
    assert np.allclose(P.sum(axis=1), 1.0, atol=1e-12)
    # cost: holding cost increasing in s, service cost increasing in a
    assert (np.diff(C, axis=0) > 0).all() and (np.diff(C, axis=1) > 0).all()
    P2, C2 = queue_mdp(50, 3, seed=8)
    assert not np.array_equal(C, C2)


@pytest.mark.parametrize("S,A,k", [(6, 2, 6), (10, 3, 4), (2000, 2, 20)])
def test_random_mdp_structure(S: int, A: int, k: int) -> None:
    P, C = random_mdp(S, A, k, seed=11, cost_scale=3.0)
    assert isinstance(P, sp.csr_array) and P.shape == (A * S, S)
    assert P.indices.dtype == np.int32 and P.has_canonical_format
    counts = np.diff(P.indptr)
    assert (counts == k).all()  # k distinct successors (canonical: no duplicates)
    assert np.abs(P.sum(axis=1) - 1).max() < 1e-12
    assert (P.data > 0).all()
    assert C.shape == (S, A) and C.min() >= 0 and C.max() < 3.0
    P2, C2 = random_mdp(S, A, k, seed=11, cost_scale=3.0)
    assert np.array_equal(P.indices, P2.indices) and np.array_equal(C, C2)
    P3, _ = random_mdp(S, A, k, seed=12, cost_scale=3.0)
    assert not np.array_equal(P.data, P3.data)


# ---------------------------------------------------------------------------
# finite horizon
# ---------------------------------------------------------------------------


def _random_stage(rng: np.random.Generator, S: int, A: int, S_next: int) -> tuple[sp.csr_array, np.ndarray]:
    Pd = rng.random((A * S, S_next)) * (rng.random((A * S, S_next)) < 0.7)
    Pd[np.arange(A * S), rng.integers(0, S_next, A * S)] += 0.1  # no empty row
    Pd /= Pd.sum(axis=1, keepdims=True)
    return sp.csr_array(Pd), rng.random((S, A)) * 10


@pytest.mark.parametrize("gamma", [1.0, 0.9])
@pytest.mark.parametrize("seed", range(3))
def test_backward_induction_matches_brute_force(gamma: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    S, A, T = 3, 2, 3
    stages = [_random_stage(rng, S, A, S) for _ in range(T)]
    if seed == 2:  # an infeasible action that would otherwise be the cheapest
        stages[1][1][0, 1] = np.inf
        stages[1][1][0, 0] = 100.0
    terminal = rng.random(S) * 5
    res = backward_induction(stages, terminal, gamma=gamma)
    assert isinstance(res, FiniteHorizonResult)
    assert len(res.values) == T + 1 and len(res.policy) == T

    dense_stages = [(P.toarray().reshape(A, S, S), C) for P, C in stages]
    best = np.full(S, np.inf)
    best_pol = None
    for pols in itertools.product(itertools.product(range(A), repeat=S), repeat=T):
        if any(np.isinf(dense_stages[t][1][np.arange(S), list(pols[t])]).any() for t in range(T)):
            continue  # uses an infeasible action
        v = terminal.copy()
        for t in range(T - 1, -1, -1):
            Pd, C = dense_stages[t]
            a = np.array(pols[t])
            v = C[np.arange(S), a] + gamma * Pd[a, np.arange(S)] @ v
        if np.all(v <= best + 1e-12):
            best_pol = pols
        best = np.minimum(best, v)
    assert np.abs(res.values[0] - best).max() < 1e-12
    # the optimal Markov policy attains the minimum from every initial state at once
    assert best_pol is not None
    for t in range(T):
        assert np.array_equal(res.policy[t], np.array(best_pol[t]))
    assert np.array_equal(res.values[T], terminal)
    if seed == 2:
        assert res.policy[1][0] == 0


def test_backward_induction_ties_and_stage_varying_states() -> None:
    rng = np.random.default_rng(5)
    sizes = [2, 4, 3, 5]  # S_0, S_1, S_2, S_3 (= terminal)
    actions = [3, 2, 4]
    stages = [_random_stage(rng, sizes[t], actions[t], sizes[t + 1]) for t in range(3)]
    # exact tie: action 2 duplicates action 1 at stage 0 (same row, same cost)
    P0, C0 = stages[0]
    P0d = P0.toarray()
    S0 = sizes[0]
    P0d[2 * S0 : 3 * S0] = P0d[1 * S0 : 2 * S0]
    C0[:, 2] = C0[:, 1]
    C0[:, 0] = 1e6
    stages[0] = (sp.csr_array(P0d), C0)
    terminal = rng.random(sizes[3])
    gamma = 0.95
    res = backward_induction(stages, terminal, gamma=gamma)
    # reference with explicit loops over states and actions
    v = terminal
    for t in range(2, -1, -1):
        P, C = stages[t]
        Pd = P.toarray()
        S, A = C.shape
        q = np.array([[C[s, a] + gamma * Pd[a * S + s] @ v for a in range(A)] for s in range(S)])
        assert np.array_equal(res.policy[t], q.argmin(axis=1))
        v = q.min(axis=1)
        assert res.values[t].shape == (sizes[t],)
        assert np.allclose(res.values[t], v, rtol=0, atol=1e-12)
    assert (res.policy[0] == 1).all()  # lowest index among the tied actions 1 and 2


def test_backward_induction_empty_horizon() -> None:
    res = backward_induction([], np.array([1.0, 2.0]))
    assert res.policy == [] and np.array_equal(res.values[0], [1.0, 2.0])


# ---------------------------------------------------------------------------
# infeasible actions
# ---------------------------------------------------------------------------


def test_infeasible_actions_never_chosen() -> None:
    S, A, gamma = 60, 4, 0.95
    P, C = random_mdp(S, A, 5, seed=21, cost_scale=10.0)
    rng = np.random.default_rng(0)
    infeasible = rng.random((S, A)) < 0.5
    infeasible[np.arange(S), rng.integers(0, A, S)] = False  # keep one feasible action per state
    C = C + 100.0
    C[infeasible] = np.inf
    Pd = P.toarray()
    rows = np.flatnonzero(infeasible.T.reshape(-1))
    Pd[rows] = 0.0  # infeasible rows may be all-zero ...
    Pd[rows[::2], 0] = 1.0  # ... or anything: here they would lead to the cheapest state
    P = sp.csr_array(Pd)
    v_star, _ = dense_optimal_feasible(Pd, C, gamma)
    for res in (
        value_iteration(P, C, gamma),
        policy_iteration(P, C, gamma),
        policy_iteration(P, C, gamma, evaluation=3),
    ):
        assert not infeasible[np.arange(S), res.policy].any()
        assert np.abs(res.values - v_star).max() < 1e-6
    fh = backward_induction([(P, C)] * 4, np.zeros(S), gamma=1.0)
    for pi in fh.policy:
        assert not infeasible[np.arange(S), pi].any()
    assert np.isfinite(fh.values[0]).all()


def dense_optimal_feasible(Pd: np.ndarray, C: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Value iteration on dense arrays restricted to feasible actions, to 1e-13."""
    S, A = C.shape
    P3 = Pd.reshape(A, S, S)
    v = np.zeros(S)
    for _ in range(100_000):
        q = np.where(np.isfinite(C.T), C.T + gamma * np.nan_to_num(P3 @ v), np.inf)
        v_new = q.min(axis=0)
        if np.abs(v_new - v).max() < 1e-13 * (1 - gamma):
            return v_new, q.argmin(axis=0)
        v = v_new
    raise AssertionError("no convergence")


# ---------------------------------------------------------------------------
# code paths: exact evaluation variants, kernels, threads, input formats
# ---------------------------------------------------------------------------


def test_exact_pi_large_evaluation_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    import optalloc.dp.infinite_horizon as ih

    gmres_calls = []
    original = ih._gmres_evaluation

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        gmres_calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(ih, "_gmres_evaluation", spy)
    # > 1,000 states, not banded, fast mixing: extrapolated successive approximation
    P, C = random_mdp(1500, 3, 8, seed=31)
    vi = value_iteration(P, C, 0.99, tol=1e-9)
    pi = policy_iteration(P, C, 0.99, tol=1e-9)
    assert pi.evaluations > 2 * pi.iterations  # iterative evaluation sweeps were used
    assert not gmres_calls
    assert np.abs(vi.values - pi.values).max() < 1e-8
    assert np.array_equal(vi.policy, pi.policy)
    # banded: sparse LU, no iterative sweeps (one residual check per evaluation)
    P, C = queue_mdp(1500, 3, seed=2)
    pi = policy_iteration(P, C, 0.99, tol=1e-6)
    mpi = policy_iteration(P, C, 0.99, tol=1e-6, evaluation=40)
    assert pi.evaluations == pi.iterations
    assert np.abs(mpi.values - pi.values).max() <= mpi.tolerance + pi.tolerance
    # the same queue with shuffled state labels: wide band and slowly mixing -> GMRES
    S, A = C.shape
    perm = np.random.default_rng(0).permutation(S)  # new label of old state s is perm[s]
    inv = np.argsort(perm)
    rows = (np.arange(A)[:, None] * S + inv[None, :]).reshape(-1)  # new row a*S + s' <- old a*S + inv[s']
    P_shuf = sp.csr_array(P[rows][:, inv])
    C_shuf = C[inv]
    shuf = policy_iteration(P_shuf, C_shuf, 0.99, tol=1e-6)
    assert gmres_calls
    assert np.abs(shuf.values - pi.values[inv]).max() <= shuf.tolerance + pi.tolerance
    assert np.array_equal(shuf.policy, pi.policy[inv])


def test_fallback_kernels_give_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    P, C = random_mdp(300, 3, 7, seed=41)
    fast = [value_iteration(P, C, 0.97), policy_iteration(P, C, 0.97, evaluation=4)]
    monkeypatch.setattr(bellman, "_CSR_MATVEC", None)
    monkeypatch.setattr(bellman, "_CSR_ROW_INDEX", None)
    slow = [value_iteration(P, C, 0.97), policy_iteration(P, C, 0.97, evaluation=4)]
    for a, b in zip(fast, slow, strict=True):
        assert np.abs(a.values - b.values).max() < 1e-12
        assert np.array_equal(a.policy, b.policy)
        assert a.iterations == b.iterations


def test_threaded_sweeps_are_bitwise_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    P, C = random_mdp(500, 4, 9, seed=51)
    serial = [
        value_iteration(P, C, 0.95, n_threads=1),
        policy_iteration(P, C, 0.95, evaluation=3, n_threads=1),
        policy_iteration(P, C, 0.95, n_threads=1),
    ]
    monkeypatch.setattr(bellman, "PARALLEL_MIN_NNZ", 0)
    threaded = [
        value_iteration(P, C, 0.95, n_threads=3),
        policy_iteration(P, C, 0.95, evaluation=3, n_threads=3),
        policy_iteration(P, C, 0.95, n_threads=3),
    ]
    for a, b in zip(serial, threaded, strict=True):
        assert np.array_equal(a.values, b.values)
        assert np.array_equal(a.policy, b.policy)


def test_input_formats_are_normalised() -> None:
    P, C = random_mdp(40, 3, 5, seed=61)
    ref = value_iteration(P, C, 0.9)
    # csr_matrix with int64 indices, shuffled column order within rows and split duplicates
    coo = P.tocoo()
    half = coo.data / 2
    rows = np.concatenate([coo.row, coo.row])
    cols = np.concatenate([coo.col, coo.col]).astype(np.int64)
    vals = np.concatenate([half, coo.data - half])
    perm = np.random.default_rng(0).permutation(rows.size)
    messy = sp.csr_matrix((vals[perm], (rows[perm], cols[perm])), shape=P.shape)
    messy.indices = messy.indices.astype(np.int64)
    messy.indptr = messy.indptr.astype(np.int64)
    res = value_iteration(messy, C.tolist(), 0.9)
    assert np.abs(res.values - ref.values).max() < 1e-12
    assert np.array_equal(res.policy, ref.policy)
    v0 = ref.values + 3.0
    warm = value_iteration(P, C, 0.9, v0=v0)
    assert warm.iterations < ref.iterations


def test_gamma_zero_is_myopic() -> None:
    P, C = random_mdp(20, 3, 4, seed=71)
    res = value_iteration(P, C, 0.0)
    assert np.array_equal(res.values, C.min(axis=1))
    assert np.array_equal(res.policy, C.argmin(axis=1))
    assert res.tolerance < 1e-14


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------


def _err(fn, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_errors_name_the_parameter() -> None:
    P, C = random_mdp(10, 2, 3, seed=0)
    assert "'P'" in _err(value_iteration, P, C[:, :1], 0.9)  # shape (20, 10) vs C (10, 1)
    assert "'P'" in _err(value_iteration, P[:, :9], C, 0.9)
    assert "'C'" in _err(value_iteration, P, C[:, 0], 0.9)
    bad_c = C.copy()
    bad_c[3] = np.inf
    msg = _err(policy_iteration, P, bad_c, 0.9)
    assert "'C'" in msg and "[3]" in msg
    nan_c = C.copy()
    nan_c[0, 0] = np.nan
    assert "'C'" in _err(value_iteration, P, nan_c, 0.9)
    for g in (1.0, -0.1, 1.5, float("nan"), "x"):
        assert "'gamma'" in _err(value_iteration, P, C, g)
        assert "'gamma'" in _err(policy_iteration, P, C, g)
    assert "'gamma'" in _err(backward_induction, [(P, C)], np.zeros(10), gamma=1.01)
    leaky = P.copy()
    leaky.data[leaky.indptr[7] : leaky.indptr[8]] *= 0.999
    msg = _err(value_iteration, leaky, C, 0.9)
    assert "'P'" in msg and "state 7" in msg and "action 0" in msg
    # the same defect on an infeasible action is accepted
    c_inf = C.copy()
    c_inf[7, 0] = np.inf
    assert value_iteration(leaky, c_inf, 0.9).policy[7] == 1
    neg = P.copy()
    neg.data[0] = -0.1
    neg.data[1] += 0.1
    assert "'P'" in _err(value_iteration, neg, C, 0.9)
    assert "'P'" in _err(value_iteration, [[1.0]], C, 0.9)
    assert "'tol'" in _err(value_iteration, P, C, 0.9, tol=0.0)
    assert "'max_iter'" in _err(value_iteration, P, C, 0.9, max_iter=0)
    assert "'v0'" in _err(value_iteration, P, C, 0.9, v0=np.zeros(9))
    assert "'evaluation'" in _err(policy_iteration, P, C, 0.9, evaluation="iterative")
    assert "'evaluation'" in _err(policy_iteration, P, C, 0.9, evaluation=0)
    assert "'evaluation'" in _err(policy_iteration, P, C, 0.9, evaluation=True)
    assert "'n_threads'" in _err(value_iteration, P, C, 0.9, n_threads=0)


def test_backward_induction_errors() -> None:
    rng = np.random.default_rng(0)
    s0 = _random_stage(rng, 3, 2, 4)
    s1 = _random_stage(rng, 4, 2, 2)
    assert backward_induction([s0, s1], np.zeros(2)).values[0].shape == (3,)
    # stage 1 = s0 has 3 states, so P_0 (4 columns) does not chain into it
    msg = _err(backward_induction, [s0, s0], np.zeros(4))
    assert "stages[0][0] (P_0)" in msg and "(6, 3)" in msg
    msg = _err(backward_induction, [s0, s1, s1], np.zeros(2))
    assert "stages[1][0] (P_1)" in msg
    assert "'terminal'" in _err(backward_induction, [s0, s1], np.zeros(3))
    assert "'terminal'" in _err(backward_induction, [s0, s1], np.array([0.0, np.inf]))
    assert "'stages[0]'" in _err(backward_induction, [s0[0]], np.zeros(4))
    bad = (s1[0], np.full((4, 2), np.inf))
    assert "stages[1][1] (C_1)" in _err(backward_induction, [s0, bad], np.zeros(2))


def test_generator_errors() -> None:
    assert "'n_successors'" in _err(random_mdp, 5, 2, 6, seed=0)
    assert "'n_states'" in _err(random_mdp, 0, 2, 1, seed=0)
    assert "'seed'" in _err(random_mdp, 5, 2, 2, seed=None)
    assert "'cost_scale'" in _err(random_mdp, 5, 2, 2, seed=0, cost_scale=-1)
    assert "'n_states'" in _err(queue_mdp, 1, 2)


def test_no_warning_on_normal_solve() -> None:
    P, C = random_mdp(50, 3, 4, seed=81)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value_iteration(P, C, 0.99)
        policy_iteration(P, C, 0.99)
        policy_iteration(P, C, 0.99, evaluation=10)


def test_many_actions_and_single_state() -> None:
    # more than 255 actions: the tie-breaking keys switch to a wider dtype
    P, C = random_mdp(6, 300, 3, seed=91)
    v_star, _ = dense_optimal(P, C, 0.9)
    res = value_iteration(P, C, 0.9, tol=1e-10)
    assert np.abs(res.values - v_star).max() < 1e-9
    q = C.T + 0.9 * dense(P, C) @ res.values
    assert np.array_equal(res.policy, q.argmin(axis=0))
    # one state, one action: V = c / (1 - gamma)
    one = value_iteration(sp.csr_array(np.ones((1, 1))), np.array([[2.0]]), 0.5)
    assert abs(one.values[0] - 4.0) <= one.tolerance + 1e-15


def test_empty_rows_of_infeasible_actions_first_and_last() -> None:
    # rows 0 (state 0, action 0) and 5 (state 2, action 1) are empty; a feasible leaky row must still be caught
    Pd = np.array([[0, 0, 0], [0, 1, 0], [0.5, 0, 0.5], [1, 0, 0], [0, 0, 1], [0, 0, 0]], dtype=float)
    C = np.array([[np.inf, 1.0], [2.0, 0.5], [0.1, np.inf]])
    res = value_iteration(sp.csr_array(Pd), C, 0.9, tol=1e-10)
    assert res.policy.tolist() == [1, 1, 0]
    v_star = dense_optimal_feasible(Pd, C, 0.9)[0]
    assert np.abs(res.values - v_star).max() <= res.tolerance
    Pd[4, 2] = 0.9  # state 1, action 1 is feasible: must be rejected
    assert "state 1, action 1" in _err(value_iteration, sp.csr_array(Pd), C, 0.9)


def test_sub_stochastic_rows_are_refused_by_every_solver_alike() -> None:
    # one rule (bellman.check_mdp): a feasible row must sum to 1 within ROW_SUM_TOL, from below as from above
    P, C = random_mdp(8, 2, 3, seed=5)
    for factor in (0.5, 1.0 - 10 * bellman.ROW_SUM_TOL, 0.0, 1.0 + 10 * bellman.ROW_SUM_TOL):
        bad = P.copy()
        bad.data[bad.indptr[11] : bad.indptr[12]] *= factor  # row 11 = state 3, action 1
        vi = _err(value_iteration, bad, C, 0.9)
        assert vi.startswith("The 'P' parameter of value_iteration must be row-stochastic on feasible actions")
        assert "row 11 (state 3, action 1)" in vi
        assert _err(policy_iteration, bad, C, 0.9) == vi.replace("value_iteration", "policy_iteration")
        bi = _err(backward_induction, [(bad, C)], np.zeros(8))
        assert bi.startswith("The 'stages[0][0] (P_0)' parameter of backward_induction must be ")
        assert bi.split(" must be ", 1)[1] == vi.split(" must be ", 1)[1]
    # within the tolerance the row is accepted and solved as given
    ok = P.copy()
    ok.data[ok.indptr[11] : ok.indptr[12]] *= 1.0 - bellman.ROW_SUM_TOL / 10
    v_star, _ = dense_optimal(ok, C, 0.9)
    res = value_iteration(ok, C, 0.9, tol=1e-8)
    assert np.abs(res.values - v_star).max() <= res.tolerance
