"""The scanner ALP against references nobody here chose.

* the scenario's exact tabular stages (``ScannerScenario._tabular_stage``):
  the ALP's probed costs and transitions;
* exact dynamic programming (``dp``, :func:`optalloc.dp.backward_induction`):
  the bound of every basis lies below it, and the one-value-per-state basis
  recovers it (the exact LP);
* the infinite-capacity day, in closed form from the card (every patient
  scanned in the slot after arriving, those of the last slot left over): its
  affine value function is feasible for the ALP, so the bound lies above it;
* the three row schemes (all pairs, constraint generation, factored rows),
  which describe the same LP and must reach the same optimum;
* Monte-Carlo rollouts of the simulator: the greedy policy costs at least the
  bound, and no less than the optimum beyond noise.
"""

from __future__ import annotations

import numpy as np
import pytest

import optalloc as oa
from optalloc.dp import backward_induction
from optalloc.evaluation import rollout
from optalloc.exceptions import ConfigurationError
from optalloc.formulations.scanners.alp import ALPPolicy, slot_model, solve_alp

#: Exact-LP tolerance [revenue units].
EXACT = 1e-7
#: Small days on which every row scheme is cheap: (preset, overrides).
SMALL = [("gocgun-1scanner-v0", {"slots": 6}), ("gocgun-v0", {"slots": 5}),
         ("large-v0", {"slots": 4, "queue_cap": 3}),
         ("gocgun-1scanner-v0", {"slots": 8, "queue_cap": 3, "waiting_cost": (0.05, 0.1, 0.02)})]


@pytest.fixture(scope="module")
def presets():
    """gocgun-v0 and gocgun-1scanner-v0 with their exact optimal expected cost (dp)."""
    out = {}
    for preset in ("gocgun-v0", "gocgun-1scanner-v0"):
        scenario = oa.make_scenario(f"scanners/{preset}")
        out[preset] = (scenario, oa.make_policy("dp").fit(scenario).expected_cost_)
    return out


def no_capacity_cost(scenario) -> float:
    """Optimal expected cost with unlimited scanners [revenue units], from the card.

    Each patient earns its revenue in the slot after it arrives; patients
    arriving in the last slot are never scanned, the waiting types among them
    cost their end-of-day cost. No queue fills (queues empty every slot).
    """
    p = scenario.params
    prob = scenario.arrival_probabilities() * p.max_arrivals  # expected arrivals (slots, 4)
    revenue = np.array([p.cep_revenue, *p.revenue])
    return float(-(prob[:-1] @ revenue).sum() + prob[-1, 1:] @ np.asarray(p.end_of_day_cost))


# ------------------------------------------------------------------ the probed model is the exact one
@pytest.mark.parametrize("preset, overrides, slots", [
    ("gocgun-v0", {}, (0, 1, 9, 19)),
    ("gocgun-profile-v0", {}, (0, 7, 8, 14, 19)),
    ("large-v0", {"slots": 5, "queue_cap": 3}, (0, 1, 2, 3, 4)),
    ("gocgun-1scanner-v0", {"queue_cap": 4, "waiting_cost": (0.1, 0.2, 0.05)}, (0, 3, 10, 19)),
])
def test_slot_model_equals_exact_stage(preset, overrides, slots):
    scenario = oa.make_scenario(f"scanners/{preset}", **overrides)
    for t in slots:
        P, C = scenario._tabular_stage(t)
        model = slot_model(scenario, t)
        costs = model.costs()
        assert np.array_equal(np.isfinite(costs), np.isfinite(C))
        feasible = np.isfinite(C)
        np.testing.assert_allclose(costs[feasible], C[feasible], rtol=0, atol=1e-12)
        states, actions = np.nonzero(feasible)
        gap = P[actions * C.shape[0] + states] - model.transition[model.post[states, actions]]
        assert gap.nnz == 0 or abs(gap).max() < 1e-12


# ------------------------------------------------------------------ the exact LP
@pytest.mark.parametrize("preset, overrides", [("gocgun-1scanner-v0", {"slots": 3, "scanners": 1}),
                                               ("gocgun-v0", {"slots": 4})])
