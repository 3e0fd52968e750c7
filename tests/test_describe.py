"""``optalloc describe``: parameter tables read from the code's own documentation."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

import optalloc as oa
from optalloc import describe as d
from optalloc.cli import main
from optalloc.exceptions import DependencyNotInstalled, UnknownIdError
from optalloc.policy import Policy
from optalloc.registry import POLICIES, SCENARIOS, make_policy

BLOCK_OPTIONAL = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'pyomo', 'torch', 'highspy', 'stable_baselines3'}:
            raise ModuleNotFoundError(f"No module named {name.split('.')[0]!r}", name=name.split('.')[0])
sys.meta_path.insert(0, Block())
"""


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- tables
def test_scenario_table_has_preset_value_default_and_meaning():
    table = d.describe_scenario("beds/stochastic-v0").set_index("parameter")
    scenario = oa.make_scenario("beds/stochastic-v0")
    assert list(table.index) == [f.name for f in dataclasses.fields(scenario.params_class)]
    assert table.loc["surge_probability", "value"] == 0.1
    assert table.loc["surge_probability", "default"] == 0.0
    assert "surge" in table.loc["surge_probability", "meaning"]
    assert table.loc["shortage_cost", "meaning"] == "Cost per unattended patient-day [taka]."
    # Values keep their Python types: 30 stays an int, None stays None.
    assert table.loc["horizon", "value"] == 30 and isinstance(table.loc["horizon", "value"], int)
    assert table.loc["max_beds", "default"] is None


def test_seed_preset_values_are_the_defaults():
    table = d.describe_scenario("beds/seed002-v0")
    assert table["value"].tolist() == table["default"].tolist()


def test_rl_policy_table_comes_from_its_config_dataclass():
    pytest.importorskip("torch")
    table = d.describe_policy("ppo").set_index("parameter")
    assert table.loc["gae_lambda", "default"] == 0.95
    assert "GAE" in table.loc["gae_lambda", "meaning"]
    # Inherited fields keep their base's docstring; a redefined field its own default.
    assert table.loc["reward_scale", "meaning"].startswith("Reward = -reward_scale")
    assert table.loc["eval_interval", "default"] == 50_000
    assert list(table.index) == make_policy("ppo")._param_names()


def test_policy_table_comes_from_the_docstring_parameters_section():
    table = d.describe_policy("rigid").set_index("parameter")
    assert list(table.index) == ["k", "train_episodes"]
    assert table.loc["k", "default"] is None and table.loc["train_episodes", "default"] == 200
    assert table.loc["train_episodes", "meaning"] == "Training paths used by the grid search."
    # reStructuredText markup is dropped: ``k`` -> k.
    assert "every feasible k on train_episodes" in table.loc["k", "meaning"]


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


def test_unknown_id_suggests_close_ids():
    with pytest.raises(UnknownIdError, match=r"Did you mean 'ppo'"):
        d.describe("ppo2")
    with pytest.raises(UnknownIdError, match=r"Did you mean 'beds/seed002-v0'"):
        d.describe("bed/seed002-v0")


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


def test_format_table_wraps_the_meaning_column():
    table = d.describe_scenario("beds/seed002-v0")
    text = d.format_table(table, width=90)
    lines = text.splitlines()
    assert lines[0].split() == ["parameter", "value", "default", "meaning"]
    assert max(len(line) for line in lines) <= 90
    assert any(line.startswith("initial_population") and "232_162.0" in line for line in lines)
    # A wrapped meaning continues in the meaning column, so every parameter still starts one line.
    assert [line.split()[0] for line in lines[1:] if not line.startswith(" ")] == table["parameter"].tolist()


# ---------------------------------------------------------------- command line
def test_cli_describe_scenario(capsys):
    code, out, _ = run(capsys, "describe", "beds/stochastic-v0")
    assert code == 0 and out.startswith("scenario beds/stochastic-v0: ")
    row = next(line for line in out.splitlines() if line.startswith("surge_probability"))
    assert row.split()[:3] == ["surge_probability", "0.1", "0.0"]


def test_cli_describe_policy_json(capsys):
    pytest.importorskip("torch")
    code, out, _ = run(capsys, "describe", "ppo", "--json")
    report = json.loads(out)
    assert code == 0 and report["id"] == "ppo" and report["kind"] == "policy"
    rows = {r["parameter"]: r for r in report["parameters"]}
    assert rows["gae_lambda"]["default"] == 0.95 and "GAE" in rows["gae_lambda"]["meaning"]
    assert rows["hidden_sizes"]["default"] == [64, 64] and rows["target_kl"]["default"] is None


def test_cli_describe_unknown_id_is_one_line_exit_2(capsys):
    code, out, err = run(capsys, "describe", "rigd")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("optalloc: error: Unknown scenario or policy id 'rigd'")
    assert "Did you mean 'rigid'" in err


def test_list_and_help_mention_describe(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0 and out.rstrip().splitlines()[-1] == "parameters and their meaning: optalloc describe ID"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "optalloc describe ppo" in capsys.readouterr().out


def test_describe_without_optional_dependencies():
    code = BLOCK_OPTIONAL + """
import optalloc.describe
from optalloc.cli import main
assert main(['describe', 'beds/seed002-v0']) == 0
assert main(['describe', 'rigid']) == 0
assert not {'torch', 'pyomo'} & set(sys.modules)
raise SystemExit(main(['describe', 'ppo']))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "surge_probability" in proc.stdout and "train_episodes" in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optalloc: error: Policy 'ppo' needs torch")
