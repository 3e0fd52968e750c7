"""Saved policies: round trip, and clear errors for bad files."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from toy_family.scenario import brute_force_optimum
from toy_family.simple_policies import register_for_test

import optalloc as oa
from optalloc.evaluation import rollout
from optalloc.exceptions import CheckpointError


@pytest.fixture
def scenario():
    return oa.make_scenario("toy/walk-v0", horizon=5)


def test_round_trip_keeps_fitted_state(tmp_path, scenario):
    policy = oa.make_policy("dp").fit(scenario, seed=3)
    path = oa.save_policy(policy, tmp_path / "dp.zip")
    loaded = oa.load_policy(path)
    np.testing.assert_array_equal(loaded.table_, policy.table_)
    np.testing.assert_array_equal(loaded.offsets_, policy.offsets_)
    assert loaded.expected_cost_ == policy.expected_cost_ == pytest.approx(brute_force_optimum(scenario), rel=1e-12)
    assert loaded.scenario_spec_ == {"id": "toy/walk-v0", "overrides": {"horizon": 5}}
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["policy_id"] == "dp" and manifest["fit_seed"] == 3
    assert "numpy" in manifest["versions"]
    # The loaded policy acts as the saved one did: the same actions on the same paths.
    noise = scenario.sample_noise(0, 20)
    np.testing.assert_array_equal(rollout(loaded, scenario, noise).actions, rollout(policy, scenario, noise).actions)


def test_round_trip_of_a_grid_search_on_training_paths(tmp_path, scenario, monkeypatch):
    """A fitted heuristic's arrays and numbers come back, and the manifest's seed reproduces the fit."""
    register_for_test(monkeypatch)
    policy = oa.make_policy("toy-toward", train_episodes=8).fit(scenario, seed=5)
    loaded = oa.load_policy(oa.save_policy(policy, tmp_path / "t.zip"))
    assert type(loaded) is type(policy) and loaded.get_params() == {"cell": None, "train_episodes": 8}
    assert loaded.cell_ == policy.cell_ and isinstance(loaded.cell_, int)
    np.testing.assert_array_equal(loaded.grid_costs_, policy.grid_costs_)
    refit = oa.make_policy("toy-toward", **loaded.get_params()).fit(scenario, seed=loaded.fit_seed_)
    np.testing.assert_array_equal(refit.grid_costs_, policy.grid_costs_)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        oa.load_policy(tmp_path / "nope.zip")


def test_not_a_zip(tmp_path):
    path = tmp_path / "junk.zip"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError, match="unreadable"):
        oa.load_policy(path)


def test_foreign_zip(tmp_path):
    path = tmp_path / "foreign.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "something-else"}))
        zf.writestr("state.npz", b"")
    with pytest.raises(CheckpointError, match="not an optalloc policy"):
        oa.load_policy(path)


def test_pickled_arrays_are_refused(tmp_path, scenario):
    """An object array (which would need unpickling) is rejected, not loaded."""
    policy = oa.make_policy("dp").fit(scenario)
    path = oa.save_policy(policy, tmp_path / "dp.zip")
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    tampered = tmp_path / "t.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        dst.writestr("manifest.json", src.read("manifest.json"))
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w") as npz:
            npz.writestr("table_.npy", buf.getvalue())
        dst.writestr("state.npz", inner.getvalue())
    with pytest.raises(CheckpointError, match="corrupt arrays"):
        oa.load_policy(tampered)


def test_unregistered_policy_id(tmp_path, scenario):
    policy = oa.make_policy("dp").fit(scenario)
    path = oa.save_policy(policy, tmp_path / "dp.zip")
    tampered = tmp_path / "t.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        manifest = json.loads(src.read("manifest.json"))
        manifest["policy_id"] = "os.system"
        dst.writestr("manifest.json", json.dumps(manifest))
        dst.writestr("state.npz", src.read("state.npz"))
    with pytest.raises(CheckpointError, match="Unknown policy id 'os.system'"):
        oa.load_policy(tampered)