@pytest.mark.parametrize("constraints", ["all", "generate"])
def test_tabular_basis_recovers_dynamic_programming(preset, overrides, constraints):
    scenario = oa.make_scenario(f"scanners/{preset}", **overrides)
    model = scenario.tabular_model()
    exact = backward_induction(model.stages(), model.terminal())
    result = solve_alp(scenario, "tabular", "uniform", constraints)
    assert result.bound == pytest.approx(exact.values[0][model.initial_index], abs=EXACT)
    assert result.bound == pytest.approx(oa.make_policy("dp").fit(scenario).expected_cost_, abs=EXACT)
    for t in range(scenario.horizon):  # uniform weights: every state's value is the optimum
        theta = result.coefficients[result.offsets[t]:result.offsets[t + 1]]
        np.testing.assert_allclose(theta, exact.values[t], rtol=0, atol=EXACT)


def test_tabular_greedy_policy_is_optimal():
    scenario = oa.make_scenario("scanners/gocgun-v0", slots=4)
    alp = ALPPolicy(basis="tabular").fit(scenario)
    dp = oa.make_policy("dp").fit(scenario)
    noise = scenario.sample_noise(11, 4000)
    diff = rollout(alp, scenario, noise).total_cost - rollout(dp, scenario, noise).total_cost
    assert abs(diff.mean()) <= 4 * diff.std(ddof=1) / np.sqrt(len(diff)) + 1e-12


# ------------------------------------------------------------------ one LP, three row schemes
@pytest.mark.parametrize("preset, overrides", SMALL)
@pytest.mark.parametrize("basis", ["affine", "separable"])
@pytest.mark.parametrize("relevance", ["uniform", "visits", "initial"])
def test_row_schemes_reach_the_same_optimum(preset, overrides, basis, relevance):
    scenario = oa.make_scenario(f"scanners/{preset}", **overrides)
    results = {c: solve_alp(scenario, basis, relevance, c, tight_bound=False) for c in ("all", "generate", "factored")}
    objective = results["all"].objective
    for name, result in results.items():
        assert result.objective == pytest.approx(objective, abs=EXACT, rel=1e-9), name
    assert results["factored"].rows < results["all"].rows
    assert results["generate"].rows <= results["all"].rows


# ------------------------------------------------------------------ bounds
@pytest.mark.parametrize("preset", ["gocgun-v0", "gocgun-1scanner-v0"])
def test_bounds_lie_between_no_capacity_and_the_optimum(presets, preset):
    scenario, optimum = presets[preset]
    floor = no_capacity_cost(scenario)
    bounds = {}
    for basis in ("affine", "separable"):
        policy = ALPPolicy(basis=basis).fit(scenario)
        # To the LPs' accuracy: where the best ALP bound is the no-capacity cost itself, HiGHS may return
        # it a few 1e-9 below (its feasibility tolerance is 1e-7).
        assert floor - EXACT <= policy.bound_ <= optimum + EXACT
        assert policy.policy_bound_ <= policy.bound_ + 1e-12
        assert policy.violations_.sum() < 1e-6  # the rows hold to the solver's tolerance
        bounds[basis] = policy.bound_
        print(f"{preset} {basis}: bound {policy.bound_:.4f} (net revenue <= {-policy.bound_:.4f}), dp {optimum:.4f}, "
              f"gap {100 * (optimum - policy.bound_) / abs(optimum):.2f} %, no capacity {floor:.4f}")
    # The separable basis contains the affine one: its tightest bound is at least as tight.
    assert bounds["separable"] >= bounds["affine"] - EXACT


def test_convex_queue_functions_only_restrict(presets):
    scenario, optimum = presets["gocgun-1scanner-v0"]
    free = solve_alp(scenario, "separable", "uniform", tight_bound=False)
    convex = solve_alp(scenario, "separable", "uniform", convex=True, tight_bound=False)
    assert convex.objective <= free.objective + 1e-9
    assert convex.bound <= optimum + 1e-9
    for t in range(1, scenario.horizon):  # every queue function's increments are non-decreasing
        ceps, side = scenario.stage_shape(t)
        theta = convex.coefficients[convex.offsets[t]:convex.offsets[t + 1]]
        for k in range(3):
            f = np.concatenate([[0.0], theta[ceps + k * (side - 1):ceps + (k + 1) * (side - 1)]])
            assert np.all(np.diff(f, 2) >= -1e-7)


