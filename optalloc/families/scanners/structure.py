"""The structure of a scanner policy: the blog's decision table, its heatmap, and priority thresholds.

* :func:`policy_table` -- what a policy scans at one slot and NCEP count for
  every (waiting IPs, waiting OPs): rows = IPs, columns = OPs, cell = the
  patient types given to the free scanners (``"OP+IP"``), as a DataFrame;
  :func:`plot_policy_table` draws it as a heatmap.
* :func:`priority_thresholds` -- from the exact DP's action values: for each
  ordered pair of types (X over Y), each slot and each queue of Y, the
  smallest queue of X from which the free scanner strictly goes to X rather
  than to Y, for every longer queue of X too (a threshold), and whether the
  preference is monotone in X's queue (the threshold structure Gocgun et al.
  2011 report for two scanners).

Found with the reconstructed defaults on ``scanners/gocgun-v0`` (asserted in
``tests/families/scanners/test_structure.py``), no CEP waiting:

* every preference is monotone in the queue: a threshold structure;
* OPs never have priority: from slot 5 (12:00) on, IPs and NCEPs take a
  contested scanner from OPs at any queue (threshold 1 once two OPs wait;
  in slots 3-4 only while at most two OPs wait, otherwise a tie);
* IPs over NCEPs is the threshold the paper describes: in slots 2-5 the
  order does not matter (exact ties: both will be scanned before the day's
  end), from slot 6 (12:30) IPs get priority once 4 of them wait (with 2
  NCEPs waiting), 3 in slot 8, 2 in slots 9-10, 1 from slot 11 (15:00) on:
  the threshold falls as the day's end, where an unscanned IP costs 2.0
  against an NCEP's 1.0, comes nearer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optalloc.policy import Policy

from .scenario import TYPES, ScannerScenario

#: Ties within this many revenue units are indifference, not priority.
TIE = 1e-9


def _act(policy: Policy, scenario: ScannerScenario, slot: int, cep: np.ndarray, waiting: np.ndarray) -> np.ndarray:
    """Counts ``(n, 3)`` the policy scans in the states ``(cep, waiting)`` of ``slot`` (patients who just joined)."""
    state = scenario.make_state(slot, cep, waiting)
    n = len(cep)
    actions = policy.act_batch(scenario.observe(slot, state), {"action_mask": scenario.action_mask(slot, state),
                                                               "episode": np.arange(n), "epoch": np.full(n, slot)})
    return scenario.action_table().table[np.asarray(actions)]


def policy_table(policy: Policy, scenario: ScannerScenario, slot: int, ncep: int = 0, cep: int = 0,
                 max_queue: int = 8) -> pd.DataFrame:
    """The patient types a fitted policy gives the free scanners, by waiting IPs (rows) and OPs (columns).

    Parameters
    ----------
    policy : Policy
        A policy fitted on ``scenario``.
    scenario : ScannerScenario
    slot : int
        Slot ``0..slots-1`` (slot ``t`` starts at ``day_start + t x slot_minutes``).
    ncep, cep : int
        Waiting NCEPs and CEPs to scan (held fixed).
    max_queue : int
        Largest IP and OP count shown (capped at what slot ``slot`` can hold).

    Returns
    -------
    pandas.DataFrame
        Index ``IP`` (0..q), columns ``OP`` (0..q), cells such as ``"OP+IP"``,
        ``"NCEP+NCEP"`` or ``"-"`` (nobody besides the CEPs).
    """
    q = min(max_queue, scenario.queue_limit(slot))
    ip, op = np.meshgrid(np.arange(q + 1), np.arange(q + 1), indexing="ij")
    waiting = np.stack([op.ravel(), ip.ravel(), np.full(ip.size, ncep)], axis=1)
    counts = _act(policy, scenario, slot, np.full(len(waiting), cep), waiting)
    cells = ["+".join(k for k, c in zip(TYPES, row) for _ in range(int(c))) or "-" for row in counts]
    table = pd.DataFrame(np.array(cells, dtype=object).reshape(q + 1, q + 1), index=pd.RangeIndex(q + 1, name="IP"),
                         columns=pd.RangeIndex(q + 1, name="OP"))
    table.attrs.update(slot=slot, ncep=ncep, cep=cep, policy=policy.name, scenario=scenario.id)
    return table


def plot_policy_table(table: pd.DataFrame, path: str | Path | None = None, title: str = "") -> Any:
    """A heatmap of :func:`policy_table`: one colour per decision, the decision written in each cell.

    Returns the matplotlib figure; with ``path`` it is also saved there (PNG).
    """
    from optalloc.plots import _finish, _pyplot

    plt = _pyplot()
    decisions = sorted(set(table.to_numpy().ravel()))
    codes = np.vectorize(decisions.index)(table.to_numpy())
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * table.shape[1], 0.8 + 0.5 * table.shape[0]))
    cmap = plt.get_cmap("tab10", max(len(decisions), 1))
    ax.imshow(codes, cmap=cmap, vmin=-0.5, vmax=len(decisions) - 0.5, origin="lower", aspect="auto")
    for (i, j), text in np.ndenumerate(table.to_numpy()):
        ax.text(j, i, text.replace("+", "\n"), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(table.shape[1]), table.columns)
    ax.set_yticks(range(table.shape[0]), table.index)
    a = table.attrs
    title = title or (f"{a.get('policy', '')} on {a.get('scenario', '')}: slot {a.get('slot', 0) + 1}, "
                      f"{a.get('ncep', 0)} NCEP, {a.get('cep', 0)} CEP waiting")
    ax.set_xlabel("waiting OPs")
    ax.set_ylabel("waiting IPs")
    ax.set_title(title, fontsize=9)
    return _finish(fig, path)  # no grid or legend: the cells carry their decisions


def action_values(scenario: ScannerScenario) -> list[np.ndarray]:
    """Exact action values ``Q_t(s, a) = C_t(s, a) + P_t V_{t+1}`` [revenue units, costs] of every slot.

    Returns
    -------
    list of ndarray
        ``Q[t]`` of shape ``(S_t, A)``, ``inf`` for infeasible actions; states as
        :meth:`ScannerScenario.stage_states`.
    """
    from optalloc.dp import backward_induction

    model = scenario.tabular_model()
    stages = model.stages()
    values = backward_induction(stages, model.terminal(), gamma=scenario.discount).values
    out = []
    for t in range(scenario.horizon):
        P, C = stages[t]
        S, A = C.shape
        out.append(C + (P @ values[t + 1]).reshape(A, S).T)
    return out


def priority_thresholds(scenario: ScannerScenario, q_values: list[np.ndarray] | None = None,
                        max_queue: int = 8) -> pd.DataFrame:
    """Where one waiting type strictly gets a contested scanner before another, from the exact action values.

    For every ordered pair (X, Y), slot ``t >= 1`` and queue ``y >= 1`` of Y, with
    no CEP and the third type's queue empty, X *has priority* at queue ``x`` when
    filling the scanners X first (``min(x, scanners)`` X, then Y) costs less, by
    more than :data:`TIE`, than filling them Y first. States where both orders
    scan the same patients (``x + y <= scanners``) say nothing and are skipped.

    Returns
    -------
    pandas.DataFrame
        One row per (X, Y, slot, y): ``x_over_y`` ("IP>OP"), ``slot`` (1-based), ``y``,
        ``threshold`` (the smallest ``x`` from which X has priority at every longer
        queue shown; NaN if X never has it at the longest), ``monotone`` (whether the
        set of ``x`` where X has priority is of that form: all ``x >= threshold``).
    """
    q_values = action_values(scenario) if q_values is None else q_values
    S = scenario.params.scanners
    table = scenario.action_table().table
    rows = []
    for t in range(1, scenario.horizon):
        q = min(max_queue, scenario.queue_limit(t))
        for i, x_type in enumerate(TYPES):
            for j, y_type in enumerate(TYPES):
                if i == j:
                    continue
                for y in range(1, q + 1):
                    prefers = []
                    for x in range(1, q + 1):
                        waiting = np.zeros(3, dtype=np.int64)
                        waiting[i], waiting[j] = x, y
                        s = int(scenario.state_index(t, 0, waiting))
                        # Split of the free scanners between X and Y: X-first and Y-first variants.
                        x_first = min(x, S)
                        y_first = min(y, S)
                        a_x = np.zeros(3, dtype=np.int64)
                        a_x[i], a_x[j] = x_first, min(y, S - x_first)
                        a_y = np.zeros(3, dtype=np.int64)
                        a_y[j], a_y[i] = y_first, min(x, S - y_first)
                        if (a_x == a_y).all():  # both orders scan the same patients: nothing to prefer
                            prefers.append(np.nan)
                            continue
                        qx = q_values[t][s, _row(table, a_x)]
                        qy = q_values[t][s, _row(table, a_y)]
                        prefers.append(float(qy - qx > TIE))
                    prefers_arr = np.array(prefers)
                    known = np.flatnonzero(~np.isnan(prefers_arr))
                    seen = prefers_arr[known]
                    monotone = bool(np.all(seen[1:] >= seen[:-1]))
                    threshold = float(1 + known[np.argmax(seen)]) if len(seen) and seen[-1] and monotone else np.nan
                    rows.append({"x_over_y": f"{x_type}>{y_type}", "slot": t + 1, "y": y, "threshold": threshold,
                                 "monotone": monotone})
    return pd.DataFrame(rows)


def _row(table: np.ndarray, counts: np.ndarray) -> int:
    """The action whose counts are ``counts``."""
    return int(np.flatnonzero((table == counts).all(axis=1))[0])


__all__ = ["action_values", "plot_policy_table", "policy_table", "priority_thresholds"]
