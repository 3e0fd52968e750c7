"""The scanner heuristics against a per-patient simulator written from the model card, and their statistics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import optalloc as oa
from optalloc.evaluation import mean_ci, rollout
from optalloc.families.scanners.scenario import TYPES
from optalloc.registry import list_scenarios

RULES = ("fcfs", "r1", "r2", "o1", "o2", "greedy")
EPISODES = 40
#: Arrivals of the three waiting types in disjoint slots (OP in slots 0, 3, ..., IP in 1, 4, ..., NCEP in 2, 5, ...):
#: no two patients of different types ever wait equally long, so FCFS never meets a tie.
DISJOINT = tuple(tuple(0.9 if t % 3 == k else 0.0 for t in range(20)) for k in range(3))


# ---------------------------------------------------------------- an independent simulator from the card
def _order(rule: str, params) -> list[int] | None:
    """Fixed type order of a priority rule (indices into OP, IP, NCEP); None for FCFS."""
    if rule == "o1":
        return [0, 2, 1]  # OP > NCEP > IP
    if rule == "o2":
        return [0, 1, 2]  # OP > IP > NCEP
    if rule == "greedy":
        return sorted(range(3), key=lambda k: -params.revenue[k])  # sorted() is stable: ties in type order
    return None


def simulate(params, arrivals: np.ndarray, rule: str) -> tuple[list[float], list[list[int]], list[list[int]], int]:
    """One day patient by patient: per slot net revenue, scans and waited slots per type, and the slots to trust.

    Returns
    -------
    revenue, scans, waited : lists over slots
    trusted : int
        Slots before the first one at which FCFS met a tie that decides who is scanned (all slots otherwise).
    """
    T, S = params.slots, params.scanners
    queues: list[list[int]] = [[], [], []]  # arrival slot of each waiting patient, oldest first
    revenue, scans, waited, trusted = [], [], [], T
    cep = 0
    for t in range(T):
        free = S - cep
        scanned = [0, 0, 0]
        wait = [0, 0, 0]
        order = _order(rule, params)
        if order is not None:
            for k in order:
                while free and queues[k]:
                    s = queues[k].pop(0)
                    scanned[k] += 1
                    wait[k] += t - s - 1
                    free -= 1
        else:
            everyone = sorted((s, k) for k in range(3) for s in queues[k])
            m = min(free, len(everyone))
            if 0 < m < len(everyone) and everyone[m - 1][0] == everyone[m][0] \
                    and len({k for s, k in everyone if s == everyone[m][0]}) > 1:
                trusted = min(trusted, t)
            for s, k in everyone[:m]:
                queues[k].remove(s)
                scanned[k] += 1
                wait[k] += t - s - 1
        money = params.cep_revenue * cep + sum(params.revenue[k] * scanned[k] for k in range(3))
        money -= sum(params.waiting_cost[k] * len(queues[k]) for k in range(3))
        for k in range(3):
            for _ in range(int(arrivals[t, 1 + k])):
                if params.queue_cap is not None and len(queues[k]) >= params.queue_cap:
                    money -= params.end_of_day_cost[k]
                else:
                    queues[k].append(t)
        if t == T - 1:
            money -= sum(params.end_of_day_cost[k] * len(queues[k]) for k in range(3))
        cep = int(arrivals[t, 0])
        revenue.append(money)
        scans.append(scanned)
        waited.append(wait)
    return revenue, scans, waited, trusted


def _compare(rule: str, scenario: oa.Scenario, seed: int = 11) -> int:
    """Compare a rollout of ``rule`` with the simulator day by day; returns the slots compared."""
    noise = scenario.sample_noise(seed, EPISODES)
    traj = rollout(oa.make_policy(rule).fit(scenario), scenario, noise)
    compared = 0
    for e in range(EPISODES):
        revenue, scans, waited, trusted = simulate(scenario.params, noise["arrivals"][e], rule)
        got_scans = np.stack([traj.info[f"scanned_{k}"][e] for k in TYPES], axis=1)
        got_waited = np.stack([traj.info[f"waited_{k}"][e] for k in TYPES], axis=1)
        np.testing.assert_allclose(-traj.stage_cost[e, :trusted], revenue[:trusted], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(got_scans[:trusted], np.array(scans)[:trusted])
        np.testing.assert_array_equal(got_waited[:trusted], np.array(waited)[:trusted])
        if trusted == scenario.horizon:
            assert traj.kpis["net_revenue"][e] == pytest.approx(sum(revenue), abs=1e-12)
        compared += trusted
    return compared


SIMULATED = [
    ("scanners/gocgun-v0", {}),
    ("scanners/gocgun-1scanner-v0", {}),
    ("scanners/gocgun-profile-v0", {"waiting_cost": (0.05, 0.1, 0.02)}),
    ("scanners/large-v0", {"queue_cap": 3}),  # a cap that binds: turned-away patients
    ("scanners/gocgun-v0", {"revenue": (0.5, 1.0, 0.8)}),  # greedy: IP > NCEP > OP
    ("scanners/gocgun-v0", {"revenue": (0.8, 0.5, 0.8)}),  # greedy: a tie OP = NCEP, broken by type order
]


@pytest.mark.parametrize("rule", ["o1", "o2", "greedy"])
@pytest.mark.parametrize(("scenario_id", "overrides"), SIMULATED)
def test_priority_rules_match_the_simulator(rule, scenario_id, overrides):
    scenario = oa.make_scenario(scenario_id, **overrides)
    assert _compare(rule, scenario) == EPISODES * scenario.horizon


@pytest.mark.parametrize(("scenario_id", "overrides"), [
    # Several arrivals a slot, so that queues build up and the order of service matters.
    ("scanners/gocgun-v0", {"arrival_probability": DISJOINT, "max_arrivals": 2}),
    ("scanners/gocgun-1scanner-v0", {"arrival_probability": DISJOINT, "waiting_cost": (0.05, 0.1, 0.02)}),
    ("scanners/large-v0", {"arrival_probability": DISJOINT, "max_arrivals": 3}),
])
def test_fcfs_matches_the_simulator_without_ties(scenario_id, overrides):
    scenario = oa.make_scenario(scenario_id, **overrides)
    assert _compare("fcfs", scenario) == EPISODES * scenario.horizon
    # Not a priority rule in disguise on these days.
    noise = scenario.sample_noise(11, EPISODES)
    fcfs = rollout(oa.make_policy("fcfs").fit(scenario), scenario, noise).actions
    for rule in ("o1", "o2"):
        assert (rollout(oa.make_policy(rule).fit(scenario), scenario, noise).actions != fcfs).any()


@pytest.mark.parametrize(("scenario_id", "overrides"), SIMULATED[:4])
def test_fcfs_matches_the_simulator_up_to_the_first_deciding_tie(scenario_id, overrides):
    scenario = oa.make_scenario(scenario_id, **overrides)
    # Ties decide often (two types arriving in one slot), but the first slots of a day still compare.
    assert _compare("fcfs", scenario) >= 3 * EPISODES


# ---------------------------------------------------------------- constructed states
def _state(scenario: oa.Scenario, n: int, t: int, joined: dict[tuple[int, int], int], cep: int = 0) -> dict:
    """``n`` copies of a state of slot ``t`` with ``joined[(type, join slot)]`` patients waiting."""
    waiting = np.zeros((n, 3), dtype=np.int64)
    waited: list[list[int]] = [[], [], []]
    for (k, j), count in sorted(joined.items(), key=lambda item: item[0][1]):  # oldest first
        waiting[:, k] += count
        waited[k] += [t - j] * count
    depth = max(1, max(len(w) for w in waited))
    ages = np.zeros((n, 3, depth), dtype=np.int64)
    for k, w in enumerate(waited):
        ages[:, k, :len(w)] = w
    return scenario.make_state(t, np.full(n, cep), waiting, ages)


def _decide(rule: str, scenario: oa.Scenario, state: dict, seed: int = 0) -> np.ndarray:
    """Counts ``(n, 3)`` scanned by ``rule`` in ``state``."""
    policy = oa.make_policy(rule).fit(scenario)
    policy.reset(seed=seed)
    t = int(state["t"][0])
    n = len(state["cep"])
    mask = scenario.action_mask(t, state)
    actions = policy.act_batch(scenario.observe(t, state), {"action_mask": mask, "episode": np.arange(n),
                                                            "epoch": np.full(n, t)})
    assert mask[np.arange(n), actions].all()
    return scenario.action_table().table[actions]


def _assert_frequencies(outcomes: np.ndarray, expected: dict[tuple[int, ...], float]) -> None:
    """Each outcome's frequency within 4 binomial standard deviations of its probability; nothing else occurs."""
    n = len(outcomes)
    rows = [tuple(r) for r in outcomes.tolist()]
    assert set(rows) <= set(expected), f"unexpected outcomes {set(rows) - set(expected)}"
    for outcome, p in expected.items():
        k = sum(r == outcome for r in rows)
        assert abs(k - n * p) <= 4 * np.sqrt(n * p * (1 - p)), (outcome, k / n, p)
        assert stats.binomtest(k, n, p).pvalue > 1e-5, (outcome, k / n, p)


