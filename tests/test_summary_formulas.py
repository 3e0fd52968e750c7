"""Every column of the evaluation summary against its formula, on runs small enough to compute by hand.

The runs are built directly (no scenario, no policy), so each expected value
below is arithmetic on a handful of literal costs; Student-t quantiles are
typed in from tables, not taken from scipy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pytest

from optalloc.actions import ActionTable
from optalloc.cli import format_summary
from optalloc.evaluation import Evaluation, PolicyRun, Trajectory, summarise

REL = 1e-9
#: Student-t quantiles t_{0.975, df} (tables).
T975 = {1: 12.706204736174698, 3: 3.182446305284263}


def run(costs: Sequence[float], *, information: str = "non_anticipative", method: str = "heuristic",
        optimum: float | None = None, kpis: Mapping[str, Sequence[float]] | None = None,
        actions: Sequence[Sequence[int]] | None = None, fit_seconds: float = 0.0, act_seconds: float = 0.0,
        learning_curve: pd.DataFrame | None = None) -> PolicyRun:
    """A PolicyRun whose episodes cost ``costs`` (one epoch each unless ``actions`` says otherwise)."""
    total = np.asarray(costs, dtype=float)
    acts = np.zeros((len(total), 1), dtype=np.int64) if actions is None else np.asarray(actions)
    trajectory = Trajectory(
        total_cost=total,
        stage_cost=total[:, None],
        actions=acts,
        info={},
        kpis={} if kpis is None else {k: np.asarray(v, dtype=float) for k, v in kpis.items()},
        act_seconds=act_seconds,
    )
    return PolicyRun("", method, information, fit_seconds, trajectory, optimum, learning_curve,
                     exact=method == "dynamic_programming")


def rows(evaluation: Evaluation) -> dict[str, pd.Series]:
    """Summary rows by policy name."""
    return {r["policy"]: r for _, r in evaluation.summary.iterrows()}


A = [1.0, 2.0, 3.0, 4.0]  # mean 2.5, sample variance (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3
B = [2.0, 2.0, 5.0, 7.0]  # mean 4.0, sample variance (4 + 4 + 1 + 9) / 3 = 6
# B - A = [1, 0, 2, 3]: mean 1.5, sample variance (0.25 + 2.25 + 0.25 + 2.25) / 3 = 5/3


# ---------------------------------------------------------------- mean and CI
def test_mean_and_student_t_half_width():
    out = rows(summarise({"a": run(A), "b": run(B)}, "beds/x", 0))
    assert out["a"]["mean_cost"] == pytest.approx(2.5, rel=REL)
    assert out["b"]["mean_cost"] == pytest.approx(4.0, rel=REL)
    assert out["a"]["ci95"] == pytest.approx(T975[3] * math.sqrt(5 / 3) / math.sqrt(4), rel=REL)
    assert out["b"]["ci95"] == pytest.approx(T975[3] * math.sqrt(6) / math.sqrt(4), rel=REL)
    assert out["a"]["ci95"] == pytest.approx(2.054260256760879, rel=REL)  # the same, as a number


def test_half_width_of_two_episodes_and_of_one():
    # [1, 3]: sample standard deviation sqrt(2), so the half-width is t_{0.975,1} * sqrt(2) / sqrt(2).
    two = rows(summarise({"a": run([1.0, 3.0])}, "beds/x", 0))["a"]
    assert two["mean_cost"] == 2.0 and two["ci95"] == pytest.approx(T975[1], rel=REL)
    # One episode has no spread estimate: no interval rather than a zero-width one.
    one = rows(summarise({"a": run([5.0])}, "beds/x", 0))["a"]
    assert one["mean_cost"] == 5.0 and np.isnan(one["ci95"])


# ---------------------------------------------------------------- paired differences
def test_paired_difference_against_the_named_reference():
    # The reference is listed second, so a difference taken against the first run would show.
    evaluation = summarise({"b": run(B), "a": run(A)}, "beds/x", 0, reference="a")
    summary = evaluation.summary
    assert [c for c in summary.columns if c.startswith("diff_vs_")] == ["diff_vs_a"]
    out = rows(evaluation)
    assert out["b"]["diff_vs_a"] == pytest.approx(1.5, rel=REL)
    assert out["b"]["diff_ci95"] == pytest.approx(T975[3] * math.sqrt(5 / 3) / 2, rel=REL)
    assert out["a"]["diff_vs_a"] == 0.0 and out["a"]["diff_ci95"] == 0.0


def test_paired_difference_sign_and_ci_against_the_other_reference():
    out = rows(summarise({"a": run(A), "b": run(B)}, "beds/x", 0, reference="b"))
    assert out["a"]["diff_vs_b"] == pytest.approx(-1.5, rel=REL)
    assert out["a"]["diff_ci95"] == pytest.approx(T975[3] * math.sqrt(5 / 3) / 2, rel=REL)


def test_default_reference_is_the_exact_policy_else_the_first_non_oracle():
    with_dp = summarise({"x": run(A), "dp": run(B, method="dynamic_programming"), "y": run(A)}, "beds/x", 0)
    assert [c for c in with_dp.summary.columns if c.startswith("diff_vs_")] == ["diff_vs_dp"]
    assert rows(with_dp)["x"]["diff_vs_dp"] == pytest.approx(-1.5, rel=REL)
    oracle_first = summarise({"hindsight": run(A, information="oracle"), "p": run(B), "q": run(A)}, "beds/x", 0)
    assert [c for c in oracle_first.summary.columns if c.startswith("diff_vs_")] == ["diff_vs_p"]
    assert rows(oracle_first)["q"]["diff_vs_p"] == pytest.approx(-1.5, rel=REL)


# ---------------------------------------------------------------- gap to the bound
def exact(optimum: float, costs: Sequence[float] = (2.0, 2.0, 2.0, 2.0)) -> PolicyRun:
    """An exact policy's run that proved ``optimum``."""
    return run(list(costs), method="dynamic_programming", optimum=optimum)


