"""Suite runner: results do not depend on the number of worker processes; suite files are checked.

On the toy scenarios; the test policies of ``toy_family.simple_policies`` are
registered here for each test, and in spawned workers through an entry point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from toy_family.scenario import brute_force_optimum
from toy_family.simple_policies import install_entry_points, register_for_test

import optalloc as oa
from optalloc.bench import load_suite, run_suite
from optalloc.exceptions import ConfigurationError, UnknownIdError


@pytest.fixture
def toy_policies(monkeypatch):
    """The simple toy policies, registered for this test only."""
    register_for_test(monkeypatch)


@pytest.fixture
def toy_in_workers(toy_policies, tmp_path_factory, monkeypatch):
    """Spawned workers start a fresh interpreter: they find the toy family and policies through an entry point."""
    monkeypatch.syspath_prepend(str(install_entry_points(tmp_path_factory.mktemp("site"))))


SUITE = """
name = "workers"
episodes = 12
seeds = [4]
[[scenarios]]
id = "toy/walk-v0"
overrides = {horizon = 5}
[[policies]]
id = "dp"
[[policies]]
id = "toy-toward"
name = "grid"
params = {train_episodes = 10}
[[policies]]
id = "hindsight"
"""


def test_same_numbers_with_one_or_two_workers(tmp_path, toy_in_workers):
    path = tmp_path / "s.toml"
    path.write_text(SUITE)
    suite = load_suite(path)
    one = run_suite(suite, workers=1, progress=False)
    two = run_suite(suite, workers=2, progress=False)
    cols = ["policy", "mean_cost", "ci95", "diff_vs_dp", "diff_ci95", "gap_to_bound_pct", "bound"]
    pd.testing.assert_frame_equal(one.summary[cols], two.summary[cols])
    np.testing.assert_array_equal(one.episodes["total_cost"], two.episodes["total_cost"])
    pd.testing.assert_frame_equal(one.epochs, two.epochs)
    assert one.summary["bound_kind"].iloc[0] == "exact optimum (dp)"
    walk = oa.make_scenario("toy/walk-v0", horizon=5)
    assert one.summary["bound"].iloc[0] == pytest.approx(brute_force_optimum(walk), rel=1e-12)
    # One row per policy, action component (left, right) and epoch.
    assert len(one.epochs) == 3 * len(walk.action_table().components) * 5


@pytest.mark.parametrize(
    ("text", "error", "pattern"),
    [
        ("episodes = -1\n[[scenarios]]\nid='toy/walk-v0'\n[[policies]]\nid='dp'", ConfigurationError, "'episodes'"),
        ("[[scenarios]]\nid='toy/walk-v0'\n[[policies]]\nid='dpp'", UnknownIdError, "Did you mean 'dp'"),
        ("[[scenarios]]\nid='toy/walk-v0'\nover = 1\n[[policies]]\nid='dp'", ConfigurationError,
         "unknown key 'over' in \\[\\[scenarios\\]\\]; .* did you mean 'overrides'"),
        ("[[scenarios]]\nid='toy/walk-v0'", ConfigurationError, "'policies' must be a non-empty list"),
        ("name = [", ConfigurationError, "not valid TOML"),
        ("seeds = [-1]\n[[scenarios]]\nid='toy/walk-v0'\n[[policies]]\nid='dp'", ConfigurationError, "'seeds'"),
        ("reference = 'x'\n[[scenarios]]\nid='toy/walk-v0'\n[[policies]]\nid='dp'", ConfigurationError,
         "'reference' must be one of"),
    ],
)
def test_malformed_suites(tmp_path, text, error, pattern):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(error, match=pattern):
        load_suite(path)


def test_train_seeds_expand_into_named_cells(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text("""
[[scenarios]]
id = "toy/walk-v0"
[[policies]]
id = "dp"
name = "r"
train_seeds = [3, 7]
""")
    suite = load_suite(path)
    assert [(p.name, p.train_seed) for p in suite.policies] == [("r[seed 3]", 3), ("r[seed 7]", 7)]
    path.write_text(path.read_text().replace("[3, 7]", "[-1]"))
    with pytest.raises(ConfigurationError, match="'train_seeds' of 'r'"):
        load_suite(path)


def test_policy_params_are_a_policys_hyper_parameters_and_refuse_ambiguity(tmp_path, toy_policies):
    path = tmp_path / "t.toml"
    path.write_text("""
