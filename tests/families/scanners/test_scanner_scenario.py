"""The CT-scanner scenario against its model card.

References nobody here chose: a patient-by-patient simulator written from the
card (lists of arrival slots, first come first served within a type), the
arrival probabilities stated in the card and ``data/README.md``, binomial
frequencies, Gymnasium's own env checker.
"""

from __future__ import annotations

import itertools
import warnings
from importlib import resources
from math import comb
from typing import Any

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import optalloc as oa
from optalloc.exceptions import ConfigurationError
from optalloc.rl import AllocationEnv

#: Every registered preset of the family.
PRESET_IDS = ("scanners/gocgun-v0", "scanners/gocgun-1scanner-v0", "scanners/gocgun-profile-v0", "scanners/large-v0")

#: Waiting types and arriving types, in the card's order of queues and noise columns.
WAITING = ("OP", "IP", "NCEP")
ARRIVING = ("CEP", "OP", "IP", "NCEP")


def runs(*levels: tuple[int, int, float]) -> list[float]:
    """Per-slot probabilities from ``(first slot, last slot, p)`` runs, slots counted from 1 as in the card."""
    return [p for first, last, p in levels for _ in range(first, last + 1)]


#: Arrival probability per slot and trial, ``(slots, CEP/OP/IP/NCEP)``, typed in from the card's table.
CARD_PROBABILITIES = {
    "scanners/gocgun-v0": np.tile([0.18, 0.45, 0.63, 0.54], (20, 1)),
    "scanners/gocgun-1scanner-v0": np.tile([0.09, 0.225, 0.315, 0.27], (20, 1)),
    "scanners/gocgun-profile-v0": np.column_stack([
        [0.18] * 20, [0.45] * 20,
        runs((1, 8, 0.81), (9, 14, 0.54), (15, 20, 0.45)),
        runs((1, 6, 0.36), (7, 14, 0.54), (15, 20, 0.72)),
    ]),
    # Two Bernoulli trials per type and slot, each of 3/4 of the 2-scanner probability (1.5 x load, 3 scanners).
    "scanners/large-v0": np.tile([0.135, 0.3375, 0.4725, 0.405], (20, 1)),
}
#: Trials per type and slot (the most arrivals of one type in one slot).
CARD_TRIALS = {"scanners/gocgun-v0": 1, "scanners/gocgun-1scanner-v0": 1, "scanners/gocgun-profile-v0": 1,
               "scanners/large-v0": 2}


# ---------------------------------------------------------------- the card, patient by patient
class CardDay:
    """One day of the card for one episode: each waiting patient is the slot during which it arrived.

    Parameters
    ----------
    params : ScannerParams
        Only its plain numbers are read (slots, scanners, revenues, costs, cap).
    """

    def __init__(self, params: Any) -> None:
        self.p = params
        self.t = 0
        self.cep = 0  # CEPs that arrived during the previous slot; none at the start of the day
        self.queues: list[list[int]] = [[] for _ in WAITING]  # arrival slots, oldest first

    def observation(self) -> list[float]:
        """``[slot, CEPs, waiting OP, IP, NCEP, then per type the waits of its `scanners` oldest, -1 padded]``."""
        S = self.p.scanners
        ages: list[float] = []
        for queue in self.queues:
            waits = [self.t - s - 1 for s in queue[:S]]  # arrived during slot s: waited t - s - 1 slots at slot t
            ages += waits + [-1] * (S - len(waits))
        return [self.t, self.cep, *(len(q) for q in self.queues), *ages]

    def feasible(self, counts: tuple[int, ...]) -> bool:
        """No more scans of a type than wait, and no more scans than the scanners the CEPs leave free."""
        return all(c <= len(q) for c, q in zip(counts, self.queues)) and self.cep + sum(counts) <= self.p.scanners

    def step(self, counts: tuple[int, ...], arrivals: tuple[int, ...]) -> tuple[float, dict[str, float]]:
        """Scan ``counts`` (OP, IP, NCEP) longest-waiting first, then let ``arrivals`` (CEP, OP, IP, NCEP) in."""
        p, t = self.p, self.t
        info: dict[str, float] = {"cep_scanned": self.cep,
                                  "utilisation": (self.cep + sum(counts)) / p.scanners}
        revenue = p.cep_revenue * self.cep
        for k, name in enumerate(WAITING):
            scanned, self.queues[k] = self.queues[k][:counts[k]], self.queues[k][counts[k]:]
            revenue += p.revenue[k] * len(scanned)
            info[f"scanned_{name}"] = len(scanned)
            info[f"waited_{name}"] = sum(t - s - 1 for s in scanned)
        cost = -revenue + sum(c * len(q) for c, q in zip(p.waiting_cost, self.queues))
        for k, name in enumerate(WAITING):
            turned = 0
            for _ in range(arrivals[k + 1]):
                if p.queue_cap is not None and len(self.queues[k]) >= p.queue_cap:
                    turned += 1
                else:
                    self.queues[k].append(t)
            info[f"turned_away_{name}"] = turned
            cost += p.end_of_day_cost[k] * turned
        last = t == p.slots - 1
        for k, name in enumerate(WAITING):
            left = len(self.queues[k]) if last else 0
            info[f"unscanned_{name}"] = left
            cost += p.end_of_day_cost[k] * left
        for k, name in enumerate(ARRIVING):
            info[f"arrived_{name}"] = arrivals[k]
        info["revenue"] = revenue
        info["net_revenue"] = -cost
        self.cep, self.t = arrivals[0], t + 1
        return cost, info


