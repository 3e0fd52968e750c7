"""Finite-horizon MDPs: backward induction with stage-varying state spaces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optalloc.dp.bellman import BellmanSweeper, Workers, check_discount, check_mdp, resolve_threads
from optalloc.exceptions import bad_value

__all__ = ["FiniteHorizonResult", "backward_induction"]


@dataclass(frozen=True)
class FiniteHorizonResult:
    """Solution of a finite-horizon MDP.

    Attributes
    ----------
    values : list of np.ndarray
        ``V_0 .. V_T``; ``V_t`` has shape ``(S_t,)`` and is the optimal
        expected (discounted) cost-to-go from stage ``t`` (cost units);
        ``V_T`` is the terminal cost.
    policy : list of np.ndarray
        ``pi_0 .. pi_{T-1}``; ``pi_t`` has shape ``(S_t,)``, int64 action
        indices, lowest index among exact ties, never an infeasible action.
    """

    values: list[np.ndarray]
    policy: list[np.ndarray]


def backward_induction(
    stages: Sequence[tuple[object, object]],
    terminal: np.ndarray,
    *,
    gamma: float = 1.0,
    n_threads: int | None = None,
) -> FiniteHorizonResult:
    """Solve a finite-horizon cost-minimising MDP exactly by backward induction.

    ``V_T = terminal`` and, for ``t = T-1, ..., 0``::

        Q_t[a, s] = C_t[s, a] + gamma * sum_s' P_t[a*S_t + s, s'] V_{t+1}[s']
        V_t[s]    = min_a Q_t[a, s],   pi_t[s] = lowest argmin_a Q_t[a, s]

    One vectorised sweep per stage (see :mod:`optalloc.dp.bellman`).

    Parameters
    ----------
    stages : sequence of (P_t, C_t)
        Stage ``t``: ``P_t`` scipy.sparse CSR of shape ``(A_t*S_t, S_{t+1})``,
        action-major rows (row ``a*S_t + s``); ``C_t`` float array of shape
        ``(S_t, A_t)``, ``np.inf`` = infeasible.  State (and action) counts
        may differ between stages.  May be empty (``T = 0``).  May be lazy
        (:meth:`optalloc.tabular.TabularModel.stages`): each stage is read once,
        from the last to the first, and released after its sweep.
    terminal : np.ndarray
        Terminal cost ``V_T``, shape ``(S_T,)``, finite (cost units).
    gamma : float, default 1.0
        Discount factor in ``[0, 1]``.
    n_threads : int, optional
        Threads for large sweeps (default: the CPUs available, at most 8).

    Returns
    -------
    FiniteHorizonResult

    Raises
    ------
    optalloc.exceptions.ConfigurationError
        A stage is not a ``(P, C)`` pair, shapes do not chain, a state has no
        feasible action, rows of ``P_t`` are not distributions, ``terminal``
        is not finite, or ``gamma`` is outside ``[0, 1]``.
    """
    owner = "backward_induction"
    gamma = check_discount(gamma, owner, allow_one=True)
    try:
        term = np.array(terminal, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_value(owner, "terminal", "a finite float array of shape (S_T,)", type(terminal).__name__) from None
    if term.ndim != 1 or term.size == 0 or not np.isfinite(term).all():
        raise bad_value(owner, "terminal", "a non-empty finite float array of shape (S_T,)", f"shape {term.shape}")
    if isinstance(stages, (str, bytes)) or not isinstance(stages, Sequence):
        raise bad_value(owner, "stages", "a sequence of (P_t, C_t) pairs", type(stages).__name__)
    horizon = len(stages)
    # One backward pass that validates each stage just before its sweep and then drops it, so a lazy
    # sequence of stages (TabularModel.stages()) is built one stage at a time: peak memory is about
    # one stage plus the value vectors, whatever the horizon.
    values: list[np.ndarray] = [np.empty(0)] * (horizon + 1)
    policy: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * horizon
    values[horizon] = term
    n_next = term.shape[0]
    with Workers(resolve_threads(n_threads, owner)) as workers:
        for t in range(horizon - 1, -1, -1):
            stage = stages[t]
            if not (isinstance(stage, (tuple, list)) and len(stage) == 2):
                raise bad_value(owner, f"stages[{t}]", "a (P_t, C_t) pair", type(stage).__name__)
            p_t, c_t = stage
            last_shape = getattr(p_t, "shape", None)
            if t == horizon - 1 and last_shape is not None and len(last_shape) == 2 and last_shape[1] != n_next:
                raise bad_value(
                    owner,
                    "terminal",
                    f"of shape (S_T,) = ({last_shape[1]},) to match the columns of the last stage's P",
                    f"shape {term.shape}",
                )
            mdp = check_mdp(
                p_t, c_t, owner=owner, p_name=f"stages[{t}][0] (P_{t})", c_name=f"stages[{t}][1] (C_{t})", n_next=n_next
            )
            del stage, p_t, c_t
            sweeper = BellmanSweeper(mdp, gamma, workers)
            v_t = np.empty(mdp.n_states)
            pi_t = np.empty(mdp.n_states, dtype=np.int64)
            sweeper.apply(values[t + 1], v_t, policy=pi_t)
            values[t] = v_t
            policy[t] = pi_t
            n_next = mdp.n_states
            del sweeper, mdp
    return FiniteHorizonResult(values=values, policy=policy)
