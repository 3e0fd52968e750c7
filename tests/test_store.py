"""The SQLite results store: exact round trips, code-aware reuse, a writer killed mid-run, two writers at once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_interrupts import TINY as INTERRUPTED_SUITE

from optalloc.bench import load_suite, run_suite
from optalloc.evaluation import PolicyRun, Trajectory
from optalloc.status import CellStatus, cell_status, decision_status
from optalloc.store import ResultStore, StoreWarning, loaded_code

TIMES = ["fit_s", "act_s"]


def a_run(curve: bool = True, solves: bool = True) -> PolicyRun:
    rng = np.random.default_rng(0)
    trajectory = Trajectory(
        total_cost=rng.normal(size=5), stage_cost=rng.normal(size=(5, 3)),
        actions=rng.integers(0, 4, size=(5, 3, 2)),
        info={"served/unit": rng.normal(size=(5, 3)), "flag": rng.random((5, 3)) < 0.5},
        kpis={"shortage": rng.normal(size=5), "late share": np.array([0.1, np.nan, 0.2, 0.3, 0.4])},
        act_seconds=0.123456789,
    )
    log = pd.DataFrame({"env_steps": np.array([8, 16, 24], dtype=np.int64),
                        "eval_cost": [3.5, np.nan, 1.25], "wall_s": [0.1, 0.2, 0.3]}) if curve else None
    table = pd.DataFrame({"kind": ["replan", "replan"], "epoch": [0, 1], "status": ["optimal", "feasible"],
                          "objective": [10.0, None], "bound": [10.0, 9.0], "gap": [0.0, 0.1],
                          "seconds": [0.5, 2.0], "termination": ["optimal", "maxTimeLimit"]}) if solves else None
    return PolicyRun("agent[seed 3]", "rl", "non_anticipative", 12.3456789, trajectory, -1234.5678, log,
                     solves=table)


def test_a_cell_round_trips_exactly(tmp_path):
    store = ResultStore(tmp_path / "r.db")
    run = a_run()
    identity = {"scenario": "x", "seed": 3, "params": {"lr": 1e-4}}
    assert store.save(identity, run, deps=loaded_code(), status=CellStatus.TIME_LIMIT, suite="s")
    back = store.load(identity)
    assert (back.name, back.method, back.information, back.exact, back.fit_seconds, back.optimum) == \
        (run.name, run.method, run.information, run.exact, run.fit_seconds, run.optimum)
    assert back.trajectory.act_seconds == run.trajectory.act_seconds
    for name in ("total_cost", "stage_cost", "actions"):
        got, want = getattr(back.trajectory, name), getattr(run.trajectory, name)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    for name in ("info", "kpis"):
        got, want = getattr(back.trajectory, name), getattr(run.trajectory, name)
        assert list(got) == list(want)
        for key in want:
            assert got[key].dtype == want[key].dtype
            np.testing.assert_array_equal(got[key], want[key])
    pd.testing.assert_frame_equal(back.learning_curve, run.learning_curve)
    pd.testing.assert_frame_equal(back.solves, run.solves, check_dtype=False)

    # The queryable tables: one row per episode (KPIs as JSON, NaN as null) and per solve.
    episodes = store.table("episodes")
    np.testing.assert_array_equal(episodes["total_cost"], run.trajectory.total_cost)
    assert json.loads(episodes["kpis"].iloc[1]) == {"shortage": run.trajectory.kpis["shortage"][1], "late share": None}
    decisions = store.table("decisions")
    assert list(decisions["status"]) == ["optimal", "feasible"]
    assert list(decisions["termination"]) == ["optimal", "maxTimeLimit"]
    cells = store.table("cells")
    assert list(cells[["suite", "status", "policy"]].iloc[0]) == ["s", "time_limit", "agent[seed 3]"]
    assert cells["mean_cost"].iloc[0] == pytest.approx(run.trajectory.total_cost.mean())

    assert store.load({**identity, "seed": 4}) is None  # another cell: not stored, no warning
    plain = PolicyRun("p", "heuristic", "oracle", 0.0, run.trajectory)
    assert store.save({"other": 1}, plain, deps={}, status="completed")
    again = store.load({"other": 1})
    assert again.learning_curve is None and again.optimum is None and again.solves is None
    assert store.integrity() == "ok"


def test_a_cell_that_needs_pickle_is_not_kept(tmp_path):
    trajectory = Trajectory(np.zeros(2), np.zeros((2, 1)), np.zeros((2, 1), dtype=int),
                            {"note": np.array([["a"], [None]], dtype=object)}, {}, 0.0)
    store = ResultStore(tmp_path / "r.db")
    with pytest.warns(StoreWarning, match="dtype object"):
        assert not store.save({"k": 1}, PolicyRun("p", "heuristic", "non_anticipative", 0.0, trajectory),
                              deps={}, status="completed")
    assert not store.path.exists() or len(store.table("cells")) == 0


def test_a_stored_cell_is_reused_only_while_the_code_it_loaded_is_unchanged(tmp_path):
    store = ResultStore(tmp_path / "r.db")
    import optalloc.families.beds  # noqa: F401 - a family package: its data folder is code of its cells

    deps = loaded_code()
    assert "optalloc/store.py" in deps and "optalloc/evaluation.py" in deps
    data = [name for name in deps if name.startswith("optalloc/families/beds/data/")]
    assert data and all(name.endswith((".csv", ".json", ".txt", ".npz", ".toml")) for name in data)
    run = a_run(curve=False, solves=False)
    store.save({"cell": "a"}, run, deps=deps, status="completed")
    edited = {**deps, "optalloc/evaluation.py": "0" * 64}  # as if evaluation.py had changed since
    store.save({"cell": "b"}, run, deps=edited, status="completed")
    gone = {**deps, "optalloc/no_such_module.py": "0" * 64}
    store.save({"cell": "c"}, run, deps=gone, status="completed")
    assert store.load({"cell": "a"}) is not None
    assert store.load({"cell": "b"}) is None and store.load({"cell": "c"}) is None
    # The recomputed version sits beside the old one (the key includes the code); the current one is used.
    store.save({"cell": "b"}, run, deps=deps, status="completed")
    assert store.load({"cell": "b"}) is not None and len(store.table("cells")) == 4


def test_a_failed_cell_is_stored_with_its_error_and_not_reused(tmp_path):
    store = ResultStore(tmp_path / "r.db")
    assert store.save({"cell": 1}, None, deps={}, status=CellStatus.ERROR, error="RuntimeError: boom")
    assert store.load({"cell": 1}) is None
    cells = store.table("cells")
    assert list(cells[["status", "error"]].iloc[0]) == ["error", "RuntimeError: boom"]


def test_a_store_of_another_schema_version_is_refused_with_a_message(tmp_path):
    from optalloc.exceptions import ConfigurationError

    store = ResultStore(tmp_path / "r.db")
    store.save({"cell": 1}, None, deps={}, status="error")
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    with pytest.raises(ConfigurationError, match="version '99'; this optalloc reads"):
        store.load({"cell": 1})
    with pytest.raises(ConfigurationError, match="is a folder"):
        ResultStore(tmp_path)


def test_the_status_vocabulary():
    assert decision_status("optimal") is CellStatus.OPTIMAL
    assert decision_status("feasible", "maxTimeLimit") is CellStatus.TIME_LIMIT
    assert decision_status("feasible", "iterationLimit") is CellStatus.GAP
    assert decision_status("no_solution", "maxTimeLimit") is CellStatus.INFEASIBLE
    assert decision_status("infeasible") is CellStatus.INFEASIBLE
    assert cell_status([1.0, 2.0]) is CellStatus.COMPLETED
    assert cell_status([1.0, np.nan]) is CellStatus.DIVERGED
    assert cell_status([1.0], curve=[np.array([1.0, np.inf])]) is CellStatus.DIVERGED
    assert cell_status([1.0], curve=[np.array([1.0, np.nan])]) is CellStatus.COMPLETED  # NaN: not evaluated there
    assert cell_status([1.0], solves=[("optimal", "optimal")]) is CellStatus.OPTIMAL
    assert cell_status([1.0], solves=[("optimal", ""), ("feasible", "maxTimeLimit"), ("feasible", "")]) \
        is CellStatus.TIME_LIMIT


def test_a_planner_cell_carries_its_solves_status(tmp_path):
    pytest.importorskip("pyomo")
    suite_file = tmp_path / "plan.toml"
    suite_file.write_text('name = "plan"\nepisodes = 4\n[[scenarios]]\nid = "beds/seed002-v0"\n'
                          'overrides = {horizon = 3}\n[[policies]]\nid = "milp-rolling"\n[[policies]]\nid = "rigid"\n'
                          'params = {train_episodes = 4}\n')
    result = run_suite(load_suite(suite_file), workers=1, progress=False, store=tmp_path / "plan.db")
    assert dict(zip(result.records["policy"], result.records["status"], strict=True)) == \
        {"milp-rolling": "optimal", "rigid": "completed"}
    decisions = ResultStore(tmp_path / "plan.db").table("decisions")
    assert len(decisions) >= 3 and set(decisions["status"]) == {"optimal"}


# ---------------------------------------------------------------- processes
# The interrupt tests' suite (a quick and a slow bed policy) on three seeds: six cells.
TINY = INTERRUPTED_SUITE.replace("seeds = [0, 1]", "seeds = [0, 1, 2]")
N_TINY = 6


def finished(store: Path) -> pd.DataFrame:
    if not store.exists():
        return pd.DataFrame(columns=["key", "fit_seconds", "finished"])
    try:
        cells = ResultStore(store).table("cells")
    except Exception:  # noqa: BLE001 - the first writer may still be creating the tables
        return pd.DataFrame(columns=["key", "fit_seconds", "finished"])
    return cells[cells["status"] != "error"]


def bench(tmp_path: Path, store: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "optalloc.cli", "bench", "run", str(tmp_path / "tiny.toml"), "--no-plots",
            "--no-progress", "--store", str(tmp_path / store), "--out", str(tmp_path / f"{Path(store).stem}.csv"),
            *extra]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and process groups are POSIX")
def test_a_run_killed_midway_loses_no_finished_cell_and_the_rerun_equals_an_uninterrupted_one(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    clean = subprocess.run(bench(tmp_path, "clean.db", "--workers", "2"), capture_output=True, text=True,
                           timeout=300)
    assert clean.returncode == 0, clean.stderr

    proc = subprocess.Popen(bench(tmp_path, "killed.db", "--workers", "2"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    store = tmp_path / "killed.db"
    try:
        deadline = time.monotonic() + 240
        while len(finished(store)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # no handler runs: as a power cut or the OOM killer would
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert ResultStore(store).integrity() == "ok"
    before = finished(store).set_index("key")[["fit_seconds", "finished"]]
    assert 2 <= len(before) < N_TINY

    rerun = subprocess.run(bench(tmp_path, "killed.db", "--workers", "2"), capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resumed {len(before)} of {N_TINY} cells" in rerun.stdout
    after = finished(store).set_index("key")[["fit_seconds", "finished"]]
    assert len(after) == N_TINY
    pd.testing.assert_frame_equal(after.loc[before.index], before)  # not one finished cell recomputed
    a = pd.read_csv(tmp_path / "clean.csv").drop(columns=TIMES)
    b = pd.read_csv(tmp_path / "killed.csv").drop(columns=TIMES)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "clean-episodes.csv"),
                                  pd.read_csv(tmp_path / "killed-episodes.csv"))


def test_two_runs_writing_one_store_at_once_do_not_corrupt_it(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    first = subprocess.Popen(bench(tmp_path, "shared.db", "--workers", "1"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(bench(tmp_path, "shared.db", "--workers", "1", "--out", str(tmp_path / "second.csv")),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    store = ResultStore(tmp_path / "shared.db")
    assert store.integrity() == "ok"
    cells = finished(tmp_path / "shared.db")
    assert cells["key"].nunique() == N_TINY and len(cells) == N_TINY  # a cell written twice is one row
    assert len(store.table("runs")) == 2 and len(store.table("episodes")) == N_TINY * 10
    a = pd.read_csv(tmp_path / "shared.csv").drop(columns=TIMES)
    b = pd.read_csv(tmp_path / "second.csv").drop(columns=TIMES)
    pd.testing.assert_frame_equal(a, b)


def test_the_manifest_says_what_ran_on_what(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY.replace("seeds = [0, 1, 2]", "seeds = [0]"))
    store = tmp_path / "m.db"
    run_suite(load_suite(tmp_path / "tiny.toml"), workers=1, progress=False, store=store)
    runs = ResultStore(store).table("runs")
    manifest = json.loads(runs["manifest"].iloc[0])
    assert runs["suite"].iloc[0] == "tiny"
    assert manifest["versions"]["numpy"] == np.__version__ and manifest["versions"]["python"].startswith("3.")
    assert manifest["hardware"]["cpus"] == os.cpu_count()
    assert manifest["suite"]["seeds"] == [0] and manifest["episodes"] == 10
    assert [p["name"] for p in manifest["suite"]["policies"]] == ["quick", "slow"]
    # Every hyper-parameter with its default, and the budget among them: here the training paths.
    settings = {p["name"]: p for p in manifest["policies"]}
    assert settings["quick"]["budget"] == {"train_episodes": 10} and settings["slow"]["budget"] == {"train_episodes": 200}
    assert "k" in settings["quick"]["hyperparameters"]
    assert len(manifest["code_fingerprint"]) == 64
    assert "git_revision" in manifest


def test_a_real_dask_cluster_gives_the_local_executor_s_numbers(tmp_path):
    distributed = pytest.importorskip("distributed")
    (tmp_path / "tiny.toml").write_text(TINY)
    suite = load_suite(tmp_path / "tiny.toml")
    local = run_suite(suite, workers=2, progress=False, store=tmp_path / "local.db")
    # A scheduler and two worker processes, reached through its TCP address as a remote cluster would be.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  protocol="tcp") as cluster:
        assert cluster.scheduler_address.startswith("tcp://") and len(cluster.workers) == 2
        remote = run_suite(suite, progress=False, store=tmp_path / "dask.db", executor="dask",
                           address=cluster.scheduler_address)
    pd.testing.assert_frame_equal(local.summary.drop(columns=TIMES), remote.summary.drop(columns=TIMES))
    pd.testing.assert_frame_equal(local.episodes, remote.episodes)
    pd.testing.assert_frame_equal(local.epochs, remote.epochs)
    manifest = json.loads(ResultStore(tmp_path / "dask.db").table("runs")["manifest"].iloc[0])
    assert manifest["executor"] == "dask" and manifest["address"] == cluster.scheduler_address
    # Stored by the cluster's run, loaded by a local one: the cells are the same computations.
    again = run_suite(suite, workers=1, progress=False, store=tmp_path / "dask.db")
    assert again.resumed == N_TINY


def test_a_dask_scheduler_that_is_not_there_is_a_clear_error(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    import optalloc.bench
    from optalloc.cli import main

    monkeypatch.setattr(optalloc.bench, "DASK_CONNECT_TIMEOUT", 2.0)
    (tmp_path / "tiny.toml").write_text(TINY)
    code = main(["bench", "run", str(tmp_path / "tiny.toml"), "--executor", "dask", "--address",
                 "tcp://127.0.0.1:9", "--no-plots", "--no-progress", "--out", str(tmp_path / "t.csv")])
    stderr = capsys.readouterr().err
    assert code == 2 and "Cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in stderr, stderr
    assert "Traceback" not in stderr
