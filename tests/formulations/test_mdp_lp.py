"""The MDP linear programs agree with dynamic programming (optalloc.dp and plain numpy)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from optalloc.exceptions import ConfigurationError
from optalloc.formulations import (
    SolveStatus,
    build_finite_horizon_lp,
    build_mdp_lp,
    finite_horizon_lp_values,
    mdp_lp_values,
)

ATOL = 1e-6


def random_mdp(
    n_states: int, n_actions: int, seed: int, successors: int = 3, n_next: int | None = None
) -> tuple[sp.csr_array, np.ndarray]:
    """Random sparse MDP: action-major P (A*S, S_next), costs (S, A) with some inf."""
    rng = np.random.default_rng(seed)
    n_next = n_states if n_next is None else n_next
    rows, cols, data = [], [], []
    for row in range(n_actions * n_states):
        targets = rng.choice(n_next, size=min(successors, n_next), replace=False)
        rows += [row] * targets.size
        cols += targets.tolist()
        data += rng.dirichlet(np.ones(targets.size)).tolist()
    P = sp.csr_array((data, (rows, cols)), shape=(n_actions * n_states, n_next))
    C = rng.uniform(0.0, 10.0, size=(n_states, n_actions))
    infeasible = rng.random((n_states, n_actions)) < 0.2
    infeasible[np.arange(n_states), rng.integers(0, n_actions, n_states)] = False  # one action stays
    C[infeasible] = np.inf
    return P, C


def numpy_policy_iteration(P: sp.csr_array, C: np.ndarray, gamma: float) -> np.ndarray:
    """Howard policy iteration with dense np.linalg.solve evaluation."""
    n_states, n_actions = C.shape
    dense = P.toarray().reshape(n_actions, n_states, n_states)
    policy = np.argmin(C, axis=1)
    for _ in range(1000):
        P_pi = dense[policy, np.arange(n_states)]
        c_pi = C[np.arange(n_states), policy]
        values = np.linalg.solve(np.eye(n_states) - gamma * P_pi, c_pi)
        q = C + gamma * np.einsum("ast,t->sa", dense, values)
        improved = np.where(q[np.arange(n_states), policy] <= q.min(axis=1) + 1e-12, policy, np.argmin(q, axis=1))
        if np.array_equal(improved, policy):
            return values
        policy = improved
    raise AssertionError("policy iteration did not converge")


def numpy_backward_induction(
    stages: list[tuple[sp.csr_array, np.ndarray]], terminal: np.ndarray, gamma: float
) -> list[np.ndarray]:
    values = [np.asarray(terminal, dtype=float)]
    for P, C in reversed(stages):
        n_states, n_actions = C.shape
        q = C + gamma * (P @ values[0]).reshape(n_actions, n_states).T
        values.insert(0, q.min(axis=1))
    return values


def dp_function(name: str) -> Callable[..., Any]:
    """``optalloc.dp.<name>``, or skip while the DP engine does not provide it."""
    dp = pytest.importorskip("optalloc.dp")
    function = getattr(dp, name, None)
    if function is None:
        pytest.skip(f"optalloc.dp.{name} is not available yet")
    return function


CASES = [(20, 3, 0.9, 0), (35, 3, 0.95, 1), (50, 3, 0.9, 2), (50, 3, 0.95, 3)]


@pytest.fixture(scope="module", params=CASES, ids=[f"S{s}-A{a}-g{g}-seed{k}" for s, a, g, k in CASES])
def discounted(request: pytest.FixtureRequest) -> dict[str, Any]:
    n_states, n_actions, gamma, seed = request.param
    P, C = random_mdp(n_states, n_actions, seed)
    values, result = mdp_lp_values(P, C, gamma)
    return {"P": P, "C": C, "gamma": gamma, "values": values, "result": result}


def test_lp_matches_numpy_policy_iteration(discounted: dict[str, Any]) -> None:
    expected = numpy_policy_iteration(discounted["P"], discounted["C"], discounted["gamma"])
    assert discounted["result"].status is SolveStatus.OPTIMAL
    assert discounted["values"].shape == (discounted["C"].shape[0],)
    np.testing.assert_allclose(discounted["values"], expected, rtol=0, atol=ATOL)


def test_lp_values_satisfy_bellman_equation(discounted: dict[str, Any]) -> None:
    P, C, gamma, v = discounted["P"], discounted["C"], discounted["gamma"], discounted["values"]
    n_states, n_actions = C.shape
    q = C + gamma * (P @ v).reshape(n_actions, n_states).T
    np.testing.assert_allclose(v, q.min(axis=1), rtol=0, atol=ATOL)
    assert discounted["result"].objective == pytest.approx(v.sum(), rel=1e-9)


def test_lp_matches_dp_value_iteration(discounted: dict[str, Any]) -> None:
    value_iteration = dp_function("value_iteration")
    solution = value_iteration(discounted["P"], discounted["C"], discounted["gamma"], tol=1e-10)
    np.testing.assert_allclose(discounted["values"], solution.values, rtol=0, atol=ATOL)


def test_lp_matches_dp_policy_iteration(discounted: dict[str, Any]) -> None:
    policy_iteration = dp_function("policy_iteration")
    solution = policy_iteration(discounted["P"], discounted["C"], discounted["gamma"])
    np.testing.assert_allclose(discounted["values"], solution.values, rtol=0, atol=ATOL)


def test_lp_matches_dp_modified_policy_iteration(discounted: dict[str, Any]) -> None:
    policy_iteration = dp_function("policy_iteration")
    solution = policy_iteration(discounted["P"], discounted["C"], discounted["gamma"], evaluation=10)
    np.testing.assert_allclose(discounted["values"], solution.values, rtol=0, atol=ATOL)


def test_model_structure() -> None:
    P, C = random_mdp(20, 3, seed=7)
    model = build_mdp_lp(P, C, 0.9)
    assert model.name == "mdp_lp"
    assert len(model.bellman) == int(np.isfinite(C).sum())
    assert len(model.v) == 20


# ---------------------------------------------------------------- finite horizon


def random_stages(sizes: list[int], n_actions: int, seed: int) -> list[tuple[sp.csr_array, np.ndarray]]:
    return [
        random_mdp(sizes[t], n_actions, seed + 100 * t, n_next=sizes[t + 1])
        for t in range(len(sizes) - 1)
    ]


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_finite_horizon_matches_numpy_backward_induction(gamma: float) -> None:
    sizes = [25, 30, 20, 25, 15]  # S_0..S_T: state spaces may change between stages
    stages = random_stages(sizes, 3, seed=11)
    terminal = np.random.default_rng(5).uniform(0, 20, size=sizes[-1])
    values, result = finite_horizon_lp_values(stages, terminal, gamma=gamma)
    expected = numpy_backward_induction(stages, terminal, gamma)
    assert result.status is SolveStatus.OPTIMAL
    assert len(values) == len(sizes)
    for got, want in zip(values, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)


@pytest.mark.parametrize("gamma", [1.0, 0.95])
def test_finite_horizon_matches_dp_backward_induction(gamma: float) -> None:
    backward_induction = dp_function("backward_induction")
    sizes = [30, 25, 35, 30, 20, 30]
    stages = random_stages(sizes, 3, seed=23)
    terminal = np.random.default_rng(9).uniform(0, 20, size=sizes[-1])
    values, _ = finite_horizon_lp_values(stages, terminal, gamma=gamma)
    solution = backward_induction(stages, terminal, gamma=gamma)
    assert len(solution.values) == len(values)
    for got, want in zip(values, solution.values, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)


def test_single_stage_finite_horizon() -> None:
    P, C = random_mdp(10, 3, seed=3)
    terminal = np.arange(10.0)
    values, _ = finite_horizon_lp_values([(P, C)], terminal)
    np.testing.assert_allclose(values[0], numpy_backward_induction([(P, C)], terminal, 1.0)[0], atol=ATOL)
    np.testing.assert_array_equal(values[1], terminal)
    assert len(build_finite_horizon_lp([(P, C)], terminal).bellman) == int(np.isfinite(C).sum())


# ---------------------------------------------------------------- validation


def test_state_without_feasible_action_is_rejected() -> None:
    P, C = random_mdp(10, 3, seed=4)
    C[6] = np.inf
    with pytest.raises(ConfigurationError, match=r"'C' parameter of mdp_lp_values.*first states \[6\]"):
        mdp_lp_values(P, C, 0.9)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"gamma": 1.0}, r"'gamma' parameter of mdp_lp_values must be a number in \[0, 1\)"),
        ({"P": "short"}, r"'P' parameter of mdp_lp_values must be of shape \(A\*S, S_next\) = \(30, 10\)"),
        ({"P": "negative"}, r"'P'.*non-negative"),
        ({"P": "heavy"}, r"'P'.*row-stochastic.*sums to 2\.0"),
        ({"C": "nan"}, r"'C'.*NaN"),
    ],
)
def test_bad_inputs(change: dict[str, Any], pattern: str) -> None:
    P, C = random_mdp(10, 3, seed=5)
    gamma = 0.9
    if change.get("P") == "short":
        P = P[:20]
    elif change.get("P") == "negative":
        P = P.copy()
        P.data[0] = -0.1
    elif change.get("P") == "heavy":
        P = P * 2.0
    if change.get("C") == "nan":
        C = C.copy()
        C[0, 0] = np.nan
    gamma = change.get("gamma", gamma)
    with pytest.raises(ConfigurationError, match=pattern):
        mdp_lp_values(P, C, gamma)


def test_finite_horizon_shape_mismatch_names_the_stage() -> None:
    stages = random_stages([10, 12, 8], 3, seed=1)
    with pytest.raises(ConfigurationError, match=r"'stages\[1\]\[0\] \(P_1\)' parameter of finite_horizon_lp_values"):
        finite_horizon_lp_values(stages, np.zeros(9))


# ------------------------------------------- one validity rule with optalloc.dp


def _message(function: Callable[..., Any], owner: str, *args: Any, **kwargs: Any) -> str:
    """The ConfigurationError message of ``function(*args)``, with its owner name replaced by ``OWNER``."""
    with pytest.raises(ConfigurationError) as info:
        function(*args, **kwargs)
    message = str(info.value)
    assert f" of {owner} " in message
    return message.replace(f" of {owner} ", " of OWNER ")


def _sub_stochastic(P: sp.csr_array, row: int, factor: float) -> sp.csr_array:
    P = P.copy()
    P.data[P.indptr[row] : P.indptr[row + 1]] *= factor
    return P


def _invalid_discounted(case: str) -> tuple[sp.csr_array, np.ndarray]:
    P, C = random_mdp(10, 3, seed=5)
    C = C.copy()
    C[:, 1] = 1.0  # action 1 feasible everywhere, so rows 10..19 are checked
    if case == "sub-stochastic":
        P = _sub_stochastic(P, 14, 0.9)
    elif case == "sub-stochastic-by-1e-8":
        P = _sub_stochastic(P, 14, 1.0 - 1e-8)
    elif case == "super-stochastic":
        P = _sub_stochastic(P, 14, 1.5)
    elif case == "all-zero-row":
        P = _sub_stochastic(P, 14, 0.0)
    elif case == "negative":
        P = P.copy()
        P.data[P.indptr[14]] = -0.1
    elif case == "wrong-shape":
        P = P[:, :9]
    elif case == "nan-cost":
        C[2, 1] = np.nan
    elif case == "minus-inf-cost":
        C[2, 1] = -np.inf
    elif case == "no-feasible-action":
        C[4] = np.inf
    return P, C


INVALID = {
    "sub-stochastic": "P",
    "sub-stochastic-by-1e-8": "P",
    "super-stochastic": "P",
    "all-zero-row": "P",
    "negative": "P",
    "wrong-shape": "P",
    "nan-cost": "C",
    "minus-inf-cost": "C",
    "no-feasible-action": "C",
}


@pytest.mark.parametrize("case", list(INVALID))
def test_lp_and_dp_refuse_the_same_mdp_with_the_same_message(case: str) -> None:
    dp = pytest.importorskip("optalloc.dp")
    P, C = _invalid_discounted(case)
    lp_message = _message(mdp_lp_values, "mdp_lp_values", P, C, 0.9)
    assert lp_message == _message(dp.value_iteration, "value_iteration", P, C, 0.9)
    assert lp_message == _message(dp.policy_iteration, "policy_iteration", P, C, 0.9)
    assert lp_message.startswith(f"The '{INVALID[case]}' parameter of OWNER must be")


def test_sub_stochastic_row_message_names_the_row_rule_and_the_sum() -> None:
    P, C = _invalid_discounted("sub-stochastic")
    message = _message(mdp_lp_values, "mdp_lp_values", P, C, 0.9)
    assert "'P' parameter of OWNER must be row-stochastic on feasible actions (rows sum to 1 within 1e-09)" in message
    given = re.search(r"Got 'row 14 \(state 4, action 1\) sums to ([0-9.e+-]+)' instead\.$", message)
    assert given is not None and float(given.group(1)) == pytest.approx(0.9, abs=1e-12)


def test_lp_and_dp_accept_the_same_valid_mdps() -> None:
    dp = pytest.importorskip("optalloc.dp")
    P, C = random_mdp(10, 3, seed=6)
    C = C.copy()
    C[:, 1] = 1.0
    C[4, 0] = np.inf
    row = 0 * 10 + 4  # (state 4, action 0) is infeasible: its row is not checked
    cases = {
        "valid": P,
        "sub-stochastic row of an infeasible action": _sub_stochastic(P, row, 0.5),
        "all-zero row of an infeasible action": _sub_stochastic(P, row, 0.0),
        "row sum off by less than ROW_SUM_TOL": _sub_stochastic(P, 14, 1.0 - 5e-10),
        "dense ndarray": P.toarray(),
    }
    for name, matrix in cases.items():
        values, result = mdp_lp_values(matrix, C, 0.9)
        assert result.status is SolveStatus.OPTIMAL, name
        solution = dp.policy_iteration(matrix, C, 0.9)
        np.testing.assert_allclose(values, solution.values, rtol=0, atol=ATOL, err_msg=name)
        assert solution.policy[4] != 0, name


@pytest.mark.parametrize("factor", [0.9, 0.0, 1.5])
def test_finite_horizon_lp_and_backward_induction_refuse_the_same_stage(factor: float) -> None:
    dp = pytest.importorskip("optalloc.dp")
    stages = random_stages([10, 12, 8], 3, seed=2)
    P_1, C_1 = stages[1]
    stages[1] = (_sub_stochastic(P_1, int(np.flatnonzero(np.isfinite(C_1.T).ravel())[3]), factor), C_1)
    terminal = np.zeros(8)
    lp_message = _message(finite_horizon_lp_values, "finite_horizon_lp_values", stages, terminal)
    assert lp_message == _message(dp.backward_induction, "backward_induction", stages, terminal)
    assert lp_message.startswith("The 'stages[1][0] (P_1)' parameter of OWNER must be row-stochastic")
