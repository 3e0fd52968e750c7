"""Multi-category patient scheduling on CT scanners.

Description
-----------
A diagnostic facility runs ``scanners`` CT scanners through a day of
``slots`` slots of ``slot_minutes`` minutes (the default: 20 half-hour slots,
10:00-20:00). Four patient types arrive: critical emergency patients (CEP),
scanned in the slot after they arrive, and three types who wait in queues:
add-on outpatients (OP), inpatients (IP) and non-critical emergency patients
(NCEP). At the start of every slot the facility decides how many waiting
patients of each type the free scanners take (Gocgun, Bresnahan, Ghate & Gunn
2011, *Artificial Intelligence in Medicine* 53:73-81).

Timing (one slot ``t``)
-----------------------
1. The state holds the CEPs that arrived during slot ``t - 1`` and the
   waiting OP, IP and NCEP; every CEP takes a scanner.
2. The decision scans ``a = (a_OP, a_IP, a_NCEP)`` waiting patients with
   ``a_k <= w_k`` and ``cep + sum(a) <= scanners``; within a type the
   longest-waiting patients go first.
3. Arrivals of slot ``t`` join the queues (they can be scanned from slot
   ``t + 1`` on): ``Binomial(max_arrivals, p_k(t))`` of each type, at most one
   per type and slot by default. A queue of ``queue_cap`` patients turns
   further arrivals away, each at its type's end-of-day cost.
4. After the last slot every patient still waiting (those who arrived during
   the last slot included) costs ``end_of_day_cost`` of its type.

State ``(cep, w_OP, w_IP, w_NCEP)`` is Markov; the simulator also keeps each
waiting patient's queue-join slot (:meth:`ScannerScenario.make_state`), for
first-come-first-served rules and waiting times. No discounting.

Decision (action) space
-----------------------
``Discrete(A)``: action ``a`` scans the counts in row ``a`` of
:meth:`ScannerScenario.action_table` (every ``(a_OP, a_IP, a_NCEP)`` with
``sum <= scanners``: 10 actions with 2 scanners, 4 with 1). Scanning more
patients of a type than wait, or more than the scanners the CEPs leave free,
is masked. Idling a scanner is allowed (never optimal, as every scan earns).

Observation space
-----------------
``Box(5 + 3 * scanners,)``: ``[slot t, CEPs, waiting OP, IP, NCEP]`` and, per
type (OP, IP, NCEP), the waiting times [slots] of its ``scanners``
longest-waiting patients, oldest first (``-1`` where fewer wait). A patient
who arrived during slot ``s`` has waited ``t - s - 1`` slots at slot ``t``.
:attr:`ScannerScenario.observation_scale` divides by ``[slots, scanners,
queue limit x 3, slots x 3 scanners]``.

Costs (unit: revenue units, one add-on OP scan = 1)
---------------------------------------------------
Slot cost ``-(revenue of the slot's scans) + waiting_cost . (patients still
waiting after the scans) + end_of_day_cost . (patients turned away)``, plus
``end_of_day_cost . w`` after the last slot. The net revenue of a day is
minus its total cost. RL rewards are net revenue (``cost_scale = 1``).

Noise
-----
:meth:`ScannerScenario.sample_noise` returns the arrivals of every episode,
slot and type, ``(E, slots, 4)`` in the order CEP, OP, IP, NCEP: the count of
``max_arrivals`` counter-based uniforms below the slot's probability
(:mod:`optalloc.sampling`), so every policy sees the same patients.

Presets (defaults reconstructed, not the paper's numbers)
--------------------------------------------------------
The paper's arrival probabilities and monetary values are not published; the
defaults (``data/README.md``) are reconstructed so that both systems run at
about 0.9 patients per scanner and slot.

``scanners/gocgun-v0``
    2 scanners, stationary arrivals CEP 0.18, OP 0.45, IP 0.63, NCEP 0.54 per slot.
``scanners/gocgun-1scanner-v0``
    1 scanner, half those probabilities.
``scanners/gocgun-profile-v0``
    2 scanners with a time-of-day profile of IP and NCEP arrivals.
``scanners/large-v0``
    3 scanners, up to two arrivals of each type a slot (``Binomial(2, p)``,
    about 2.7 patients a slot), queues capped at 12 patients per type: a
    harder variant where exact DP stops being cheap.

Version history
---------------
v0: initial version.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from math import comb
from typing import Any

import numpy as np
from gymnasium import spaces
from scipy import sparse

from optalloc import sampling
from optalloc.actions import ActionTable
from optalloc.checks import check_memory
from optalloc.exceptions import bad_value
from optalloc.kpis import KPISpec
from optalloc.scenario import Noise, Scenario, State, episode_keys
from optalloc.tabular import TabularModel
from optalloc.tags import ScenarioTags

#: The waiting patient types, in the order of queues, actions and parameters.
TYPES: tuple[str, ...] = ("OP", "IP", "NCEP")
#: The arriving patient types, in the order of the noise's last axis.
ARRIVALS: tuple[str, ...] = ("CEP",) + TYPES

_STATIONARY = {"cep_probability": 0.18, "arrival_probability": (0.45, 0.63, 0.54)}


def _profile(levels: tuple[tuple[int, int, float], ...]) -> tuple[float, ...]:
    """Per-slot probabilities from ``(first slot, last slot, p)`` runs (slots counted from 1)."""
    return tuple(p for first, last, p in levels for _ in range(first, last + 1))


PRESETS: dict[str, dict[str, Any]] = {
    "gocgun-v0": {},
    "gocgun-1scanner-v0": {"scanners": 1, "cep_probability": 0.09, "arrival_probability": (0.225, 0.315, 0.27)},
    "gocgun-profile-v0": {"arrival_probability": (
        0.45,
        _profile(((1, 8, 0.81), (9, 14, 0.54), (15, 20, 0.45))),
        _profile(((1, 6, 0.36), (7, 14, 0.54), (15, 20, 0.72))),
    )},
    # 1.5 times the 2-scanner load over 3 scanners: two Bernoulli trials, each of 0.75 times the probability.
    "large-v0": {"scanners": 3, "max_arrivals": 2, "queue_cap": 12, "cep_probability": 0.135,
                 "arrival_probability": (0.3375, 0.4725, 0.405)},
}


@dataclass(frozen=True)
class ScannerParams:
    """Parameters of a CT-scanner scheduling day (units in brackets); defaults reconstructed, see the card."""

    slots: int = 20
    """Decision epochs per day [slots]."""
    slot_minutes: float = 30.0
    """Length of a slot [minutes]."""
    day_start: float = 10.0
    """Clock time of the first slot [hours], for traces."""
    scanners: int = 2
    """CT scanners; each scans one patient a slot."""
    max_arrivals: int = 1
    """Largest number of arrivals of one type in one slot; arrivals are ``Binomial(max_arrivals, p)``."""
    cep_probability: float | tuple[float, ...] = _STATIONARY["cep_probability"]
    """CEP arrival probability per slot (and trial): a number, or one per slot."""
    arrival_probability: tuple[Any, ...] = _STATIONARY["arrival_probability"]
    """OP, IP, NCEP arrival probabilities per slot (and trial): each a number, or one per slot."""
    revenue: tuple[float, float, float] = (1.0, 0.4, 0.8)
    """Revenue per scan of an OP, IP, NCEP [revenue units]."""
    cep_revenue: float = 0.8
    """Revenue per CEP scan [revenue units]."""
    end_of_day_cost: tuple[float, float, float] = (0.5, 2.0, 1.0)
    """Cost per OP, IP, NCEP not scanned at day's end, or turned away by a full queue [revenue units]."""
    waiting_cost: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Cost per OP, IP, NCEP waiting, per slot [revenue units/slot]."""
    queue_cap: int | None = None
    """Most patients of one type that wait; ``None``: no cap (queues stay below ``slots x max_arrivals``)."""


class ScannerScenario(Scenario):
    """CT-scanner patient scheduling; see the module docstring for the card."""

    tags = ScenarioTags(family="scanners", action_kind="discrete", epoch_name="slot", episode_name="day", cost_unit="revenue units",
                        cost_scale=1.0, capabilities=frozenset({"tabular_model", "perfect_information", "planner"}))
    params_class = ScannerParams
    horizon_parameter = "slots"

    def __init__(self, scenario_id: str = "", **overrides: Any) -> None:
        super().__init__(scenario_id, **overrides)
        p = self.params
        self._actions = np.array([a for a in itertools.product(range(p.scanners + 1), repeat=len(TYPES))
                                  if sum(a) <= p.scanners], dtype=np.int64)
        # Sorted by patients scanned, then lexicographically: action 0 scans nobody.
        self._actions = self._actions[np.lexsort((*self._actions.T[::-1], self._actions.sum(axis=1)))]
        self._prob = self.arrival_probabilities()
        self._revenue = np.asarray(p.revenue, dtype=float)
        self._eod = np.asarray(p.end_of_day_cost, dtype=float)
        self._wait_cost = np.asarray(p.waiting_cost, dtype=float)
        self._mask_table: np.ndarray | None = None  # built on first use (see _feasible)

    # ------------------------------------------------------------ validation
    def _validate(self) -> None:
        p, owner = self.params, f"scenario {self.id}"

        def integer(name: str, low: int, value: Any = None) -> None:
            value = getattr(p, name) if value is None else value
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise bad_value(owner, name, f"an integer >= {low}", value)

        for name in ("slots", "scanners", "max_arrivals"):
            integer(name, 1)
        if p.queue_cap is not None:
            integer("queue_cap", 1)
        if p.max_arrivals > p.scanners:
            raise bad_value(owner, "max_arrivals", f"at most scanners = {p.scanners} (every CEP that arrives "
                            "takes a scanner in the next slot)", p.max_arrivals)
        for name in ("slot_minutes", "day_start"):
            value = getattr(p, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < np.inf \
                    or (name == "slot_minutes" and value == 0):
                raise bad_value(owner, name, "a positive number" if name == "slot_minutes" else "a number >= 0",
                                value)
        for name in ("revenue", "end_of_day_cost", "waiting_cost"):
            value = getattr(p, name)
            if not _numbers(value, 3):
                raise bad_value(owner, name, "3 non-negative numbers (OP, IP, NCEP)", value)
        if not _numbers([p.cep_revenue], 1):
            raise bad_value(owner, "cep_revenue", "a non-negative number", p.cep_revenue)
        expected = f"a probability in [0, 1], or a list of {p.slots} of them (one per slot)"
        if not _probabilities(p.cep_probability, p.slots):
            raise bad_value(owner, "cep_probability", expected, p.cep_probability)
        if not isinstance(p.arrival_probability, (list, tuple)) or len(p.arrival_probability) != 3 \
                or not all(_probabilities(q, p.slots) for q in p.arrival_probability):
            raise bad_value(owner, "arrival_probability", f"3 entries (OP, IP, NCEP), each {expected}",
                            p.arrival_probability)

    # ------------------------------------------------------------ spaces
    @property
    def horizon(self) -> int:
        return self.params.slots

    @property
    def action_space(self) -> spaces.Discrete:
        return spaces.Discrete(len(self._actions))

    @property
    def observation_space(self) -> spaces.Box:
        p = self.params
        high = np.array([p.slots, p.max_arrivals] + [self.queue_limit(p.slots)] * len(TYPES)
                        + [p.slots] * (len(TYPES) * p.scanners), dtype=float)
        low = np.array([0.0] * (2 + len(TYPES)) + [-1.0] * (len(TYPES) * p.scanners))
        return spaces.Box(low=low, high=high, dtype=np.float64)

    @property
    def observation_names(self) -> tuple[str, ...]:  # type: ignore[override]
        ages = tuple(f"wait_{k}_{i + 1}" for k in TYPES for i in range(self.params.scanners))
        return ("slot", "cep", *(f"waiting_{k}" for k in TYPES), *ages)

    @property
    def observation_scale(self) -> np.ndarray:
        """``[slots, scanners, queue limit (x3), slots (x 3 scanners)]`` in [slots, patients, patients, slots]."""
        p = self.params
        return np.array([p.slots, p.scanners] + [self.queue_limit(p.slots)] * len(TYPES)
                        + [p.slots] * (len(TYPES) * p.scanners), dtype=float)

    def action_table(self) -> ActionTable:
        """Row ``a``: the OP, IP and NCEP that action ``a`` scans (CEPs are scanned anyway)."""
        return ActionTable(TYPES, self._actions, "scanned")

    # ------------------------------------------------------------ dynamics (the one source)
    def arrival_probabilities(self) -> np.ndarray:
        """Arrival probability per trial of every slot and type, shape ``(slots, 4)``, order CEP, OP, IP, NCEP."""
        p = self.params
        columns = [p.cep_probability, *p.arrival_probability]
        return np.stack([np.broadcast_to(np.asarray(q, dtype=float), (p.slots,)) for q in columns], axis=1)

    def arrival_distribution(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Every arrival outcome of slot ``t`` and its probability.

        Returns
        -------
        outcomes : ndarray of int, shape (K, 4)
            Arrivals of CEP, OP, IP, NCEP; ``K = (max_arrivals + 1) ** 4``.
        probabilities : ndarray, shape (K,)
            Products of the four types' binomial probabilities (types independent).
        """
        m = self.params.max_arrivals
        outcomes = np.array(list(itertools.product(range(m + 1), repeat=len(ARRIVALS))), dtype=np.int64)
        k = np.arange(m + 1)
        binom = np.array([comb(m, int(i)) for i in k], dtype=float)
        pmf = binom[None, :] * self._prob[t][:, None] ** k[None, :] * (1 - self._prob[t][:, None]) ** (m - k[None, :])
        probs = np.prod(pmf[np.arange(len(ARRIVALS))[None, :], outcomes], axis=1)
        return outcomes, probs

    def queue_limit(self, t: int) -> int:
        """Most patients of one type that can wait at the start of slot ``t``: ``min(t * max_arrivals, cap)``."""
        p = self.params
        reach = t * p.max_arrivals
        return reach if p.queue_cap is None else min(reach, p.queue_cap)

    def cep_limit(self, t: int) -> int:
        """Most CEPs at the start of slot ``t`` (none before the first arrivals)."""
        return 0 if t == 0 else self.params.max_arrivals

    def initial_state(self, n: int) -> State:
        return self.make_state(0, np.zeros(n, dtype=np.int64), np.zeros((n, len(TYPES)), dtype=np.int64))

    def make_state(self, t: int, cep: np.ndarray, waiting: np.ndarray, waited: np.ndarray | None = None) -> State:
        """The state of slot ``t`` with given CEPs ``(n,)`` and waiting counts ``(n, 3)``.

        Every waiting patient has waited ``waited`` slots (default 0: all joined at
        the start of slot ``t``); ``waited`` may also be ``(n, 3, k)``, the waiting
        times of each type's ``k`` longest-waiting patients, oldest first (the
        others have waited 0).

        State arrays: ``t``, ``cep`` (n,); ``joined`` (n, 3, slots x max_arrivals):
        the slot at whose start each patient admitted so far joined its queue, in
        order of admission; ``head``, ``tail`` (n, 3): patients of each type scanned
        and admitted so far, so ``tail - head`` wait, the oldest at ``head``.
        """
        cep = np.asarray(cep, dtype=np.int64)
        waiting = np.asarray(waiting, dtype=np.int64)
        # Room for every patient waiting now, every later arrival, and one slot's writes beyond (see step).
        n, capacity = len(cep), int(waiting.max(initial=0)) + (self.params.slots - t + 1) * self.params.max_arrivals
        joined = np.full((n, len(TYPES), max(capacity, 1)), t, dtype=np.int16)
        if waited is not None:
            waited = np.asarray(waited, dtype=np.int64)
            waited = np.broadcast_to(waited[..., None] if waited.ndim == 2 else waited, (n, len(TYPES), waited.shape[-1]
                                                                                         if waited.ndim == 3 else 1))
            joined[:, :, :waited.shape[2]] = t - waited
        return {"t": np.full(n, t, dtype=np.int64), "cep": cep, "joined": joined,
                "head": np.zeros((n, len(TYPES)), dtype=np.int64), "tail": waiting.copy()}

    @staticmethod
    def waiting(state: State) -> np.ndarray:
        """Waiting patients of each type, ``(n, 3)``."""
        return state["tail"] - state["head"]

    def sample_noise(self, seed: int, episodes: int, stream: str = "evaluate") -> Noise:
        """Arrivals ``(E, slots, 4)`` of CEP, OP, IP, NCEP: uniforms below the slot's probability, per trial."""
        p = self.params
        slot_keys = sampling.subkeys(episode_keys(seed, episodes, stream), p.slots)  # (E, T)
        trials = len(ARRIVALS) * p.max_arrivals
        u = sampling.uniforms(sampling.subkeys(slot_keys.ravel(), trials)).reshape(
            episodes, p.slots, p.max_arrivals, len(ARRIVALS))
        return {"arrivals": (u < self._prob[None, :, None, :]).sum(axis=2).astype(np.int64)}

    def step(self, t: int, state: State, action: np.ndarray, noise: Noise) -> tuple[State, np.ndarray, dict[str, np.ndarray]]:
        p = self.params
        counts = self._actions[np.asarray(action, dtype=np.int64)]  # (n, 3)
        joined, head, tail = state["joined"], state["head"], state["tail"]
        # Longest-waiting first within a type: the scanned are the next `counts` patients from `head` on.
        waited = np.zeros(counts.shape, dtype=np.int64)  # patient-slots
        for r in range(int(counts.max(initial=0))):
            slot = _join_slot(joined, head + r)
            waited += np.where(r < counts, t - slot, 0)
        head = head + counts
        remaining = tail - head
        cep = state["cep"]
        revenue = p.cep_revenue * cep + counts @ self._revenue
        arrivals = noise["arrivals"]
        admitted = arrivals[:, 1:]
        if p.queue_cap is not None:
            admitted = np.minimum(admitted, p.queue_cap - remaining)
        turned_away = arrivals[:, 1:] - admitted
        joined = joined.copy()  # step is pure: the caller's state stays as it was
        for r in range(p.max_arrivals):
            # Positions at and after `tail` hold no patient yet, so writing every row's next position is
            # safe; only the first `admitted` of them become patients.
            np.put_along_axis(joined, (tail + r)[:, :, None], t + 1, axis=2)
        tail = tail + admitted
        cost = -revenue + remaining @ self._wait_cost + turned_away @ self._eod
        waiting = remaining + admitted
        last = t == p.slots - 1
        if last:
            cost = cost + waiting @ self._eod
        # Counts stay integers [patients]; waits are patient-slots.
        info = {"net_revenue": -cost, "cep_scanned": cep, "revenue": revenue,
                "utilisation": (cep + counts.sum(axis=1)) / p.scanners}
        for k, name in enumerate(TYPES):
            info[f"scanned_{name}"] = counts[:, k]
            info[f"waited_{name}"] = waited[:, k]
            info[f"turned_away_{name}"] = turned_away[:, k]
            info[f"unscanned_{name}"] = waiting[:, k] if last else np.zeros(len(cep), dtype=np.int64)
        for k, name in enumerate(ARRIVALS):
            info[f"arrived_{name}"] = arrivals[:, k]
        next_state = {"t": state["t"] + 1, "cep": arrivals[:, 0], "joined": joined,
                      "head": head, "tail": tail}
        return next_state, cost, info

    def observe(self, t: int, state: State) -> np.ndarray:
        joined, head = state["joined"], state["head"]
        n, S = len(head), self.params.scanners
        waiting = self.waiting(state)
        out = np.empty((n, 5 + len(TYPES) * S))
        out[:, 0] = t
        out[:, 1] = state["cep"]
        out[:, 2:5] = waiting
        # Waiting time of each type's r-th longest-waiting patient; -1 where fewer wait.
        for r in range(S):
            slot = _join_slot(joined, head + r)
            out[:, 5 + r:5 + len(TYPES) * S:S] = np.where(r < waiting, t - slot, -1)
        return out

    def action_mask(self, t: int, state: State) -> np.ndarray:
        return self._feasible(state["cep"], self.waiting(state))

    def _feasible(self, cep: np.ndarray, waiting: np.ndarray) -> np.ndarray:
        """Feasible actions ``(n, A)`` for CEP counts ``(n,)`` and waiting counts ``(n, 3)``.

        Feasibility depends on the counts only up to ``scanners``, so the rows come from a
        table of the ``(scanners + 1) ** 4`` capped states (a lookup, not a comparison per action).
        """
        S = self.params.scanners
        if self._mask_table is None:
            capped = np.indices((S + 1,) * (1 + len(TYPES))).reshape(1 + len(TYPES), -1).T
            acts = self._actions
            fits = (acts[None, :, :] <= capped[:, None, 1:]).all(axis=2)
            self._mask_table = fits & (acts.sum(axis=1)[None, :] <= S - capped[:, :1])
        c = np.minimum(np.asarray(cep, dtype=np.int64), S)
        w = np.minimum(np.asarray(waiting, dtype=np.int64), S)
        return self._mask_table[((c * (S + 1) + w[:, 0]) * (S + 1) + w[:, 1]) * (S + 1) + w[:, 2]]

    # ------------------------------------------------------------ KPIs
    def kpis(self, trajectory: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per day: net revenue, scanner utilisation, and per type scans, waiting and patients left unscanned."""
        out = {"net_revenue": trajectory["net_revenue"].sum(axis=1),
               "utilisation": 100.0 * trajectory["utilisation"].mean(axis=1)}
        for k in TYPES:
            out[f"scanned_{k}"] = trajectory[f"scanned_{k}"].sum(axis=1)
            out[f"wait_{k}"] = self.params.slot_minutes * trajectory[f"waited_{k}"].sum(axis=1)
            out[f"unscanned_{k}"] = trajectory[f"unscanned_{k}"].sum(axis=1) + trajectory[f"turned_away_{k}"].sum(axis=1)
        return out

    def policy_figures(self, policy: Any, folder: Any) -> list[Any]:
        """Heatmaps of who the policy gives the free scanners, by waiting IPs and OPs (no NCEP or CEP waiting).

        One at the first slot, one in the middle of the day and one at the last slot
        (:func:`~optalloc.families.scanners.structure.policy_table`).
        """
        from pathlib import Path

        from optalloc.families.scanners.structure import plot_policy_table, policy_table

        out = Path(folder)
        paths = []
        for slot in sorted({0, self.params.slots // 2, self.params.slots - 1}):
            path = out / f"policy-{self.id.replace('/', '_')}-slot{slot + 1}.png"
            plot_policy_table(policy_table(policy, self, slot), path)
            paths.append(path)
        return paths

    def kpi_specs(self) -> dict[str, KPISpec]:
        specs = {"net_revenue": KPISpec("revenue units", "net revenue of the day", "{:,.3f}", direction="max"),
                 "utilisation": KPISpec("%", "scanner utilisation", "{:,.1f}", direction="max")}
        for k in TYPES:
            specs[f"scanned_{k}"] = KPISpec("patients", f"{k} scanned in the day", "{:,.2f}", direction="max")
            specs[f"wait_{k}"] = KPISpec("patient-minutes", f"waiting time of the {k} scanned", "{:,.1f}")
            specs[f"unscanned_{k}"] = KPISpec("patients", f"{k} not scanned by day's end or turned away", "{:,.3f}")
        return specs

    def trace_view(self, trace: Any) -> Any:
        """Slot, clock time, CEPs, the queues before the slot's scans, who was scanned, the arrivals, net revenue."""
        import pandas as pd

        p = self.params
        minutes = p.day_start * 60 + trace["epoch"].to_numpy() * p.slot_minutes
        scanned = [("CEP " + str(int(c)) + (" + " + d.removesuffix(" scanned") if not d.startswith("none") else ""))
                   if c else d.removesuffix(" scanned")
                   for c, d in zip(trace["cep"], trace["decision"])]
        arrived = [" + ".join(f"{int(row[f'arrived_{k}'])} {k}" for k in ARRIVALS if row[f"arrived_{k}"]) or "none"
                   for _, row in trace.iterrows()]
        return pd.DataFrame({
            "slot": trace["epoch"] + 1,
            "time": [f"{int(m) // 60:02d}:{int(m) % 60:02d}" for m in minutes],
            "CEP": trace["cep"].astype(int),
            **{f"wait {k}": trace[f"waiting_{k}"].astype(int) for k in TYPES},
            "scanned": scanned,
            "arrived": arrived,
            "net revenue": trace["net_revenue"],
        })

    # ------------------------------------------------------------ exact model
    def stage_shape(self, t: int) -> tuple[int, int]:
        """``(CEP values, queue values)`` of slot ``t``: states ``cep * L**3 + (w_OP * L + w_IP) * L + w_NCEP``."""
        return self.cep_limit(t) + 1, self.queue_limit(t) + 1

    def n_states(self, t: int) -> int:
        """Number of states of slot ``t`` (``t = slots`` allowed)."""
        c, L = self.stage_shape(t)
        return c * L**3

    def stage_states(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Every ``(cep, waiting)`` state of slot ``t`` (``t = slots`` allowed), in state order.

        Returns
        -------
        cep : ndarray of int, shape (S_t,)
        waiting : ndarray of int, shape (S_t, 3)
        """
        c, L = self.stage_shape(t)
        grid = np.indices((c, L, L, L)).reshape(4, -1).T
        return grid[:, 0], grid[:, 1:]

    def state_index(self, t: int, cep: np.ndarray, waiting: np.ndarray) -> np.ndarray:
        """State number of ``(cep, waiting)`` at slot ``t``; -1 outside the slot's states."""
        c, L = self.stage_shape(t)
        cep, waiting = np.asarray(cep, dtype=np.int64), np.asarray(waiting, dtype=np.int64)
        ok = (cep >= 0) & (cep < c) & np.all((waiting >= 0) & (waiting < L), axis=-1)
        index = ((cep * L + waiting[..., 0]) * L + waiting[..., 1]) * L + waiting[..., 2]
        return np.where(ok, index, -1)

    def tabular_model(self) -> TabularModel:
        """The exact MDP over (slot, CEPs, waiting OP, IP, NCEP), built slot by slot from :meth:`arrival_distribution`."""
        sizes = [self.n_states(t) for t in range(self.horizon + 1)]
        outcomes = (self.params.max_arrivals + 1) ** len(ARRIVALS)
        largest = max(sizes)
        check_memory(f"the exact tabular model of scenario {self.id} ({sum(sizes[:-1]):,} states x "
                     f"{len(self._actions)} actions, {largest:,} in the largest slot)",
                     largest * len(self._actions) * outcomes * 40.0 + 2 * largest * 8.0,
                     "lower slots, max_arrivals or queue_cap for an exact DP")
        return TabularModel(horizon=self.horizon, n_states=lambda t: sizes[t], stage=self._tabular_stage,
                            observations=self.tabular_observations, index=self.tabular_index)

    def _tabular_stage(self, t: int) -> tuple[sparse.csr_array, np.ndarray]:
        """Stage ``t``: ``P_t`` ``(A * S_t, S_{t+1})``, action-major rows, and expected costs ``C_t`` ``(S_t, A)``."""
        p = self.params
        cep, waiting = self.stage_states(t)
        S, A = len(cep), len(self._actions)
        outcomes, probs = self.arrival_distribution(t)
        feasible = self._feasible(cep, waiting)
        acts = self._actions
        # Clip infeasible actions' counts so their (ignored) rows stay inside the next slot's states.
        remaining = np.maximum(waiting[:, None, :] - acts[None, :, :], 0)  # (S, A, 3)
        cost = -(p.cep_revenue * cep[:, None] + acts @ self._revenue) + remaining @ self._wait_cost
        rows, cols, vals = [], [], []
        row_of = (np.arange(A)[None, :] * S + np.arange(S)[:, None]).ravel()
        for outcome, prob in zip(outcomes, probs):
            if prob == 0:
                continue
            after = remaining + outcome[None, None, 1:]
            joined = outcome[None, None, 1:] if p.queue_cap is None else np.minimum(after, p.queue_cap) - remaining
            after = remaining + joined
            cost = cost + prob * ((outcome[None, None, 1:] - joined) @ self._eod)
            if t == p.slots - 1:
                cost = cost + prob * (after @ self._eod)
            nxt = self.state_index(t + 1, np.full(after.shape[:2], outcome[0]), after)
            rows.append(row_of)
            cols.append(nxt.ravel())
            vals.append(np.full(S * A, prob))
        P = sparse.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(A * S, self.n_states(t + 1)))
        return P, np.where(feasible, cost, np.inf)

    def tabular_observations(self, t: int) -> np.ndarray:
        """Observations of the states of slot ``t`` in state order; waiting times as if all had just joined."""
        cep, waiting = self.stage_states(t)
        n, S = len(cep), self.params.scanners
        ages = np.where(waiting[:, :, None] > np.arange(S)[None, None, :], 0, -1).reshape(n, -1)
        return np.concatenate([np.full((n, 1), t, dtype=float), cep[:, None].astype(float),
                               waiting.astype(float), ages.astype(float)], axis=1)

    def tabular_index(self, t: int, observations: np.ndarray) -> np.ndarray:
        """State of each observation ``(n, 5 + 3 * scanners)`` of slot ``t`` from its CEP and waiting counts; -1 if none."""
        part = np.asarray(observations, dtype=float)[:, 1:5]
        finite = np.isfinite(part)
        counts = np.rint(np.where(finite, np.clip(part, -1, 2**31), -1)).astype(np.int64)  # no cast of nan/inf
        integral = finite.all(axis=1) & np.all(counts == part, axis=1)
        return np.where(integral, self.state_index(t, counts[:, 0], counts[:, 1:]), -1).astype(np.int64)


    # ------------------------------------------------------------ math-programming hooks
    def perfect_information(self, noise: Noise) -> tuple[np.ndarray, np.ndarray]:
        """Each day's optimal schedule knowing all its arrivals: one MIP per day.

        (:func:`optalloc.formulations.scanners.planner.perfect_information`; about 0.06 s a day.)

        Returns
        -------
        actions : ndarray of int, shape (E, slots)
        costs : ndarray, shape (E,)
            Minus each day's perfect-information net revenue [revenue units].
        """
        from optalloc.formulations.scanners.planner import perfect_information

        return perfect_information(self, noise)

    def planner(self) -> Any:
        """The scheduling MIP of the rest of the day (:class:`optalloc.formulations.scanners.planner.ScannerPlanner`)."""
        from optalloc.formulations.scanners.planner import ScannerPlanner

        return ScannerPlanner(self)


def _join_slot(joined: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Join slot of each type's patient at admission ``position`` ``(n, 3)`` (clipped into the array)."""
    return np.take_along_axis(joined, np.minimum(position, joined.shape[2] - 1)[:, :, None], axis=2)[:, :, 0]


def _numbers(value: Any, size: int) -> bool:
    """Whether ``value`` is a list or tuple of ``size`` finite non-negative numbers."""
    return isinstance(value, (list, tuple)) and len(value) == size and all(
        not isinstance(v, bool) and isinstance(v, (int, float)) and 0 <= v < np.inf for v in value)


def _probabilities(value: Any, slots: int) -> bool:
    """Whether ``value`` is a probability or a list of ``slots`` probabilities."""
    values = value if isinstance(value, (list, tuple)) else [value]
    if isinstance(value, (list, tuple)) and len(value) != slots:
        return False
    return all(not isinstance(v, bool) and isinstance(v, (int, float)) and 0 <= v <= 1 for v in values)


def make(preset: str, **overrides: Any) -> ScannerScenario:
    """Build a preset (``"gocgun-v0"``, ``"gocgun-1scanner-v0"``, ``"gocgun-profile-v0"``, ``"large-v0"``)."""
    scenario = ScannerScenario(f"scanners/{preset}", **{**PRESETS[preset], **overrides})
    scenario.overrides = dict(overrides)  # the preset is implied by the id
    return scenario


__all__ = ["ARRIVALS", "PRESETS", "TYPES", "ScannerParams", "ScannerScenario", "make"]
