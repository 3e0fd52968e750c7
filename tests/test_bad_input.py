"""Bad input, by category: one clear line, exit code 2, an OptallocError, and no file touched.

Each command-line case runs ``optalloc.cli.main`` in a scratch folder that
already holds a suite, a saved policy and a previous results file; the case
passes only if the exit code is 2, stderr is exactly one line naming what was
wrong (no traceback), stdout is empty, and every file in the folder is as it
was (same names, same bytes).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

import optalloc as oa
from optalloc.cli import main
from optalloc.exceptions import (
    ConfigurationError,
    OptallocError,
    OutputPathError,
    PolicyScenarioMismatch,
    ResourceLimitError,
    UnknownIdError,
)

S = ["--scenario", "beds/seed002-v0", "--set", "horizon=3", "--episodes", "5", "--no-progress"]

SUITE = """
name = "tiny"
episodes = 5
[[scenarios]]
id = "beds/seed002-v0"
overrides = {horizon = 3}
[[policies]]
id = "rigid"
params = {k = 2}
"""


def _suite(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(text)
    return name


@pytest.fixture(scope="module")
def saved_dp(tmp_path_factory):
    """A DP policy fitted on seed002 with a 3-year horizon, saved."""
    folder = tmp_path_factory.mktemp("saved")
    scenario = oa.make_scenario("beds/seed002-v0", horizon=3)
    return oa.save_policy(oa.make_policy("dp").fit(scenario), folder / "dp.zip")


@pytest.fixture
def workdir(tmp_path, monkeypatch, saved_dp):
    """A folder with a suite, a saved policy, an earlier results CSV and a plain file, as the cwd."""
    monkeypatch.chdir(tmp_path)
    _suite(tmp_path, "tiny.toml", SUITE)
    shutil.copy(saved_dp, tmp_path / "dp.zip")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "tiny.csv").write_text("an earlier result\n")
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    return tmp_path


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def _edited_dp(folder: Path) -> str:
    """dp.zip with a table one entry short: arrays that do not match the manifest's scenario."""
    with zipfile.ZipFile(folder / "dp.zip") as zf:
        manifest = zf.read("manifest.json")
        with np.load(zf.open("state.npz")) as npz:
            arrays = {k: npz[k] for k in npz.files}
    arrays["table_"] = arrays["table_"][:-1]
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with zipfile.ZipFile(folder / "edited.zip", "w") as zf:
        zf.writestr("manifest.json", manifest)
        zf.writestr("state.npz", buffer.getvalue())
    return "edited.zip"


