"""Generators of test and benchmark MDPs in the action-major layout.

Both return ``(P, C)``: ``P`` a ``scipy.sparse.csr_array`` of shape
``(A*S, S)`` (row ``a*S + s`` = next-state distribution after action ``a``
in state ``s``; canonical, int32 indices) and ``C`` a float64 array of shape
``(S, A)`` of one-period costs.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from optalloc.dp.bellman import _as_int
from optalloc.exceptions import bad_value

__all__ = ["random_mdp", "queue_mdp"]

SeedLike = int | np.random.SeedSequence | np.random.Generator


def _rng(seed: object, owner: str) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer, np.random.SeedSequence, np.random.Generator)):
        raise bad_value(owner, "seed", "an int, a numpy SeedSequence or a numpy Generator", seed)
    return np.random.default_rng(seed)


def _distinct_successors(rng: np.random.Generator, n_rows: int, n_states: int, k: int) -> np.ndarray:
    """``(n_rows, k)`` int32 array; each row ``k`` distinct sorted states, uniformly at random."""
    out = np.empty((n_rows, k), dtype=np.int32)
    if 4 * k > n_states:
        # dense regime: first k of a random permutation, in blocks of ~5e6 draws
        block = max(1, 5_000_000 // n_states)
        for r0 in range(0, n_rows, block):
            r1 = min(n_rows, r0 + block)
            keys = rng.random((r1 - r0, n_states))
            out[r0:r1] = np.argpartition(keys, k - 1, axis=1)[:, :k] if k < n_states else np.argsort(keys, axis=1)
        out.sort(axis=1)
        return out
    # sparse regime: draw with replacement, redraw the (few) rows with a duplicate
    out[...] = rng.integers(0, n_states, size=(n_rows, k), dtype=np.int32)
    out.sort(axis=1)
    bad = np.flatnonzero((np.diff(out, axis=1) == 0).any(axis=1))
    while bad.size:
        redo = np.sort(rng.integers(0, n_states, size=(bad.size, k), dtype=np.int32), axis=1)
        out[bad] = redo
        bad = bad[(np.diff(redo, axis=1) == 0).any(axis=1)]
    return out


def random_mdp(
    n_states: int,
    n_actions: int,
    n_successors: int,
    *,
    seed: SeedLike,
    cost_scale: float = 1.0,
) -> tuple[sp.csr_array, np.ndarray]:
    """Random sparse MDP: every (state, action) has ``n_successors`` distinct successors.

    Successor states are uniform without replacement; their probabilities are
    Dirichlet(1, ..., 1) (normalised exponentials, rows sum to 1 within a few
    ulps); costs are i.i.d. uniform on ``[0, cost_scale)``.  All actions are
    feasible.  Such chains mix fast (subdominant eigenvalues of order
    ``1/sqrt(n_successors)``).

    Parameters
    ----------
    n_states, n_actions : int
        ``S >= 1`` and ``A >= 1``.
    n_successors : int
        Stored entries per row, ``1 <= n_successors <= n_states``.
    seed : int, SeedSequence or Generator
        Randomness (required, keyword-only).
    cost_scale : float, default 1.0
        Upper end of the cost range (cost units), positive.

    Returns
    -------
    P : scipy.sparse.csr_array
        Shape ``(A*S, S)``, action-major, ``A*S*n_successors`` stored entries.
    C : np.ndarray
        Shape ``(S, A)``, float64.
    """
    owner = "random_mdp"
    s = _as_int(n_states, owner, "n_states", 1)
    a = _as_int(n_actions, owner, "n_actions", 1)
    k = _as_int(n_successors, owner, "n_successors", 1)
    if k > s:
        raise bad_value(owner, "n_successors", f"at most n_states={s}", n_successors)
    try:
        scale = float(cost_scale)
    except (TypeError, ValueError):
        scale = float("nan")
    if not (scale > 0.0 and np.isfinite(scale)):
        raise bad_value(owner, "cost_scale", "a positive finite float", cost_scale)
    if a * s * k > np.iinfo(np.int32).max:
        raise bad_value(owner, "n_states", "small enough for fewer than 2**31 stored entries", n_states)
    rng = _rng(seed, owner)
    n_rows = a * s
    cols = _distinct_successors(rng, n_rows, s, k)
    probs = rng.standard_exponential((n_rows, k))
    probs /= probs.sum(axis=1, keepdims=True)
    indptr = np.arange(0, n_rows * k + 1, k, dtype=np.int32)
    P = sp.csr_array((probs.reshape(-1), cols.reshape(-1), indptr), shape=(n_rows, s))
    C = rng.random((s, a)) * scale
    return P, C


def queue_mdp(n_states: int, n_actions: int, *, seed: SeedLike = 0) -> tuple[sp.csr_array, np.ndarray]:
    """Slowly mixing single-server queue with service-rate control.

    Discrete time (uniformised): state ``s = 0 .. S-1`` is the number of
    customers (capacity ``S-1``; arrivals to a full queue are lost).  In each
    period a customer arrives with probability ``lam`` and, if ``s > 0``, one
    service completes with probability ``mu[a]``, independently, so::

        P(s -> s+1) = lam (1 - mu[a])          (s < S-1)
        P(s -> s-1) = mu[a] (1 - lam)          (s > 0)
        P(s -> s)   = the rest

    Action ``a`` chooses the service rate ``mu[a]`` (increasing in ``a``, from
    below to well above ``lam``) at cost ``kappa * mu[a]**2`` per period; the
    holding cost is ``h`` per customer per period::

        C[s, a] = h * s + kappa * mu[a]**2

    ``lam`` in ``[0.30, 0.40)``, ``h`` in ``[0.8, 1.2)`` and ``kappa`` in
    ``[20, 40)`` are drawn from ``seed``.  A birth-death chain moves at most one
    state per period, so it mixes slowly: from a long queue the cost-to-go
    keeps changing for thousands of periods, and value iteration at
    ``gamma = 0.99`` needs thousands of sweeps to reach 1e-6 (modified policy
    iteration with 50 evaluation sweeps: about fifty improvement steps).

    Parameters
    ----------
    n_states : int
        Number of states ``S >= 2``.
    n_actions : int
        Number of service rates ``A >= 1``.
    seed : int, SeedSequence or Generator, default 0
        Randomness of the parameters.

    Returns
    -------
    P : scipy.sparse.csr_array
        Shape ``(A*S, S)``, action-major, at most 3 entries per row.
    C : np.ndarray
        Shape ``(S, A)``, float64 (cost units per period).
    """
    owner = "queue_mdp"
    s = _as_int(n_states, owner, "n_states", 2)
    a = _as_int(n_actions, owner, "n_actions", 1)
    rng = _rng(seed, owner)
    lam = rng.uniform(0.30, 0.40)
    hold = rng.uniform(0.8, 1.2)
    kappa = rng.uniform(20.0, 40.0)
    mu = np.linspace(0.5 * lam, min(0.95, lam + 0.4), a) if a > 1 else np.array([min(0.95, lam + 0.2)])

    states = np.arange(s)
    up = np.where(states < s - 1, lam, 0.0)[None, :] * (1.0 - mu[:, None])  # (A, S)
    down = np.where(states > 0, 1.0 - lam, 0.0)[None, :] * mu[:, None]
    # at s = 0 no service can complete: the arrival alone moves the queue up
    up[:, 0] = lam if s > 1 else 0.0
    stay = 1.0 - up - down
    # columns s-1, s, s+1 for each row; drop the structural zeros
    row = np.repeat(np.arange(a * s), 3)
    col = (np.tile(states, a)[:, None] + np.array([-1, 0, 1])[None, :]).reshape(-1)
    val = np.stack([down.reshape(-1), stay.reshape(-1), up.reshape(-1)], axis=1).reshape(-1)
    keep = val > 0.0
    P = sp.csr_array((val[keep], (row[keep], col[keep])), shape=(a * s, s))
    P.indices = P.indices.astype(np.int32)
    P.indptr = P.indptr.astype(np.int32)
    P.sum_duplicates()
    C = hold * states[:, None] + kappa * mu[None, :] ** 2
    return P, C