N_DRAWS = 20_000


def test_r1_picks_a_waiting_type_uniformly():
    scenario = oa.make_scenario("scanners/gocgun-1scanner-v0")
    state = _state(scenario, N_DRAWS, 10, {(0, 3): 5, (1, 5): 1, (2, 7): 2})
    _assert_frequencies(_decide("r1", scenario, state), {(1, 0, 0): 1 / 3, (0, 1, 0): 1 / 3, (0, 0, 1): 1 / 3})


def test_r2_picks_a_waiting_patient_uniformly():
    scenario = oa.make_scenario("scanners/gocgun-1scanner-v0")
    state = _state(scenario, N_DRAWS, 10, {(0, 3): 5, (1, 5): 1, (2, 7): 2})
    _assert_frequencies(_decide("r2", scenario, state), {(1, 0, 0): 5 / 8, (0, 1, 0): 1 / 8, (0, 0, 1): 2 / 8})


def test_random_rules_draw_again_after_each_pick():
    # 2 free scanners, waiting (1, 0, 3). R-1: NCEP first (1/2), then OP or NCEP (1/2 each): P(0, 0, 2) = 1/4.
    # two patients of four without replacement: P(both NCEP) = C(3, 2) / C(4, 2) = 1/2.
    scenario = oa.make_scenario("scanners/gocgun-v0")
    state = _state(scenario, N_DRAWS, 8, {(0, 2): 1, (2, 4): 2, (2, 6): 1})
    _assert_frequencies(_decide("r1", scenario, state), {(1, 0, 1): 3 / 4, (0, 0, 2): 1 / 4})
    _assert_frequencies(_decide("r2", scenario, state), {(1, 0, 1): 1 / 2, (0, 0, 2): 1 / 2})