#: (category, argv builder, pattern the one line must contain). Builders get the work folder.
CLI_CASES = [
    # ---- numbers: non-finite values, absurd sizes
    ("numbers", lambda d: ["evaluate", *S, "--policy", "rigid", "--set", "base_demand=inf"],
     "'base_demand' parameter of scenario beds/seed002-v0 must be a finite number. Got inf"),
    ("numbers", lambda d: ["evaluate", *S, "--policy", "rigid", "--set", "shortage_cost=1e400"],
     "'shortage_cost' parameter of scenario beds/seed002-v0 must be a finite number. Got inf"),
    ("numbers", lambda d: ["evaluate", *S, "--policy", "rigid", "--set", "bed_cost=nan"],
     "'bed_cost' parameter of scenario beds/seed002-v0 must be a finite number. Got nan"),
    ("numbers", lambda d: ["evaluate", *S, "--policy", "rigid:k=1e400"],
     "'k' parameter of RigidPolicy must be a finite number. Got inf"),
    ("numbers", lambda d: ["evaluate", *S, "--policy", "complaint:delta=nan"],
     "'delta' parameter of ComplaintPolicy must be"),
    ("numbers", lambda d: ["evaluate", *S, "--policy", "milp:time_limit=inf"],
     "'time_limit' parameter of OpenLoopPolicy must be a finite number. Got inf"),
    ("numbers", lambda d: ["evaluate", *S, "--policy", "rigid", "--episodes", "1000000000"],
     "Evaluating 1,000,000,000 episodes x 3 epochs would need about"),
    ("numbers", lambda d: ["evaluate", *S, "--policy", "rigid:train_episodes=10000000000"],
     "Evaluating 10,000,000,000 episodes x 3 epochs would need about"),
    ("numbers", lambda d: ["evaluate", *S, "--policy", "rigid", "--set", "base_demand=1e13"],
     "daily-demand table of scenario beds/seed002-v0"),
    ("numbers", lambda d: ["evaluate", "--scenario", "beds/seed002-v0", "--set", "horizon=3000", "--set",
                           "growth_rate=1.0", "--policy", "rigid", "--no-progress"], "yearly mean stays finite"),
    ("numbers", lambda d: ["evaluate", "--scenario", "beds/stochastic-v0", "--set", "max_add=300", "--policy", "dp",
                           "--no-progress"], "exact tabular model of scenario beds/stochastic-v0"),
    ("numbers", lambda d: ["evaluate", *S, "--policy", "milp", "--set", "max_add=100000000"],
     "capacity MILP of scenario beds/seed002-v0"),
    ("numbers", lambda d: ["bench", "run", "tiny.toml", "--episodes", "1000000000", "--no-progress"],
     "Evaluating 1,000,000,000 episodes x 3 epochs would need about"),
    ("numbers", lambda d: ["evaluate", *S, "--policy", "dqn:buffer_size=100000000000"],
     "DQN replay buffer of 100,000,000,000 transitions would need about"),
    ("numbers", lambda d: ["evaluate", *S, "--policy", "rigid", "--episodes", "0"],
     "'episodes' parameter must be a positive integer. Got 0"),
    ("numbers", lambda d: ["evaluate", *S, "--policy", "rigid", "--seed", "-1"],
     "'seed' parameter must be a non-negative integer. Got -1"),
    # ---- output paths, checked before any work
    ("output paths", lambda d: ["evaluate", *S, "--policy", "rigid", "--csv", "missing/x.csv"],
     "The folder of the --csv file 'missing/x.csv' does not exist"),
    ("output paths", lambda d: ["evaluate", *S, "--policy", "rigid", "--csv", "results"],
     "The --csv file 'results' is a folder"),
    ("output paths", lambda d: ["evaluate", *S, "--policy", "rigid", "--csv", "notes.txt/x.csv"],
     "lies under 'notes.txt', which is a file"),
    ("output paths", lambda d: ["bench", "run", "tiny.toml", "--out", "missing/tiny.csv", "--no-progress"],
     "The folder of the --out file 'missing/tiny.csv' does not exist"),
    ("output paths", lambda d: ["bench", "run", "tiny.toml", "--out", "results", "--no-progress"],
     "The --out file 'results' is a folder"),
    ("output paths", lambda d: ["train", "--scenario", "beds/seed002-v0", "--policy", "rigid:k=1",
                                "--out", "missing/rigid.zip"], "The folder of the --out file 'missing/rigid.zip'"),
    ("output paths", lambda d: ["bench", "run", _suite(d, "evil.toml", 'name = "../evil"\n' + SUITE.split("\n", 2)[2]),
                                "--no-progress"], "'name' names the output files"),
    ("output paths", lambda d: ["bench", "run", _suite(d, "abs.toml", 'name = "/tmp/evil"\n' + SUITE.split("\n", 2)[2]),
                                "--no-progress"], "'name' names the output files"),
    # ---- names: never two rows collapsed into one
    ("names", lambda d: ["evaluate", *S, "--policy", "rigid", "--policy", "rigid"],
     "Two evaluated policies would both be named 'rigid' (--policy rigid and --policy rigid)"),
    ("names", lambda d: ["evaluate", *S, "--policy", "dp", "--load", "dp.zip"],
     "Two evaluated policies would both be named 'dp' (--policy dp and --load dp.zip)"),
    ("names", lambda d: ["evaluate", *S, "--policy", "rigid:k=1,k=2"],
     "The policy parameter 'k' is given twice (k=1 and k=2)"),
    ("names", lambda d: ["evaluate", *S, "--policy", "plan-on:transform=forcast"],
     "Unknown planning transform id 'forcast'; known: forecast. Did you mean 'forecast'?"),
    ("names", lambda d: ["evaluate", *S, "--policy", "rigid", "--set", "days=300", "--set", "days=200"],
     "The scenario override 'days' is given twice"),
    ("names", lambda d: ["bench", "run", _suite(d, "twice.toml", SUITE + '[[policies]]\nid = "rigid"\nparams = {k = 3}\n'),
                         "--no-progress"], "policy names must be distinct"),
    # ---- saved and fitted policies on another scenario
    ("another scenario", lambda d: ["evaluate", "--scenario", "beds/seed002-v0", "--set", "horizon=4", "--episodes",
                                    "5", "--no-progress", "--load", "dp.zip"],
     "was fitted on beds/seed002-v0 {\"horizon\": 3} and cannot act on beds/seed002-v0 {\"horizon\": 4}: "
     "its table covers 3 epochs"),
    ("another scenario", lambda d: ["evaluate", "--scenario", "beds/seed002-v0", "--set", "horizon=3", "--set",
                                    "initial_beds=40", "--episodes", "5", "--no-progress", "--load", "dp.zip"],
     "lie outside its table"),
    ("another scenario", lambda d: ["evaluate", *S, "--load", _edited_dp(d)],
     "does not match policy 'dp'"),
    # ---- suites: every cell validated at load
    ("suites", lambda d: ["bench", "run", _suite(d, "h0.toml", SUITE.replace("horizon = 3", "horizon = 0")),
                          "--no-progress"],
     "[[scenarios]] entry 1 (beds/seed002-v0 {\"horizon\": 0}): The 'horizon' parameter"),
    ("suites", lambda d: ["bench", "run", _suite(d, "k.toml", SUITE.replace("k = 2", "k = -1")), "--no-progress"],
     "[[policies]] entry 'rigid': The 'k' parameter of RigidPolicy"),
    ("suites", lambda d: ["bench", "run", _suite(d, "inf.toml", SUITE.replace("k = 2", "k = inf")), "--no-progress"],
     "[[policies]] entry 'rigid': The 'k' parameter of RigidPolicy must be a finite number"),
    ("suites", lambda d: ["bench", "run", _suite(d, "typo.toml", SUITE.replace("k = 2", "kk = 2")), "--no-progress"],
     "Unknown parameter(s) ['kk'] for policy 'rigid'"),
    ("suites", lambda d: ["bench", "run", "tiny.toml", "--episodes", "0", "--no-progress"],
     "'episodes' parameter must be a positive integer. Got 0"),
    ("suites", lambda d: ["bench", "run", "results", "--no-progress"], "Suite 'results' is a folder"),
    ("suites", lambda d: ["bench", "run", "missing.toml", "--no-progress"], "Suite file 'missing.toml' does not exist"),
]


