"""Approximate linear programming (ALP) of the CT-scanner day, solved with HiGHS.

In the style of Patrick, Puterman & Queyranne (2008, *Operations Research*
56:1507-1525): the exact finite-horizon LP of the scanner MDP, with its value
function restricted to a linear architecture, gives a lower bound on the
optimal expected cost and a greedy policy.

Formulation (cost minimisation; cost = -net revenue, revenue units)
-------------------------------------------------------------------
Slots ``t = 0..T-1``, states ``s = (cep, w_OP, w_IP, w_NCEP)``, ``V_T = 0``
(the end-of-day cost is part of the last slot's cost). With features
``phi_t(s)`` and parameters ``theta_t``, ``V_t(s) = theta_t . phi_t(s)``::

    max   sum_t sum_s nu_t(s) V_t(s)
    s.t.  V_t(s) <= C_t(s, a) + E[V_{t+1}(s') | s, a]   every slot, state, feasible action.

Every feasible ``V`` satisfies ``V_t <= V*_t`` (backward induction from
``V_T = 0``), so ``V_0(s_0) <= V*_0(s_0)``. Rows may hold only to the
solver's tolerance: with ``delta_t >= 0`` the largest violation of slot ``t``
over ALL its feasible pairs (checked vectorised after every solve),
``V_t - sum_{u >= t} delta_u`` is exactly feasible, so the reported bound is
``V_0(s_0) - sum_t delta_t``, a lower bound on the optimal expected cost
(``-bound``: an upper bound on the expected net revenue) whichever rows the
LP held.

Post-decision structure (read from the scenario, no second copy of the dynamics)
--------------------------------------------------------------------------------
After the decision the slot depends on ``(s, a)`` only through the CEPs and
scans (the slot's revenue) and the patients left waiting ``r = w - a``; the
arrivals of the four types are independent and each queue is capped on its
own (the model card's timing). :func:`slot_model` probes the scenario's own
:meth:`ScannerScenario.step` on small batches:

* ``scan_cost[cep, a]``: state ``(cep, w = a)``, action ``a``, no arrivals;
* per type ``k``, states with only ``r_k`` waiting, action 0, every outcome of
  :meth:`ScannerScenario.arrival_distribution`: the cost of leaving ``r_k``
  waiting (waiting, turn-away and, in the last slot, end-of-day costs; their
  sum over the types is ``post_cost[r]``) and the distribution of the queue
  after the arrivals ``P_tk(w'_k | r_k)``; with the CEP distribution they
  give the post-decision transition ``M_t[r, s']``;

so ``C_t(s, a) = scan_cost[cep, a] + post_cost[w - a]`` and
``E[phi_{t+1}(s') | s, a] = (M_t Phi_{t+1})[w - a]``, from ``1 + 3 queue_limit``
simulator probes per outcome instead of the ``states x actions x outcomes``
of the exact stage (the tests check both against
:meth:`ScannerScenario.tabular_model`).

Bases (``basis``)
-----------------
``"affine"``
    ``theta_t0 + theta_tc cep + sum_k theta_tk w_k``: 5 parameters a slot.
``"separable"``
    ``theta_t0 + g_t(cep) + sum_k f_tk(w_k)``, one free value per CEP count and
    queue length, ``g_t(0) = f_tk(0) = 0`` (the constant carries the level).
    It contains the affine basis. With ``convex=True`` each ``f_tk`` is also
    convex (non-decreasing increments: a further waiting patient lowers the
    expected cost no more than the one before); a restriction, so a bound no
    tighter, possibly a steadier policy.
``"tabular"``
    One value per state: the exact LP (its bound is the DP optimum); for small
    instances and checks.

State-relevance weights (``relevance``)
---------------------------------------
``"uniform"``
    ``nu_t(s) = 1 / S_t``: every slot and every state of a slot alike.
``"visits"``
    ``nu_t`` = the exact state distribution of slot ``t`` under the myopic
    policy (least immediate expected cost, the greedy policy of ``V = 0``),
    propagated through ``M_t``.
``"initial"``
    ``nu_0(s_0) = 1``, nothing else: the tightest bound of the architecture
    (for the separable basis at least the affine one's).

Weights that miss states (``"visits"``, ``"initial"``) leave their values
free to fall: on the presets the greedy policy of such a solution keeps
patients waiting and loses money, while uniform weights give greedy
policies within about 1 % of the optimum. ``tight_bound`` therefore re-solves
the same rows for ``V_0(s_0)`` alone and reports the better bound beside the
policy of the chosen weights.

What the additive bases can bound
---------------------------------
The ALP's dual matches, slot by slot, the expected features of a
distribution over state-action pairs: for the additive bases only the
marginal distributions of the CEPs and of each queue, never their joint
law. When the expected arrivals of a slot fit the scanners (the presets run
at about 0.9 patients per scanner), a joint law in which the patients never
compete for a scanner has those marginals, so the bound of both bases is
the cost of a day with unlimited scanners (every patient scanned in the slot
after arriving): a valid bound, 9.5 % below the optimum of ``gocgun-v0``,
29 % for one scanner. A tighter bound needs features that couple the queues
(the total waiting, say).
Rows (``constraints``)
----------------------
``"all"``
    Every feasible ``(slot, state, action)`` pair is a row.
``"generate"``
    Constraint generation: one row per state to start (its myopic action);
    each round checks ALL pairs vectorised (``V_t(s) - min_a Q_t(s, a)``) and
    adds, for every state violated beyond ``tolerance``, the row of its most
    violated action, until none is (or ``max_rounds``).
``"factored"`` (affine and separable bases)
    The same feasible set of ``theta`` in few rows: for an additive ``V`` the
    rows of slot ``t`` and CEP count ``c`` read ``sum_k u_tk(w_k, a_k) <=
    rho_t(c, a)`` with ``u_tk(w, b) = f_tk(w) - E[f_{t+1,k}(w'_k) | w - b] -
    post_cost_k(w - b)`` and ``rho_t(c, a) = scan_cost[c, a] + post_cost(0) -
    theta_t0 - g_t(c) + E[theta_{t+1,0} + g_{t+1}(cep')]``, and the feasible
    pairs are every ``w_k >= a_k`` for an action ``a`` that ``c`` allows. With a free ``mu_tk(b)`` per type and
    number scanned, the rows ``mu_tk(b) >= u_tk(w, b)`` (every ``w >= b``) and
    ``sum_k mu_tk(a_k) <= rho_t(c, a)`` (every allowed ``(c, a)``) hold for
    some ``mu`` exactly when every pair's row holds (take ``mu_tk(b) =
    max_w u_tk(w, b)``): about ``3 (scanners + 1) queue_limit + cep values x
    actions`` rows a slot instead of ``states x actions``.
``"auto"``
    ``"factored"`` for the additive bases; ``"tabular"`` takes every row up to
    :data:`ALL_PAIRS_LIMIT` pairs, constraint generation beyond.

Whatever the scheme, the violations that correct the bound are checked over
every feasible pair, so the factored rows' equivalence is checked too.

Solver
------
The LP is handed to ``highspy`` as one row-wise sparse matrix built by NumPy
and SciPy: Pyomo builds one Python expression per row (minutes for 10^6
rows), and ``scipy.optimize.linprog(method="highs")`` rebuilds and re-solves
from scratch on every call, whereas a persistent ``highspy.Highs`` takes each
constraint-generation round's rows with ``addRows`` (and the tight bound's
objective with ``changeColsCost``) and re-solves from the previous optimal
basis. HiGHS runs silent on one thread with feasibility tolerances of 1e-9.
The simplex method is slow on the pair rows, which are many and degenerate
(tens of seconds with the affine basis at 10^6 rows, many minutes with the
separable one at 10^5): hence the factored rows by default.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from optalloc.exceptions import ConfigurationError, InfeasibleFormulation, PolicyScenarioMismatch, bad_value
from optalloc.formulations.highs_arrays import highs_lp, run
from optalloc.policy import Policy, epochs_of
from optalloc.scenario import Scenario
from optalloc.tags import PolicyTags

#: Value-function architectures.
BASES = ("affine", "separable", "tabular")
#: State-relevance weights of the objective.
RELEVANCE = ("visits", "uniform", "initial")
#: How the Bellman rows enter the LP.
CONSTRAINTS = ("auto", "all", "generate", "factored")
#: Feasible (slot, state, action) pairs above which ``constraints="auto"`` generates the tabular basis's rows.
ALL_PAIRS_LIMIT = 200_000
#: HiGHS options of every ALP solve.
HIGHS_OPTIONS: dict[str, Any] = {"output_flag": False, "threads": 1, "primal_feasibility_tolerance": 1e-9,
                                 "dual_feasibility_tolerance": 1e-9}


# ------------------------------------------------------------------ post-decision model of a slot
@dataclass(frozen=True)
class SlotModel:
    """The post-decision model of one slot, read from the scenario's simulator.

    Attributes
    ----------
    t : int
        Slot.
    cep : ndarray of int, shape (S,)
        CEPs of every state of the slot (``ScannerScenario.stage_states`` order).
    waiting : ndarray of int, shape (S, 3)
        Waiting OP, IP, NCEP of every state.
    feasible : ndarray of bool, shape (S, A)
        The scenario's action mask of every state.
    post : ndarray of int, shape (S, A)
        Index of the patients left waiting ``r = w - a`` in the slot's grid of
        ``(queue_limit(t) + 1)^3`` values, in state order (0 where infeasible).
    scan_cost : ndarray, shape (cep_limit(t) + 1, A)
        Cost of the CEP scans and the action's scans [revenue units] (minus their revenue).
    base : float
        Expected cost of leaving nobody waiting [revenue units].
    extra : ndarray, shape (3, queue_limit(t) + 1)
        Expected cost of leaving ``r_k`` of type ``k`` waiting, beyond ``base``
        [revenue units]: waiting and turn-away costs, the end-of-day cost in the last slot.
    cep_next : ndarray, shape (cep_limit(t + 1) + 1,)
        Distribution of the next slot's CEPs.
    marginals : tuple of scipy.sparse.csr_array, shape (queue_limit(t) + 1, queue_limit(t + 1) + 1)
        Per type, the distribution of the queue after the arrivals given ``r_k``.
    """

    t: int
    cep: np.ndarray
    waiting: np.ndarray
    feasible: np.ndarray
    post: np.ndarray
    scan_cost: np.ndarray
    base: float
    extra: np.ndarray
    cep_next: np.ndarray
    marginals: tuple[sp.csr_array, sp.csr_array, sp.csr_array]

    @cached_property
    def post_cost(self) -> np.ndarray:
        """Expected cost of leaving ``r`` waiting, over the post-decision grid, shape (R,) [revenue units]."""
        e = self.extra
        return (self.base + e[0][:, None, None] + e[1][None, :, None] + e[2][None, None, :]).ravel()

    @cached_property
    def transition(self) -> sp.csr_array:
        """``M_t``: distribution of the next slot's state given ``r``, shape (R, S_{t+1}), in state order."""
        queues = sp.kron(self.marginals[0], sp.kron(self.marginals[1], self.marginals[2]))
        return sp.csr_array(sp.kron(sp.csr_array(self.cep_next[None, :]), queues, format="csr"))

    def costs(self) -> np.ndarray:
        """Expected stage costs ``C_t`` of shape (S, A) [revenue units]; ``inf`` where infeasible."""
        return self.q_values(self.post_cost)

    def q_values(self, post_values: np.ndarray) -> np.ndarray:
        """``scan_cost + post_values[w - a]`` of shape (S, A) [revenue units]; ``inf`` where infeasible."""
        return np.where(self.feasible, self.scan_cost[self.cep] + post_values[self.post], np.inf)