def play_against_card(scenario: Any, episodes: int, seed: int,
                      start: tuple[int, Any, list[CardDay]] | None = None) -> dict[str, float]:
    """Run ``scenario`` and :class:`CardDay` side by side on the same arrivals and random feasible actions.

    Every slot compares observations, masks, costs and info entries; returns totals of the info
    entries over all episodes and slots (so a caller can check that a case was exercised). ``start``
    ``(slot, scenario state, days)`` starts both in the middle of the day instead of an empty start.
    """
    table = [tuple(int(c) for c in row) for row in scenario.action_table().table]
    noise = scenario.sample_noise(seed, episodes)
    if start is None:
        start = (0, scenario.initial_state(episodes), [CardDay(scenario.params) for _ in range(episodes)])
    first, state, days = start
    rng = np.random.default_rng(seed)
    totals: dict[str, float] = {}
    for t in range(first, scenario.horizon):
        observed = scenario.observe(t, state)
        np.testing.assert_array_equal(observed, [d.observation() for d in days], err_msg=f"observation, slot {t}")
        assert all(scenario.observation_space.contains(row) for row in observed)
        mask = np.array([[d.feasible(a) for a in table] for d in days])
        np.testing.assert_array_equal(scenario.action_mask(t, state), mask, err_msg=f"mask, slot {t}")
        actions = np.array([rng.choice(np.flatnonzero(row)) for row in mask])
        arrivals = noise["arrivals"][:, t]
        state, cost, info = scenario.step(t, state, actions, scenario.noise_at(noise, t))
        expected = [d.step(table[a], tuple(int(x) for x in arr)) for d, a, arr in zip(days, actions, arrivals)]
        np.testing.assert_allclose(cost, [c for c, _ in expected], rtol=0, atol=1e-12, err_msg=f"cost, slot {t}")
        for key in expected[0][1]:
            np.testing.assert_allclose(info[key], [i[key] for _, i in expected], rtol=0, atol=1e-12,
                                       err_msg=f"{key}, slot {t}")
            totals[key] = totals.get(key, 0.0) + sum(i[key] for _, i in expected)
    np.testing.assert_array_equal(scenario.observe(scenario.horizon, state), [d.observation() for d in days])
    return totals


@pytest.mark.parametrize("scenario_id", PRESET_IDS)
def test_presets_follow_the_card_patient_by_patient(scenario_id):
    totals = play_against_card(oa.make_scenario(scenario_id), episodes=48, seed=11)
    assert totals["scanned_OP"] > 0 and totals["waited_IP"] > 0 and totals["unscanned_NCEP"] > 0


@pytest.mark.parametrize(("scenario_id", "overrides"), [
    ("scanners/gocgun-v0", {"queue_cap": 2}),
    ("scanners/gocgun-1scanner-v0", {"queue_cap": 1, "slots": 8}),
    ("scanners/large-v0", {"queue_cap": 3}),
])
def test_full_queues_turn_arrivals_away_as_the_card_says(scenario_id, overrides):
    totals = play_against_card(oa.make_scenario(scenario_id, **overrides), episodes=48, seed=5)
    assert min(totals[f"turned_away_{k}"] for k in WAITING) > 0  # every type's cap was reached