@pytest.mark.parametrize(("category", "argv", "pattern"), CLI_CASES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CLI_CASES)])
def test_cli_bad_input(workdir, capsys, category, argv, pattern):
    args = argv(workdir)  # may add a suite or an edited file: the snapshot is taken after
    before = _snapshot(workdir)
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optalloc: error: "), err
    assert "Traceback" not in err
    assert pattern in lines[0], lines[0]
    assert _snapshot(workdir) == before


def test_cli_read_only_folder(workdir, capsys):
    """A folder the user cannot write to (meaningless for root, who can write anywhere)."""
    if os.geteuid() == 0:
        pytest.skip("root can write to read-only folders")
    folder = workdir / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code = main(["evaluate", *S, "--policy", "rigid", "--csv", "locked/x.csv"])
    finally:
        folder.chmod(0o755)
    assert code == 2 and "cannot be written" in capsys.readouterr().err


def test_other_scenario_is_allowed_and_said(workdir, capsys):
    """A policy fitted on 3 years acts on 2: allowed (a robustness study), with a note and a fitted_on column."""
    code = main(["evaluate", "--scenario", "beds/seed002-v0", "--set", "horizon=2", "--episodes", "5",
                 "--no-progress", "--load", "dp.zip", "--json"])
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert code == 0
    assert err.strip() == ('optalloc: note: policy dp was fitted on beds/seed002-v0 {"horizon": 3}, evaluated on '
                           'beds/seed002-v0 {"horizon": 2}: a robustness study, not the policy\'s own scenario')
    assert rows[0]["fitted_on"] == 'beds/seed002-v0 {"horizon": 3}'
    # Its proven optimum is for the other scenario: no exact bound here.
    assert rows[0]["bound_kind"] == "none"


# ---------------------------------------------------------------- Python API
@pytest.fixture(scope="module")
def short():
    return oa.make_scenario("beds/seed002-v0", horizon=3)


