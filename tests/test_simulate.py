"""Epoch-by-epoch traces (optalloc.simulate, ``optalloc simulate``) on every family."""

from __future__ import annotations

import json

import numpy as np
import pytest

import optalloc as oa
from optalloc.cli import main
from optalloc.evaluation import rollout
from optalloc.simulate import simulate


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("scenario_id, policy_id", [("beds/seed002-v0", "rigid"), ("toy/walk-v0", "dp"),
                                                    ("toy/walk-v0", "hindsight"), ("scanners/gocgun-v0", "o2")])
def test_trace_is_the_rollout_of_the_same_episodes(scenario_id, policy_id):
    scenario = oa.make_scenario(scenario_id)
    policy = oa.make_policy(policy_id).fit(scenario, seed=0)
    sim = simulate(policy, scenario, episodes=3, seed=4)
    again = rollout(policy, scenario, scenario.sample_noise(4, 3), policy_seed=4)
    T = scenario.horizon
    assert len(sim.trace) == 3 * T and list(sim.totals["episode"]) == [0, 1, 2]
    np.testing.assert_array_equal(sim.trace["cost"].to_numpy().reshape(3, T), again.stage_cost)
    np.testing.assert_array_equal(sim.totals["total_cost"], again.total_cost)
    # The recorded observations are what the policy saw: re-acting on them gives the recorded actions.
    names = list(scenario.observation_names) or [c for c in sim.trace if c.startswith("obs")]
    first = sim.trace[sim.trace["epoch"] == 0]
    assert np.allclose(first[names].to_numpy(), scenario.observe(0, scenario.initial_state(3)))
    view = sim.episode(1)
    assert len(view) == T


def test_scanner_trace_reads_like_a_working_day():
    scenario = oa.make_scenario("scanners/gocgun-v0")
    sim = simulate(oa.make_policy("o2").fit(scenario), scenario, episodes=1, seed=0)
    day = sim.episode(0)
    assert list(day["time"][:3]) == ["10:00", "10:30", "11:00"] and day["time"].iloc[-1] == "19:30"
    assert day["net revenue"].sum() == pytest.approx(-sim.totals["total_cost"].iloc[0])
    # Queues evolve by the arrivals and scans the trace shows.
    trace = sim.trace
    for k in ("OP", "IP", "NCEP"):
        w = trace[f"waiting_{k}"].to_numpy()
        np.testing.assert_array_equal(w[1:], w[:-1] - trace[f"scanned_{k}"].to_numpy()[:-1]
                                      + trace[f"arrived_{k}"].to_numpy()[:-1])


def test_cli_simulate_prints_each_day_and_totals(capsys):
    code, out, _ = run(capsys, "simulate", "--scenario", "scanners/gocgun-1scanner-v0", "--policy", "o1", "--days", "2")
    assert code == 0
    assert "day 1 of 2: o1 on scanners/gocgun-1scanner-v0" in out and "day 2 of 2" in out
    assert "10:00" in out and "19:30" in out and "mean over 2 days" in out and "net revenue of the day" in out


def test_cli_simulate_json_and_csv(capsys, tmp_path):
    path = tmp_path / "trace.csv"
    code, out, _ = run(capsys, "simulate", "--scenario", "beds/seed002-v0", "--set", "horizon=3", "--policy",
                       "rigid:k=2", "--episodes", "2", "--json", "--csv", str(path))
    data = json.loads(out)
    assert code == 0 and len(data["trace"]) == 6 and len(data["totals"]) == 2
    assert path.read_text().splitlines()[0].startswith("episode,epoch,year,beds")


@pytest.mark.parametrize("argv, needle", [
    (["--scenario", "scanners/gocgun-v9", "--policy", "o1"], "gocgun-v0"),
    (["--scenario", "scanners/gocgun-v0", "--policy", "o3"], "o1"),
    (["--scenario", "scanners/gocgun-v0"], "--policy"),
    (["--scenario", "scanners/gocgun-v0", "--policy", "o1", "--days", "0"], "episodes"),
    (["--scenario", "scanners/gocgun-v0", "--policy", "o1", "--set", "scanners=0"], "scanners"),
    (["--scenario", "beds/seed002-v0", "--policy", "o1"], "scanners"),
])
def test_cli_simulate_mistakes_are_one_line(capsys, argv, needle):
    code, out, err = run(capsys, "simulate", *argv)
    assert code == 2 and out == "" and err.startswith("optalloc: error:") and needle in err
    assert "Traceback" not in err