def test_waiting_costs_are_charged_on_the_patients_left_waiting():
    scenario = oa.make_scenario("scanners/gocgun-profile-v0", waiting_cost=(0.05, 0.2, 0.1), cep_revenue=0.3)
    play_against_card(scenario, episodes=32, seed=2)


def test_a_state_made_in_the_middle_of_the_day_follows_the_card(two_scanners):
    t, waiting = 6, [[3, 0, 2], [6, 1, 0], [0, 0, 0]]
    waited = [[[5, 1], [0, 0], [2, 2]], [[5, 4], [3, 0], [0, 0]], [[0, 0], [0, 0], [0, 0]]]
    state = two_scanners.make_state(t, np.array([1, 0, 1]), np.array(waiting), np.array(waited))
    days = []
    for cep, counts, waits in zip([1, 0, 1], waiting, waited):
        day = CardDay(two_scanners.params)
        day.t, day.cep = t, cep
        # The k oldest have waited as given, the others 0 slots; waited w at slot t: arrived during t - w - 1.
        day.queues = [[t - 1 - (w[i] if i < len(w) else 0) for i in range(n)] for n, w in zip(counts, waits)]
        days.append(day)
    play_against_card(two_scanners, episodes=3, seed=1, start=(t, state, days))
    default = two_scanners.make_state(t, np.array([0]), np.array([[2, 1, 0]]))
    np.testing.assert_array_equal(two_scanners.observe(t, default)[0], [t, 0, 2, 1, 0, 0, 0, 0, -1, -1, -1])


def test_a_made_state_with_long_queues_runs_to_the_end_of_the_day():
    scenario = oa.make_scenario("scanners/gocgun-v0", slots=4)
    state = scenario.make_state(1, np.array([0]), np.array([[4, 0, 0]]))  # 4 OP at slot 1, as after a backlog
    day = CardDay(scenario.params)
    day.t, day.queues = 1, [[0] * 4, [], []]
    play_against_card(scenario, episodes=1, seed=0, start=(1, state, [day]))


def test_step_leaves_the_given_state_unchanged(large):
    noise = large.sample_noise(0, 16)
    state = large.initial_state(16)
    for t in range(6):
        before = {k: v.copy() for k, v in state.items()}
        actions = np.array([np.flatnonzero(row)[-1] for row in large.action_mask(t, state)])
        new, _, _ = large.step(t, state, actions, large.noise_at(noise, t))
        for key, value in before.items():
            np.testing.assert_array_equal(state[key], value)
        state = new


@pytest.mark.parametrize("scenario_id", PRESET_IDS)
def test_action_table_lists_every_split_of_the_scanners_once(scenario_id):
    scenario = oa.make_scenario(scenario_id)
    S = scenario.params.scanners
    rows = [tuple(r) for r in scenario.action_table().table]
    assert sorted(rows) == sorted(a for a in itertools.product(range(S + 1), repeat=3) if sum(a) <= S)
    assert rows[0] == (0, 0, 0)
    assert len(rows) == scenario.action_space.n == comb(S + 3, 3)  # 4 with 1 scanner, 10 with 2, 20 with 3


# ---------------------------------------------------------------- noise
@pytest.mark.parametrize("scenario_id", PRESET_IDS)
def test_arrival_frequencies_match_the_card(scenario_id):
    scenario = oa.make_scenario(scenario_id)
    p, m = CARD_PROBABILITIES[scenario_id], CARD_TRIALS[scenario_id]
    np.testing.assert_allclose(scenario.arrival_probabilities(), p, rtol=1e-12)
    E = 20_000
    arrivals = scenario.sample_noise(17, E)["arrivals"]
    assert arrivals.shape == (E, 20, 4) and arrivals.min() >= 0 and arrivals.max() == m
    # Mean of Binomial(m, p) per slot and type, within 4 standard errors.
    z = (arrivals.mean(axis=0) - m * p) / np.sqrt(m * p * (1 - p) / E)
    assert np.abs(z).max() < 4, np.abs(z).max()
    if m == 2:  # the whole binomial law, pooled over slots (stationary)
        for k in range(3):
            expected = comb(2, k) * p[0] ** k * (1 - p[0]) ** (2 - k)
            observed = (arrivals == k).mean(axis=(0, 1))
            assert np.all(np.abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / (20 * E)))