API_CASES = [
    ("types", lambda s: oa.evaluate(["rigid"], "beds/seed002-v0", episodes=5), ConfigurationError,
     "The 'scenario' argument must be a Scenario (optalloc.make_scenario(id)). Got 'beds/seed002-v0' instead."),
    ("types", lambda s: oa.evaluate(None, s, episodes=5), ConfigurationError, "The 'policies' argument must be"),
    ("types", lambda s: oa.evaluate([object()], s, episodes=5), ConfigurationError, "Got a object instead"),
    ("types", lambda s: oa.evaluate({"a": 3}, s, episodes=5), ConfigurationError, "policies['a']"),
    ("types", lambda s: oa.evaluate(["rigid"], s, episodes=2.5), ConfigurationError, "'episodes' parameter"),
    ("types", lambda s: oa.evaluate(["rigid"], s, episodes=5, seed="0"), ConfigurationError, "'seed' parameter"),
    ("types", lambda s: oa.make_policy("rigid").fit("beds/seed002-v0"), ConfigurationError,
     "The 'scenario' argument must be a Scenario"),
    ("types", lambda s: oa.make_policy("rigid").fit(s, seed=-3), ConfigurationError, "'seed' parameter"),
    ("types", lambda s: oa.make_policy("rigid:k=1"), UnknownIdError, "Unknown policy id 'rigid:k=1'"),
    ("types", lambda s: oa.make_scenario(5), UnknownIdError, "A scenario id must be a string"),
    ("types", lambda s: oa.rollout("rigid", s, s.sample_noise(0, 2)), ConfigurationError,
     "The 'policy' argument must be a Policy"),
    ("types", lambda s: oa.rollout(oa.make_policy("rigid", k=1).fit(s), s, None), ConfigurationError,
     "The 'noise' argument must be a noise path"),
    ("types", lambda s: oa.load_policy(None), ConfigurationError, "The 'path' argument must be a file path"),
    ("types", lambda s: oa.save_policy("rigid", "x.zip"), ConfigurationError, "The 'policy' argument must be"),
    ("types", lambda s: oa.make_policy("rigid", k=1).fit(s).act(np.zeros(4), None), ConfigurationError,
     "The 'info' argument of act / act_batch must be a dict holding 'action_mask'"),
    ("types", lambda s: oa.make_policy("rigid", k=1).fit(s).act_batch(np.zeros((1, 4)), {}), ConfigurationError,
     "The 'infos' argument of act / act_batch must be a dict holding 'action_mask'"),
    ("types", lambda s: oa.make_policy("dp").fit(s).act_batch(None, {"action_mask": np.ones((1, 11), bool)}),
     ConfigurationError, "The 'observations' argument of act_batch"),
    ("numbers", lambda s: oa.make_scenario("beds/seed002-v0", surge_multiplier=float("inf")), ConfigurationError,
     "'surge_multiplier' parameter of scenario beds/seed002-v0 must be a finite number"),
    ("numbers", lambda s: oa.make_scenario("beds/seed002-v0", population_path=[1.0, float("inf")] * 20),
     ConfigurationError, "'population_path[1]' parameter"),
    ("numbers", lambda s: oa.make_policy("ppo", learning_rate=float("inf")).validate_params(), ConfigurationError,
     "'learning_rate' parameter of PPOPolicy must be a finite number"),
    ("numbers", lambda s: oa.evaluate(["rigid"], s, episodes=10**10), ResourceLimitError, "would need about"),
    ("names", lambda s: oa.evaluate(["rigid", "rigid"], s, episodes=5), ConfigurationError,
     "Policy name 'rigid' appears twice"),
    ("output paths", lambda s: oa.save_policy(oa.make_policy("rigid", k=1).fit(s), "missing/x.zip"), OutputPathError,
     "does not exist"),
    ("another scenario", lambda s: oa.evaluate({"d": oa.make_policy("dp").fit(s)},
                                               oa.make_scenario("beds/seed002-v0", horizon=5), episodes=5),
     PolicyScenarioMismatch, "its table covers 3 epochs, the scenario has 5"),
    ("another scenario", lambda s: oa.make_policy("hindsight").fit(s).check_can_act(
        oa.make_scenario("beds/seed002-v0", horizon=2)), PolicyScenarioMismatch, "an oracle bound holds only"),
    ("another scenario", lambda s: oa.make_policy("milp").fit(s).check_can_act(
        oa.make_scenario("beds/seed002-v0", horizon=4)), PolicyScenarioMismatch, "its model covers 3 years"),
    ("another scenario", lambda s: oa.make_policy("dp").fit(s).check_can_act(
        oa.make_scenario("beds/seed002-v0", horizon=3, max_add=4)), PolicyScenarioMismatch, "its actions are"),
    ("suites", lambda s: oa.bench.load_suite(Path(".")), ConfigurationError, "is a folder"),
    ("suites", lambda s: oa.bench.load_suite(None), ConfigurationError, "must be a suite file path"),
]


@pytest.mark.parametrize(("category", "call", "error", "pattern"), API_CASES,
                         ids=[f"{c}-{i}" for i, (c, _, _, _) in enumerate(API_CASES)])
def test_api_bad_input(short, tmp_path, monkeypatch, category, call, error, pattern):
    import optalloc.bench  # noqa: F401 - the suite cases reach it as oa.bench

    monkeypatch.chdir(tmp_path)
    with pytest.raises(error) as info:
        call(short)
    assert isinstance(info.value, OptallocError)
    assert pattern in str(info.value)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_categories_counted():
    """The README's claim lists every category these tests cover."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for category in sorted({c for c, *_ in CLI_CASES} | {c for c, *_ in API_CASES}):
        assert category in readme, category