def test_gap_is_positive_above_the_bound_and_negative_below():
    evaluation = summarise({"dp": exact(2.0), "a": run(A), "b": run(B), "low": run([1.0, 1.0, 2.0, 2.0])},
                           "beds/x", 0)
    assert evaluation.bound == 2.0 and evaluation.bound_kind == "exact optimum (dp)"
    out = rows(evaluation)
    assert out["a"]["gap_to_bound_pct"] == pytest.approx(25.0, rel=REL)  # 100 * (2.5 - 2) / 2
    assert out["b"]["gap_to_bound_pct"] == pytest.approx(100.0, rel=REL)  # 100 * (4 - 2) / 2
    assert out["low"]["gap_to_bound_pct"] == pytest.approx(-25.0, rel=REL)  # 100 * (1.5 - 2) / 2
    assert out["dp"]["gap_to_bound_pct"] == 0.0


def test_gap_to_a_negative_bound_divides_by_its_magnitude():
    evaluation = summarise({"dp": exact(-2.0, [-2.0] * 4), "a": run(A), "neg": run([-4.0, -2.0, -3.0, -3.0])},
                           "beds/x", 0)
    out = rows(evaluation)
    assert out["a"]["gap_to_bound_pct"] == pytest.approx(225.0, rel=REL)  # 100 * (2.5 + 2) / 2
    assert out["neg"]["gap_to_bound_pct"] == pytest.approx(-50.0, rel=REL)  # 100 * (-3 + 2) / 2


def test_gap_to_a_zero_bound_is_not_reported_as_a_finite_number():
    # A relative gap to 0 is undefined (infinite for a positive mean); a finite number would mislead.
    evaluation = summarise({"dp": exact(0.0, [0.0] * 4), "a": run(A)}, "beds/x", 0)
    assert evaluation.bound == 0.0 and evaluation.bound_kind == "exact optimum (dp)"
    assert not np.isfinite(rows(evaluation)["a"]["gap_to_bound_pct"])


def test_no_bound_gives_no_gap():
    evaluation = summarise({"a": run(A), "b": run(B)}, "beds/x", 0)
    assert evaluation.bound is None and evaluation.bound_kind == "none"
    assert evaluation.summary["gap_to_bound_pct"].isna().all()


# ---------------------------------------------------------------- which bound, and roles
def test_exact_optimum_is_preferred_over_hindsight_means():
    runs = {"hindsight": run([1.0, 1.0, 1.0, 1.0], information="oracle"), "a": run(A), "dp": exact(1.6)}
    evaluation = summarise(runs, "beds/x", 0)
    assert evaluation.bound == 1.6 and evaluation.bound_kind == "exact optimum (dp)"
    assert rows(evaluation)["a"]["gap_to_bound_pct"] == pytest.approx(100 * 0.9 / 1.6, rel=REL)


def test_hindsight_bound_is_the_largest_oracle_mean():
    # Each hindsight mean is a lower bound on the optimum, so the largest is the tightest.
    runs = {"h1": run([1.0, 2.0, 1.0, 2.0], information="oracle"), "a": run(A),
            "h2": run([2.0, 2.0, 2.0, 2.0], information="oracle")}
    evaluation = summarise(runs, "beds/x", 0)
    assert evaluation.bound == 2.0 and evaluation.bound_kind == "hindsight mean (h2)"
    out = rows(evaluation)
    assert out["a"]["gap_to_bound_pct"] == pytest.approx(25.0, rel=REL)
    assert out["h1"]["gap_to_bound_pct"] == pytest.approx(-25.0, rel=REL)
    assert [out[n]["role"] for n in ("h1", "a", "h2")] == ["bound", "policy", "bound"]


