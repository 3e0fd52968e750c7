"""Static instances: the toy knapsack MIP against brute force, its record, files, the registry and ``optalloc solve``."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from toy_family import KNAPSACK_I0
from toy_family.instance import KnapsackInstance, brute_force_optimum

from optalloc.cli import main
from optalloc.exceptions import ConfigurationError, OptallocError, OptallocWarning, UnknownIdError
from optalloc.instances import (
    INSTANCE_FORMATS,
    check_solve_limits,
    list_instances,
    make_instance,
    register_instance_format,
)
from optalloc.records import SOLVE_STATUSES, SolveRecord

TOL = 1e-6


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """``optalloc solve`` writes a family's tables under ./results by default: keep them out of the tree."""
    monkeypatch.chdir(tmp_path)


def random_knapsack(seed: int, n: int = 12, n_required: int = 0) -> dict:
    """Integer data of a random knapsack; capacity about 40 % of the total weight."""
    rng = np.random.default_rng(seed)
    weights = rng.integers(1, 30, n).tolist()
    values = rng.integers(0, 40, n).tolist()
    required = sorted(rng.choice(n, n_required, replace=False).tolist())
    return {"values": values, "weights": weights, "capacity": int(0.4 * sum(weights)), "required": required}


# ---------------------------------------------------------------- the MIP against brute force
def test_registered_instance_matches_brute_force():
    optimum, _ = brute_force_optimum(KNAPSACK_I0["values"], KNAPSACK_I0["weights"], KNAPSACK_I0["capacity"])
    instance = make_instance("toy/knapsack-i0")
    record = instance.solve()
    assert record.status == "optimal" and record.has_solution
    assert record.objective == pytest.approx(optimum, abs=TOL)
    assert record.checked_objective == pytest.approx(optimum, abs=TOL)
    assert record.bound == pytest.approx(record.objective, rel=TOL)
    assert record.gap_pct is not None and 0 <= record.gap_pct <= TOL
    assert record.seconds > 0
    assert (record.instance, record.family, record.sense, record.method) == (
        "toy/knapsack-i0", "toy", "maximize", "math_programming")
    assert record.solver.startswith("highs ")
    assert record.time_limit is None and record.mip_rel_gap is None
    assert record.best_known is None and record.gap_to_best_known_pct is None
    solution = json.loads(record.solution)
    # The solution scores the optimum without the MIP, and fits in the knapsack.
    assert instance.evaluate(solution) == pytest.approx(optimum, abs=TOL)
    assert sum(KNAPSACK_I0["weights"][i] for i in solution) <= KNAPSACK_I0["capacity"]
    # Greedy by value per weight is not optimal here: the instance is not trivial.
    order = np.argsort([-v / w for v, w in zip(KNAPSACK_I0["values"], KNAPSACK_I0["weights"])], kind="stable")
    room, greedy = KNAPSACK_I0["capacity"], 0
    for i in order:
        if KNAPSACK_I0["weights"][i] <= room:
            room -= KNAPSACK_I0["weights"][i]
            greedy += KNAPSACK_I0["values"][i]
    assert greedy < optimum


@pytest.mark.parametrize(("seed", "n_required"), [(0, 0), (1, 0), (2, 2), (3, 3), (4, 1)])
def test_random_instances_match_brute_force(seed, n_required):
    data = random_knapsack(seed, n_required=n_required)
    optimum, _ = brute_force_optimum(**data)
    instance = KnapsackInstance(f"toy/random-{seed}", **data)
    if optimum is None:
        assert instance.solve().status == "infeasible"
        return
    record = instance.solve()
    assert record.status == "optimal"
    assert record.objective == pytest.approx(optimum, abs=TOL)
    assert record.checked_objective == pytest.approx(optimum, abs=TOL)
    assert set(data["required"]) <= set(json.loads(record.solution))


