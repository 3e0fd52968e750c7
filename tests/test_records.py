"""Result records: one fixed schema for every family, values equal to the summary, JSON that round-trips."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import optalloc
from optalloc.bench import load_suite, run_suite
from optalloc.cli import main
from optalloc.exceptions import ConfigurationError
from optalloc.records import (
    SOLVE_STATUSES,
    CellRecord,
    SolveRecord,
    gap_to_best_known_pct,
    json_text,
    records_frame,
)
from optalloc.store import code_fingerprint

BEDS = """
name = "beds-tiny"
episodes = 12
seeds = [3]
reference = "rigid"
[[scenarios]]
id = "beds/seed002-v0"
overrides = {horizon = 4}
[[policies]]
id = "rigid"
params = {k = 3}
[[policies]]
id = "dp"
[[policies]]
id = "rigid"
name = "r"
params = {k = 1}
train_seeds = [5, 6]
"""

TOY = """
name = "toy-tiny"
episodes = 9
seeds = [0, 1]
[[scenarios]]
id = "toy/walk-v0"
overrides = {horizon = 3}
[[policies]]
id = "dp"
[[policies]]
id = "dp"
name = "dp again"
"""


@pytest.fixture(scope="module")
def suites(tmp_path_factory):
    folder = tmp_path_factory.mktemp("suites")
    out = {}
    for name, text in (("beds", BEDS), ("toy", TOY)):
        (folder / f"{name}.toml").write_text(text)
        out[name] = run_suite(load_suite(folder / f"{name}.toml"), workers=1, progress=False)
    return out


def test_schema_is_the_same_for_every_family(suites):
    beds, toy = suites["beds"].records, suites["toy"].records
    assert list(beds.columns) == list(toy.columns) == list(CellRecord.columns())
    assert beds.dtypes.equals(toy.dtypes)
    assert list(records_frame([]).columns) == list(CellRecord.columns())  # an empty frame has them too
    # The KPIs differ by family, yet they are one column; the summaries, not the records, grow a column per KPI.
    assert set(json.loads(beds["kpis"].iloc[0])) != set(json.loads(toy["kpis"].iloc[0]))
    assert set(suites["beds"].summary.columns) != set(suites["toy"].summary.columns)
    assert CellRecord.schema()["seed"] == "INTEGER" and CellRecord.schema()["kpis"] == "TEXT"
    assert set(CellRecord.schema().values()) == {"TEXT", "INTEGER", "REAL"}


@pytest.mark.parametrize("family", ["beds", "toy"])
def test_values_are_the_summary_rows(suites, family):
    result = suites[family]
    records, summary = result.records, result.summary
    assert len(records) == len(summary)
    keyed = summary.set_index(["scenario", "seed", "policy"])
    for _, rec in records.iterrows():
        row = keyed.loc[(rec["scenario"], rec["seed"], rec["policy"])]
        assert rec["mean_cost"] == row["mean_cost"] and rec["ci95"] == row["ci95"]
        assert rec["diff_vs_reference"] == row[f"diff_vs_{rec['reference']}"]
        assert rec["diff_ci95"] == row["diff_ci95"]
        assert rec["gap_to_bound_pct"] == row["gap_to_bound_pct"] and rec["bound"] == row["bound"]
        assert rec["bound_kind"] == row["bound_kind"] and rec["method"] == row["method"]
        assert (rec["fit_s"], rec["act_s"]) == (row["fit_s"], row["act_s"])
        kpis = json.loads(rec["kpis"])
        assert kpis == {k: row[k] for k in kpis}
        # Independently of the summary: the means of the per-episode table.
        episodes = result.episodes[(result.episodes["scenario"] == rec["scenario"])
                                   & (result.episodes["seed"] == rec["seed"])
                                   & (result.episodes["policy"] == rec["policy"])]
        assert len(episodes) == rec["episodes"]
        assert rec["mean_cost"] == pytest.approx(episodes["total_cost"].mean(), rel=1e-12)
        for name, value in kpis.items():
            assert value == pytest.approx(episodes[name].mean(), rel=1e-12)


def test_identity_columns(suites):
    beds = suites["beds"].records.set_index("policy")
    assert list(beds.index) == ["rigid", "dp", "r[seed 5]", "r[seed 6]"]
    assert set(beds["reference"]) == {"rigid"} and beds.loc["rigid", "diff_vs_reference"] == 0
    assert json.loads(beds.loc["rigid", "params"]) == {"k": 3} and beds.loc["dp", "params"] == "{}"
    assert list(beds["policy_id"]) == ["rigid", "dp", "rigid", "rigid"]
    assert beds["train_seed"].isna().tolist() == [True, True, False, False]
    assert beds.loc["r[seed 6]", "train_seed"] == 6
    assert json.loads(beds.loc["dp", "scenario_spec"]) == {"id": "beds/seed002-v0", "overrides": {"horizon": 4}}
    assert beds.loc["dp", "information"] == "non_anticipative" and beds.loc["dp", "bound_kind"] == "exact optimum (dp)"
    assert set(beds["suite"]) == {"beds-tiny"} and set(beds["episodes"]) == {12} and set(beds["seed"]) == {3}
    assert set(beds["code_fingerprint"]) == {code_fingerprint()}
    assert set(beds["package_version"]) == {optalloc.__version__}
    toy = suites["toy"].records
    assert list(toy["seed"]) == [0, 0, 1, 1] and set(toy["reference"]) == {"dp"}  # the default: the exact policy


def test_records_round_trip(suites):
    for result in suites.values():
        for _, row in result.records.iterrows():
            record = CellRecord.from_dict(row.to_dict())
            assert CellRecord.from_dict(record.to_dict()) == record
            assert CellRecord.from_dict(json.loads(record.to_json())) == record
            assert record.kpi_values() == json.loads(row["kpis"])
            frame = records_frame([record])
            pd.testing.assert_frame_equal(frame, result.records.iloc[[row.name]].reset_index(drop=True))


def test_kpi_json_is_strict_and_keeps_its_names():
    text = json_text({"waiting time [h]": 1.5, "rate": float("nan"), "n": np.int64(3), "inf": math.inf},
                     canonical=False)
    assert json.loads(text) == {"waiting time [h]": 1.5, "rate": None, "n": 3, "inf": None}
    assert "NaN" not in text and "Infinity" not in text


def test_cli_writes_the_records_csv_and_keeps_the_summary(tmp_path, capsys):
    suite = tmp_path / "beds.toml"
    suite.write_text(BEDS)
    out = tmp_path / "res.csv"
    assert main(["bench", "run", str(suite), "--out", str(out), "--no-progress", "--no-plots", "--workers", "1"]) == 0
    assert "res-records.csv" in capsys.readouterr().out
    records = pd.read_csv(tmp_path / "res-records.csv", keep_default_na=False, na_values=[""])
    summary = pd.read_csv(out)
    assert list(records.columns) == list(CellRecord.columns())
    assert len(records) == len(summary) == 4
    # The summary CSV keeps its own columns (a column per KPI, diff_vs_<reference>), not the records'.
    assert "diff_vs_rigid" in summary.columns and "unattended_patient_days" in summary.columns
    assert "kpis" not in summary.columns
    np.testing.assert_allclose(records["mean_cost"], summary["mean_cost"], rtol=1e-12)
    assert [json.loads(k)["final_beds"] for k in records["kpis"]] == pytest.approx(list(summary["final_beds"]))


# ---------------------------------------------------------------- SolveRecord
def solve_record(**changes) -> SolveRecord:
    fields = dict(instance="fam/x", instance_spec='{"id":"fam/x","overrides":{}}', family="fam",
                  method="math_programming", solver="highs 1", status="optimal", termination="ok", sense="minimize",
                  objective_unit="", objective=0.0, checked_objective=0.0, bound=2.0, gap_pct=math.inf, seconds=0.1,
                  time_limit=None, mip_rel_gap=None, best_known=None, gap_to_best_known_pct=None, solution="[]",
                  code_fingerprint="c", package_version="v")
    return SolveRecord(**{**fields, **changes})


def test_solve_record_json_and_frame():
    record = solve_record()
    data = json.loads(record.to_json())
    assert data["gap_pct"] is None and list(data) == list(SolveRecord.columns())
    frame = records_frame([record, solve_record(status="infeasible", objective=None)])
    assert list(frame.columns) == list(SolveRecord.columns()) and np.isnan(frame["objective"].iloc[1])
    assert SolveRecord.from_dict(frame.iloc[1].to_dict()).objective is None
    assert list(records_frame([], SolveRecord).columns) == list(SolveRecord.columns())
    with pytest.raises(ConfigurationError, match="one type"):
        records_frame([record], CellRecord)
    with pytest.raises(ConfigurationError, match="status must be one of"):
        solve_record(status="solved")
    with pytest.raises(ConfigurationError, match="missing \\['solution'\\]"):
        SolveRecord.from_dict({k: v for k, v in record.to_dict().items() if k != "solution"})


def test_statuses_are_those_of_the_solve_path():
    pytest.importorskip("pyomo")
    from optalloc.formulations.solve import SolveStatus

    assert tuple(s.value for s in SolveStatus) == SOLVE_STATUSES


@pytest.mark.parametrize(("objective", "best", "sense", "expected"), [
    (110.0, 100.0, "minimize", 10.0),
    (90.0, 100.0, "minimize", -10.0),
    (90.0, 100.0, "maximize", 10.0),
    (-90.0, -100.0, "minimize", 10.0),
    (0.0, 0.0, "minimize", 0.0),
    (1.0, 0.0, "minimize", math.inf),
    (1.0, 0.0, "maximize", -math.inf),
    (None, 100.0, "minimize", None),
    (100.0, None, "minimize", None),
])
def test_gap_to_best_known(objective, best, sense, expected):
    assert gap_to_best_known_pct(objective, best, sense) == expected