def test_fcfs_breaks_ties_between_types_at_random():
    scenario = oa.make_scenario("scanners/gocgun-v0")
    # One free scanner (a CEP takes the other); the OP and the NCEP joined in slot 2, the IP later.
    state = _state(scenario, N_DRAWS, 9, {(0, 2): 1, (1, 4): 2, (2, 2): 1}, cep=1)
    _assert_frequencies(_decide("fcfs", scenario, state), {(1, 0, 0): 1 / 2, (0, 0, 1): 1 / 2})
    # Two free scanners: both tied patients, whatever the draw.
    state["cep"][:] = 0
    assert (_decide("fcfs", scenario, state) == (1, 0, 1)).all()
    # No tie: the IP who joined first goes first, then one of the tied OP and NCEP.
    state = _state(scenario, N_DRAWS, 9, {(0, 3): 1, (1, 1): 1, (2, 3): 1})
    _assert_frequencies(_decide("fcfs", scenario, state), {(1, 1, 0): 1 / 2, (0, 1, 1): 1 / 2})


# ---------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("rule", ["fcfs", "r1", "r2"])
def test_policy_seed_reproduces_and_noise_is_untouched(rule):
    scenario = oa.make_scenario("scanners/gocgun-v0")
    noise = scenario.sample_noise(5, 300)
    kept = {k: v.copy() for k, v in noise.items()}
    global_state = np.random.get_state()[1].copy()
    policy = oa.make_policy(rule).fit(scenario)
    a1 = rollout(policy, scenario, noise, policy_seed=3).actions
    a2 = rollout(policy, scenario, noise, policy_seed=3).actions
    a3 = rollout(oa.make_policy(rule).fit(scenario), scenario, noise, policy_seed=3).actions
    b = rollout(policy, scenario, noise, policy_seed=4).actions
    assert np.array_equal(a1, a2) and np.array_equal(a1, a3)
    assert not np.array_equal(a1, b)
    for k in noise:
        np.testing.assert_array_equal(noise[k], kept[k])
        np.testing.assert_array_equal(scenario.sample_noise(5, 300)[k], kept[k])
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)


