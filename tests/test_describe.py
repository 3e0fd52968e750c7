"""``optalloc describe``: parameter tables read from the code's own documentation.

On the toy scenarios (with a preset registered here) and the simple toy
policies; the tables of the beds presets and policies are checked in
tests/families/beds/test_beds_describe.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
from toy_family.scenario import PoolParams, WalkParams
from toy_family.simple_policies import TESTS_FOLDER, install_entry_points, register_for_test

from optalloc import describe as d
from optalloc.cli import main
from optalloc.exceptions import DependencyNotInstalled, UnknownIdError
from optalloc.instances import INSTANCES
from optalloc.policy import Policy
from optalloc.registry import POLICIES, SCENARIOS, ScenarioSpec, make_policy

BLOCK_OPTIONAL = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'pyomo', 'torch', 'highspy', 'stable_baselines3'}:
            raise ModuleNotFoundError(f"No module named {name.split('.')[0]!r}", name=name.split('.')[0])
sys.meta_path.insert(0, Block())
"""


#: A preset of the walk: what a family's registered variant of a scenario is. Large numbers show grouped digits.
FAR = ScenarioSpec("toy/walk-far-v0", "toy_family.scenario:WalkScenario",
                   {"scenario_id": "toy/walk-far-v0", "size": 20_000, "start": 4, "step_cost": 12_500.0},
                   "A long walk from cell 4")


@pytest.fixture
def far_walk(monkeypatch) -> str:
    """The id of :data:`FAR`, registered for this test only."""
    monkeypatch.setitem(SCENARIOS, FAR.id, FAR)
    return FAR.id


@pytest.fixture
def toy_policies(monkeypatch):
    register_for_test(monkeypatch)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- tables
def test_scenario_table_has_preset_value_default_and_meaning(far_walk):
    table = d.describe_scenario(far_walk).set_index("parameter")
    assert list(table.index) == [f.name for f in dataclasses.fields(WalkParams)]
    assert table.loc["start", "value"] == 4 and table.loc["start", "default"] == 0
    assert table.loc["step_cost", "value"] == 12_500.0 and table.loc["step_cost", "default"] == 0.3
    assert table.loc["step_cost", "meaning"] == "Cost of one move left or right [EUR]."
    # Values keep their Python types: 20_000 stays an int, a tuple stays a tuple.
    assert table.loc["size", "value"] == 20_000 and isinstance(table.loc["size", "value"], int)
    pool = d.describe_scenario("toy/pool-v0").set_index("parameter")
    assert list(pool.index) == [f.name for f in dataclasses.fields(PoolParams)]
    assert pool.loc["short_cost", "default"] == (4.0, 1.5) and isinstance(pool.loc["short_cost", "value"], tuple)


def test_values_differ_from_the_defaults_exactly_where_the_preset_sets_them(far_walk):
    table = d.describe_scenario("toy/walk-v0")  # registered without presets
    assert table["value"].tolist() == table["default"].tolist()
    far = d.describe_scenario(far_walk)
    assert set(far.loc[far["value"] != far["default"], "parameter"]) == set(FAR.kwargs) - {"scenario_id"}


def test_rl_policy_table_comes_from_its_config_dataclass():
    pytest.importorskip("torch")
    table = d.describe_policy("ppo").set_index("parameter")
    assert table.loc["gae_lambda", "default"] == 0.95
    assert "GAE" in table.loc["gae_lambda", "meaning"]
    # Inherited fields keep their base's docstring; a redefined field its own default.
    assert table.loc["reward_scale", "meaning"].startswith("Reward = -reward_scale")
    assert table.loc["eval_interval", "default"] == 50_000
    assert list(table.index) == make_policy("ppo")._param_names()


def test_policy_table_comes_from_the_docstring_parameters_section(toy_policies):
    table = d.describe_policy("toy-toward").set_index("parameter")
    assert list(table.index) == ["cell", "train_episodes"]
    # None stays None.
    assert table.loc["cell", "default"] is None and table.loc["train_episodes", "default"] == 20
    assert table.loc["train_episodes", "meaning"] == "Training paths of the grid search [episodes]."
    # reStructuredText markup is dropped, and the entry's two lines joined: ``fit`` -> fit.
    assert table.loc["cell", "meaning"] == ("Cell walked to [cell]. None: fit tries every cell on train_episodes "
                                            "training paths and keeps the cheapest.")
    # A policy without hyperparameters has an empty table.
    assert d.describe_policy("hindsight").empty