def slot_model(scenario: Scenario, t: int) -> SlotModel:
    """The :class:`SlotModel` of slot ``t`` of a :class:`ScannerScenario`, by probing its ``step``.

    Parameters
    ----------
    scenario : ScannerScenario
    t : int
        Slot, ``0 <= t < slots``.

    Returns
    -------
    SlotModel
    """
    acts = scenario.action_table().table
    n_acts = len(acts)
    cep, waiting = scenario.stage_states(t)
    feasible = scenario.action_mask(t, scenario.make_state(t, cep, waiting))
    side = scenario.queue_limit(t) + 1
    remaining = np.maximum(waiting[:, None, :] - acts[None, :, :], 0)
    post = np.where(feasible, (remaining[..., 0] * side + remaining[..., 1]) * side + remaining[..., 2], 0)

    ceps = np.repeat(np.arange(scenario.cep_limit(t) + 1), n_acts)
    actions = np.tile(np.arange(n_acts), len(ceps) // n_acts)
    _, scan, _ = scenario.step(t, scenario.make_state(t, ceps, acts[actions]), actions,
                               {"arrivals": np.zeros((len(ceps), 4), dtype=np.int64)})

    # Probe p = 0 leaves nobody waiting, probe 1 + k (side - 1) + j - 1 leaves j of type k alone.
    probes = np.zeros((1 + 3 * (side - 1), 3), dtype=np.int64)
    own = np.zeros((3, side), dtype=np.int64)  # own[k, j]: the probe leaving j of type k
    for k in range(3):
        own[k, 1:] = 1 + k * (side - 1) + np.arange(side - 1)
        probes[own[k, 1:], k] = np.arange(1, side)
    outcomes, probs = scenario.arrival_distribution(t)
    outcomes, probs = outcomes[probs > 0], probs[probs > 0]
    n = len(probes) * len(probs)
    nxt, cost, _ = scenario.step(t, scenario.make_state(t, np.zeros(n), np.tile(probes, (len(probs), 1))),
                                 np.zeros(n, dtype=np.int64), {"arrivals": np.repeat(outcomes, len(probes), axis=0)})
    ceps_next, side_next = scenario.stage_shape(t + 1)
    after = scenario.waiting(nxt)
    if nxt["cep"].max() >= ceps_next or after.max() >= side_next:
        raise InfeasibleFormulation(f"slot {t} of scenario {scenario.id} leads outside the states of slot {t + 1}")
    probe_cost = probs @ cost.reshape(len(probs), len(probes))
    weight = np.repeat(probs, len(probes)).reshape(len(probs), len(probes))
    after = after.reshape(len(probs), len(probes), 3)
    marginals = tuple(
        sp.csr_array((weight[:, own[k]].ravel(), (np.tile(np.arange(side), len(probs)), after[:, own[k], k].ravel())),
                     shape=(side, side_next))
        for k in range(3))
    cep_next = np.bincount(nxt["cep"].reshape(len(probs), len(probes))[:, 0], weights=probs, minlength=ceps_next)
    extra = probe_cost[own] - probe_cost[0]
    return SlotModel(t, cep, waiting, feasible, post, scan.reshape(-1, n_acts), float(probe_cost[0]), extra,
                     cep_next, marginals)


# ------------------------------------------------------------------ bases
def n_features(basis: str, scenario: Scenario, t: int) -> int:
    """Number of parameters of slot ``t`` (0 at ``t = slots``: ``V_T = 0``)."""
    if t >= scenario.horizon:
        return 0
    ceps, side = scenario.stage_shape(t)
    if basis == "affine":
        return 1 + (ceps > 1) + 3 * (side > 1)
    if basis == "separable":
        return 1 + (ceps - 1) + 3 * (side - 1)
    return ceps * side**3


def features(basis: str, scenario: Scenario, t: int, cep: np.ndarray, waiting: np.ndarray) -> sp.csr_array:
    """Features ``phi_t`` of states ``(cep (n,), waiting (n, 3))`` of slot ``t``, shape (n, n_features).

    ``affine``: ``[1, cep, w_OP, w_IP, w_NCEP]`` (columns that are constant
    zero in the slot left out); ``separable``: ``[1, cep == 1.., w_OP == 1..,
    w_IP == 1.., w_NCEP == 1..]``; ``tabular``: the state's indicator.
    """
    cep, waiting = np.asarray(cep, dtype=np.int64), np.asarray(waiting, dtype=np.int64)
    n, d = len(cep), n_features(basis, scenario, t)
    if d == 0:
        return sp.csr_array((n, 0))
    ceps, side = scenario.stage_shape(t)
    rows = np.arange(n)
    if basis == "tabular":
        return sp.csr_array((np.ones(n), (rows, scenario.state_index(t, cep, waiting))), shape=(n, d))
    entries = [(rows, np.zeros(n, dtype=np.int64), np.ones(n))]
    if basis == "affine":
        parts = ([cep] if ceps > 1 else []) + ([waiting[:, k] for k in range(3)] if side > 1 else [])
        entries += [(rows, np.full(n, 1 + j), np.asarray(v, dtype=float)) for j, v in enumerate(parts)]
    else:
        starts = [1, ceps] + [ceps + k * (side - 1) for k in (1, 2)]
        for start, value in zip(starts, [cep] + [waiting[:, k] for k in range(3)]):
            hit = value > 0
            entries.append((rows[hit], start + value[hit] - 1, np.ones(int(hit.sum()))))
    r, c, v = (np.concatenate(x) for x in zip(*entries))
    keep = v != 0
    return sp.csr_array((v[keep], (r[keep], c[keep])), shape=(n, d))


def _additive_parts(basis: str, scenario: Scenario, t: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """``phi_t(0, 0)``, ``G[c] = phi_t(c, 0) - phi_t(0, 0)`` and ``F_k[w] = phi_t(0, w e_k) - phi_t(0, 0)`` (dense)."""
    ceps, side = scenario.stage_shape(t)
    zero = features(basis, scenario, t, np.zeros(1), np.zeros((1, 3))).toarray()[0]
    grow = features(basis, scenario, t, np.arange(ceps), np.zeros((ceps, 3))).toarray() - zero
    queues = []
    for k in range(3):
        waiting = np.zeros((side, 3), dtype=np.int64)
        waiting[:, k] = np.arange(side)
        queues.append(features(basis, scenario, t, np.zeros(side), waiting).toarray() - zero)
    return zero, grow, queues


# ------------------------------------------------------------------ the LP
@dataclass
class ALPResult:
    """A solved ALP.

    Attributes
    ----------
    coefficients : ndarray, shape (n_params,)
        ``theta_t`` of every slot, concatenated; slot ``t`` is ``coefficients[offsets[t]:offsets[t + 1]]``.
    offsets : ndarray of int, shape (slots + 1,)
    bound : float
        Lower bound on the optimal expected cost [revenue units]: the larger of
        ``policy_bound`` and, with ``tight_bound``, the same for the LP of ``V_0(s_0)`` alone.
    policy_bound : float
        ``V_0(s_0) - sum_t delta_t`` of the policy's LP solution [revenue units].
    value : float
        ``V_0(s_0)`` of the LP solution [revenue units].
    objective : float
        The LP's optimal ``sum_t sum_s nu_t(s) V_t(s)`` [revenue units].
    violations : ndarray, shape (slots,)
        ``delta_t``: largest violation of each slot's Bellman rows over all feasible pairs [revenue units].
    post_values : list of ndarray
        ``post_cost + E[V_{t+1} | r]`` over each slot's post-decision grid [revenue units]: the greedy policy.
    scan_costs : list of ndarray
        Each slot's ``scan_cost`` (cep_limit + 1, A) [revenue units].
    constraints : str
        The row scheme used (``"all"``, ``"generate"`` or ``"factored"``).
    rows, cols, nonzeros, rounds, pairs : int
        LP size at the end, HiGHS solves, and the MDP's feasible (slot, state, action) pairs.
    solve_seconds, build_seconds : float
        Time in HiGHS, and time building slot models, features and rows and checking violations [s].
    """

    coefficients: np.ndarray
    offsets: np.ndarray
    bound: float
    policy_bound: float
    value: float
    objective: float
    violations: np.ndarray
    post_values: list[np.ndarray]
    scan_costs: list[np.ndarray]
    constraints: str
    rows: int
    cols: int
    nonzeros: int
    rounds: int
    pairs: int
    solve_seconds: float
    build_seconds: float


def _placed(block: sp.csr_array, columns: np.ndarray, width: int) -> sp.csr_array:
    """``block`` with its column ``j`` moved to ``columns[j]`` of a matrix ``width`` wide."""
    block = sp.csr_array(block)
    return sp.csr_array((block.data, columns[block.indices], block.indptr), shape=(block.shape[0], width))


class _ALP:
    """Slot models, features and rows of a scenario's ALP (one basis)."""

    def __init__(self, scenario: Scenario, basis: str) -> None:
        T = scenario.horizon
        self.scenario, self.basis, self.T = scenario, basis, T
        self.slots = [slot_model(scenario, t) for t in range(T)]
        self.phi = [features(basis, scenario, t, m.cep, m.waiting) for t, m in enumerate(self.slots)]
        self.offsets = np.cumsum([0] + [p.shape[1] for p in self.phi])
        self.n_params = int(self.offsets[-1])
        self.start = int(scenario.tabular_index(0, scenario.observe(0, scenario.initial_state(1)))[0])

    @cached_property
    def next_phi(self) -> list[sp.csr_array]:
        """``E[phi_{t+1}(s') | r]`` over each slot's post-decision grid (no columns in the last slot)."""
        return [sp.csr_array(m.transition @ self.phi[t + 1]) if t + 1 < self.T
                else sp.csr_array((m.transition.shape[0], 0)) for t, m in enumerate(self.slots)]

    def params(self, t: int) -> np.ndarray:
        """Columns of ``theta_t`` (none for ``t = slots``)."""
        return np.arange(self.offsets[t], self.offsets[t + 1]) if t < self.T else np.zeros(0, dtype=np.int64)

    # -------------------------------------------------- rows of pairs
    def bellman_rows(self, t: int, states: np.ndarray, actions: np.ndarray,
                     width: int) -> tuple[sp.csr_array, np.ndarray]:
        """Rows ``phi_t(s) . theta_t - E[phi_{t+1} | s, a] . theta_{t+1} <= C_t(s, a)`` of pairs of slot ``t``."""
        m = self.slots[t]
        post = m.post[states, actions]
        block = sp.hstack([self.phi[t][states], -self.next_phi[t][post]], format="csr")
        columns = np.concatenate([self.params(t), self.params(t + 1)])
        return _placed(block, columns, width), m.scan_cost[m.cep[states], actions] + m.post_cost[post]

    # -------------------------------------------------- factored rows
    def factored_rows(self) -> tuple[sp.csr_array, np.ndarray, int]:
        """The factored rows of every slot (module docstring), their upper bounds and the width with ``mu``.

        Raises
        ------
        ConfigurationError
            The basis is not additive over CEPs and queues, or the scenario's
            masks are not ``a <= w`` with a set of actions per CEP count.
        """
        if self.basis not in ("affine", "separable"):
            raise ConfigurationError(f"The factored ALP needs an additive basis; basis {self.basis!r} is not.")
        sc, acts = self.scenario, self.scenario.action_table().table
        blocks, uppers = [], []
        width = self.n_params
        parts = [_additive_parts(self.basis, sc, t) for t in range(self.T + 1)]
        for t, m in enumerate(self.slots):
            zero, grow, queues = parts[t]
            additive = zero + grow[m.cep] + sum(queues[k][m.waiting[:, k]] for k in range(3))
            if not np.allclose(additive, self.phi[t].toarray(), rtol=0, atol=1e-12):
                raise ConfigurationError(f"The factored ALP needs an additive basis; basis {self.basis!r} is not.")
            ceps, side = sc.stage_shape(t)
            full = sc.action_mask(t, sc.make_state(t, np.arange(ceps), np.full((ceps, 3), side - 1)))
            if not np.array_equal(m.feasible, full[m.cep] & np.all(acts[None] <= m.waiting[:, None], axis=2)):
                raise ConfigurationError(f"The factored ALP needs masks 'a <= w, a allowed by the CEPs'; scenario "
                                         f"{sc.id} has others (use constraints='all' or 'generate').")
            next_zero, next_grow, next_queues = parts[t + 1]
            after = [m.marginals[k] @ next_queues[k] for k in range(3)]  # E[F_{t+1,k}(w'_k) | r_k]
            after_zero = next_zero + m.cep_next @ next_grow
            scans = min(int(acts.max()), side - 1) + 1
            mu = width + np.arange(3 * scans)
            width += 3 * scans
            columns = np.concatenate([self.params(t), self.params(t + 1), mu])
            d, d_next = len(zero), len(after_zero)
            rows, upper = [], []
            for k in range(3):  # mu_tk(b) >= f_tk(w) - E[f_{t+1,k} | w - b] - extra_k(w - b)
                for b in range(scans):
                    w = np.arange(b, side)
                    row = np.zeros((len(w), d + d_next + 3 * scans))
                    row[:, :d] = queues[k][w]
                    row[:, d:d + d_next] = -after[k][w - b]
                    row[:, d + d_next + k * scans + b] = -1.0
                    rows.append(row)
                    upper.append(m.extra[k, w - b])
            pairs = np.argwhere(full)  # (c, a) allowed: sum_k mu_tk(a_k) <= rho_t(c, a)
            row = np.zeros((len(pairs), d + d_next + 3 * scans))
            row[:, :d] = zero + grow[pairs[:, 0]]
            row[:, d:d + d_next] = -after_zero
            for k in range(3):
                row[np.arange(len(pairs)), d + d_next + k * scans + acts[pairs[:, 1], k]] = 1.0
            rows.append(row)
            upper.append(m.scan_cost[pairs[:, 0], pairs[:, 1]] + m.base)
            dense = np.concatenate(rows)
            dense[np.abs(dense) < 1e-15] = 0.0  # exact zeros of the probabilities' sums stay out of the matrix
            blocks.append(_placed(sp.csr_array(dense), columns, width))
            uppers.append(np.concatenate(upper))
        matrix = sp.csr_array(sp.vstack([sp.csr_array((b.data, b.indices, b.indptr), shape=(b.shape[0], width))
                                         for b in blocks], format="csr"))
        return matrix, np.concatenate(uppers), width

    def convex_rows(self, width: int) -> sp.csr_array:
        """Rows ``f(j - 1) - 2 f(j) + f(j + 1) >= 0`` of every separable queue function (``f(0) = 0``)."""
        rows, cols, vals, count = [], [], [], 0
        for t in range(self.T):
            ceps, side = self.scenario.stage_shape(t)
            for k in range(3):
                first = self.offsets[t] + ceps + k * (side - 1)  # column of f_tk(1)
                for j in range(1, side - 1):
                    for step, coef in ((-1, 1.0), (0, -2.0), (1, 1.0)):
                        if j + step >= 1:
                            rows.append(count)
                            cols.append(first + j + step - 1)
                            vals.append(coef)
                    count += 1
        return sp.csr_array((vals, (rows, cols)), shape=(count, width))

    # -------------------------------------------------- weights and checks
    def weights(self, relevance: str) -> list[np.ndarray]:
        """State-relevance weights ``nu_t`` of every slot (module docstring)."""
        sizes = [len(m.cep) for m in self.slots]
        if relevance == "uniform":
            return [np.full(n, 1.0 / n) for n in sizes]
        nu = [np.zeros(n) for n in sizes]
        nu[0][self.start] = 1.0
        if relevance == "initial":
            return nu
        for t, m in enumerate(self.slots[:-1]):
            myopic = np.argmin(m.costs(), axis=1)
            post = np.bincount(m.post[np.arange(len(m.cep)), myopic], weights=nu[t], minlength=m.transition.shape[0])
            nu[t + 1] = m.transition.T @ post
        return nu

    def post_values(self, theta: np.ndarray) -> list[np.ndarray]:
        """``post_cost + E[V_{t+1} | r]`` of every slot for the parameters ``theta``."""
        return [m.post_cost + self.next_phi[t] @ theta[self.params(t + 1)] for t, m in enumerate(self.slots)]

    def violations(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per slot: every state's largest violation ``V_t(s) - min_a Q_t(s, a)`` and its action."""
        out = []
        for t, (m, w) in enumerate(zip(self.slots, self.post_values(theta))):
            q = m.q_values(w)
            best = np.argmin(q, axis=1)
            out.append((self.phi[t] @ theta[self.params(t)] - q[np.arange(len(best)), best], best))
        return out


# ------------------------------------------------------------------ HiGHS
def _highs(objective: np.ndarray, matrix: sp.csr_array, lower: np.ndarray, upper: np.ndarray) -> Any:
    """A silent, single-thread ``highspy.Highs`` holding ``max objective . x`` s.t. ``lower <= A x <= upper``."""
    return highs_lp(objective, matrix, lower, upper, maximize=True, options=HIGHS_OPTIONS)


def _add_rows(h: Any, matrix: sp.csr_array, upper: np.ndarray) -> None:
    """Add rows ``matrix x <= upper``."""
    import highspy

    h.addRows(matrix.shape[0], np.full(matrix.shape[0], -highspy.kHighsInf), upper, matrix.nnz,
              matrix.indptr[:-1].astype(np.int32), matrix.indices.astype(np.int32), matrix.data)


def _run(h: Any, scenario: Scenario) -> tuple[np.ndarray, float, float]:
    """Solve; the optimal columns, the objective and the seconds HiGHS took."""
    x, result = run(h)
    if x is None:
        raise InfeasibleFormulation(f"The ALP of scenario {scenario.id} ended with HiGHS status {result.termination}.")
    return x, float(result.objective), result.seconds


def _check_arguments(owner: str, basis: Any, relevance: Any, constraints: Any, convex: Any, tight_bound: Any,
                     max_rounds: Any, tolerance: Any) -> None:
    """Raise ``ConfigurationError`` for arguments :func:`solve_alp` does not take."""
    for name, value, allowed in (("basis", basis, BASES), ("relevance", relevance, RELEVANCE),
                                 ("constraints", constraints, CONSTRAINTS)):
        if value not in allowed:
            raise bad_value(owner, name, f"one of {allowed}", value)
    if constraints == "factored" and basis == "tabular":
        raise bad_value(owner, "constraints", "'auto', 'all' or 'generate' with basis='tabular' (the factored rows "
                        "need an additive basis)", constraints)
    for name, value in (("convex", convex), ("tight_bound", tight_bound)):
        if not isinstance(value, bool):
            raise bad_value(owner, name, "True or False", value)
    if convex and basis != "separable":
        raise bad_value(owner, "convex", "False unless basis='separable'", convex)
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, (int, np.integer)) or max_rounds < 1:
        raise bad_value(owner, "max_rounds", "a positive integer", max_rounds)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < np.inf:
        raise bad_value(owner, "tolerance", "a non-negative number", tolerance)


def solve_alp(scenario: Scenario, basis: str = "affine", relevance: str = "uniform", constraints: str = "auto",
              convex: bool = False, tight_bound: bool = True, max_rounds: int = 100,
              tolerance: float = 1e-7) -> ALPResult:
    """Build and solve the ALP of a :class:`ScannerScenario` (module docstring).

    Parameters
    ----------
    scenario : ScannerScenario
    basis : {"affine", "separable", "tabular"}
    relevance : {"visits", "uniform", "initial"}
    constraints : {"auto", "all", "generate", "factored"}
    convex : bool
        Convex queue functions (separable basis only).
    tight_bound : bool
        Also maximise ``V_0(s_0)`` alone over the same rows (relevance
        ``"initial"``): ``bound`` is the better of the two valid bounds.
    max_rounds : int
        Most constraint-generation solves (per objective).
    tolerance : float
        Violation [revenue units] beyond which constraint generation adds a row.

    Returns
    -------
    ALPResult

    Raises
    ------
    ConfigurationError
        For arguments outside the choices above.
    InfeasibleFormulation
        HiGHS found no optimum.
    """
    _check_arguments("solve_alp", basis, relevance, constraints, convex, tight_bound, max_rounds, tolerance)
    start = time.perf_counter()
    alp = _ALP(scenario, basis)
    pairs = int(sum(m.feasible.sum() for m in alp.slots))
    if constraints == "auto":
        constraints = "factored" if basis != "tabular" else "all" if pairs <= ALL_PAIRS_LIMIT else "generate"
    if constraints == "factored":
        matrix, upper, width = alp.factored_rows()
    else:
        width = alp.n_params
        blocks, uppers = [], []
        for t, m in enumerate(alp.slots):
            if constraints == "generate":  # one row per state to start: its myopic action's
                states, actions = np.arange(len(m.cep)), np.argmin(m.costs(), axis=1)
            else:
                states, actions = np.nonzero(m.feasible)
            block, rhs = alp.bellman_rows(t, states, actions, width)
            blocks.append(block)
            uppers.append(rhs)
        matrix, upper = sp.csr_array(sp.vstack(blocks, format="csr")), np.concatenate(uppers)
    lower = np.full(len(upper), -np.inf)
    if convex:
        shape = alp.convex_rows(width)
        matrix = sp.csr_array(sp.vstack([matrix, shape], format="csr"))
        lower = np.concatenate([lower, np.zeros(shape.shape[0])])
        upper = np.concatenate([upper, np.full(shape.shape[0], np.inf)])
    nu = alp.weights(relevance)
    objective = np.zeros(width)
    objective[:alp.n_params] = np.concatenate([phi.T @ w for phi, w in zip(alp.phi, nu)])
    h = _highs(objective, matrix, lower, upper)
    size = _Size(rows=matrix.shape[0], nonzeros=matrix.nnz, build_seconds=time.perf_counter() - start)
    del matrix
    generate = constraints == "generate"
    theta, lp_objective, delta = _optimise(h, alp, size, generate, width, max_rounds, tolerance)
    value = float((alp.phi[0] @ theta[alp.params(0)])[alp.start])
    bound = value - float(delta.sum())
    if tight_bound and relevance != "initial":
        # The same rows, the objective V_0(s_0) alone: the architecture's tightest bound, from the last basis.
        tight = np.zeros(width)
        tight[alp.params(0)] = alp.phi[0][[alp.start]].toarray()[0]
        h.changeColsCost(width, np.arange(width, dtype=np.int32), tight)
        best, _, best_delta = _optimise(h, alp, size, generate, width, max_rounds, tolerance)
        bound = max(bound, float((alp.phi[0] @ best[alp.params(0)])[alp.start]) - float(best_delta.sum()))
    return ALPResult(coefficients=theta, offsets=alp.offsets.astype(np.int64), bound=bound,
                     policy_bound=value - float(delta.sum()), value=value, objective=lp_objective, violations=delta,
                     post_values=alp.post_values(theta), scan_costs=[m.scan_cost for m in alp.slots],
                     constraints=constraints, rows=size.rows, cols=width, nonzeros=size.nonzeros, rounds=size.rounds,
                     pairs=pairs, solve_seconds=size.solve_seconds, build_seconds=size.build_seconds)


@dataclass
class _Size:
    """Running LP size, solves and times of :func:`solve_alp`."""

    rows: int
    nonzeros: int
    build_seconds: float
    rounds: int = 0
    solve_seconds: float = 0.0


def _optimise(h: Any, alp: _ALP, size: _Size, generate: bool, width: int, max_rounds: int,
              tolerance: float) -> tuple[np.ndarray, float, np.ndarray]:
    """Solve, with constraint-generation rounds if ``generate``; ``theta``, the objective and ``delta_t``."""
    for round_ in range(max_rounds):
        x, objective, seconds = _run(h, alp.scenario)
        size.solve_seconds += seconds
        size.rounds += 1
        tick = time.perf_counter()
        theta = x[:alp.n_params]
        checked = alp.violations(theta)
        if not generate or round_ == max_rounds - 1 or max(float(v.max()) for v, _ in checked) <= tolerance:
            size.build_seconds += time.perf_counter() - tick
            break
        for t, (violation, best) in enumerate(checked):
            states = np.flatnonzero(violation > tolerance)
            if states.size:
                block, rhs = alp.bellman_rows(t, states, best[states], width)
                _add_rows(h, block, rhs)
                size.rows += block.shape[0]
                size.nonzeros += block.nnz
        size.build_seconds += time.perf_counter() - tick
    return theta, objective, np.array([max(0.0, float(v.max())) for v, _ in checked])


# ------------------------------------------------------------------ the policy
class ALPPolicy(Policy):
    """Greedy policy of the scanner day's approximate LP, with its lower bound on the expected cost.

    Acts with ``argmin_a C_t(s, a) + E[V_{t+1}(s') | s, a]`` over the
    feasible actions, from the observation's CEP and waiting counts (columns
    1..4) and the slot in ``infos["epoch"]``.

    Parameters
    ----------
    basis : {"affine", "separable", "tabular"}
        Value-function architecture (module docstring).
    relevance : {"visits", "uniform", "initial"}
        State-relevance weights of the objective.
    constraints : {"auto", "all", "generate", "factored"}
        Every Bellman row, constraint generation, or the factored rows.
    convex : bool
        Convex queue functions (``basis="separable"`` only).
    tight_bound : bool
        Also solve for ``V_0(s_0)`` alone, the architecture's tightest bound.
    max_rounds : int
        Most constraint-generation solves (per objective).
    tolerance : float
        Violation beyond which constraint generation adds a row [revenue units].

    Defaults: the affine basis with uniform weights, the best greedy policy of
    the choices on the presets (``"visits"`` and ``"initial"`` leave the values
    of states the weights miss free to fall, and the greedy policy then keeps
    patients waiting), with the tight bound beside it.

    Attributes
    ----------
    bound_ : float
        Lower bound on the optimal expected cost [revenue units] (``-bound_``:
        an upper bound on the expected net revenue).
    policy_bound_ : float
        The bound of the policy's own LP solution [revenue units].
    value_, lp_objective_ : float
        ``V_0(s_0)`` of the policy's LP before the violation correction, and its objective [revenue units].
    coefficients_ : ndarray
        Parameters of all slots; slot ``t`` in ``coefficient_offsets_[t]:coefficient_offsets_[t + 1]``.
    constraints_ : str
        The row scheme used.
    lp_rows_, lp_cols_, lp_nonzeros_, rounds_, pairs_ : int
        Final LP size, solves, and the MDP's feasible (slot, state, action) pairs.
    solve_seconds_, build_seconds_ : float
        Time in HiGHS and time building the LP and checking it [s].
    violations_ : ndarray
        Largest Bellman violation of each slot over all pairs [revenue units], subtracted from the bound.
    post_values_, post_offsets_ : ndarray
        ``post_cost + E[V_{t+1} | w - a]`` over every slot's post-decision grid, concatenated.
    scan_costs_ : ndarray, shape (slots, max CEPs + 1, A)
        Cost of the CEP and action scans [revenue units].
    stage_shapes_ : ndarray of int, shape (slots, 2)
        CEP values and queue values of every slot.
    """

    tags = PolicyTags(method="math_programming", families=frozenset({"scanners"}))

    def __init__(self, basis: str = "affine", relevance: str = "uniform", constraints: str = "auto",
                 convex: bool = False, tight_bound: bool = True, max_rounds: int = 100,
                 tolerance: float = 1e-7) -> None:
        self.basis = basis
        self.relevance = relevance
        self.constraints = constraints
        self.convex = convex
        self.tight_bound = tight_bound
        self.max_rounds = max_rounds
        self.tolerance = tolerance

    def _validate_params(self) -> None:
        _check_arguments(type(self).__name__, self.basis, self.relevance, self.constraints, self.convex,
                         self.tight_bound, self.max_rounds, self.tolerance)

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        result = solve_alp(scenario, self.basis, self.relevance, self.constraints, self.convex, self.tight_bound,
                           int(self.max_rounds), float(self.tolerance))
        self.bound_, self.policy_bound_ = result.bound, result.policy_bound
        self.value_, self.lp_objective_ = result.value, result.objective
        self.coefficients_ = result.coefficients
        self.coefficient_offsets_ = result.offsets
        self.violations_ = result.violations
        self.constraints_ = result.constraints
        self.lp_rows_, self.lp_cols_, self.lp_nonzeros_ = result.rows, result.cols, result.nonzeros
        self.rounds_, self.pairs_ = result.rounds, result.pairs
        self.solve_seconds_, self.build_seconds_ = result.solve_seconds, result.build_seconds
        self.post_values_ = np.concatenate(result.post_values)
        self.post_offsets_ = np.cumsum([0] + [len(w) for w in result.post_values]).astype(np.int64)
        ceps = max(c.shape[0] for c in result.scan_costs)
        self.scan_costs_ = np.full((len(result.scan_costs), ceps, result.scan_costs[0].shape[1]), np.inf)
        for t, cost in enumerate(result.scan_costs):
            self.scan_costs_[t, :cost.shape[0]] = cost
        self.stage_shapes_ = np.array([scenario.stage_shape(t) for t in range(scenario.horizon)], dtype=np.int64)

    def _check_can_act(self, scenario: Scenario) -> str | None:
        shapes = np.array([scenario.stage_shape(t) for t in range(scenario.horizon)], dtype=np.int64)
        if shapes.shape != self.stage_shapes_.shape or not np.array_equal(shapes, self.stage_shapes_):
            return "its value tables cover other slots, CEP counts or queue lengths"
        return None

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        observations = np.asarray(observations, dtype=float)
        t = epochs_of(infos, len(observations))
        if t.size and (t.min() < 0 or t.max() >= len(self.stage_shapes_)):
            raise PolicyScenarioMismatch(f"Policy {self.name} has values of {len(self.stage_shapes_)} slots; "
                                         f"asked to act in slot {int(t.max())}.")
        cep = np.rint(observations[:, 1]).astype(np.int64)
        waiting = np.rint(observations[:, 2:5]).astype(np.int64)
        ceps, side = self.stage_shapes_[t].T
        outside = (cep < 0) | (cep >= ceps) | np.any((waiting < 0) | (waiting >= side[:, None]), axis=1)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise PolicyScenarioMismatch(f"Policy {self.name} has no value of the state observed as "
                                         f"{observations[i].tolist()} in slot {int(t[i])}.")
        acts = self._scenario.action_table().table
        remaining = waiting[:, None, :] - acts[None, :, :]
        feasible = np.asarray(infos["action_mask"], dtype=bool) & np.all(remaining >= 0, axis=2)
        remaining = np.maximum(remaining, 0)
        post = (remaining[..., 0] * side[:, None] + remaining[..., 1]) * side[:, None] + remaining[..., 2]
        q = self.scan_costs_[t, cep] + self.post_values_[self.post_offsets_[t][:, None] + post]
        return np.argmin(np.where(feasible, q, np.inf), axis=1)


__all__ = ["ALL_PAIRS_LIMIT", "BASES", "CONSTRAINTS", "RELEVANCE", "ALPPolicy", "ALPResult", "SlotModel",
           "features", "n_features", "slot_model", "solve_alp"]