def test_best_known_gap_has_the_sign_of_worse():
    """Maximising: a best-known value above the optimum means the solution is worse (positive gap)."""
    optimum, _ = brute_force_optimum(KNAPSACK_I0["values"], KNAPSACK_I0["weights"], KNAPSACK_I0["capacity"])
    at = make_instance("toy/knapsack-i0", best_known=optimum).solve()
    above = make_instance("toy/knapsack-i0", best_known=optimum + 10).solve()
    below = make_instance("toy/knapsack-i0", best_known=optimum - 10).solve()
    assert at.gap_to_best_known_pct == pytest.approx(0, abs=TOL)
    assert above.gap_to_best_known_pct == pytest.approx(100 * 10 / (optimum + 10), rel=1e-9)
    assert below.gap_to_best_known_pct == pytest.approx(-100 * 10 / (optimum - 10), rel=1e-9)
    assert above.best_known == optimum + 10
    assert json.loads(above.instance_spec) == {"id": "toy/knapsack-i0", "overrides": {"best_known": optimum + 10}}


# ---------------------------------------------------------------- infeasible and limited solves
def test_infeasible_instance_is_a_recorded_status():
    data = {**KNAPSACK_I0, "required": [0, 2, 3, 6, 7]}  # 11 + 15 + 19 + 16 + 19 = 80 kg > 70 kg
    assert brute_force_optimum(**data) == (None, None)
    record = make_instance("toy/knapsack-i0", required=data["required"]).solve()
    assert record.status == "infeasible" and not record.has_solution
    assert record.objective is None and record.checked_objective is None and record.gap_pct is None
    assert record.solution == ""


def test_time_limited_solve_records_its_status_and_limit():
    optimum, _ = brute_force_optimum(KNAPSACK_I0["values"], KNAPSACK_I0["weights"], KNAPSACK_I0["capacity"])
    record = make_instance("toy/knapsack-i0").solve(time_limit=1e-9)
    assert record.time_limit == 1e-9 and record.status in SOLVE_STATUSES
    if record.has_solution:  # an incumbent before the limit: a valid packing, and a valid upper bound
        assert record.checked_objective <= optimum + TOL
        assert record.bound is None or record.bound >= optimum - TOL
    else:
        assert record.status == "no_solution" and record.termination == "maxTimeLimit"
        assert record.objective is None and record.solution == ""


def test_loose_gap_is_recorded_and_bound_brackets_the_optimum():
    optimum, _ = brute_force_optimum(KNAPSACK_I0["values"], KNAPSACK_I0["weights"], KNAPSACK_I0["capacity"])
    record = make_instance("toy/knapsack-i0").solve(mip_rel_gap=0.5)
    assert record.mip_rel_gap == 0.5 and record.status in ("optimal", "feasible")
    assert record.objective <= optimum + TOL <= record.bound + 2 * TOL
    assert record.gap_pct == pytest.approx(100 * abs(record.objective - record.bound) / abs(record.objective), abs=TOL)


@pytest.mark.parametrize(("time_limit", "gap", "pattern"), [
    (-1, None, "'time_limit' parameter of instance toy/knapsack-i0 must be a positive finite number"),
    (0, None, "'time_limit'"),
    (math.inf, None, "'time_limit'"),
    ("10", None, "'time_limit'"),
    (None, 1.5, "'mip_rel_gap' parameter of instance toy/knapsack-i0 must be a relative gap in [0, 1]"),
    (None, -0.1, "'mip_rel_gap'"),
])
def test_bad_limits_are_refused_before_solving(time_limit, gap, pattern):
    with pytest.raises(ConfigurationError) as info:
        make_instance("toy/knapsack-i0").solve(time_limit=time_limit, mip_rel_gap=gap)
    assert pattern in str(info.value)


def test_check_solve_limits_names_the_options():
    with pytest.raises(ConfigurationError, match="'--time-limit' parameter of optalloc solve"):
        check_solve_limits("optalloc solve", -2.0, None, names=("--time-limit", "--gap"))
    assert check_solve_limits("x", 3, 0) == (3.0, 0.0)


