"""Suite runner: results do not depend on the number of worker processes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optalloc.bench import load_suite, run_suite
from optalloc.exceptions import ConfigurationError, UnknownIdError

SUITE = """
name = "workers"
episodes = 12
seeds = [4]
[[scenarios]]
id = "beds/stochastic-v0"
overrides = {horizon = 5}
[[policies]]
id = "dp"
[[policies]]
id = "complaint"
params = {train_episodes = 10, grid_size = 5}
[[policies]]
id = "hindsight"
"""


def test_same_numbers_with_one_or_two_workers(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SUITE)
    suite = load_suite(path)
    one = run_suite(suite, workers=1, progress=False)
    two = run_suite(suite, workers=2, progress=False)
    cols = ["policy", "mean_cost", "ci95", "diff_vs_dp", "diff_ci95", "gap_to_bound_pct", "bound"]
    pd.testing.assert_frame_equal(one.summary[cols], two.summary[cols])
    np.testing.assert_array_equal(one.episodes["total_cost"], two.episodes["total_cost"])
    pd.testing.assert_frame_equal(one.yearly, two.yearly)
    assert one.summary["bound_kind"].iloc[0] == "exact optimum (dp)"
    assert len(one.yearly) == 3 * 5


@pytest.mark.parametrize(
    ("text", "error", "pattern"),
    [
        ("episodes = -1\n[[scenarios]]\nid='beds/seed002-v0'\n[[policies]]\nid='dp'", ConfigurationError, "'episodes'"),
        ("[[scenarios]]\nid='beds/seed002-v0'\n[[policies]]\nid='dpp'", UnknownIdError, "Did you mean 'dp'"),
        ("[[scenarios]]\nid='beds/seed002-v0'\nover = 1\n[[policies]]\nid='dp'", ConfigurationError,
         "unknown key 'over' in \\[\\[scenarios\\]\\]; .* did you mean 'overrides'"),
        ("[[scenarios]]\nid='beds/seed002-v0'", ConfigurationError, "'policies' must be a non-empty list"),
        ("name = [", ConfigurationError, "not valid TOML"),
        ("seeds = [-1]\n[[scenarios]]\nid='beds/seed002-v0'\n[[policies]]\nid='dp'", ConfigurationError, "'seeds'"),
        ("reference = 'x'\n[[scenarios]]\nid='beds/seed002-v0'\n[[policies]]\nid='dp'", ConfigurationError,
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
id = "beds/seed002-v0"
[[policies]]
id = "rigid"
name = "r"
train_seeds = [3, 7]
""")
    suite = load_suite(path)
    assert [(p.name, p.train_seed) for p in suite.policies] == [("r[seed 3]", 3), ("r[seed 7]", 7)]
    path.write_text(path.read_text().replace("[3, 7]", "[-1]"))
    with pytest.raises(ConfigurationError, match="'train_seeds' of 'r'"):
        load_suite(path)


def test_training_seed_cells_share_the_evaluation_paths(tmp_path):
    """A fixed policy under two training seeds is scored on identical paths: identical costs."""
    path = tmp_path / "t.toml"
    path.write_text("""
episodes = 8
[[scenarios]]
id = "beds/stochastic-v0"
overrides = {horizon = 4}
[[policies]]
id = "rigid"
params = {k = 3}
train_seeds = [0, 1]
""")
    result = run_suite(load_suite(path), workers=1, progress=False)
    costs = result.episodes.pivot(index="episode", columns="policy", values="total_cost")
    np.testing.assert_array_equal(costs["rigid[seed 0]"], costs["rigid[seed 1]"])


def test_same_scenario_with_other_overrides_stays_apart(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text("""
episodes = 5
[[scenarios]]
id = "beds/seed002-v0"
overrides = {horizon = 3}
[[scenarios]]
id = "beds/seed002-v0"
overrides = {horizon = 6}
[[policies]]
id = "rigid"
params = {k = 2}
""")
    summary = run_suite(load_suite(path), workers=1, progress=False).summary
    assert list(summary["scenario"]) == ['beds/seed002-v0 {"horizon": 3}', 'beds/seed002-v0 {"horizon": 6}']
    short, long = summary["mean_cost"]
    assert long > short  # six years of beds and shortage cost more than three
