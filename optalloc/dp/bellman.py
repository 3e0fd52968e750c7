"""Validated action-major MDP arrays and the vectorised Bellman sweep.

Layout shared by every solver of :mod:`optalloc.dp`
-------------------------------------------------------
* ``P`` -- transition matrix, ``scipy.sparse`` CSR of shape ``(A*S, S_next)``
  in **action-major** row order: row ``a*S + s`` is the distribution of the
  next state after action ``a`` in state ``s``.
* ``C`` -- dense float array of shape ``(S, A)``; expected one-period cost
  (minimised); ``np.inf`` marks an infeasible action, whose rows of ``P`` are
  ignored (they may be all-zero).

One Bellman sweep computes, for a value vector ``v`` of shape ``(S_next,)``::

    Q = C.T + P @ (gamma * v)        # (A*S,) viewed as (A, S)
    (T v)[s] = min_a Q[a, s]

``Q`` is a preallocated buffer: it is first filled with ``C.T`` and the sparse
product is *accumulated* into it by scipy's compiled CSR kernel
(``scipy.sparse._sparsetools.csr_matvec`` computes ``y += A @ x`` in place), so
a sweep reads the matrix once and allocates nothing.  When the matrix is large
the rows of ``P`` are split into contiguous blocks of equal non-zero count and
each block is one call of the kernel on its own thread (the kernel releases
the GIL); the reduction over actions is split over blocks of states the same
way.  No Python code loops over states or actions.  If the private kernel is
unavailable (a future scipy), the public ``P @ x`` is used instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from optalloc.exceptions import bad_value

__all__ = [
    "ROW_SUM_TOL",
    "ActionMajorMDP",
    "BellmanSweeper",
    "PolicyMatrix",
    "Workers",
    "check_discount",
    "check_mdp",
    "resolve_threads",
]

#: Rows of ``P`` for feasible actions must sum to 1 within this tolerance.
ROW_SUM_TOL = 1e-9
#: Unit roundoff of float64 (half the machine epsilon).
UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2.0
#: Below this many stored entries a sweep runs on the calling thread only
#: (thread hand-off costs ~20 us per sweep, more than such a sweep itself).
PARALLEL_MIN_NNZ = 300_000
_INT32_MAX = int(np.iinfo(np.int32).max)


# ---------------------------------------------------------------------------
# Compiled CSR kernels (private scipy API, probed once, with a public fallback)
# ---------------------------------------------------------------------------
def _probe_sparsetools() -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
    """Return scipy's ``csr_matvec`` and ``csr_row_index`` if they behave as expected."""
    try:
        from scipy.sparse import _sparsetools

        matvec = _sparsetools.csr_matvec
        row_index = _sparsetools.csr_row_index
        indptr = np.array([0, 2, 3, 3, 5], dtype=np.int32)
        indices = np.array([0, 2, 1, 0, 1], dtype=np.int32)
        data = np.array([0.5, 0.5, 1.0, 0.25, 0.75])
        x = np.array([1.0, 2.0, 4.0])
        y = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
        # rows 1..3 of the 4-row matrix, accumulated into y[1:4] (slice of indptr)
        matvec(3, 3, indptr[1:5], indices, data, x, y[1:4])
        rows = np.array([3, 0], dtype=np.int32)
        bj = np.empty(4, dtype=np.int32)
        bx = np.empty(4)
        row_index(2, rows, indptr, indices, data, bj, bx)
        ok = (
            np.array_equal(y, [10.0, 22.0, 30.0, 41.75, 50.0])
            and np.array_equal(bj, [0, 1, 0, 2])
            and np.array_equal(bx, [0.25, 0.75, 0.5, 0.5])
        )
        return (matvec, row_index) if ok else (None, None)
    except Exception:  # pragma: no cover - depends on the scipy build
        return None, None


_CSR_MATVEC, _CSR_ROW_INDEX = _probe_sparsetools()