def test_undocumented_parameter_has_an_empty_meaning(monkeypatch):
    class Sparse(Policy):
        """A policy with one documented hyperparameter.

        Parameters
        ----------
        alpha : float
            Weight [1].
        """

        def __init__(self, alpha: float = 0.5, beta: int = 3, *, gamma: str = "x") -> None:
            self.alpha, self.beta, self.gamma = alpha, beta, gamma

    monkeypatch.setattr(d, "make_policy", lambda policy_id: Sparse())
    table = d.describe_policy("sparse")
    assert table.values.tolist() == [["alpha", 0.5, "Weight [1]."], ["beta", 3, ""], ["gamma", "x", ""]]


@pytest.mark.parametrize("scenario_id", sorted(SCENARIOS))
def test_every_registered_scenario_parameter_is_documented(scenario_id):
    table = d.describe_scenario(scenario_id)
    undocumented = table.loc[table["meaning"] == "", "parameter"].tolist()
    assert not undocumented, f"{scenario_id}: parameters without an attribute docstring: {undocumented}"


@pytest.mark.parametrize("policy_id", sorted(POLICIES))
def test_every_registered_policy_hyperparameter_is_documented(policy_id):
    try:
        table = d.describe_policy(policy_id)
    except DependencyNotInstalled as exc:
        pytest.skip(str(exc))
    assert len(table) == len(make_policy(policy_id)._param_names())
    undocumented = table.loc[table["meaning"] == "", "parameter"].tolist()
    assert not undocumented, f"{policy_id}: hyperparameters without documentation: {undocumented}"


def test_instance_table_has_registered_value_default_and_meaning():
    table = d.describe_instance("toy/knapsack-i0").set_index("parameter")
    assert list(table.index) == ["values", "weights", "capacity", "required", "best_known"]
    assert table.loc["capacity"].tolist() == [70, d.REQUIRED, "Weight capacity [kg], non-negative."]
    assert table.loc["required", "value"] == () and table.loc["best_known", "default"] is None
    assert table.loc["weights", "value"][:3] == [11, 11, 15]


@pytest.mark.parametrize("instance_id", sorted(INSTANCES))
def test_every_registered_instance_parameter_is_documented(instance_id):
    table = d.describe_instance(instance_id)
    undocumented = table.loc[table["meaning"] == "", "parameter"].tolist()
    assert not undocumented, f"{instance_id}: parameters without documentation: {undocumented}"


def test_unknown_id_suggests_close_ids():
    with pytest.raises(UnknownIdError, match=r"Did you mean 'ppo'"):
        d.describe("ppo2")
    with pytest.raises(UnknownIdError, match=r"Did you mean 'toy/walk-v0'"):
        d.describe("toy/wlak-v0")
    with pytest.raises(UnknownIdError, match=r"Did you mean 'toy/knapsack-i0'"):
        d.describe("toy/knapsak-i0")


# ---------------------------------------------------------------- parsing helpers
def test_docstring_parameters_section_only():
    doc = """Summary.

    Parameters
    ----------
    a, b : float
        Shared meaning,
        on two lines.
    c : {"x", "y"}
        ``"x"`` or :class:`~optalloc.policy.Policy`.

    Attributes
    ----------
    d_ : int
        Not a parameter.
    """
    assert d.docstring_parameters(doc) == {"a": "Shared meaning, on two lines.", "b": "Shared meaning, on two lines.",
                                           "c": '"x" or Policy.'}
    assert d.docstring_parameters("No sections here.") == {}
    assert d.docstring_parameters(None) == {}


def test_attribute_docs_follow_the_inheritance_chain():
    @dataclasses.dataclass
    class Base:
        x: int = 1
        """Base x."""
        y: int = 2
        """Base y."""

    @dataclasses.dataclass
    class Child(Base):
        y: int = 3
        z: float = 0.5
        """Child z [s]."""
        x: int = 4
        """Child x."""

    assert d.attribute_docs(Child) == {"x": "Child x.", "y": "Base y.", "z": "Child z [s]."}