# ---------------------------------------------------------------- the evaluator
@pytest.mark.parametrize(("solution", "pattern"), [
    ([0, 0], "distinct item indices"),
    ([12], "distinct item indices in 0..11"),
    ("0,1", "distinct item indices"),
    ([True], "distinct item indices"),
    ([0, 2, 3, 6, 7], "total weight <= 70 kg"),
])
def test_evaluate_refuses_bad_solutions(solution, pattern):
    with pytest.raises(ConfigurationError, match=pattern):
        make_instance("toy/knapsack-i0").evaluate(solution)


def test_evaluate_needs_the_required_items():
    instance = make_instance("toy/knapsack-i0", required=[4])
    with pytest.raises(ConfigurationError, match=r"the required items \[4\]"):
        instance.evaluate([0])
    with pytest.raises(ConfigurationError, match="required items"):
        instance.evaluate([])
    assert instance.evaluate([4, 5]) == KNAPSACK_I0["values"][4] + KNAPSACK_I0["values"][5]
    assert make_instance("toy/knapsack-i0").evaluate([]) == 0


def test_solver_and_evaluator_disagreeing_is_said():
    class Miscounted(KnapsackInstance):
        def evaluate(self, solution):
            return super().evaluate(solution) + 1.0

    data = {k: v for k, v in KNAPSACK_I0.items()}
    with pytest.warns(OptallocWarning, match="disagree"):
        record = Miscounted("toy/miscounted", **data).solve()
    assert record.checked_objective == pytest.approx(record.objective + 1.0)


@pytest.mark.parametrize(("data", "pattern"), [
    ({"capacity": -1}, "'capacity' parameter of instance toy/knapsack-i0 must be a non-negative finite number"),
    ({"weights": [0] * 12}, "'weights' parameter"),
    ({"weights": [1] * 11}, "a list of 12 weights"),
    ({"values": []}, "'values' parameter"),
    ({"required": [3, 3]}, "'required' parameter"),
    ({"best_known": "high"}, "'best_known' parameter"),
])
def test_bad_data_is_refused(data, pattern):
    with pytest.raises(ConfigurationError, match=pattern.replace("(", r"\(").replace("[", r"\[")):
        make_instance("toy/knapsack-i0", **data)


# ---------------------------------------------------------------- registry
def test_registry_lists_and_names():
    assert "toy/knapsack-i0" in [s.id for s in list_instances()]
    assert [s.id for s in list_instances("toy")] == [s.id for s in list_instances() if s.family == "toy"]
    assert make_instance("knapsack-i0", family="toy").id == "toy/knapsack-i0"
    with pytest.raises(UnknownIdError, match="Did you mean 'toy/knapsack-i0'"):
        make_instance("toy/knapsak-i0")


def test_instances_are_listed_with_numbers_in_numeric_order():
    from optalloc.instances import _natural

    ids = ["s/instance10", "s/instance2", "s/instance1", "s/instance1b", "r/x"]
    assert sorted(ids, key=_natural) == ["r/x", "s/instance1", "s/instance1b", "s/instance2", "s/instance10"]
    with pytest.raises(UnknownIdError, match="Unknown instance id 'knapsack-i0'"):
        make_instance("knapsack-i0")  # the short form needs the family
    with pytest.raises(UnknownIdError, match="Unknown family id 'tyo'; known: .*toy.*Did you mean 'toy'"):
        make_instance("knapsack-i0", family="tyo")
    with pytest.raises(ConfigurationError, match=r"Unknown parameter\(s\) \['capacty'\].*Did you mean 'capacity'"):
        make_instance("toy/knapsack-i0", capacty=3)


def test_registry_stays_lazy():
    """Registering, listing and making an instance import no solver; only solving does."""
    code = """
import sys
sys.path.insert(0, 'tests')
from optalloc.registry import register_family, list_instances, make_instance
register_family('toy', 'toy_family:register')
instance = make_instance('toy/knapsack-i0')
from optalloc.cli import main
assert main(['list']) == 0
print('pyomo loaded:', 'pyomo' in sys.modules, [s.id for s in list_instances()])
"""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "toy/knapsack-i0" in proc.stdout and "static instances" in proc.stdout
    assert "pyomo loaded: False" in proc.stdout