class _CSRRows:
    """Row blocks of a canonical CSR matrix with an in-place ``y += A @ x``.

    Parameters
    ----------
    indptr, indices, data : np.ndarray
        Canonical CSR arrays (sorted indices, no duplicates); ``indptr`` and
        ``indices`` share one integer dtype, ``data`` is float64.
    n_cols : int
        Number of columns (length of ``x``).
    """

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n_cols: int):
        self.indptr = indptr
        self.indices = indices
        self.data = data
        self.n_rows = indptr.shape[0] - 1
        self.n_cols = n_cols
        self._blocks: dict[tuple[int, int], sp.csr_array] = {}

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def accumulate(self, x: np.ndarray, y: np.ndarray, r0: int, r1: int) -> None:
        """``y[r0:r1] += A[r0:r1] @ x`` without allocating (compiled kernel)."""
        if r1 <= r0:
            return
        if _CSR_MATVEC is not None:
            _CSR_MATVEC(r1 - r0, self.n_cols, self.indptr[r0 : r1 + 1], self.indices, self.data, x, y[r0:r1])
            return
        block = self._blocks.get((r0, r1))
        if block is None:  # fallback: a view-based CSR of the row block, built once
            lo, hi = int(self.indptr[r0]), int(self.indptr[r1])
            block = sp.csr_array(
                (self.data[lo:hi], self.indices[lo:hi], self.indptr[r0 : r1 + 1] - lo),
                shape=(r1 - r0, self.n_cols),
            )
            self._blocks[(r0, r1)] = block
        y[r0:r1] += block @ x

    def row_chunks(self, n_chunks: int) -> list[tuple[int, int]]:
        """Split the rows into ``n_chunks`` contiguous blocks of about equal nnz."""
        n_chunks = max(1, min(n_chunks, self.n_rows))
        if n_chunks == 1:
            return [(0, self.n_rows)]
        targets = np.linspace(0, self.nnz, n_chunks + 1)[1:-1]
        cuts = np.searchsorted(self.indptr, targets).tolist()
        bounds = [0, *cuts, self.n_rows]
        return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]

    def to_csr(self) -> sp.csr_array:
        """The matrix as a ``csr_array`` sharing the arrays (no copy)."""
        return sp.csr_array((self.data, self.indices, self.indptr), shape=(self.n_rows, self.n_cols))


def _state_chunks(n_states: int, n_chunks: int) -> list[tuple[int, int]]:
    n_chunks = max(1, min(n_chunks, n_states))
    bounds = np.linspace(0, n_states, n_chunks + 1).round().astype(np.int64).tolist()
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------
def resolve_threads(n_threads: int | None, owner: str) -> int:
    """Number of worker threads: ``n_threads`` or the CPUs this process may use (max 8)."""
    if n_threads is None:
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - non-Linux
            n = os.cpu_count() or 1
        return max(1, min(n, 8))
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or n_threads < 1:
        raise bad_value(owner, "n_threads", "None or a positive integer", n_threads)
    return int(n_threads)


