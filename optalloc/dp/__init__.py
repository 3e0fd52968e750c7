"""Exact stochastic dynamic programming for cost-minimising MDPs.

Layout (see :mod:`optalloc.dp.bellman`): ``P`` is a ``scipy.sparse`` CSR
matrix of shape ``(A*S, S_next)`` with action-major rows (row ``a*S + s`` is
the next-state distribution after action ``a`` in state ``s``); ``C`` is a
dense ``(S, A)`` cost array with ``np.inf`` for infeasible actions.

* :func:`value_iteration`, :func:`policy_iteration` -- infinite horizon,
  discounted, returning :class:`DPResult` with a guaranteed error bound.
* :func:`backward_induction` -- finite horizon, stage-varying state spaces,
  returning :class:`FiniteHorizonResult`.
* :func:`random_mdp`, :func:`queue_mdp` -- generators of test problems.
"""

from __future__ import annotations

from optalloc.dp.backward_induction import FiniteHorizonResult, backward_induction
from optalloc.dp.infinite_horizon import DPResult, policy_iteration, value_iteration
from optalloc.dp.random_mdp import queue_mdp, random_mdp

__all__ = [
    "DPResult",
    "FiniteHorizonResult",
    "backward_induction",
    "policy_iteration",
    "queue_mdp",
    "random_mdp",
    "value_iteration",
]