@pytest.mark.parametrize("rule", ["o1", "o2", "greedy"])
def test_deterministic_rules_ignore_the_policy_seed(rule):
    scenario = oa.make_scenario("scanners/gocgun-v0")
    noise = scenario.sample_noise(5, 100)
    policy = oa.make_policy(rule).fit(scenario)
    assert np.array_equal(rollout(policy, scenario, noise, policy_seed=1).actions,
                          rollout(policy, scenario, noise, policy_seed=2).actions)


def test_evaluate_twice_gives_identical_numbers():
    scenario = oa.make_scenario("scanners/gocgun-v0")
    fitted = {rule: oa.make_policy(rule).fit(scenario, seed=0) for rule in RULES}
    first = oa.evaluate({rule: oa.make_policy(rule) for rule in RULES}, scenario, episodes=300, seed=0).episodes
    again = oa.evaluate(fitted, scenario, episodes=300, seed=0).episodes
    once_more = oa.evaluate(fitted, scenario, episodes=300, seed=0).episodes
    np.testing.assert_array_equal(first["total_cost"].to_numpy(), again["total_cost"].to_numpy())
    np.testing.assert_array_equal(again["total_cost"].to_numpy(), once_more["total_cost"].to_numpy())


# ---------------------------------------------------------------- masks, never idle
@pytest.mark.parametrize("scenario_id", [s.id for s in list_scenarios() if s.id.startswith("scanners/")])
@pytest.mark.parametrize("rule", RULES)
def test_feasible_and_never_idle(rule, scenario_id):
    scenario = oa.make_scenario(scenario_id)
    n, S = 300, scenario.params.scanners
    noise = scenario.sample_noise(2, n)
    policy = oa.make_policy(rule).fit(scenario)
    policy.reset(seed=1)
    state = scenario.initial_state(n)
    table = scenario.action_table().table
    for t in range(scenario.horizon):
        mask = scenario.action_mask(t, state)
        waiting = scenario.waiting(state)
        actions = policy.act_batch(scenario.observe(t, state), {"action_mask": mask, "episode": np.arange(n),
                                                                "epoch": np.full(n, t)})
        assert mask[np.arange(n), actions].all()
        counts = table[actions]
        assert (counts <= waiting).all()
        np.testing.assert_array_equal(counts.sum(axis=1), np.minimum(S - state["cep"], waiting.sum(axis=1)))
        state, _, _ = scenario.step(t, state, actions, scenario.noise_at(noise, t))


# ---------------------------------------------------------------- below the optimum
@pytest.mark.parametrize("scenario_id", ["scanners/gocgun-v0", "scanners/gocgun-1scanner-v0"])
def test_every_rule_earns_less_than_the_optimum(scenario_id):
    scenario = oa.make_scenario(scenario_id)
    optimum = -oa.make_policy("dp").fit(scenario).expected_cost_
    noise = scenario.sample_noise(0, 20_000)
    for rule in RULES:
        revenue = rollout(oa.make_policy(rule).fit(scenario), scenario, noise, policy_seed=0).kpis["net_revenue"]
        mean, half = mean_ci(revenue, level=0.99)
        print(f"{scenario_id} {rule}: {mean:.4f} +- {half:.4f} vs optimum {optimum:.4f}, "
              f"gap {100 * (optimum - mean) / optimum:.2f} %")
        assert optimum - mean > half, (rule, mean, half, optimum)