# ---------------------------------------------------------------- JSON files
def write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


def test_json_file_gives_the_registered_answer(tmp_path):
    path = write(tmp_path / "mine.json", {"type": "toy/knapsack", "description": "a copy", "data": KNAPSACK_I0})
    from_file = make_instance(path, family="toy")
    assert from_file.id == "toy/mine" and from_file.source == str(path)
    record, registered = from_file.solve(), make_instance("toy/knapsack-i0").solve()
    assert record.objective == pytest.approx(registered.objective, abs=TOL)
    assert json.loads(record.instance_spec) == {"id": "toy/mine", "file": str(path)}
    named = write(tmp_path / "named.json", {"type": "toy/knapsack", "id": "toy/published-7",
                                            "data": {**KNAPSACK_I0, "best_known": 130}})
    record = make_instance(str(named)).solve()
    assert record.instance == "toy/published-7" and record.best_known == 130
    assert record.gap_to_best_known_pct == pytest.approx(100 * (130 - record.checked_objective) / 130)


@pytest.mark.parametrize(("content", "pattern"), [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    (json.dumps({"type": "toy/knapsack", "dat": {}}), "Unknown key(s) ['dat'] for the file; expected some of ['type', 'id', 'description', 'data']. Did you mean 'data'?"),
    (json.dumps({"data": KNAPSACK_I0}), "'type' must be a registered instance type (toy/knapsack"),
    (json.dumps({"type": "toy/knapsak", "data": KNAPSACK_I0}), "Did you mean 'toy/knapsack'?"),
    (json.dumps({"type": "toy/knapsack", "data": [1]}), "'data' must be a JSON object"),
    (json.dumps({"type": "toy/knapsack", "data": {**KNAPSACK_I0, "capacty": 1}}), "Unknown parameter(s) ['capacty']"),
    (json.dumps({"type": "toy/knapsack", "data": {**KNAPSACK_I0, "capacity": -5}}), "'capacity' parameter"),
    (json.dumps({"type": "toy/knapsack", "data": {"values": [1]}}),
     "Missing parameter(s) ['weights', 'capacity'] for instance type 'toy/knapsack'"),
    (json.dumps({"type": "toy/knapsack", "id": 3, "data": KNAPSACK_I0}), "'id' must be a non-empty string"),
    ('{"type": "toy/knapsack", "data": {"values": [1, Infinity], "weights": [1, 1], "capacity": 1}}',
     "must be a finite number"),
])
def test_malformed_files_are_one_line(tmp_path, content, pattern):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError) as info:
        make_instance(path)
    message = str(info.value)
    assert message.startswith(f"Instance file {str(path)!r}") and "\n" not in message
    assert pattern in message, message


