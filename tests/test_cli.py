"""The command line: output, JSON, and one clear line with exit code 2 for user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from optalloc.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys):
    code, out, _ = run(capsys, "list", "--json")
    data = json.loads(out)
    assert code == 0
    assert {"beds/seed002-v0", "beds/stochastic-v0"} <= {s["id"] for s in data["scenarios"]}
    assert {"rigid", "complaint", "dp", "milp", "milp-rolling", "hindsight"} <= {p["id"] for p in data["policies"]}


def test_evaluate_json(capsys):
    code, out, _ = run(capsys, "evaluate", "--scenario", "beds/seed002-v0", "--set", "horizon=5",
                       "--policy", "rigid:k=2", "--policy", "rigid:k=4", "--episodes", "20", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["policy"] for r in rows] == ["rigid:k=2", "rigid:k=4"]
    assert rows[0]["diff_ci95"] == 0 and rows[1]["mean_cost"] != rows[0]["mean_cost"]


def test_evaluate_table(capsys):
    code, out, _ = run(capsys, "evaluate", "--scenario", "beds/seed002-v0", "--set", "horizon=4",
                       "--policy", "complaint:delta=0.5", "--episodes", "10", "--no-progress")
    assert code == 0 and "complaint:delta=0.5" in out and "mean cost" in out


SUITE = """
name = "tiny"
episodes = 10
seeds = [0, 1]
reference = "rigid"
[[scenarios]]
id = "beds/seed002-v0"
overrides = {horizon = 4}
[[policies]]
id = "rigid"
params = {k = 3}
[[policies]]
id = "complaint"
params = {delta = 0.2}
"""


def test_bench_run(capsys, tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text(SUITE)
    out_csv = tmp_path / "out.csv"
    code, out, _ = run(capsys, "bench", "run", str(suite), "--out", str(out_csv), "--no-progress")
    assert code == 0 and 'beds/seed002-v0 {"horizon": 4} (seed 1)' in out
    import pandas as pd

    frame = pd.read_csv(out_csv)
    assert len(frame) == 4 and set(frame["seed"]) == {0, 1}
    assert len(pd.read_csv(tmp_path / "out-episodes.csv")) == 2 * 2 * 10
    assert len(pd.read_csv(tmp_path / "out-epochs.csv")) == 2 * 2 * 4
    for seed in (0, 1):
        for kind in ("costs", "actions"):
            png = tmp_path / f"out-beds_seed002-v0_horizon_4-seed{seed}-{kind}.png"
            assert png.stat().st_size > 5_000  # a real figure, not an empty file


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["evaluate", "--scenario", "beds/seed02-v0", "--policy", "rigid"], "Did you mean 'beds/seed002-v0'"),
        (["evaluate", "--scenario", "beds/seed002-v0", "--policy", "rigd"], "Did you mean 'rigid'"),
        (["evaluate", "--scenario", "beds/seed002-v0", "--policy", "rigid", "--set", "initial_beds=-5"],
         "'initial_beds' parameter .* must be an integer >= 0. Got -5"),
        (["evaluate", "--scenario", "beds/seed002-v0", "--policy", "rigid", "--set", "max_add=2.5"],
         "'max_add' parameter .* Got 2.5"),
        (["evaluate", "--scenario", "beds/seed002-v0", "--policy", "rigid:k=-1"], "'k' parameter"),
        (["evaluate", "--scenario", "beds/seed002-v0", "--policy", "rigid", "--episodes", "0"], "'episodes'"),
        (["evaluate", "--scenario", "beds/seed002-v0"], "at least one --policy"),
    ],
)
def test_user_errors_exit_2_with_one_line(capsys, argv, pattern):
    import re

    code, out, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optalloc: error: ")
    assert re.search(pattern, lines[0]), lines[0]


def test_suite_typo_and_bad_checkpoint(capsys, tmp_path):
    suite = tmp_path / "typo.toml"
    suite.write_text(SUITE.replace("episodes = 10", "episods = 10"))
    code, _, err = run(capsys, "bench", "run", str(suite))
    assert code == 2 and "unknown key 'episods'" in err and "did you mean 'episodes'" in err
    bad = tmp_path / "bad.zip"
    bad.write_text("garbage")
    code, _, err = run(capsys, "evaluate", "--scenario", "beds/seed002-v0", "--load", str(bad))
    assert code == 2 and "unreadable" in err and len(err.strip().splitlines()) == 1


def test_console_script_help():
    proc = subprocess.run([sys.executable, "-m", "optalloc.cli", "evaluate", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--episodes" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "optalloc.cli", "frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


def test_fit_then_evaluate_the_saved_policy(capsys, tmp_path):
    out = tmp_path / "dp.zip"
    code, text, _ = run(capsys, "fit", "--scenario", "beds/stochastic-v0", "--set", "horizon=4",
                        "--policy", "dp", "--out", str(out), "--json")
    report = json.loads(text)
    assert code == 0 and out.exists() and report["expected_cost"] > 0
    code, text, _ = run(capsys, "evaluate", "--scenario", "beds/stochastic-v0", "--set", "horizon=4",
                        "--load", str(out), "--policy", "rigid:k=1", "--episodes", "300", "--json")
    rows = {r["policy"]: r for r in json.loads(text)}
    assert code == 0 and rows["dp"]["bound_kind"] == "exact optimum (dp)"
    assert abs(rows["dp"]["mean_cost"] - report["expected_cost"]) < 3 * rows["dp"]["ci95"]


def test_train_writes_checkpoint_and_learning_curve(capsys, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "ppo.zip"
    code, text, _ = run(capsys, "train", "--scenario", "beds/seed002-v0", "--set", "horizon=4", "--policy",
                        "ppo:total_timesteps=2048,num_envs=16,num_steps=16,eval_interval=1024,eval_episodes=8",
                        "--out", str(out), "--json")
    report = json.loads(text)
    assert code == 0 and out.exists()
    import pandas as pd

    curve = pd.read_csv(out.with_suffix(".learning-curve.csv"))
    assert {"env_steps", "eval_cost", "gap_to_optimum_pct"} <= set(curve.columns) and curve["eval_cost"].notna().any()
    assert out.with_suffix(".learning-curve.png").stat().st_size > 5_000
    assert len(report["files"]) == 3


# ---------------------------------------------------------------- the CLI on the toy family (registered by conftest)
TOY_SUITE = """
name = "toy"
episodes = 50
seeds = [3]
[[scenarios]]
id = "toy/walk-v0"
[[scenarios]]
id = "toy/pool-v0"
[[policies]]
id = "dp"
[[policies]]
id = "ppo"
params = {total_timesteps = 256, num_envs = 8, num_steps = 8, hidden_sizes = [8], compute_optimum = false}
"""


def test_toy_family_through_the_cli(capsys, tmp_path):
    """Evaluate, fit/load and a suite on a family outside the package: units, KPIs and epochs from its tags."""
    from toy_family.scenario import brute_force_optimum

    import optalloc as oa

    code, out, _ = run(capsys, "evaluate", "--scenario", "toy/walk-v0", "--policy", "dp", "--episodes", "40",
                       "--no-progress")
    assert code == 0 and "mean cost (EUR)" in out and "moves" in out and "distance" in out
    optimum = brute_force_optimum(oa.make_scenario("toy/walk-v0"))
    assert f"bound: exact optimum (dp) = {optimum:,.4f}" in out  # costs of units are shown to 4 decimals
    saved = tmp_path / "walk-dp.zip"
    assert run(capsys, "fit", "--scenario", "toy/walk-v0", "--policy", "dp", "--out", str(saved), "--json")[0] == 0
    code, out, _ = run(capsys, "evaluate", "--scenario", "toy/walk-v0", "--load", str(saved), "--episodes", "40",
                       "--json")
    assert code == 0 and json.loads(out)[0]["policy"] == "walk-dp"

    pytest.importorskip("torch")
    suite = tmp_path / "toy.toml"
    suite.write_text(TOY_SUITE)
    code, out, err = run(capsys, "bench", "run", str(suite), "--out", str(tmp_path / "toy.csv"), "--no-progress",
                         "--workers", "1")  # in this process, where conftest registered the toy family
    assert code == 0, err
    import pandas as pd

    # dp refuses the pool, which has no tabular model, by its tags: that pair is no cell, and a note says why.
    assert ("optalloc: note: Suite 'toy': policy 'dp' does not take scenario toy/pool-v0 (it needs a scenario "
            "with tabular model); those cells are left out.") in err
    summary = pd.read_csv(tmp_path / "toy.csv")
    assert sorted(zip(summary["scenario"], summary["policy"])) == [("toy/pool-v0", "ppo"), ("toy/walk-v0", "dp"),
                                                                   ("toy/walk-v0", "ppo")]
    records = pd.read_csv(tmp_path / "toy-records.csv")
    # A learning curve has NaN between its evaluations: the agents completed, they did not diverge.
    assert dict(zip(records["policy"] + " " + records["scenario"], records["status"], strict=True)) == {
        "dp toy/walk-v0": "optimal", "ppo toy/walk-v0": "completed", "ppo toy/pool-v0": "completed"}
    epochs = pd.read_csv(tmp_path / "toy-epochs.csv")
    assert set(epochs.loc[epochs["scenario"] == "toy/walk-v0", "component"]) == {"left", "right"}
    assert set(epochs.loc[epochs["scenario"] == "toy/pool-v0", "component"]) == {"unit A", "unit B"}
    assert (tmp_path / "toy-toy_pool-v0-seed3-actions.png").stat().st_size > 5_000


def test_cost_decimals_follow_the_size_of_the_costs():
    from optalloc.cli import cost_decimals

    # Taka in the hundreds of millions: whole units (the bed tables); a scanner day's revenue units: 3 decimals.
    assert cost_decimals([154_784_100.0, -3.0]) == 0
    assert cost_decimals([-20.3258, 8.6]) == 3
    assert cost_decimals([5.6]) == 4
    assert cost_decimals([float("nan"), 0.0]) == 0


def _subcommand(parser, *names):
    """The parser of ``optalloc NAME [NAME ...]``."""
    import argparse

    for name in names:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def test_bench_run_executor_choices_are_the_harness_ones():
    # The CLI names them itself so that '--help' imports no harness; they must stay the harness's own.
    from optalloc.bench import EXECUTORS
    from optalloc.cli import build_parser

    run = _subcommand(build_parser(), "bench", "run")
    option = next(a for a in run._actions if "--executor" in a.option_strings)
    assert tuple(option.choices) == EXECUTORS and option.default in EXECUTORS