def test_arrival_types_and_slots_are_uncorrelated(two_scanners):
    a = two_scanners.sample_noise(3, 20_000)["arrivals"].astype(float)
    z = (a - a.mean(axis=0)) / a.std(axis=0)
    n = a.shape[0] * a.shape[1]
    between_types = [(z[..., i] * z[..., j]).mean() for i, j in itertools.combinations(range(4), 2)]
    next_slot = (z[:, 1:] * z[:, :-1]).mean(axis=(0, 1))  # per type, lag one slot
    assert np.abs(between_types).max() < 4.5 / np.sqrt(n)
    assert np.abs(next_slot).max() < 4.5 / np.sqrt(n - a.shape[0])


@pytest.mark.parametrize("scenario_id", ["scanners/gocgun-v0", "scanners/large-v0"])
def test_an_episode_path_depends_only_on_seed_stream_and_index(scenario_id):
    scenario = oa.make_scenario(scenario_id)
    few, many = scenario.sample_noise(8, 7)["arrivals"], scenario.sample_noise(8, 300)["arrivals"]
    np.testing.assert_array_equal(few, many[:7])
    np.testing.assert_array_equal(few, scenario.sample_noise(8, 7)["arrivals"])
    paths = {stream: scenario.sample_noise(8, 300, stream)["arrivals"] for stream in ("evaluate", "train", "validate")}
    other_seed = scenario.sample_noise(9, 300)["arrivals"]
    for a, b in itertools.combinations([*paths.values(), other_seed], 2):
        assert (a != b).any(axis=(1, 2)).mean() > 0.99  # almost no day repeats in another stream or seed
    assert (many[1:] != many[:-1]).any(axis=(1, 2)).mean() > 0.99  # and episodes differ from each other


@pytest.mark.parametrize("scenario_id", PRESET_IDS)
def test_arrival_distribution_is_the_product_of_binomials(scenario_id):
    scenario = oa.make_scenario(scenario_id)
    p, m = CARD_PROBABILITIES[scenario_id], CARD_TRIALS[scenario_id]
    for t in (0, 7, 19):
        outcomes, probs = scenario.arrival_distribution(t)
        assert len({tuple(o) for o in outcomes}) == len(outcomes) == (m + 1) ** 4
        expected = [np.prod([comb(m, int(k)) * p[t, j] ** k * (1 - p[t, j]) ** (m - k) for j, k in enumerate(o)])
                    for o in outcomes]
        np.testing.assert_allclose(probs, expected, rtol=1e-12)
        assert probs.sum() == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------- Gymnasium
#: check_env's step-determinism check draws an action before it resets: a seeded action space makes it reproducible.
CHECK_ENV_SEED = 123


def check_env_warnings(scenario_id: str) -> list[str]:
    env = AllocationEnv(oa.make_scenario(scenario_id))
    env.action_space.seed(CHECK_ENV_SEED)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)  # the env has no render modes
    return [str(w.message) for w in caught]


@pytest.mark.parametrize("scenario_id", PRESET_IDS)
def test_env_passes_the_gymnasium_checker(scenario_id):
    unexpected = [m for m in check_env_warnings(scenario_id) if "maximum value is infinity" not in m]
    assert not unexpected, unexpected


@pytest.mark.parametrize("scenario_id", PRESET_IDS)
def test_env_passes_the_gymnasium_checker_without_warnings(scenario_id):
    assert check_env_warnings(scenario_id) == []


# ---------------------------------------------------------------- bad parameters
@pytest.mark.parametrize(("overrides", "pattern"), [
    ({"scanners": 0}, r"'scanners'.*integer >= 1.*Got 0"),
    ({"max_arrivals": 3}, r"'max_arrivals'.*at most scanners = 2.*Got 3"),
    ({"cep_probability": 1.5}, r"'cep_probability'.*probability in \[0, 1\].*Got 1.5"),
    ({"arrival_probability": (0.45, 1.5, 0.54)}, r"'arrival_probability'.*probability in \[0, 1\]"),
    ({"arrival_probability": (0.45, [0.63] * 19, 0.54)}, r"'arrival_probability'.*a list of 20"),
    ({"cep_probability": [0.18] * 21}, r"'cep_probability'.*a list of 20"),
    ({"revenue": (1.0, 0.4)}, r"'revenue'.*3 non-negative numbers.*Got \(1.0, 0.4\)"),
    ({"end_of_day_cost": (0.5, -2.0, 1.0)}, r"'end_of_day_cost'.*non-negative"),
    ({"queue_cap": 0}, r"'queue_cap'.*integer >= 1.*Got 0"),
    ({"slots": 2.5}, r"'slots'.*integer"),
    ({"scaners": 2}, r"Unknown parameter.*'scaners'.*Did you mean 'scanners'"),
])
def test_bad_parameters_name_the_parameter(overrides, pattern):
    with pytest.raises(ConfigurationError, match=pattern):
        oa.make_scenario("scanners/gocgun-v0", **overrides)