def test_missing_and_folder_files(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        make_instance(tmp_path / "nope.json")
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(ConfigurationError, match="is a folder"):
        make_instance(tmp_path / "dir.json")
    with pytest.raises(ConfigurationError, match="apply to registered ids only"):
        make_instance(write(tmp_path / "f.json", {"type": "toy/knapsack", "data": KNAPSACK_I0}), capacity=3)


def knap_file(path: Path, data: dict) -> Path:
    lines = [f"capacity {data['capacity']}"] + [f"{v} {w}" for v, w in zip(data["values"], data["weights"])]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_family_format_gives_the_registered_answer(tmp_path):
    path = knap_file(tmp_path / "mine.knap", KNAPSACK_I0)
    from_file = make_instance(path, family="toy")
    assert from_file.id == "toy/mine" and from_file.source == str(path)
    record, registered = from_file.solve(), make_instance("toy/knapsack-i0").solve()
    assert record.objective == pytest.approx(registered.objective, abs=TOL)
    assert json.loads(record.instance_spec) == {"id": "toy/mine", "file": str(path)}
    assert make_instance(str(path)).id == "toy/mine"  # one family reads .knap: no family needed


def test_family_format_errors(tmp_path):
    bad = tmp_path / "bad.knap"
    bad.write_text("capacity 10\n1 2\n3 x\n")
    with pytest.raises(ConfigurationError, match=r"bad.knap line 3: expected 'value weight'; got '3 x'"):
        make_instance(bad, family="toy")
    with pytest.raises(ConfigurationError, match="does not exist"):
        make_instance(tmp_path / "nope.knap", family="toy")
    with pytest.raises(ConfigurationError, match=r"the families \['other', 'toy'\] all read '.knap' files"):
        with registered_format("other", ".knap"):
            make_instance(knap_file(tmp_path / "two.knap", KNAPSACK_I0))
    with registered_format("other", ".other"):
        with pytest.raises(ConfigurationError, match="the family 'toy' reads no '.other' files"):
            make_instance(tmp_path / "x.other", family="toy")
    for suffix in ("knap", ".json", ".JSON"):
        with pytest.raises(ConfigurationError, match="suffix must start with '.' and not be '.json'"):
            register_instance_format("toy", suffix, "toy_family.instance:read_knap_file")


@contextlib.contextmanager
def registered_format(family: str, suffix: str):
    register_instance_format(family, suffix, "toy_family.instance:read_knap_file")
    try:
        yield
    finally:
        del INSTANCE_FORMATS[suffix][family]
        if not INSTANCE_FORMATS[suffix]:
            del INSTANCE_FORMATS[suffix]


def test_cli_solve_writes_the_family_outputs(capsys, tmp_path):
    stem = tmp_path / "packed"
    code = main(["solve", "toy", str(knap_file(tmp_path / "mine.knap", KNAPSACK_I0)), "--save", str(stem)])
    text, _ = capsys.readouterr()
    _, items = brute_force_optimum(KNAPSACK_I0["values"], KNAPSACK_I0["weights"], KNAPSACK_I0["capacity"])
    assert code == 0 and f"wrote {stem}.csv" in text
    table = pd.read_csv(f"{stem}.csv")
    assert sorted(table["item"]) == sorted(items)
    assert table["weight"].sum() <= KNAPSACK_I0["capacity"]


# ---------------------------------------------------------------- optalloc solve
def test_cli_solve_json_and_out(capsys, tmp_path):
    optimum, _ = brute_force_optimum(KNAPSACK_I0["values"], KNAPSACK_I0["weights"], KNAPSACK_I0["capacity"])
    out = tmp_path / "record.json"
    code = main(["solve", "toy", "knapsack-i0", "--json", "--time-limit", "30", "--gap", "0", "--out", str(out)])
    text, err = capsys.readouterr()
    assert code == 0 and err == ""
    printed = json.loads(text)
    assert printed == json.loads(out.read_text())
    record = SolveRecord.from_dict(printed)
    assert record.status == "optimal" and record.objective == pytest.approx(optimum, abs=TOL)
    assert record.time_limit == 30 and record.mip_rel_gap == 0
    assert list(printed) == list(SolveRecord.columns())


def test_cli_solve_table_and_file(capsys, tmp_path):
    code = main(["solve", "toy", "toy/knapsack-i0"])
    text, _ = capsys.readouterr()
    objective = make_instance("toy/knapsack-i0").solve().objective
    assert code == 0 and text.strip().splitlines()[-1] == f"wrote {Path('results', 'toy_knapsack-i0.csv')}"
    lines = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in text.strip().splitlines()[:-1])
    assert lines["status"].startswith("optimal")
    assert lines["objective"].startswith(f"{objective:,.10g} EUR")
    path = write(tmp_path / "k.json", {"type": "toy/knapsack", "data": KNAPSACK_I0})
    assert main(["solve", "toy", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["instance"] == "toy/k"


def test_cli_solve_without_a_solution_exits_1(capsys, tmp_path):
    path = write(tmp_path / "tight.json", {"type": "toy/knapsack", "data": {**KNAPSACK_I0, "required": [0, 2, 3, 6, 7]}})
    code = main(["solve", "toy", str(path), "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and err == "" and json.loads(out)["status"] == "infeasible"


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


CLI_ERRORS = [
    (["solve", "tyo", "knapsack-i0"], "Unknown family id 'tyo'; known: "),
    (["solve", "tyo", "knapsack-i0"], "Did you mean 'toy'?"),
    (["solve", "toy", "knapsak-i0"], "Unknown instance id 'knapsak-i0' of family 'toy'; known: toy/knapsack-i0"),
    (["solve", "toy", "knapsak-i0"], "Did you mean 'knapsack-i0'?"),
    (["solve", "beds", "knapsack-i0"], "The family 'beds' has no registered static instances"),
    (["solve", "beds", "toy/knapsack-i0"],
     "The instance 'toy/knapsack-i0' is of the family 'toy', not 'beds'; solve it with 'optalloc solve toy knapsack-i0'"),
    (["solve", "beds", "good.json"], "(file 'good.json') is of the family 'toy', not 'beds'"),
    (["solve", "toy", "missing.json"], "Instance file 'missing.json' does not exist."),
    (["solve", "toy", "broken.json"], "Instance file 'broken.json' is not valid JSON"),
    (["solve", "toy", "notes.dat"], "Instance file 'notes.dat' is not valid JSON"),
    (["solve", "toy", "notes.knap"], "notes.knap line 1: expected 'capacity C'; got 'not an instance'"),
    (["solve", "toy", "knapsack-i0", "--time-limit", "-1"],
     "The '--time-limit' parameter of optalloc solve must be a positive finite number of seconds"),
    (["solve", "toy", "knapsack-i0", "--time-limit", "inf"], "'--time-limit' parameter"),
    (["solve", "toy", "knapsack-i0", "--gap", "1.5"], "'--gap' parameter of optalloc solve must be a relative gap"),
    (["solve", "toy", "knapsack-i0", "--out", "missing/r.json"], "The folder of the --out file 'missing/r.json'"),
    (["solve", "toy", "knapsack-i0", "--out", "sub"], "The --out file 'sub' is a folder"),
    (["solve", "toy", "knapsack-i0", "--time-limit", "soon"], "argument --time-limit: invalid float value: 'soon'"),
    (["solve", "toy", "knapsack-i0", "--set", "seed"], "The instance override 'seed' must look like key=value."),
    (["solve", "toy", "knapsack-i0", "--set", "bogus=1"], "Unknown parameter(s) ['bogus'] for instance toy/knapsack-i0"),
    (["solve", "toy", "good.json", "--set", "bogus=1"], "keyword overrides ['bogus'] apply to registered ids only"),
]


@pytest.mark.parametrize(("argv", "pattern"), CLI_ERRORS, ids=[f"e{i}" for i in range(len(CLI_ERRORS))])
def test_cli_solve_errors_are_one_line(tmp_path, monkeypatch, capsys, argv, pattern):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "good.json", {"type": "toy/knapsack", "data": KNAPSACK_I0})
    (tmp_path / "broken.json").write_text('{"type": "toy/knapsack", "data": ')
    (tmp_path / "notes.txt").write_text("not an instance\n")
    (tmp_path / "notes.dat").write_text("not an instance\n")
    (tmp_path / "notes.knap").write_text("not an instance\n")
    (tmp_path / "sub").mkdir()
    before = _snapshot(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors (a value that is not a number)
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optalloc") and ": error: " in lines[0], err
    assert pattern in lines[0], lines[0]
    assert _snapshot(tmp_path) == before


def test_instance_errors_are_optalloc_errors():
    for call in (lambda: make_instance(5), lambda: make_instance("toy/none"),
                 lambda: make_instance("x", family="nofamily")):
        with pytest.raises(OptallocError):
            call()


def test_list_json_has_the_instances(capsys):
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"id": "toy/knapsack-i0", "description": list_instances("toy")[0].description} in data["instances"]
    assert "toy/knapsack" in data["instance_types"]
