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


SOLVES = """
name = "withsolves"
episodes = 10
[[scenarios]]
id = "beds/seed002-v0"
overrides = {horizon = 3}
[[policies]]
id = "rigid"
params = {train_episodes = 10}
[[solves]]
instance = "staff/instance1"
time_limit = 60
"""


def test_static_solve_cells_run_resume_and_are_reported(tmp_path, capsys):
    pytest.importorskip("pyomo")
    suite_file = tmp_path / "s.toml"
    suite_file.write_text(SOLVES)
    suite = load_suite(suite_file)
    assert [(e.instance, e.time_limit, e.gap) for e in suite.solves] == [("staff/instance1", 60.0, None)]
    first = run_suite(suite, workers=1, progress=False, store=tmp_path / "s.db")
    assert list(first.solves["instance"]) == ["staff/instance1"]
    assert first.solves["status"].iloc[0] == "optimal" and first.solves["objective"].iloc[0] == 607  # published
    again = run_suite(suite, workers=1, progress=False, store=tmp_path / "s.db")
    assert again.resumed == 2  # the policy cell and the solve cell
    pd.testing.assert_frame_equal(first.solves, again.solves)
    assert main(["bench", "report", str(tmp_path / "s.db"), "--out", str(tmp_path / "rep")]) == 0
    assert "static instances" in capsys.readouterr().out
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "<h2>Static instances</h2>" in page and page.count('src="data:image/png;base64,') == 2  # + roster chart
    assert (tmp_path / "rep" / "staff_instance1.png").stat().st_size > 5_000


def test_a_solve_cell_of_an_unknown_instance_is_refused_on_load(tmp_path):
    from optalloc.exceptions import ConfigurationError

    suite_file = tmp_path / "s.toml"
    suite_file.write_text(SOLVES.replace("staff/instance1", "staff/instanse1"))
    with pytest.raises(ConfigurationError, match=r"\[\[solves\]\] entry 1: .*instanse1"):
        load_suite(suite_file)
    suite_file.write_text(SOLVES.replace("time_limit = 60", "time_limit = -5"))
    with pytest.raises(ConfigurationError, match="time_limit"):
        load_suite(suite_file)


def test_a_sweep_gets_a_sensitivity_figure(tmp_path):
    suite_file = tmp_path / "sweep.toml"
    suite_file.write_text('name = "sw"\nepisodes = 20\nreference = "dp"\n[[sweeps]]\nscenario = "beds/stochastic-v0"\n'
                          'parameter = "surge_probability"\nvalues = [0.0, 0.1, 0.3]\noverrides = {horizon = 3}\n'
                          '[[policies]]\nid = "dp"\n[[policies]]\nid = "rigid"\nparams = {train_episodes = 10}\n')
    run_suite(load_suite(suite_file), workers=1, progress=False, store=tmp_path / "sw.db")
    from optalloc.report import write_report

    report = write_report(tmp_path / "sw.db", tmp_path / "rep")
    assert [s.sweep[1:] for s in report.sections] == [("surge_probability", v) for v in (0.0, 0.1, 0.3)]
    figures = [f.name for f in report.files if f.name.startswith("sensitivity-")]
    assert figures == ["sensitivity-sw-beds_stochastic-v0_horizon_3-surge_probability-seed0.png"]
    assert "sensitivity to surge_probability" in (tmp_path / "rep" / "report.md").read_text()


def test_the_store_exports_its_tables(tmp_path):
    (tmp_path / "r.toml").write_text(SUITE)
    run_suite(load_suite(tmp_path / "r.toml"), workers=1, progress=False, store=tmp_path / "r.db")
    from optalloc.store import ResultStore

    store = ResultStore(tmp_path / "r.db")
    files = store.export(tmp_path / "csv")
    assert [f.name for f in files] == ["runs.csv", "cells.csv", "episodes.csv", "decisions.csv", "solves.csv"]
    episodes = pd.read_csv(tmp_path / "csv" / "episodes.csv")
    assert len(episodes) == 3 * 60 and "arrays" not in pd.read_csv(tmp_path / "csv" / "cells.csv").columns
    pytest.importorskip("pyarrow")
    store.export(tmp_path / "pq", fmt="parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "pq" / "episodes.parquet"), store.table("episodes"))


def test_the_report_draws_the_scanner_policy_heatmaps_and_solver_time(tmp_path):
    pytest.importorskip("pyomo")
    (tmp_path / "s.toml").write_text('name = "sc"\nepisodes = 20\nreference = "dp"\n[[scenarios]]\n'
                                     'id = "scanners/gocgun-1scanner-v0"\n[[policies]]\nid = "dp"\n'
                                     '[[policies]]\nid = "milp-rolling"\n[[policies]]\nid = "fcfs"\n')
    run_suite(load_suite(tmp_path / "s.toml"), workers=1, progress=False, store=tmp_path / "s.db")
    from optalloc.report import write_report

    report = write_report(tmp_path / "s.db", tmp_path / "rep")
    heatmaps = [f.name for f in report.sections[0].figures if f.name.startswith("policy-")]
    assert heatmaps == [f"policy-scanners_gocgun-1scanner-v0-slot{k}.png" for k in (1, 11, 20)]
    rows = report.sections[0].table.set_index("policy")
    assert rows.loc["milp-rolling", "solve_s"] > 0 and np.isnan(rows.loc["fcfs", "solve_s"])
    assert rows.loc["milp-rolling", "status"] == "optimal"


def test_a_proved_lower_bound_is_the_bound_when_it_is_the_tightest(tmp_path):
    pytest.importorskip("pyomo")
    (tmp_path / "s.toml").write_text('name = "alp"\nepisodes = 200\n[[scenarios]]\nid = "scanners/gocgun-1scanner-v0"\n'
                                     '[[policies]]\nid = "fcfs"\n[[policies]]\nid = "alp"\n[[policies]]\n'
                                     'id = "hindsight"\n')
    result = run_suite(load_suite(tmp_path / "s.toml"), workers=1, progress=False, store=tmp_path / "s.db")
    alp = oa_make("alp", "scanners/gocgun-1scanner-v0")
    hindsight = result.summary.loc[result.summary["policy"] == "hindsight", "mean_cost"].iloc[0]
    bound, kind = result.summary["bound"].iloc[0], result.summary["bound_kind"].iloc[0]
    assert bound == pytest.approx(max(alp.bound_, hindsight))
    assert kind == ("lower bound (alp)" if alp.bound_ > hindsight else "hindsight mean (hindsight)")
    from optalloc.report import write_report

    section = write_report(tmp_path / "s.db", tmp_path / "rep", figures=False).sections[0]
    assert section.bound == pytest.approx(bound)
    assert section.bound_kind.endswith("certified" if kind.startswith("lower") else "estimated (a sample mean of a bound)")


def oa_make(policy_id, scenario_id):
    import optalloc as oa

    return oa.make_policy(policy_id).fit(oa.make_scenario(scenario_id), seed=0)