def test_format_table_wraps_the_meaning_column(far_walk):
    table = d.describe_scenario(far_walk)
    text = d.format_table(table, width=60)
    lines = text.splitlines()
    assert lines[0].split() == ["parameter", "value", "default", "meaning"]
    assert max(len(line) for line in lines) <= 60
    assert len(lines) > 1 + len(table)  # at this width some meaning wraps
    assert any(line.split()[:3] == ["size", "20_000", "5"] for line in lines)
    assert any(line.split()[:3] == ["step_cost", "12_500.0", "0.3"] for line in lines)
    # A wrapped meaning continues in the meaning column, so every parameter still starts one line.
    assert [line.split()[0] for line in lines[1:] if not line.startswith(" ")] == table["parameter"].tolist()


# ---------------------------------------------------------------- command line
def test_tag_lines_leave_out_empty_texts_and_mark_empty_lists():
    text = d.format_tags({"actions": {"components": ["float", "agency"], "verb": ""}, "needs": [],
                          "kpis": {"cost": {"unit": "USD"}}})
    assert text.splitlines() == ["actions: components float, agency", "needs: -", "kpis: cost [USD]"]


def test_cli_describe_scenario(capsys, far_walk):
    code, out, _ = run(capsys, "describe", far_walk)
    assert code == 0 and out.startswith(f"scenario {far_walk}: ")
    row = next(line for line in out.splitlines() if line.startswith("start"))
    assert row.split()[:3] == ["start", "4", "0"]


def test_cli_describe_policy_json(capsys):
    pytest.importorskip("torch")
    code, out, _ = run(capsys, "describe", "ppo", "--json")
    report = json.loads(out)
    assert code == 0 and report["id"] == "ppo" and report["kind"] == "policy"
    rows = {r["parameter"]: r for r in report["parameters"]}
    assert rows["gae_lambda"]["default"] == 0.95 and "GAE" in rows["gae_lambda"]["meaning"]
    assert rows["hidden_sizes"]["default"] == [64, 64] and rows["target_kl"]["default"] is None


def test_cli_describe_instance(capsys):
    code, out, _ = run(capsys, "describe", "toy/knapsack-i0")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "instance toy/knapsack-i0: " + INSTANCES["toy/knapsack-i0"].description
    assert lines[1:5] == ["family: toy", "sense: maximize", "objective_unit: EUR", "method: math_programming"]
    assert "optalloc solve toy knapsack-i0 --set NAME=VALUE" in out
    assert next(line for line in lines if line.startswith("capacity")).split()[:3] == ["capacity", "70", "(required)"]
    code, out, _ = run(capsys, "describe", "toy/knapsack-i0", "--json")
    report = json.loads(out)
    assert code == 0 and report["kind"] == "instance" and "best_known" not in report["tags"]
    assert {r["parameter"]: r["value"] for r in report["parameters"]}["capacity"] == 70


def test_cli_describe_unknown_id_is_one_line_exit_2(capsys):
    code, out, err = run(capsys, "describe", "dpp")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("optalloc: error: Unknown scenario, policy or instance id 'dpp'")
    assert "Did you mean 'dp'" in err


def test_list_and_help_mention_describe(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0 and out.rstrip().splitlines()[-1] == "parameters and their meaning: optalloc describe ID"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "optalloc describe ppo" in capsys.readouterr().out


def test_describe_without_optional_dependencies(tmp_path):
    code = BLOCK_OPTIONAL + """
import optalloc.describe
from optalloc.cli import main
assert main(['describe', 'toy/walk-v0']) == 0
assert main(['describe', 'toy-toward']) == 0
assert main(['describe', 'toy/knapsack-i0']) == 0
assert not {'torch', 'pyomo'} & set(sys.modules)
raise SystemExit(main(['describe', 'ppo']))
"""
    # The subprocess finds the toy family and policies as installed entry points.
    path = os.pathsep.join(p for p in (str(install_entry_points(tmp_path)), str(TESTS_FOLDER),
                                       os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path})
    assert proc.returncode == 2, proc.stderr
    assert "step_cost" in proc.stdout and "train_episodes" in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optalloc: error: Policy 'ppo' needs torch")