[[scenarios]]
id = "toy/walk-v0"
[[policies]]
id = "toy-toward"
train_seeds = [0, 1]
params = {train_episodes = 10}
[[policies]]
id = "dp"
""")
    suite = load_suite(path)
    assert suite.policy_params("toy-toward") == {"train_episodes": 10} and suite.policy_params("dp") == {}
    with pytest.raises(ConfigurationError, match=r"no policy 'toy-towards'.*did you mean 'toy-toward'"):
        suite.policy_params("toy-towards")
    path.write_text(path.read_text() + '[[policies]]\nid = "toy-toward"\nname = "slow"\nparams = {train_episodes = 20}\n')
    with pytest.raises(ConfigurationError, match=r"'toy-toward' with 2 sets of hyper-parameters"):
        load_suite(path).policy_params("toy-toward")


def test_training_seed_cells_share_the_evaluation_paths(tmp_path, toy_policies):
    """A fixed policy under two training seeds is scored on identical paths: identical costs, the sampled ones."""
    path = tmp_path / "t.toml"
    path.write_text("""
episodes = 8
[[scenarios]]
id = "toy/walk-v0"
overrides = {horizon = 4}
[[policies]]
id = "toy-toward"
name = "toward"
params = {cell = 3}
train_seeds = [0, 1]
""")
    result = run_suite(load_suite(path), workers=1, progress=False)
    costs = result.episodes.pivot(index="episode", columns="policy", values="total_cost")
    np.testing.assert_array_equal(costs["toward[seed 0]"], costs["toward[seed 1]"])
    # The paths are those of the suite's evaluation seed (0): from 0, cells 1, 2, 3, 3 at 0.3 a step.
    targets = oa.make_scenario("toy/walk-v0", horizon=4).sample_noise(0, 8)["target"]
    by_hand = (np.abs(np.array([1, 2, 3, 3]) - targets) + 0.3 * np.array([1, 1, 1, 0])).sum(axis=1)
    np.testing.assert_allclose(costs["toward[seed 0]"], by_hand, rtol=1e-12)


def test_same_scenario_with_other_overrides_stays_apart(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text("""
episodes = 5
[[scenarios]]
id = "toy/walk-v0"
overrides = {horizon = 3}
[[scenarios]]
id = "toy/walk-v0"
overrides = {horizon = 6}
[[policies]]
id = "dp"
""")
    summary = run_suite(load_suite(path), workers=1, progress=False).summary
    assert list(summary["scenario"]) == ['toy/walk-v0 {"horizon": 3}', 'toy/walk-v0 {"horizon": 6}']
    # Each cell's bound is the optimum of its own horizon.
    expected = [brute_force_optimum(oa.make_scenario("toy/walk-v0", horizon=h)) for h in (3, 6)]
    np.testing.assert_allclose(summary["bound"], expected, rtol=1e-12)
    assert expected[1] > expected[0]


ACROSS = """
name = "across"
episodes = 30
reference = "dp"
[[scenarios]]
id = "beds/seed002-v0"
overrides = {horizon = 3}
[[scenarios]]
id = "scanners/gocgun-1scanner-v0"
episodes = 12
[[policies]]
id = "dp"
[[policies]]
id = "rigid"
params = {train_episodes = 10}
[[policies]]
id = "fcfs"
[[policies]]
id = "greedy"
[[policies]]
id = "hindsight"
scenarios = ["beds/seed002-v0"]
"""


def test_a_suite_across_families_restricts_entries_and_counts_episodes_per_scenario(tmp_path):
    path = tmp_path / "across.toml"
    path.write_text(ACROSS)
    with pytest.warns(oa.exceptions.OptallocWarning) as caught:
        result = run_suite(load_suite(path), workers=1, progress=False)
    # One note for the pairs the tags refuse (none for the entry the suite keeps off a scenario).
    assert len(caught) == 1
    note = str(caught[0].message)
    assert note.startswith("Suite 'across': 3 (scenario, policy) pairs are left out") and "hindsight" not in note
    assert "fcfs, greedy on beds/seed002-v0" in note and "rigid on scanners/gocgun-1scanner-v0" in note
    cells = sorted(zip(result.summary["scenario"], result.summary["policy"], strict=True))
    assert cells == [('beds/seed002-v0 {"horizon": 3}', "dp"), ('beds/seed002-v0 {"horizon": 3}', "hindsight"),
                     ('beds/seed002-v0 {"horizon": 3}', "rigid"), ("scanners/gocgun-1scanner-v0", "dp"),
                     ("scanners/gocgun-1scanner-v0", "fcfs"), ("scanners/gocgun-1scanner-v0", "greedy")]
    episodes = result.episodes.groupby("scenario")["episode"].nunique().to_dict()
    assert episodes == {'beds/seed002-v0 {"horizon": 3}': 30, "scanners/gocgun-1scanner-v0": 12}
    assert set(result.records.loc[result.records["policy"] == "fcfs", "episodes"]) == {12}
    with pytest.warns(oa.exceptions.OptallocWarning):
        five = run_suite(load_suite(path), episodes=5, workers=1, progress=False)
    assert five.episodes.groupby("scenario")["episode"].nunique().tolist() == [5, 5]  # the caller's count wins


@pytest.mark.parametrize(("change", "pattern"), [
    (('scenarios = ["beds/seed002-v0"]', 'scenarios = ["beds/seed02-v0"]'),
     r"'scenarios' of policy 'hindsight' must name scenario ids of the suite .* did you mean 'beds/seed002-v0'"),
    (('scenarios = ["beds/seed002-v0"]', 'scenarios = "beds/seed002-v0"'), "must be a list of scenario ids"),
    (("episodes = 12", "episodes = 0"), "'episodes' of scenario 'scanners/gocgun-1scanner-v0' must be a positive"),
    (('[[policies]]\nid = "dp"', '[[policies]]\nid = "dp"\nscenarios = ["beds/seed002-v0"]'),
     "the reference policy 'dp' is kept off scenario scanners/gocgun-1scanner-v0"),
])
def test_bad_restrictions_and_episode_counts_are_named(tmp_path, change, pattern):
    path = tmp_path / "across.toml"
    path.write_text(ACROSS.replace(*change))
    with pytest.raises(ConfigurationError, match=pattern):
        run_suite(load_suite(path), workers=1, progress=False)


SWEEP = """
name = "sweep"
episodes = 20
[[sweeps]]
scenario = "beds/stochastic-v0"
parameter = "surge_probability"
values = [0.0, 0.2]
overrides = {horizon = 3}
[[policies]]
id = "rigid"
params = {k = 2}
"""


def test_a_sweep_is_one_scenario_per_value_on_the_same_seeds(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP)
    suite = load_suite(path)
    assert [(e.id, e.overrides, e.sweep) for e in suite.scenarios] == [
        ("beds/stochastic-v0", {"horizon": 3, "surge_probability": 0.0}, "surge_probability"),
        ("beds/stochastic-v0", {"horizon": 3, "surge_probability": 0.2}, "surge_probability")]
    result = run_suite(suite, workers=1, progress=False)
    costs = [result.episodes.loc[result.episodes["scenario"] == label, "total_cost"].to_numpy()
             for label in dict.fromkeys(result.episodes["scenario"])]
    # Common futures: the same beds every year, so no episode can cost more without surges than with them.
    assert len(costs) == 2 and np.all(costs[0] <= costs[1] + 1e-6) and np.any(costs[0] < costs[1])


@pytest.mark.parametrize(("change", "pattern"), [
    (("values = [0.0, 0.2]", "values = [0.2]"), "at least two distinct values"),
    (('parameter = "surge_probability"', 'parameter = "surge_probabilty"'), "surge_probabilty"),
    (("overrides = {horizon = 3}", "overrides = {surge_probability = 0.1}"), "without the swept"),
    (("[[sweeps]]", "[[sweeps]]\nsteps = 3"), r"unknown key 'steps' in \[\[sweeps\]\]"),
])
def test_bad_sweeps_are_named(tmp_path, change, pattern):
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.replace(*change))
    with pytest.raises((ConfigurationError, UnknownIdError), match=pattern):
        load_suite(path)


def test_target_halfwidth_doubles_episodes_until_the_paired_cis_are_narrow_enough(tmp_path):
    from optalloc.bench import run_to_halfwidth

    path = tmp_path / "hw.toml"
    path.write_text('name = "hw"\nepisodes = 25\nreference = "dp"\n[[scenarios]]\nid = "scanners/gocgun-1scanner-v0"\n'
                    '[[policies]]\nid = "dp"\n[[policies]]\nid = "fcfs"\n[[policies]]\nid = "greedy"\n')
    suite = load_suite(path)
    result, rounds = run_to_halfwidth(suite, 0.2, workers=1, progress=False, store=tmp_path / "hw.db")
    assert list(rounds["episodes"]) == [25 * 2**k for k in range(len(rounds))] and len(rounds) > 1
    assert list(rounds["met"]) == [False] * (len(rounds) - 1) + [True]
    widest = result.summary.loc[result.summary["policy"] != "dp", "diff_ci95"].max()
    assert widest <= 0.2 and widest == pytest.approx(rounds["halfwidth"].iloc[-1])
    assert result.episodes["episode"].nunique() == rounds["episodes"].iloc[-1]
    # A cap: the rounds stop there, and the table says the target was not met.
    _, capped = run_to_halfwidth(suite, 1e-6, max_episodes=60, workers=1, progress=False, store=tmp_path / "hw.db")
    assert list(capped["episodes"]) == [25, 50, 60] and not capped["met"].iloc[-1]
    with pytest.raises(ConfigurationError, match="positive number"):
        run_to_halfwidth(suite, -1.0, workers=1, progress=False)


SHIPPED = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "suites").rglob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_suite_loads_and_its_reference_takes_every_scenario(path):
    import warnings

    from optalloc import bench
    from optalloc.registry import make_scenario

    suite = load_suite(path)
    built = [make_scenario(sc.id, **sc.overrides) for sc in suite.scenarios]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oa.exceptions.OptallocWarning)  # pairs a suite across families leaves out
        takes = bench._accepted_pairs(suite, built)
    assert {i for i, _ in takes} == set(range(len(suite.scenarios)))


def test_a_worker_that_dies_fails_its_own_cell_only(tmp_path, toy_in_workers):
    path = tmp_path / "crash.toml"
    path.write_text('name = "crash"\nepisodes = 6\nseeds = [0, 1, 2]\n[[scenarios]]\nid = "toy/walk-v0"\n'
                    'overrides = {horizon = 4}\n[[policies]]\nid = "dp"\n[[policies]]\nid = "toy-crash"\n')
    result = run_suite(load_suite(path), workers=2, progress=False, store=tmp_path / "crash.db")
    assert list(result.failures[["seed", "policy", "status"]].itertuples(index=False, name=None)) == \
        [(1, "toy-crash", "error")]
    assert "worker process" in result.failures["error"].iloc[0]
    assert sorted(zip(result.summary["seed"], result.summary["policy"], strict=True)) == [
        (0, "dp"), (0, "toy-crash"), (1, "dp"), (2, "dp"), (2, "toy-crash")]