def test_a_profile_preset_refuses_another_day_length():
    with pytest.raises(ConfigurationError, match=r"'arrival_probability'.*a list of 12"):
        oa.make_scenario("scanners/gocgun-profile-v0", slots=12)


# ---------------------------------------------------------------- the tabular index
@pytest.mark.parametrize("scenario_id", PRESET_IDS)
def test_tabular_index_finds_the_state_of_every_visited_observation(scenario_id):
    scenario = oa.make_scenario(scenario_id)
    table = [tuple(int(c) for c in row) for row in scenario.action_table().table]
    n = 64
    noise, state = scenario.sample_noise(4, n), scenario.initial_state(n)
    days = [CardDay(scenario.params) for _ in range(n)]  # the (cep, waiting) each observation must map to
    rng = np.random.default_rng(4)
    for t in range(scenario.horizon + 1):
        index = scenario.tabular_index(t, scenario.observe(t, state))
        cep, waiting = scenario.stage_states(t)
        assert index.min() >= 0
        np.testing.assert_array_equal(cep[index], [d.cep for d in days])
        np.testing.assert_array_equal(waiting[index], [[len(q) for q in d.queues] for d in days])
        if t == scenario.horizon:
            break
        actions = np.array([rng.choice([a for a, split in enumerate(table) if d.feasible(split)]) for d in days])
        for d, a, arrived in zip(days, actions, noise["arrivals"][:, t]):
            d.step(table[a], tuple(int(x) for x in arrived))
        state, _, _ = scenario.step(t, state, actions, scenario.noise_at(noise, t))


def test_tabular_index_refuses_observations_that_are_no_state(two_scanners):
    t = 3  # at most 3 waiting patients of a type, at most 1 CEP
    base = np.array([t, 1, 3, 0, 2, 0, 0, -1, -1, 1, 0], dtype=float)
    bad = np.tile(base, (6, 1))
    bad[0, 2] = 1.5  # non-integral count
    bad[1, 2] = 4  # more OP than can have arrived in 3 slots
    bad[2, 1] = 2  # 2 CEPs with max_arrivals = 1
    bad[3, 4] = -1  # negative count
    bad[4, 3] = 0.999
    bad[5, 1] = 1e-9
    assert two_scanners.tabular_index(t, base[None])[0] == ((1 * 4 + 3) * 4 + 0) * 4 + 2  # cep-major, then OP, IP, NCEP
    np.testing.assert_array_equal(two_scanners.tabular_index(t, bad), -1)
    assert two_scanners.tabular_index(0, base[None])[0] == -1  # no CEP and nobody waiting before the first arrivals


def test_tabular_observations_map_back_to_their_states(large):
    for t in (0, 1, 6, 20):
        observations = large.tabular_observations(t)
        np.testing.assert_array_equal(large.tabular_index(t, observations), np.arange(len(observations)))


def test_tabular_index_refuses_non_finite_observations_quietly(two_scanners):
    bad = np.zeros((2, 11))
    bad[0, 2], bad[1, 3] = np.nan, np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(two_scanners.tabular_index(3, bad), -1)


# ---------------------------------------------------------------- the provenance note
def test_the_data_readme_ships_with_the_package_and_states_every_preset_value():
    text = resources.files("optalloc.families.scanners").joinpath("data/README.md").read_text(encoding="utf-8")
    assert "reconstructed" in text and "No data files are needed" in text
    for scenario_id, table in CARD_PROBABILITIES.items():
        assert f"`{scenario_id.split('/')[1]}`" in text
        for value in np.unique(table):
            assert f"{value:g}" in text, (scenario_id, value)