def test_role_method_order_and_episode_table():
    runs = {"hindsight": run(A, information="oracle", method="dynamic_programming"), "rigid": run(B)}
    evaluation = summarise(runs, "beds/x", 7)
    summary = evaluation.summary
    assert summary["policy"].tolist() == ["hindsight", "rigid"]
    assert summary["role"].tolist() == ["bound", "policy"]
    assert summary["method"].tolist() == ["dynamic_programming", "heuristic"]
    assert evaluation.scenario_id == "beds/x" and evaluation.seed == 7
    episodes = evaluation.episodes
    assert episodes["policy"].tolist() == ["hindsight"] * 4 + ["rigid"] * 4
    assert episodes["episode"].tolist() == [0, 1, 2, 3] * 2
    assert episodes["total_cost"].tolist() == A + B


# ---------------------------------------------------------------- KPIs, timings, training steps
def test_kpi_columns_are_the_means_of_the_episode_kpis():
    kpis = {"unattended_patient_days": [10, 20, 30, 60], "final_beds": [50, 52, 54, 56]}
    evaluation = summarise({"a": run(A, kpis=kpis)}, "beds/x", 0)
    row = rows(evaluation)["a"]
    assert row["unattended_patient_days"] == pytest.approx(30.0, rel=REL)
    assert row["final_beds"] == pytest.approx(53.0, rel=REL)
    assert evaluation.episodes["unattended_patient_days"].tolist() == [10.0, 20.0, 30.0, 60.0]


def test_timings_and_training_steps_pass_through():
    curve = pd.DataFrame({"env_steps": [100, 2048, 4096], "mean_cost": [9.0, 8.0, 7.0]})
    runs = {
        "ppo": run(A, method="rl", fit_seconds=12.5, act_seconds=0.25, learning_curve=curve),
        "rigid": run(B, fit_seconds=0.75, act_seconds=1.5),
        "empty": run(B, learning_curve=pd.DataFrame({"env_steps": []})),
    }
    out = rows(summarise(runs, "beds/x", 0))
    assert out["ppo"]["fit_s"] == 12.5 and out["ppo"]["act_s"] == 0.25
    assert out["rigid"]["fit_s"] == 0.75 and out["rigid"]["act_s"] == 1.5
    assert out["ppo"]["train_steps"] == 4096.0
    assert np.isnan(out["rigid"]["train_steps"]) and np.isnan(out["empty"]["train_steps"])


# ---------------------------------------------------------------- printed table and yearly actions
def column_value(table: str, header: str, policy: str) -> str:
    """The cell of ``policy``'s row under ``header`` in a right-justified ``to_string`` table."""
    lines = table.splitlines()
    end = lines[0].index(header) + len(header)
    (line,) = [ln for ln in lines[1:] if ln.split()[0] == policy]
    return line[:end].split()[-1]


def test_printed_table_shows_the_gap_with_its_sign():
    scale = 1e6  # costs in taka, so the money columns print whole numbers
    runs = {"dp": exact(2.0 * scale, [2 * scale] * 4), "a": run([c * scale for c in A]),
            "low": run([1 * scale, 1 * scale, 2 * scale, 2 * scale])}
    table = format_summary(summarise(runs, "beds/x", 0).summary)
    assert column_value(table, "gap to bound %", "a") == "25.000"
    assert column_value(table, "gap to bound %", "low") == "-25.000"
    assert column_value(table, "gap to bound %", "dp") == "0.000"
    assert column_value(table, "mean cost", "a") == "2,500,000"
    assert column_value(table, "diff vs dp", "a") == "500,000"
    assert column_value(table, "diff vs dp", "low") == "-500,000"


def test_epoch_actions_are_mean_component_counts_per_epoch():
    runs = {"a": run([1.0, 2.0], actions=[[0, 1, 2], [2, 3, 4]]), "b": run([1.0, 2.0], actions=[[5, 5, 5], [1, 1, 0]])}
    # Action a scans a // 3 patients of kind X and a % 3 of kind Y: the means are of the counts, not of the index.
    table = ActionTable(("X", "Y"), np.array([[a // 3, a % 3] for a in range(6)]), "scanned")
    epochs = summarise(runs, "beds/x", 0).epoch_actions(table)
    assert epochs.columns.tolist() == ["epoch", "policy", "component", "mean"]
    got = epochs.set_index(["policy", "component", "epoch"])["mean"]
    # a: epoch 0 chose 0 and 2 -> X 0, 0 and Y 0, 2; epoch 1 chose 1 and 3 -> X 0, 1 and Y 1, 0; and so on.
    np.testing.assert_allclose(got["a", "X"], [0.0, 0.5, 0.5], rtol=REL)
    np.testing.assert_allclose(got["a", "Y"], [1.0, 0.5, 1.5], rtol=REL)
    np.testing.assert_allclose(got["b", "X"], [0.5, 0.5, 0.5], rtol=REL)
    np.testing.assert_allclose(got["b", "Y"], [1.5, 1.5, 1.0], rtol=REL)
    assert table.describe(4) == "1 X + 1 Y scanned" and table.describe(0) == "none scanned"
    np.testing.assert_array_equal(table.encode(table.decode(np.array([[0, 5], [3, 4]]))), [[0, 5], [3, 4]])
