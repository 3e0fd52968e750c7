"""The exact DP of the scanner family against three independent references.

* The MDP's linear program solved by HiGHS (:mod:`optalloc.formulations.mdp_lp`)
  on the scenario's own tabular model: checks the backward induction.
* A backward induction written here from the model card with plain dicts and
  loops over ``(cep, waiting)`` states: checks the tabular model itself.
* Monte Carlo simulation of the DP policy through the scenario's ``step``:
  checks that the value the DP promises is the value its policy earns.
"""

from __future__ import annotations

import itertools
from functools import cache
from math import comb
from typing import Any

import numpy as np
import pytest

import optalloc as oa
from optalloc.dp import backward_induction

#: Two-sided 99 % normal quantile.
Z99 = 2.5758293035489004


def per_slot(value: Any, slots: int) -> list[float]:
    """A probability given as one number or one per slot, as ``slots`` numbers."""
    return list(value) if isinstance(value, (list, tuple)) else [value] * slots


def card_optimum(params: Any) -> float:
    """Optimal expected cost of a day from the card (empty start, no CEP), by memoised backward induction.

    State ``(t, cep, (w_OP, w_IP, w_NCEP))``; the decision scans ``a`` with ``a <= w`` and
    ``cep + sum(a) <= scanners``; arrivals are independent ``Binomial(max_arrivals, p_k(t))``; a full
    queue turns arrivals away at the end-of-day cost; after the last slot every waiting patient costs
    its end-of-day cost (the terminal value ``-sum c_k w_k``).

    Returns
    -------
    float
        Minus the optimal expected net revenue [revenue units].
    """
    p = params
    T, S, m, cap = p.slots, p.scanners, p.max_arrivals, p.queue_cap
    probabilities = [per_slot(p.cep_probability, T)] + [per_slot(q, T) for q in p.arrival_probability]
    splits = [a for a in itertools.product(range(S + 1), repeat=3) if sum(a) <= S]

    def binomial(k: int, q: float) -> float:
        return comb(m, k) * q**k * (1 - q) ** (m - k)

    outcomes = []  # per slot: (CEPs, (OP, IP, NCEP) arrivals, probability)
    for t in range(T):
        slot = []
        for arrived in itertools.product(range(m + 1), repeat=4):
            prob = 1.0
            for k, count in enumerate(arrived):
                prob *= binomial(count, probabilities[k][t])
            if prob > 0:
                slot.append((arrived[0], arrived[1:], prob))
        outcomes.append(slot)

    @cache
    def value(t: int, cep: int, waiting: tuple[int, int, int]) -> float:
        if t == T:
            return sum(c * w for c, w in zip(p.end_of_day_cost, waiting))
        best = float("inf")
        for a in splits:
            if cep + sum(a) > S or any(x > w for x, w in zip(a, waiting)):
                continue
            left = [w - x for w, x in zip(waiting, a)]
            total = -(p.cep_revenue * cep + sum(r * x for r, x in zip(p.revenue, a)))
            total += sum(c * n for c, n in zip(p.waiting_cost, left))
            for cep_next, arrived, prob in outcomes[t]:
                queues = [n + d if cap is None else min(n + d, cap) for n, d in zip(left, arrived)]
                turned = sum(c * (n + d - q) for c, n, d, q in zip(p.end_of_day_cost, left, arrived, queues))
                total += prob * (turned + value(t + 1, cep_next, tuple(queues)))
            best = min(best, total)
        return best

    return value(0, 0, (0, 0, 0))


# ---------------------------------------------------------------- DP against the LP (HiGHS)
@pytest.mark.solver
@pytest.mark.parametrize(("scenario_id", "slots"), [
    ("scanners/gocgun-1scanner-v0", 10),
    ("scanners/gocgun-v0", 6),
    # The whole 20-slot day: 88,199 states, 1.6e5 rows, about 7 minutes of dual simplex.
    pytest.param("scanners/gocgun-1scanner-v0", 20, marks=pytest.mark.slow),
])
def test_dp_values_equal_the_lp_values(scenario_id, slots):
    # Fewer slots keep every stage of the same model (10 slots: 6,049 states, 1 scanner).
    from optalloc.formulations.mdp_lp import finite_horizon_lp_values

    scenario = oa.make_scenario(scenario_id, slots=slots)
    model = scenario.tabular_model()
    stages = list(model.stages())
    lp_values, result = finite_horizon_lp_values(stages, np.zeros(model.n_states(slots)))
    assert result.status.value == "optimal"
    policy = oa.make_policy("dp").fit(scenario)
    assert policy.expected_cost_ == pytest.approx(lp_values[0][model.initial_index], rel=1e-6)
    dp = backward_induction(stages, model.terminal(), gamma=1.0)
    for t in range(slots):  # every state of every slot, not only the start of the day
        np.testing.assert_allclose(dp.values[t], lp_values[t], rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- DP against the card
@pytest.mark.parametrize(("scenario_id", "overrides"), [
    ("scanners/gocgun-v0", {"slots": 6}),
    ("scanners/gocgun-1scanner-v0", {"slots": 7}),
    ("scanners/gocgun-v0", {"slots": 6, "waiting_cost": (0.05, 0.2, 0.1), "cep_revenue": 0.3}),
    # A time-of-day profile on a short day: probabilities change every slot.
    ("scanners/gocgun-v0", {"slots": 5, "cep_probability": [0.1, 0.3, 0.0, 0.5, 0.2],
                            "arrival_probability": (0.45, [0.9, 0.8, 0.6, 0.3, 0.1], [0.2, 0.4, 1.0, 0.7, 0.5])}),
    ("scanners/gocgun-v0", {"slots": 6, "queue_cap": 2}),  # full queues turn patients away
    ("scanners/large-v0", {"slots": 4, "queue_cap": 3}),  # 3 scanners, Binomial(2, p) arrivals, a binding cap
])
def test_dp_equals_a_backward_induction_written_from_the_card(scenario_id, overrides):
    scenario = oa.make_scenario(scenario_id, **overrides)
    expected = card_optimum(scenario.params)
    assert oa.make_policy("dp").fit(scenario).expected_cost_ == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.slow
def test_dp_equals_the_card_on_the_full_one_scanner_day(one_scanner):
    expected = card_optimum(one_scanner.params)  # about 1.1e5 states in plain Python
    assert oa.make_policy("dp").fit(one_scanner).expected_cost_ == pytest.approx(expected, rel=1e-9)


# ---------------------------------------------------------------- DP against simulation of its policy
@pytest.mark.parametrize("scenario_id", ["scanners/gocgun-v0", "scanners/gocgun-1scanner-v0",
                                         "scanners/gocgun-profile-v0"])
def test_simulated_cost_of_the_dp_policy_matches_its_expected_cost(scenario_id):
    scenario = oa.make_scenario(scenario_id)
    policy = oa.make_policy("dp").fit(scenario)
    evaluation = oa.evaluate({"dp": policy}, scenario, episodes=20_000, seed=2024)
    costs = evaluation.episodes["total_cost"].to_numpy()
    assert len(costs) == 20_000
    half_width = Z99 * costs.std(ddof=1) / np.sqrt(len(costs))
    mean = float(evaluation.summary["mean_cost"].iloc[0])
    assert mean == pytest.approx(costs.mean(), rel=1e-12)
    assert abs(mean - policy.expected_cost_) < half_width, (mean, half_width, policy.expected_cost_)
