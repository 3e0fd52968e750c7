"""The report of a results store: paired statistics, Holm's adjustment, Markdown, HTML and CSV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optalloc.bench import load_suite, run_suite
from optalloc.cli import main
from optalloc.evaluation import PolicyRun, Trajectory
from optalloc.report import comparison_table, holm

SUITE = """
name = "r"
episodes = 60
reference = "dp"
[[scenarios]]
id = "beds/seed002-v0"
overrides = {horizon = 4}
[[policies]]
id = "dp"
[[policies]]
id = "rigid"
params = {train_episodes = 30}
[[policies]]
id = "hindsight"
"""


def test_holm_matches_the_step_down_by_hand():
    # Sorted 0.01, 0.03, 0.04: 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04).
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, np.nan, 0.9]), [1.0, np.nan, 1.0])


def _run(name: str, cost: np.ndarray) -> PolicyRun:
    n = len(cost)
    return PolicyRun(name, "heuristic", "non_anticipative", 0.0,
                     Trajectory(cost, cost[:, None], np.zeros((n, 1), dtype=int), {}, {}, 0.0))


def test_the_paired_statistics_of_a_table():
    rng = np.random.default_rng(0)
    common = rng.normal(100, 10, size=400)  # what both policies' costs share: the random future
    runs = {"a": _run("a", common), "b": _run("b", common + 0.5 + rng.normal(0, 1, size=400)),
            "c": _run("c", common + rng.normal(0, 1, size=400))}
    table, bound, kind = comparison_table(runs, "s", 0, "a", {})
    rows = table.set_index("policy")
    assert bound is None and kind == "none" and table.attrs["reference"] == "a"
    # Var of the difference on independent futures (2 x 100 + 1) over its paired variance (1): about 200.
    assert 150 < rows.loc["b", "crn_variance_ratio"] < 260
    assert rows.loc["b", "verdict"] == "worse" and rows.loc["b", "p_holm"] < 1e-6
    assert rows.loc["c", "verdict"] == "not distinguishable" and rows.loc["a", "verdict"] == "reference"
    assert rows.loc["b", "diff"] == pytest.approx(np.mean(runs["b"].trajectory.total_cost - common))


def test_bench_report_writes_markdown_html_and_csv(tmp_path, capsys):
    (tmp_path / "r.toml").write_text(SUITE)
    run_suite(load_suite(tmp_path / "r.toml"), workers=1, progress=False, store=tmp_path / "r.db")
    assert main(["bench", "report", str(tmp_path / "r.db"), "--out", str(tmp_path / "rep")]) == 0
    stdout = capsys.readouterr().out
    assert "exact optimum (dp); certified" in stdout
    frame = pd.read_csv(tmp_path / "rep" / "comparison.csv")
    assert list(frame["policy"]) == ["dp", "rigid", "hindsight"]  # the suite's order
    assert list(frame["verdict"]) == ["reference", "worse", "bound"]
    assert list(frame["status"]) == ["optimal", "completed", "completed"]
    markdown = (tmp_path / "rep" / "report.md").read_text()
    assert "| policy |" in markdown and "![costs-" in markdown
    page = (tmp_path / "rep" / "report.html").read_text()
    assert page.count("<table") == 1 and 'src="data:image/png;base64,' in page


def test_bench_report_of_no_store_is_a_clear_error(tmp_path, capsys):
    assert main(["bench", "report", str(tmp_path / "missing.db")]) == 2
    assert "There is no results store at" in capsys.readouterr().err
