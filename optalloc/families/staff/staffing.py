"""Closed-form staffing references: Erlang C (M/M/s) and the nursevendor staffing level.

Erlang C
    Poisson arrivals at rate ``lambda``, exponential service of mean ``tau = 1 / mu``, ``s`` identical servers,
    first come first served, no abandonment. The offered load is ``R = lambda tau`` [Erlang]; the queue is
    stable only for ``s > R``. See Gans, Koole & Mandelbaum (2003), "Telephone call centers: tutorial, review,
    and research prospects", Manufacturing & Service Operations Management 5(2), 79-141, section 4.1.
Nursevendor
    Green, Savin & Savva (2013), "'Nursevendor problem': personnel staffing in the presence of endogenous
    absenteeism", Management Science 59(10), 2237-2256, in the case of a fixed show-up probability ``q``:
    ``N`` nurses are scheduled, ``Y_N ~ Binomial(N, q)`` of them come, ``D`` are needed, and the cost is
    ``C(N) = w N + c_a E[(D - Y_N)^+] + h E[(Y_N - D)^+]``.

Only NumPy and SciPy are imported, so the staffing heuristics and tests can use these without a solver.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from optalloc.exceptions import OptallocWarning, ResourceLimitError, bad_value

__all__ = [
    "ErlangC",
    "average_speed_of_answer",
    "critical_fractile",
    "demand_pmf_from_census",
    "erlang_b",
    "erlang_c",
    "erlang_c_summary",
    "nursevendor_cost",
    "nursevendor_level",
    "nursevendor_optimum",
    "occupancy",
    "poisson_demand_pmf",
    "servers_for_wait_probability",
    "servers_needed",
    "service_level",
]

#: How far a demand pmf may sum from 1 (rounding of a truncated tail) before it is refused.
PMF_TOLERANCE = 1e-6
#: Two shortage probabilities closer than this count as equal, so exact ties go to the smaller staffing level.
_RISK_TIE = 1e-12
#: Two costs closer than this (relative) count as equal in the enumeration; same reason.
_COST_TIE = 1e-11
#: Largest staffing level searched without an explicit ``max_nurses`` [nurses].
MAX_SEARCH_NURSES = 1_000_000
#: Rows of the binomial table evaluated at once (bounds memory: rows x demand support floats).
_CHUNK = 4096

_PMF = "a 1-D probability mass function over 0, 1, 2, ... (finite, non-negative entries summing to 1)"


# ---------------------------------------------------------------- input checks
def _real(owner: str, name: str, value: object, *, positive: bool) -> float:
    """A finite real number, positive or non-negative."""
    bound = "a finite positive number" if positive else "a finite non-negative number"
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise bad_value(owner, name, bound, value)
    x = float(value)
    if x < 0 or (positive and x == 0):
        raise bad_value(owner, name, bound, value)
    return x


def _integer(owner: str, name: str, value: object, minimum: int) -> int:
    """An integer (or an integral float) of at least ``minimum``."""
    expected = f"an integer of at least {minimum}"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise bad_value(owner, name, expected, value)
    if isinstance(value, Integral):
        n = int(value)
    elif math.isfinite(float(value)) and float(value).is_integer():
        n = int(value)
    else:
        raise bad_value(owner, name, expected, value)
    if n < minimum:
        raise bad_value(owner, name, expected, value)
    return n


def _probability(owner: str, name: str, value: object, *, closed_right: bool = False) -> float:
    """A probability in ``(0, 1)``, or ``(0, 1]`` with ``closed_right``."""
    expected = "a number in (0, 1]" if closed_right else "a number strictly between 0 and 1"
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise bad_value(owner, name, expected, value)
    x = float(value)
    if not (0 < x < 1 or (closed_right and x == 1)):
        raise bad_value(owner, name, expected, value)
    return x


def _stable(owner: str, load: object, servers: object) -> tuple[float, int]:
    """Offered load and server count of a stable M/M/s queue (``servers > load``)."""
    r = _real(owner, "load", load, positive=True)
    s = _integer(owner, "servers", servers, 1)
    if s <= r:
        raise bad_value(owner, "servers",
                        f"more than the offered load {r:g} Erlang (with servers <= load the M/M/s queue is "
                        "unstable: the queue grows without bound and Erlang C is undefined)", servers)
    return r, s


def _pmf(owner: str, name: str, pmf: ArrayLike) -> np.ndarray:
    """A probability mass function as a float array, refused when it is not a distribution."""
    try:
        p = np.asarray(pmf, dtype=float)
    except (TypeError, ValueError):
        raise bad_value(owner, name, _PMF, pmf) from None
    if p.ndim != 1 or p.size == 0 or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise bad_value(owner, name, _PMF, pmf)
    total = float(p.sum())
    if abs(total - 1.0) > PMF_TOLERANCE:
        raise bad_value(owner, name, _PMF, f"entries summing to {total:.9g}")
    return p


def _nursevendor_inputs(owner: str, demand_pmf: ArrayLike, q: object, wage: object, shortage_cost: object,
                        idle_cost: object) -> tuple[np.ndarray, float, float, float, float]:
    p = _pmf(owner, "demand_pmf", demand_pmf)
    q = _probability(owner, "q", q, closed_right=True)
    w = _real(owner, "wage", wage, positive=False)
    ca = _real(owner, "shortage_cost", shortage_cost, positive=False)
    h = _real(owner, "idle_cost", idle_cost, positive=False)
    return p, q, w, ca, h


# ---------------------------------------------------------------- Erlang B and C
def _erlang_b(r: float, s: int) -> float:
    # B(0) = 1, B(k) = R B(k-1) / (k + R B(k-1)): every step is a ratio in (0, 1], so no factorial overflows.
    b = 1.0
    for k in range(1, s + 1):
        b = r * b / (k + r * b)
    return b


def _c_from_b(r: float, s: int, b: float) -> float:
    return s * b / (s - r * (1.0 - b))


def erlang_b(load: float, servers: int) -> float:
    """Erlang B blocking probability of an M/M/s/s loss system.

    ``B(s, R) = (R^s / s!) / sum_{k=0}^{s} R^k / k!``, computed by the stable recursion
    ``B(0) = 1``, ``B(k) = R B(k-1) / (k + R B(k-1))``.

    Parameters
    ----------
    load : float
        Offered load ``R = lambda / mu`` [Erlang], positive.
    servers : int
        Number of servers ``s`` (any ``s >= 0``; a loss system is always stable).

    Returns
    -------
    float
        Probability that an arrival finds all ``s`` servers busy.
    """
    r = _real("erlang_b", "load", load, positive=True)
    s = _integer("erlang_b", "servers", servers, 0)
    return _erlang_b(r, s)


def erlang_c(load: float, servers: int) -> float:
    """Erlang C: probability that an arrival waits in an M/M/s queue.

    ``C(s, R) = s B / (s - R (1 - B))`` with ``B`` the Erlang B probability; equal to the textbook
    ``(R^s / s!) (s / (s - R)) / (sum_{k<s} R^k / k! + (R^s / s!) s / (s - R))``
    (Gans, Koole & Mandelbaum 2003, eq. 4).

    Parameters
    ----------
    load : float
        Offered load ``R = lambda / mu`` [Erlang], positive.
    servers : int
        Number of servers ``s``; must exceed ``load`` (otherwise the queue is unstable).

    Returns
    -------
    float
        ``P(wait > 0)``.
    """
    r, s = _stable("erlang_c", load, servers)
    return _c_from_b(r, s, _erlang_b(r, s))


def service_level(load: float, servers: int, target_seconds: float, mean_service_seconds: float) -> float:
    """Probability that an arrival waits at most ``target_seconds`` in an M/M/s queue.

    ``P(W <= t) = 1 - C(s, R) exp(-(s - R) t / tau)``: given that it waits, the wait is exponential with rate
    ``s mu - lambda = (s - R) / tau``.

    Parameters
    ----------
    load : float
        Offered load ``R`` [Erlang].
    servers : int
        Number of servers ``s > R``.
    target_seconds : float
        Target wait ``t`` [s], non-negative.
    mean_service_seconds : float
        Mean service time ``tau = 1 / mu`` [s], positive.

    Returns
    -------
    float
        ``P(W <= t)``.
    """
    owner = "service_level"
    r, s = _stable(owner, load, servers)
    t = _real(owner, "target_seconds", target_seconds, positive=False)
    tau = _real(owner, "mean_service_seconds", mean_service_seconds, positive=True)
    return 1.0 - _c_from_b(r, s, _erlang_b(r, s)) * math.exp(-(s - r) * t / tau)


def average_speed_of_answer(load: float, servers: int, mean_service_seconds: float) -> float:
    """Mean wait in queue of an M/M/s queue, ``E[W] = C(s, R) tau / (s - R)`` [s].

    Parameters
    ----------
    load : float
        Offered load ``R`` [Erlang].
    servers : int
        Number of servers ``s > R``.
    mean_service_seconds : float
        Mean service time ``tau`` [s], positive.

    Returns
    -------
    float
        Average speed of answer [s] (all arrivals, including those served at once).
    """
    owner = "average_speed_of_answer"
    r, s = _stable(owner, load, servers)
    tau = _real(owner, "mean_service_seconds", mean_service_seconds, positive=True)
    return _c_from_b(r, s, _erlang_b(r, s)) * tau / (s - r)


def occupancy(load: float, servers: int) -> float:
    """Long-run fraction of time a server is busy, ``R / s`` (for a stable queue, ``s > R``).

    Parameters
    ----------
    load : float
        Offered load ``R`` [Erlang].
    servers : int
        Number of servers ``s > R``.

    Returns
    -------
    float
        Occupancy in ``(0, 1)``.
    """
    r, s = _stable("occupancy", load, servers)
    return r / s


def _smallest_servers(r: float, meets) -> int:
    """Smallest stable ``s`` for which ``meets(s, C(s, R))`` holds, walking the Erlang B recursion upward."""
    s = math.floor(r) + 1
    b = _erlang_b(r, s)
    while not meets(s, _c_from_b(r, s, b)):
        s += 1
        b = r * b / (s + r * b)
    return s


def servers_needed(load: float, target_seconds: float, mean_service_seconds: float,
                   service_level: float = 0.8) -> int:
    """Fewest servers whose M/M/s service level meets a target (e.g. 80 % answered within 20 s).

    The service level ``1 - C(s, R) exp(-(s - R) t / tau)`` increases with ``s`` towards 1, so the search
    from ``floor(R) + 1`` upward ends.

    Parameters
    ----------
    load : float
        Offered load ``R`` [Erlang].
    target_seconds : float
        Target wait ``t`` [s], non-negative.
    mean_service_seconds : float
        Mean service time ``tau`` [s], positive.
    service_level : float
        Required ``P(W <= t)``, strictly between 0 and 1.

    Returns
    -------
    int
        The smallest ``s > R`` with ``P(W <= t) >= service_level``.
    """
    owner = "servers_needed"
    r = _real(owner, "load", load, positive=True)
    t = _real(owner, "target_seconds", target_seconds, positive=False)
    tau = _real(owner, "mean_service_seconds", mean_service_seconds, positive=True)
    target = _probability(owner, "service_level", service_level)
    return _smallest_servers(r, lambda s, c: 1.0 - c * math.exp(-(s - r) * t / tau) >= target)


def servers_for_wait_probability(load: float, max_wait_probability: float) -> int:
    """Fewest servers whose M/M/s probability of waiting is at most a bound.

    Parameters
    ----------
    load : float
        Offered load ``R`` [Erlang].
    max_wait_probability : float
        Largest acceptable ``C(s, R) = P(wait > 0)``, strictly between 0 and 1.

    Returns
    -------
    int
        The smallest ``s > R`` with ``C(s, R) <= max_wait_probability``.
    """
    owner = "servers_for_wait_probability"
    r = _real(owner, "load", load, positive=True)
    alpha = _probability(owner, "max_wait_probability", max_wait_probability)
    return _smallest_servers(r, lambda s, c: c <= alpha)


@dataclass(frozen=True)
class ErlangC:
    """The M/M/s measures of one staffing level.

    Attributes
    ----------
    load : float
        Offered load ``R`` [Erlang].
    servers : int
        Number of servers ``s``.
    target_seconds : float
        Target wait of the service level [s].
    mean_service_seconds : float
        Mean service time ``tau`` [s].
    wait_probability : float
        ``C(s, R) = P(wait > 0)``.
    service_level : float
        ``P(W <= target_seconds)``.
    average_speed_of_answer : float
        Mean wait in queue [s].
    occupancy : float
        ``R / s``.
    """

    load: float
    servers: int
    target_seconds: float
    mean_service_seconds: float
    wait_probability: float
    service_level: float
    average_speed_of_answer: float
    occupancy: float


def erlang_c_summary(load: float, servers: int, target_seconds: float, mean_service_seconds: float) -> ErlangC:
    """Every Erlang C measure of one staffing level, from one Erlang B recursion.

    Parameters
    ----------
    load : float
        Offered load ``R`` [Erlang].
    servers : int
        Number of servers ``s > R``.
    target_seconds : float
        Target wait ``t`` of the service level [s].
    mean_service_seconds : float
        Mean service time ``tau`` [s].

    Returns
    -------
    ErlangC
    """
    owner = "erlang_c_summary"
    r, s = _stable(owner, load, servers)
    t = _real(owner, "target_seconds", target_seconds, positive=False)
    tau = _real(owner, "mean_service_seconds", mean_service_seconds, positive=True)
    c = _c_from_b(r, s, _erlang_b(r, s))
    return ErlangC(load=r, servers=s, target_seconds=t, mean_service_seconds=tau, wait_probability=c,
                   service_level=1.0 - c * math.exp(-(s - r) * t / tau),
                   average_speed_of_answer=c * tau / (s - r), occupancy=r / s)


# ---------------------------------------------------------------- demand distributions
def poisson_demand_pmf(mean: float, tail: float = 1e-12) -> np.ndarray:
    """Poisson pmf of the nurses needed, truncated where the tail falls below ``tail``.

    Parameters
    ----------
    mean : float
        Mean demand [nurses], non-negative.
    tail : float
        Largest probability left beyond the last entry; that tail is put on the last entry, so the array
        sums to 1.

    Returns
    -------
    ndarray of float, shape (K + 1,)
        ``pmf[k] = P(D = k)`` for ``k < K`` and ``pmf[K] = P(D >= K)``.
    """
    owner = "poisson_demand_pmf"
    m = _real(owner, "mean", mean, positive=False)
    eps = _probability(owner, "tail", tail)
    if m == 0:
        return np.ones(1)
    last = max(int(stats.poisson.isf(eps, m)), 1)
    pmf = stats.poisson.pmf(np.arange(last + 1), m)
    pmf[last] = stats.poisson.sf(last - 1, m)
    return pmf


def demand_pmf_from_census(census_pmf: ArrayLike, ratio: float) -> np.ndarray:
    """Pmf of the nurses needed, ``ceil(census / ratio)``, for a census pmf and a patients-per-nurse ratio.

    Parameters
    ----------
    census_pmf : array_like, shape (P + 1,)
        ``census_pmf[c] = P(census = c)`` [patients].
    ratio : float
        Patients one nurse may care for (4 for a 1:4 ratio) [patients / nurse], positive.

    Returns
    -------
    ndarray of float, shape (ceil(P / ratio) + 1,)
        ``pmf[k] = P(ceil(census / ratio) = k)``.
    """
    owner = "demand_pmf_from_census"
    p = _pmf(owner, "census_pmf", census_pmf)
    r = _real(owner, "ratio", ratio, positive=True)
    # Round before ceil so a census that is an exact multiple of a decimal ratio (0.3 x 10) is not pushed up.
    needed = np.ceil(np.round(np.arange(p.size) / r, 9)).astype(np.int64)
    return np.bincount(needed, weights=p)


# ---------------------------------------------------------------- nursevendor
def critical_fractile(q: float, wage: float, shortage_cost: float, idle_cost: float) -> float:
    """The nursevendor fractile ``(w + q h) / (q (c_a + h))``.

    The marginal cost of scheduling one more nurse is ``C(N+1) - C(N) = w + q h - q (c_a + h) P(D > Y_N)``,
    so the optimum is the smallest ``N`` with ``P(D > Y_N)`` at most this fractile.

    Parameters
    ----------
    q : float
        Show-up probability of a scheduled nurse, in ``(0, 1]``.
    wage : float
        Cost ``w`` of a scheduled nurse [money / nurse], non-negative.
    shortage_cost : float
        Cost ``c_a`` of a nurse short (agency nurse or penalty) [money / nurse].
    idle_cost : float
        Cost ``h`` of a nurse present but not needed [money / nurse].

    Returns
    -------
    float
        The fractile; ``inf`` when ``c_a + h = 0`` (nothing is gained by staffing).
    """
    owner = "critical_fractile"
    q = _probability(owner, "q", q, closed_right=True)
    w = _real(owner, "wage", wage, positive=False)
    ca = _real(owner, "shortage_cost", shortage_cost, positive=False)
    h = _real(owner, "idle_cost", idle_cost, positive=False)
    return _fractile(q, w, ca, h)


def _fractile(q: float, w: float, ca: float, h: float) -> float:
    return math.inf if ca + h == 0 else (w + q * h) / (q * (ca + h))


def _survival(p: np.ndarray) -> np.ndarray:
    """``P(D > y)`` for ``y = 0 .. K-1``, summed from the tail so it is exactly 0 at ``K-1`` and never negative."""
    tail = np.cumsum(p[::-1])[::-1]  # P(D >= y)
    return np.append(tail[1:], 0.0)


def _expected_shortage(n: np.ndarray, p: np.ndarray, q: float) -> np.ndarray:
    """``E[(D - Y_n)^+]`` for every ``n`` (1-D), exactly."""
    # g[y] = E[(D - y)^+] = sum_{k >= y} P(D > k), for y = 0 .. K-1; beyond K-1 it is 0.
    g = np.cumsum(_survival(p)[::-1])[::-1]
    y = np.arange(p.size)
    out = np.empty(n.size)
    for start in range(0, n.size, _CHUNK):
        rows = n[start:start + _CHUNK]
        out[start:start + _CHUNK] = stats.binom.pmf(y[None, :], rows[:, None], q) @ g
    return out


def nursevendor_cost(N: ArrayLike, demand_pmf: ArrayLike, q: float, wage: float, shortage_cost: float,
                     idle_cost: float) -> float | np.ndarray:
    """Exact expected cost ``C(N) = w N + c_a E[(D - Y_N)^+] + h E[(Y_N - D)^+]``, ``Y_N ~ Binomial(N, q)``.

    The shortage term sums the binomial pmf against ``E[(D - y)^+]``; the idle term follows from
    ``E[(Y - D)^+] = E[Y] - E[D] + E[(D - Y)^+]``.

    Parameters
    ----------
    N : int or array_like of int
        Nurses scheduled, non-negative; any shape.
    demand_pmf : array_like, shape (K,)
        ``demand_pmf[d] = P(D = d)`` [nurses needed].
    q : float
        Show-up probability of a scheduled nurse, in ``(0, 1]``.
    wage : float
        Cost ``w`` per scheduled nurse [money / nurse].
    shortage_cost : float
        Cost ``c_a`` per nurse short [money / nurse].
    idle_cost : float
        Cost ``h`` per nurse present and not needed [money / nurse].

    Returns
    -------
    float or ndarray
        ``C(N)`` [money], a float for a scalar ``N``, else an array of ``N``'s shape.
    """
    owner = "nursevendor_cost"
    p, q, w, ca, h = _nursevendor_inputs(owner, demand_pmf, q, wage, shortage_cost, idle_cost)
    n = _counts(owner, N)
    mean_demand = float(np.arange(p.size) @ p)
    shortage = _expected_shortage(n.ravel(), p, q).reshape(n.shape)
    idle = q * n - mean_demand + shortage
    cost = w * n + ca * shortage + h * idle
    return float(cost) if np.ndim(N) == 0 else cost


def _counts(owner: str, value: ArrayLike) -> np.ndarray:
    expected = "a non-negative integer or an array of them"
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise bad_value(owner, "N", expected, value) from None
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise bad_value(owner, "N", expected, value)
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) or np.any(arr < 0):
        raise bad_value(owner, "N", expected, value)
    return arr.astype(np.int64)


def _no_finite_optimum(owner: str) -> Exception:
    return bad_value(owner, "max_nurses",
                     "given when wage and idle cost are both 0 and q < 1 (every extra nurse then lowers the "
                     "expected shortage at no cost, so no finite staffing level minimises the cost)", None)


def nursevendor_level(demand_pmf: ArrayLike, q: float, wage: float, shortage_cost: float, idle_cost: float,
                      max_nurses: int | None = None) -> int:
    """Cost-minimising nurses to schedule, by the closed form: the smallest ``N`` with
    ``P(D > Y_N) <= (w + q h) / (q (c_a + h))``.

    ``C(N+1) - C(N) = w + q h - q (c_a + h) P(D > Y_N)`` and ``P(D > Y_N)`` does not increase with ``N``,
    so ``C`` is discretely convex and the first ``N`` where the difference turns non-negative is the
    smallest minimiser (Green, Savin & Savva 2013, fixed show-up probability). A fractile of at least 1
    (``w >= q c_a``: a nurse costs at least the shortage she is expected to save) gives 0, with a warning.

    Parameters
    ----------
    demand_pmf : array_like, shape (K,)
        ``demand_pmf[d] = P(D = d)`` [nurses needed].
    q : float
        Show-up probability of a scheduled nurse, in ``(0, 1]``.
    wage : float
        Cost ``w`` per scheduled nurse [money / nurse], non-negative.
    shortage_cost : float
        Cost ``c_a`` per nurse short [money / nurse], non-negative.
    idle_cost : float
        Cost ``h`` per nurse present and not needed [money / nurse], non-negative.
    max_nurses : int, optional
        Most nurses that may be scheduled; by convexity the answer is then ``min(N*, max_nurses)``.
        Required when ``w = h = 0`` and ``q < 1`` (no finite optimum).

    Returns
    -------
    int
        The staffing level [nurses].
    """
    owner = "nursevendor_level"
    p, q, w, ca, h = _nursevendor_inputs(owner, demand_pmf, q, wage, shortage_cost, idle_cost)
    cap = None if max_nurses is None else _integer(owner, "max_nurses", max_nurses, 0)
    fractile = _fractile(q, w, ca, h)
    if fractile >= 1:
        warnings.warn(f"nursevendor_level: the critical fractile (w + q h) / (q (c_a + h)) = {fractile:.4g} is at "
                      f"least 1 (wage {w:g} >= q x shortage cost {q * ca:g}): a scheduled nurse costs at least the "
                      "shortage cost she is expected to save, so the cost-minimising level is 0 nurses.",
                      OptallocWarning, stacklevel=2)
        return 0
    survival = _survival(p)[:-1]  # P(D > y), y = 0 .. K-2; zero from y = K-1 on
    support = np.arange(survival.size)

    def meets(n: int) -> bool:
        risk = float(stats.binom.pmf(support, n, q) @ survival)  # P(D > Y_n)
        return risk <= fractile + _RISK_TIE

    if meets(0):
        return 0
    if cap is not None and not meets(cap):
        return cap
    if cap is None and fractile == 0 and q < 1:
        raise _no_finite_optimum(owner)
    # Doubling, then bisection: P(D > Y_n) is monotone in n, and a bracket needs O(log N*) evaluations.
    lo, hi = 0, 1
    while not meets(hi):
        lo, hi = hi, 2 * hi if cap is None else min(2 * hi, cap)
        if cap is None and hi > MAX_SEARCH_NURSES:
            raise ResourceLimitError(f"nursevendor_level: the staffing level exceeds {MAX_SEARCH_NURSES} nurses; "
                                     "pass max_nurses to bound the search.")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if meets(mid) else (mid, hi)
    return hi


def nursevendor_optimum(demand_pmf: ArrayLike, q: float, wage: float, shortage_cost: float, idle_cost: float,
                        max_nurses: int | None = None) -> int:
    """Cost-minimising nurses to schedule, by enumerating the exact cost (no use of the closed form).

    Every ``N`` from 0 to a bound is costed with :func:`nursevendor_cost` and the smallest minimiser is
    returned (costs equal to 1e-11 relative count as ties). Without ``max_nurses`` the bound comes from
    ``C(N) >= (w + q h) N - h E[D]``: once the best cost ``m`` found on ``0 .. B`` is known, no ``N`` above
    ``(m + h E[D]) / (w + q h)`` can do better, and the enumeration is extended until ``B`` reaches that.

    Parameters
    ----------
    demand_pmf : array_like, shape (K,)
        ``demand_pmf[d] = P(D = d)`` [nurses needed].
    q : float
        Show-up probability, in ``(0, 1]``.
    wage, shortage_cost, idle_cost : float
        ``w``, ``c_a``, ``h`` [money / nurse], non-negative.
    max_nurses : int, optional
        Enumerate ``0 .. max_nurses`` only.

    Returns
    -------
    int
        The staffing level [nurses].
    """
    owner = "nursevendor_optimum"
    p, q, w, ca, h = _nursevendor_inputs(owner, demand_pmf, q, wage, shortage_cost, idle_cost)

    def best(bound: int) -> tuple[int, float]:
        cost = nursevendor_cost(np.arange(bound + 1), p, q, w, ca, h)
        m = float(cost.min())
        return int(np.flatnonzero(cost <= m + _COST_TIE * max(1.0, abs(m)))[0]), m

    if max_nurses is not None:
        return best(_integer(owner, "max_nurses", max_nurses, 0))[0]
    top = int(np.flatnonzero(p > 0)[-1])  # largest demand with positive probability
    slope = w + q * h
    if slope == 0:
        if ca == 0 or top == 0:
            return 0  # the cost is 0 for every N
        if q < 1:
            raise _no_finite_optimum(owner)
        return best(top)[0]  # q = 1: the cost c_a E[(D - N)^+] stops falling at N = top
    mean_demand = float(np.arange(p.size) @ p)
    bound = int(math.ceil(top / q)) + 1
    while True:
        n, m = best(bound)
        needed = math.floor((m + h * mean_demand) / slope)
        if needed <= bound:
            return n
        if needed > MAX_SEARCH_NURSES:
            raise ResourceLimitError(f"nursevendor_optimum: the enumeration bound {needed} exceeds "
                                     f"{MAX_SEARCH_NURSES} nurses; pass max_nurses to bound it.")
        bound = needed
