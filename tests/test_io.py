"""Saved policies: round trip, and clear errors for bad files."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import optalloc as oa
from optalloc.exceptions import CheckpointError


@pytest.fixture
def scenario():
    return oa.make_scenario("beds/seed002-v0", horizon=5)


def test_round_trip_keeps_fitted_state(tmp_path, scenario):
    policy = oa.make_policy("complaint", train_episodes=10, grid_size=6).fit(scenario, seed=3)
    path = oa.save_policy(policy, tmp_path / "c.zip")
    loaded = oa.load_policy(path)
    assert loaded.delta_ == policy.delta_ and loaded.limit_ == policy.limit_
    np.testing.assert_array_equal(loaded.grid_costs_, policy.grid_costs_)
    assert loaded.scenario_spec_ == {"id": "beds/seed002-v0", "overrides": {"horizon": 5}}
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["policy_id"] == "complaint" and manifest["fit_seed"] == 3
    assert "numpy" in manifest["versions"]


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
    policy = oa.make_policy("rigid", k=2).fit(scenario)
    path = oa.save_policy(policy, tmp_path / "r.zip")
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    tampered = tmp_path / "t.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        dst.writestr("manifest.json", src.read("manifest.json"))
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w") as npz:
            npz.writestr("k_.npy", buf.getvalue())
        dst.writestr("state.npz", inner.getvalue())
    with pytest.raises(CheckpointError, match="corrupt arrays"):
        oa.load_policy(tampered)


def test_unregistered_policy_id(tmp_path, scenario):
    policy = oa.make_policy("rigid", k=2).fit(scenario)
    path = oa.save_policy(policy, tmp_path / "r.zip")
    tampered = tmp_path / "t.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        manifest = json.loads(src.read("manifest.json"))
        manifest["policy_id"] = "os.system"
        dst.writestr("manifest.json", json.dumps(manifest))
        dst.writestr("state.npz", src.read("state.npz"))
    with pytest.raises(CheckpointError, match="Unknown policy id 'os.system'"):
        oa.load_policy(tampered)