# ------------------------------------------------------------------ the greedy policy
@pytest.mark.parametrize("preset", ["gocgun-v0", "gocgun-1scanner-v0"])
@pytest.mark.parametrize("basis", ["affine", "separable"])
def test_greedy_policy_costs_at_least_the_bound_and_the_optimum(presets, preset, basis):
    scenario, optimum = presets[preset]
    policy = ALPPolicy(basis=basis).fit(scenario)
    noise = scenario.sample_noise(5, 5000)
    cost = rollout(policy, scenario, noise).total_cost
    half = 4 * cost.std(ddof=1) / np.sqrt(len(cost))
    assert cost.mean() + half >= optimum  # no policy beats the optimum beyond noise
    assert cost.mean() >= policy.bound_
    print(f"{preset} {basis}: policy net revenue {-cost.mean():.4f} +- {half / 4 * 1.96:.4f}, dp {-optimum:.4f}, "
          f"gap {100 * (cost.mean() - optimum) / abs(optimum):.2f} %")


def test_actions_are_feasible_and_greedy(presets):
    scenario, _ = presets["gocgun-v0"]
    policy = ALPPolicy().fit(scenario)
    model = scenario.tabular_model()
    for t in (0, 1, 10, scenario.horizon - 1):
        observations = model.observations(t)
        cep, waiting = scenario.stage_states(t)
        mask = scenario.action_mask(t, scenario.make_state(t, cep, waiting))
        actions = policy.act_batch(observations, {"action_mask": mask, "epoch": np.full(len(cep), t),
                                                  "episode": np.arange(len(cep))})
        assert mask[np.arange(len(cep)), actions].all()
        # Greedy: no feasible action has a lower C_t + E[V_{t+1}] than the one chosen.
        slot = slot_model(scenario, t)
        start, stop = policy.post_offsets_[t], policy.post_offsets_[t + 1]
        q = slot.q_values(policy.post_values_[start:stop])
        np.testing.assert_allclose(q[np.arange(len(cep)), actions], q.min(axis=1), rtol=0, atol=1e-12)


# ------------------------------------------------------------------ large-v0
@pytest.mark.parametrize("basis", ["affine", "separable"])
def test_large_fit_is_cheap_and_bounds_its_own_policy(basis):
    scenario = oa.make_scenario("scanners/large-v0")
    policy = ALPPolicy(basis=basis).fit(scenario)
    assert policy.constraints_ == "factored" and policy.pairs_ > 900_000 and policy.lp_rows_ < 5_000
    assert policy.bound_ >= no_capacity_cost(scenario) - 1e-9
    cost = rollout(policy, scenario, scenario.sample_noise(2, 2000)).total_cost
    # V*_0(s_0) <= the policy's expected cost: the bound lies below its Monte-Carlo mean beyond noise.
    assert policy.bound_ <= cost.mean() + 4 * cost.std(ddof=1) / np.sqrt(len(cost))


@pytest.mark.slow
def test_large_bound_lies_below_the_optimum():
    scenario = oa.make_scenario("scanners/large-v0")
    optimum = oa.make_policy("dp").fit(scenario).expected_cost_
    for basis in ("affine", "separable"):
        assert ALPPolicy(basis=basis).fit(scenario).bound_ <= optimum + 1e-9


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize("params", [{"basis": "quadratic"}, {"relevance": "visit"}, {"constraints": "some"},
                                    {"basis": "affine", "convex": True}, {"basis": "tabular", "constraints": "factored"},
                                    {"convex": 1}, {"tight_bound": None}, {"max_rounds": 0}, {"tolerance": -1.0}])
def test_bad_parameters_are_refused(params):
    scenario = oa.make_scenario("scanners/gocgun-v0", slots=3)
    with pytest.raises(ConfigurationError):
        ALPPolicy(**params).fit(scenario)
