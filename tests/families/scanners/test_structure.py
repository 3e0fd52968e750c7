"""The optimal scanner policy's structure: the decision table, its heatmap and the priority thresholds."""

from __future__ import annotations

import numpy as np
import pytest

import optalloc as oa
from optalloc.families.scanners.structure import (
    action_values,
    plot_policy_table,
    policy_table,
    priority_thresholds,
)


@pytest.fixture(scope="module")
def two_scanners():
    return oa.make_scenario("scanners/gocgun-v0")


@pytest.fixture(scope="module")
def thresholds(two_scanners):
    return priority_thresholds(two_scanners)


def test_action_values_agree_with_the_dp_policy(two_scanners):
    # The DP's chosen action attains the minimum action value in every state of every slot.
    q = action_values(two_scanners)
    dp = oa.make_policy("dp").fit(two_scanners)
    for t in (0, 5, 19):
        best = q[t][np.arange(len(q[t])), dp.table_[dp.offsets_[t]:dp.offsets_[t + 1]]]
        np.testing.assert_allclose(best, q[t].min(axis=1), atol=1e-12)
    assert q[0][0].min() == pytest.approx(dp.expected_cost_, abs=1e-12)


def test_policy_table_reads_like_the_blog(two_scanners, tmp_path):
    dp = oa.make_policy("dp").fit(two_scanners)
    table = policy_table(dp, two_scanners, slot=12, ncep=0)
    assert table.index.name == "IP" and table.columns.name == "OP" and table.shape == (9, 9)
    assert table.loc[0, 0] == "-"
    assert table.loc[0, 3] == "OP+OP"  # only OPs wait
    assert table.loc[1, 3] == "OP+IP"
    assert (table.loc[2:, :] == "IP+IP").all().all()  # IPs first once two wait, late in the day
    # Every cell fills the scanners with waiting patients: never more than wait, never idle.
    for ip in table.index:
        for op in table.columns:
            cell = table.loc[ip, op]
            parts = [] if cell == "-" else cell.split("+")
            assert parts.count("IP") <= ip and parts.count("OP") <= op and len(parts) == min(2, ip + op)
    fig = plot_policy_table(table, tmp_path / "table.png")
    assert (tmp_path / "table.png").stat().st_size > 1000 and fig is not None


def test_every_priority_is_a_threshold_in_the_queue(thresholds):
    # The structure Gocgun et al. (2011) report for two scanners: where a type has priority over
    # another at some queue length, it has it at every longer queue.
    assert thresholds["monotone"].all()


def test_ops_never_have_priority(thresholds):
    ops_first = thresholds[thresholds["x_over_y"].str.startswith("OP>")]
    assert ops_first["threshold"].isna().all()
    late = thresholds[(thresholds["slot"] >= 5) & thresholds["x_over_y"].isin(["IP>OP", "NCEP>OP"])]
    assert (late.loc[late["y"] >= 2, "threshold"] == 1).all()


def test_inpatient_threshold_falls_as_the_day_ends(thresholds):
    ip = thresholds[(thresholds["x_over_y"] == "IP>NCEP") & (thresholds["y"] == 2)].set_index("slot")["threshold"]
    assert ip.loc[2:5].isna().all()  # early: both orders scan everyone before the day ends (ties)
    assert ip.loc[6] == 4 and ip.loc[8] == 3 and ip.loc[9] == 2 and ip.loc[10] == 2
    assert (ip.loc[11:] == 1).all()
    assert np.all(np.diff(ip.loc[6:].to_numpy()) <= 0)  # never rises as the day goes on
    assert thresholds[thresholds["x_over_y"] == "NCEP>IP"]["threshold"].isna().all()


def test_thresholds_move_with_the_end_of_day_cost():
    # Independent check that the detector reads the values, not a fixed order: when an unscanned IP costs
    # less than an unscanned NCEP, NCEPs take the priority late in the day instead.
    s = oa.make_scenario("scanners/gocgun-v0", end_of_day_cost=(0.5, 0.5, 2.0))
    found = priority_thresholds(s, max_queue=4)
    late = found[found["slot"] >= 15]
    assert (late.loc[late["x_over_y"] == "NCEP>IP", "threshold"] <= 2).all()
    assert late.loc[late["x_over_y"] == "IP>NCEP", "threshold"].isna().all()