class Workers:
    """A small thread pool that runs one function over a list of chunks.

    The first chunk runs on the calling thread, the others on pool threads;
    the compiled kernels release the GIL, so chunks run concurrently.
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, n_threads: int):
        self.n_threads = n_threads
        self._pool = ThreadPoolExecutor(n_threads - 1, thread_name_prefix="optalloc-dp") if n_threads > 1 else None

    def chunks_for(self, nnz: int) -> int:
        """How many chunks a product with ``nnz`` stored entries is split into."""
        return self.n_threads if (self._pool is not None and nnz >= PARALLEL_MIN_NNZ) else 1

    def run(self, fn: Callable[..., Any], chunks: Sequence[tuple[int, int]]) -> list[Any]:
        if self._pool is None or len(chunks) == 1:
            return [fn(*c) for c in chunks]
        futures = [self._pool.submit(fn, *c) for c in chunks[1:]]
        first = fn(*chunks[0])
        return [first, *(f.result() for f in futures)]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------
@dataclass(eq=False)
class ActionMajorMDP:
    """A validated MDP in canonical, kernel-ready form (internal).

    Attributes
    ----------
    n_states, n_actions, n_next : int
        ``S``, ``A`` and the number of next states ``S_next`` (``== S`` for
        stationary problems).
    rows : _CSRRows
        ``P`` as canonical CSR with float64 data and int32 indices when they fit.
    cost_t : np.ndarray
        ``C.T``, shape ``(A, S)``, C-contiguous float64 (``inf`` = infeasible).
    max_row_nnz : int
        Largest number of successors of a feasible (state, action) row.
    max_abs_cost : float
        Largest ``|C|`` over feasible actions (cost units).
    row_sum_dev : float
        Largest ``|sum_s' P[r, s'] - 1|`` over feasible rows ``r``.
    """

    n_states: int
    n_actions: int
    n_next: int
    rows: _CSRRows
    cost_t: np.ndarray
    max_row_nnz: int
    max_abs_cost: float
    row_sum_dev: float


def _as_int(value: object, owner: str, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise bad_value(owner, name, f"an integer >= {minimum}", value)
    return int(value)


def check_discount(gamma: object, owner: str, *, allow_one: bool) -> float:
    """Validate a discount factor: ``[0, 1)`` (infinite horizon) or ``[0, 1]``."""
    try:
        g = float(gamma)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        g = float("nan")
    ok = 0.0 <= g <= 1.0 if allow_one else 0.0 <= g < 1.0
    if not ok:
        raise bad_value(owner, "gamma", "a float in [0, 1]" if allow_one else "a float in [0, 1)", gamma)
    return g


def check_mdp(
    P: object,
    C: object,
    *,
    owner: str,
    p_name: str = "P",
    c_name: str = "C",
    n_next: int | None = None,
) -> ActionMajorMDP:
    """Validate ``(P, C)`` and bring ``P`` to canonical kernel-ready CSR.

    This is the one validity rule of a finite MDP in optalloc, shared by the
    DP solvers of :mod:`optalloc.dp` and the linear programs of
    :mod:`optalloc.formulations.mdp_lp`:

    * ``C`` has shape ``(S, A)``; each entry is finite (a feasible action) or
      ``+inf`` (an infeasible one); NaN and ``-inf`` are refused; every state
      has at least one feasible action;
    * ``P`` has shape ``(A*S, n_next)`` and finite, non-negative entries;
    * the row of ``P`` of every feasible ``(s, a)`` is a probability
      distribution: it sums to 1 within :data:`ROW_SUM_TOL`.  Sub-stochastic
      rows (sum below 1, e.g. an implicit absorbing "exit") and rows summing
      above 1 are refused alike; rows of infeasible actions are not checked
      (they may be all-zero).

    Parameters
    ----------
    P : scipy.sparse matrix or array, or 2-D ndarray
        Transition matrix of shape ``(A*S, n_next)``, action-major rows.
        Copied only when its format, dtypes or ordering need converting.
    C : array_like
        Costs, shape ``(S, A)``; ``np.inf`` marks infeasible actions.
    owner : str
        Name of the calling function, for error messages.
    p_name, c_name : str
        Names of the parameters, for error messages.
    n_next : int, optional
        Required number of columns of ``P`` (default ``S``).

    Raises
    ------
    ConfigurationError
        Wrong shapes, NaN or ``-inf`` costs, a state with no feasible action,
        negative or non-finite probabilities, or a feasible row of ``P`` whose
        sum differs from 1 by more than :data:`ROW_SUM_TOL`.
    """
    try:
        cost = np.array(C, dtype=np.float64)  # copy: never alias the caller's array
    except (TypeError, ValueError):
        raise bad_value(owner, c_name, "a float array of shape (S, A)", type(C).__name__) from None
    if cost.ndim != 2 or cost.shape[0] < 1 or cost.shape[1] < 1:
        raise bad_value(owner, c_name, "a float array of shape (S, A) with S >= 1 and A >= 1", f"shape {cost.shape}")
    n_states, n_actions = cost.shape
    if np.isnan(cost).any() or np.isneginf(cost).any():
        raise bad_value(
            owner, c_name, "free of NaN and -inf (use +inf for an infeasible action)", "NaN or -inf entries"
        )
    feasible = np.isfinite(cost)
    no_action = np.flatnonzero(~feasible.any(axis=1))
    if no_action.size:
        raise bad_value(
            owner,
            c_name,
            "finite for at least one action in every state (every state needs a feasible action)",
            f"{no_action.size} state(s) with all actions infeasible, first states {no_action[:5].tolist()}",
        )
    if n_next is None:
        n_next = n_states
    expected = (n_actions * n_states, n_next)

    if sp.issparse(P):
        csr = sp.csr_array(P)  # no copy if already CSR
    elif isinstance(P, np.ndarray) and P.ndim == 2:
        csr = sp.csr_array(P)
    else:
        raise bad_value(owner, p_name, f"a scipy.sparse CSR matrix of shape {expected}", type(P).__name__)
    if csr.shape != expected:
        raise bad_value(
            owner,
            p_name,
            f"of shape (A*S, S_next) = {expected} for {c_name} of shape {cost.shape} (action-major rows a*S + s)",
            f"shape {csr.shape}",
        )
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()  # also sorts the indices
    data = csr.data
    if data.dtype != np.float64:
        data = data.astype(np.float64)
    fits32 = csr.nnz <= _INT32_MAX and max(expected) <= _INT32_MAX
    idx_dtype = np.int32 if fits32 else np.int64
    indptr = csr.indptr if csr.indptr.dtype == idx_dtype else csr.indptr.astype(idx_dtype)
    indices = csr.indices if csr.indices.dtype == idx_dtype else csr.indices.astype(idx_dtype)
    indptr = np.ascontiguousarray(indptr)
    indices = np.ascontiguousarray(indices)
    data = np.ascontiguousarray(data)
    if data.size and not (data.min() >= 0.0 and np.isfinite(data.max())):  # NaN fails both
        raise bad_value(
            owner, p_name, "a matrix of probabilities (finite, non-negative entries)", "negative or non-finite entries"
        )

    rows = _CSRRows(indptr, indices, data, n_next)
    cost_t = np.ascontiguousarray(cost.T)
    feas_flat = np.isfinite(cost_t).reshape(-1)
    row_sums = np.zeros(expected[0])
    starts = indptr[:-1]
    nonempty = starts < indptr[1:]
    if nonempty.any():  # streaming segment sums (no gather); empty rows keep 0
        row_sums[nonempty] = np.add.reduceat(data, starts[nonempty])
    dev = np.abs(row_sums - 1.0)
    dev[~feas_flat] = 0.0
    worst = int(np.argmax(dev))
    if dev[worst] > ROW_SUM_TOL:
        a, s = divmod(worst, n_states)
        raise bad_value(
            owner,
            p_name,
            f"row-stochastic on feasible actions (rows sum to 1 within {ROW_SUM_TOL:g})",
            f"row {worst} (state {s}, action {a}) sums to {float(row_sums[worst])!r}",
        )
    row_len = np.diff(indptr)
    max_row_nnz = int(row_len[feas_flat].max())
    max_abs_cost = float(np.abs(cost[feasible]).max())
    return ActionMajorMDP(
        n_states=n_states,
        n_actions=n_actions,
        n_next=n_next,
        rows=rows,
        cost_t=cost_t,
        max_row_nnz=max_row_nnz,
        max_abs_cost=max_abs_cost,
        row_sum_dev=float(dev[worst]),
    )


def rounding_allowance(mdp: ActionMajorMDP, gamma: float, v_abs_max: float) -> float:
    """Bound on ``|fl(T v) - T v|`` (sup-norm) for one computed Bellman sweep.

    Each ``Q[a, s]`` is a sum of ``C[s, a]`` and at most ``m = max_row_nnz``
    products ``P * fl(gamma v)``; the standard dot-product error bound gives
    ``|error| <= (m + 2) u (|C| + gamma |v|)`` (``u`` = unit roundoff); a
    factor 1.1 absorbs second-order terms.
    """
    return 1.1 * (mdp.max_row_nnz + 3) * UNIT_ROUNDOFF * (mdp.max_abs_cost + gamma * v_abs_max)


def _abs_max(v: np.ndarray) -> float:
    return float(max(abs(float(v.min())), abs(float(v.max())))) if v.size else 0.0


# ---------------------------------------------------------------------------
# Bellman sweep
# ---------------------------------------------------------------------------
class BellmanSweeper:
    """Apply the Bellman operator with preallocated buffers.

    Parameters
    ----------
    mdp : ActionMajorMDP
        Validated problem.
    gamma : float
        Discount factor applied to the next-state values.
    workers : Workers
        Thread pool; large problems are split over its threads.
    """

    def __init__(self, mdp: ActionMajorMDP, gamma: float, workers: Workers):
        self.mdp = mdp
        self.gamma = gamma
        self.workers = workers
        a, s = mdp.n_actions, mdp.n_states
        self.q = np.empty((a, s))  # Q-factors of the last sweep, (A, S)
        self._q_flat = self.q.reshape(-1)
        self._ct_flat = mdp.cost_t.reshape(-1)
        self._x = np.empty(mdp.n_next)
        self._d = np.empty(s)
        n_chunks = workers.chunks_for(mdp.rows.nnz)
        self._row_chunks = mdp.rows.row_chunks(n_chunks)
        self._state_chunks = _state_chunks(s, n_chunks)
        key_dtype = np.uint8 if a < 255 else (np.uint16 if a < 65535 else np.int64)
        self._weights = (a - np.arange(a)).astype(key_dtype)[:, None]  # (A, 1): A .. 1
        self._eq: np.ndarray | None = None
        self._keys: np.ndarray | None = None
        # per-call state for the chunk functions
        self._out: np.ndarray = self._d
        self._prev: np.ndarray | None = None
        self._policy: np.ndarray | None = None

    # phase 1: Q = C.T + P @ x for a block of rows
    def _rows_task(self, r0: int, r1: int) -> None:
        np.copyto(self._q_flat[r0:r1], self._ct_flat[r0:r1])
        self.mdp.rows.accumulate(self._x, self._q_flat, r0, r1)

    # phase 2: min over actions (and argmin, and the change) for a block of states
    def _states_task(self, s0: int, s1: int) -> tuple[float, float] | None:
        q = self.q[:, s0:s1]
        out = self._out[s0:s1]
        np.min(q, axis=0, out=out)
        if self._policy is not None:
            # lowest index attaining the minimum, without numpy's slow axis-0 argmin
            assert self._eq is not None and self._keys is not None
            eq = self._eq[:, s0:s1]
            keys = self._keys[:, s0:s1]
            np.equal(q, out, out=eq)
            np.multiply(eq, self._weights, out=keys)
            pol = self._policy[s0:s1]
            pol[...] = keys.max(axis=0)
            np.subtract(self.mdp.n_actions, pol, out=pol)
        if self._prev is not None:
            d = self._d[s0:s1]
            np.subtract(out, self._prev[s0:s1], out=d)
            return float(d.min()), float(d.max())
        return None

    def apply(
        self,
        v: np.ndarray,
        out: np.ndarray,
        *,
        diff_from: np.ndarray | None = None,
        policy: np.ndarray | None = None,
    ) -> tuple[float, float]:
        """Compute ``out = T v`` (and optionally the greedy policy and ``T v - diff_from``).

        Parameters
        ----------
        v : np.ndarray
            Next-state values, shape ``(S_next,)``, cost units.
        out : np.ndarray
            Output buffer, shape ``(S,)``; must not share memory with ``v``.
        diff_from : np.ndarray, optional
            If given (shape ``(S,)``), return ``(min, max)`` of ``out - diff_from``.
        policy : np.ndarray, optional
            int64 buffer of shape ``(S,)`` receiving the greedy action (lowest
            index among exact ties).

        Returns
        -------
        (float, float)
            Minimum and maximum of ``out - diff_from`` (``(nan, nan)`` if not requested).
        """
        np.multiply(v, self.gamma, out=self._x)
        self.workers.run(self._rows_task, self._row_chunks)
        self._out, self._prev, self._policy = out, diff_from, policy
        if policy is not None and self._eq is None:
            self._eq = np.empty(self.q.shape, dtype=bool)
            self._keys = np.empty(self.q.shape, dtype=self._weights.dtype)
        try:
            res = self.workers.run(self._states_task, self._state_chunks)
        finally:
            self._out, self._prev, self._policy = self._d, None, None
        if diff_from is None:
            return float("nan"), float("nan")
        return min(r[0] for r in res), max(r[1] for r in res)

    def q_of(self, policy: np.ndarray) -> np.ndarray:
        """``Q[policy[s], s]`` of the last sweep, shape ``(S,)``."""
        return self.q[policy, np.arange(self.mdp.n_states)]


# ---------------------------------------------------------------------------
# Policy sub-matrix
# ---------------------------------------------------------------------------
class PolicyMatrix:
    """Rows of ``P`` and ``C`` selected by a deterministic policy.

    Holds ``P_pi`` (shape ``(S, S)``, row ``s`` = row ``pi[s]*S + s`` of ``P``)
    and ``c_pi`` (shape ``(S,)``), and applies ``T_pi u = c_pi + gamma P_pi u``.

    Parameters
    ----------
    mdp : ActionMajorMDP
        Validated stationary problem (``S_next == S``).
    policy : np.ndarray
        Action per state, shape ``(S,)``; every action must be feasible.
    gamma : float
        Discount factor.
    workers : Workers
        Thread pool.
    """

    def __init__(self, mdp: ActionMajorMDP, policy: np.ndarray, gamma: float, workers: Workers):
        s = mdp.n_states
        src = mdp.rows
        idx_dtype = src.indptr.dtype
        sel = policy.astype(idx_dtype) * idx_dtype.type(s) + np.arange(s, dtype=idx_dtype)
        self.cost = mdp.cost_t.reshape(-1)[sel]
        counts = src.indptr[sel + 1] - src.indptr[sel]
        indptr = np.empty(s + 1, dtype=idx_dtype)
        indptr[0] = 0
        np.cumsum(counts, out=indptr[1:])
        nnz = int(indptr[-1])
        if _CSR_ROW_INDEX is not None:
            indices = np.empty(nnz, dtype=idx_dtype)
            data = np.empty(nnz)
            _CSR_ROW_INDEX(s, sel, src.indptr, src.indices, src.data, indices, data)
        else:
            sub = src.to_csr()[sel]
            indices = sub.indices.astype(idx_dtype, copy=False)
            data = sub.data
        self.rows = _CSRRows(indptr, indices, data, s)
        self.gamma = gamma
        self.workers = workers
        self.n_states = s
        self._x = np.empty(s)
        self._chunks = self.rows.row_chunks(workers.chunks_for(nnz))
        self._out: np.ndarray = self._x
        self._init: np.ndarray = self.cost
        self.max_row_nnz = int(counts.max()) if s else 0

    def _task(self, r0: int, r1: int) -> None:
        np.copyto(self._out[r0:r1], self._init[r0:r1])
        self.rows.accumulate(self._x, self._out, r0, r1)

    def apply(self, u: np.ndarray, out: np.ndarray) -> None:
        """``out = c_pi + gamma * P_pi @ u`` (``out`` must not share memory with ``u``)."""
        np.multiply(u, self.gamma, out=self._x)
        self._out, self._init = out, self.cost
        self.workers.run(self._task, self._chunks)

    def matvec_system(self, u: np.ndarray) -> np.ndarray:
        """``(I - gamma P_pi) u`` as a new array (for Krylov solvers)."""
        out = np.empty(self.n_states)
        neg = np.negative(u)
        np.multiply(u, self.gamma, out=self._x)
        self._out, self._init = out, neg
        self.workers.run(self._task, self._chunks)  # out = -u + gamma P u
        np.negative(out, out=out)
        return out

    def bandwidth(self) -> int:
        """``max |s' - s|`` over the stored entries ``P_pi[s, s']``."""
        if self.rows.nnz == 0:
            return 0
        counts = np.diff(self.rows.indptr)
        row_of = np.repeat(np.arange(self.n_states, dtype=self.rows.indices.dtype), counts)
        np.subtract(self.rows.indices, row_of, out=row_of)
        return int(np.abs(row_of).max())

    def system_matrix(self) -> sp.csr_array:
        """``I - gamma P_pi`` as a new CSR array."""
        p = self.rows.to_csr()
        return (sp.eye_array(self.n_states, format="csr") - self.gamma * p).tocsr()
