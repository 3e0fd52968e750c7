"""``optalloc solve staff``: the RosterInstance against the published optima and the independent checker.

References: the published optimal objectives of Instances 1-4 (Curtois; Burke
& Curtois 2014: 607, 828, 1001, 1716) and the roster checker of
``roster_check``, which shares no code with the model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pandas as pd
import pytest

from optalloc.cli import main
from optalloc.exceptions import ConfigurationError, OptallocWarning
from optalloc.families.staff import ROSTER_OPTIMA
from optalloc.families.staff.roster_check import roster_from_table, score_roster
from optalloc.families.staff.roster_data import read_roster, shipped_instance_path
from optalloc.families.staff.roster_instance import RosterInstance, read_roster_instance, roster_from_solution
from optalloc.instances import make_instance
from optalloc.records import SolveRecord

pytestmark = pytest.mark.solver

#: A two-nurse, one-week instance in the benchmark's format.
TINY = """# two nurses, one week
SECTION_HORIZON
7

SECTION_SHIFTS
D,480,

SECTION_STAFF
A,D=7,2880,960,4,2,2,1
B,D=7,2880,960,4,2,2,1

SECTION_DAYS_OFF
A,3

SECTION_SHIFT_ON_REQUESTS
B,0,D,2

SECTION_SHIFT_OFF_REQUESTS
A,5,D,1

SECTION_COVER
0,D,1,100,1
1,D,1,100,1
2,D,2,100,1
3,D,1,100,1
4,D,1,100,1
5,D,1,100,1
6,D,0,100,1
"""


def solved(instance: RosterInstance, **limits) -> SolveRecord:
    """Solve, failing on any disagreement between the solver's objective and the checker's."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptallocWarning)
        return instance.solve(**limits)


def test_instance2_reaches_its_published_optimum():
    record = solved(make_instance("staff/instance2"))
    assert record.status == "optimal"
    assert record.objective == record.checked_objective == ROSTER_OPTIMA[2] == 828
    assert record.gap_to_best_known_pct == 0 and record.objective_unit == "penalty points"
    table = roster_from_solution(read_roster(shipped_instance_path(2)), json.loads(record.solution))
    assert score_roster(read_roster(shipped_instance_path(2)), table).objective == 828


def test_cli_solves_instance1_and_writes_the_roster(capsys, tmp_path):
    stem = tmp_path / "roster1"
    code = main(["solve", "staff", "instance1", "--json", "--save", str(stem)])
    out, err = capsys.readouterr()
    assert code == 0, err
    record = json.loads(out)
    assert record["status"] == "optimal" and record["objective"] == 607 and record["checked_objective"] == 607
    assert record["instance"] == "staff/instance1"
    data = read_roster(shipped_instance_path(1))
    table = pd.read_csv(f"{stem}.csv", index_col="nurse", dtype=str, keep_default_na=False)
    assert score_roster(data, roster_from_table(data, table)).objective == 607
    png = (tmp_path / "roster1.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_a_benchmark_file_is_an_instance(tmp_path, capsys):
    path = tmp_path / "tiny_week.txt"
    path.write_text(TINY)
    instance = read_roster_instance(path)
    assert instance.id == "staff/tiny_week"
    record = solved(instance)
    assert record.status == "optimal" and record.objective == record.checked_objective
    assert main(["solve", "staff", str(path), "--json", "--save", str(tmp_path / "tiny")]) == 0
    assert json.loads(capsys.readouterr().out)["objective"] == record.objective


def test_cli_set_overrides_the_instance_parameters(capsys, tmp_path):
    code = main(["solve", "staff", "instance1", "--set", "method=mip", "--set", "seed=3", "--json",
                 "--save", str(tmp_path / "mip1")])
    out, err = capsys.readouterr()
    record = json.loads(out)
    assert code == 0, err
    assert json.loads(record["instance_spec"]) == {"id": "staff/instance1", "overrides": {"method": "mip", "seed": 3}}
    assert record["status"] == "optimal" and record["checked_objective"] == 607
    assert main(["solve", "staff", "instance1", "--set", "method=simplex"]) == 2
    assert "must be one of 'lns', 'mip'. Got 'simplex'" in capsys.readouterr().err
    # Another number would solve Instance 2 under the id and the optimum of Instance 1.
    assert main(["solve", "staff", "instance1", "--set", "number=2"]) == 2
    assert "The parameter(s) ['number'] of instance staff/instance1 say which instance it is" in capsys.readouterr().err


def test_cli_describe_shows_the_data_and_which_parameters_are_fixed(capsys):
    assert main(["describe", "staff/instance8", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # Instance 8 of the benchmark's table: 28 days, 30 staff, 4 shift types, optimum 1300.
    assert {k: report["tags"][k] for k in ("nurses", "days", "shift_types", "best_known")} == {
        "nurses": 30, "days": 28, "shift_types": ["E", "D", "L", "N"], "best_known": 1300}
    rows = {r["parameter"]: r for r in report["parameters"]}
    assert rows["number"]["value"] == 8 and rows["seed"]["value"] == 0 and rows["method"]["default"] == "lns"
    assert [name for name, row in rows.items() if "not changeable with --set" in row["meaning"]] == ["number", "path"]
    # Instances 9-24 have no published optimum here: no best-known line rather than an empty one.
    assert main(["describe", "staff/instance9"]) == 0
    out = capsys.readouterr().out
    assert "best_known:" not in out and "nurses: 36" in out


def test_a_malformed_file_is_one_clean_error(tmp_path, capsys):
    path = tmp_path / "broken.txt"
    path.write_text(TINY.replace("B,D=7,2880,960,4,2,2,1", "B,D=7,2880,lots,4,2,2,1"))
    code = main(["solve", "staff", str(path)])
    _, err = capsys.readouterr()
    line = TINY.splitlines().index("B,D=7,2880,960,4,2,2,1") + 1
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and f"line {line}" in err and "broken.txt" in err


def test_time_limited_lns_reports_the_checked_cost():
    record = solved(RosterInstance(number=5, seed=1), time_limit=12)
    assert record.status == "feasible" and record.objective == record.checked_objective
    assert record.bound <= record.objective and record.gap_pct > 0
    assert record.objective >= ROSTER_OPTIMA[5]


def test_evaluate_names_the_broken_rules():
    instance = RosterInstance(number=1)
    data = instance.data
    everyone_every_day = {"shifts": list(data.shift_ids), "nurses": list(data.nurse_ids),
                          "roster": [["D"] * data.days for _ in data.nurse_ids]}
    with pytest.raises(ConfigurationError, match="breaks .* hard rule.*consecutive shifts"):
        instance.evaluate(everyone_every_day)
    with pytest.raises(ConfigurationError, match="'solution' parameter"):
        instance.evaluate({"roster": [["X"] * data.days for _ in data.nurse_ids]})


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigurationError, match="exactly one of 'number'"):
        RosterInstance()
    with pytest.raises(ConfigurationError, match="'method' parameter"):
        RosterInstance(number=1, method="simplex")
    with pytest.raises(ConfigurationError, match="'number' parameter"):
        RosterInstance(number=25)


def test_the_instance_module_imports_no_solver():
    code = ("import sys; import optalloc.families.staff.roster_instance as m; m.RosterInstance(number=8); "
            "print(any(name.split('.')[0] in ('pyomo', 'highspy') for name in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.slow
@pytest.mark.parametrize("number", [3, 4])
def test_instances_3_and_4_reach_their_published_optima(number):
    record = solved(make_instance(f"staff/instance{number}"))
    assert record.status == "optimal"
    assert record.objective == record.checked_objective == ROSTER_OPTIMA[number]
