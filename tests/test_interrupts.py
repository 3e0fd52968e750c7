"""Stopped suite runs keep their finished cells, and a re-run resumes with the same numbers."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from toy_family.simple_policies import register_for_test

import optalloc.bench as bench
from optalloc.bench import SuiteInterrupted, load_suite, run_suite
from optalloc.cells import CellStore, CellStoreWarning
from optalloc.cli import main
from optalloc.evaluation import PolicyRun, Trajectory

# Two seeds x three policies on the toy walk: an exact optimum (dp), a grid search, a fixed rule, KPIs.
SUITE = """
name = "small"
episodes = 8
seeds = [0, 1]
reference = "dp"
[[scenarios]]
id = "toy/walk-v0"
overrides = {horizon = 4}
[[policies]]
id = "dp"
[[policies]]
id = "toy-toward"
name = "grid"
params = {train_episodes = 10}
[[policies]]
id = "toy-toward"
name = "toward"
params = {cell = 3}
"""
N_CELLS = 6
TIMES = ["fit_s", "act_s"]  # wall times: a recomputed cell has its own
RESUMED = re.compile(r"^resumed \d+ of \d+ cells from ", re.M)


@pytest.fixture
def suite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    register_for_test(monkeypatch)  # the toy test policies of SUITE (its cells run in this process)
    path = tmp_path / "small.toml"
    path.write_text(SUITE)
    return path


def bench_run(capsys: pytest.CaptureFixture[str], suite: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["bench", "run", str(suite), "--out", str(out), "--workers", "1", "--no-plots", "--no-progress",
                 *extra])
    stdout, stderr = capsys.readouterr()
    return code, stdout, stderr


def cell_files(store: Path) -> list[Path]:
    return sorted(store.glob("*.json"))


def test_resumed_run_prints_and_writes_the_same_numbers(capsys, suite_file, tmp_path):
    out = tmp_path / "small.csv"
    store = tmp_path / "small.cells"
    code, stdout, _ = bench_run(capsys, suite_file, out)
    assert code == 0 and not RESUMED.search(stdout)
    assert len(cell_files(store)) == N_CELLS and len(list(store.glob("*.npz"))) == N_CELLS
    full = {kind: (tmp_path / f"small{kind}.csv").read_text() for kind in ("", "-episodes", "-epochs")}

    for stale in cell_files(store)[:2]:  # two cells lost: they are recomputed, the four others loaded
        stale.unlink()
        stale.with_suffix(".npz").unlink()
    code, stdout, _ = bench_run(capsys, suite_file, out)
    assert code == 0 and f"resumed {N_CELLS - 2} of {N_CELLS} cells from {store}" in stdout
    assert (tmp_path / "small-episodes.csv").read_text() == full["-episodes"]
    assert (tmp_path / "small-epochs.csv").read_text() == full["-epochs"]
    before = pd.read_csv(io.StringIO(full[""]), dtype=str)  # compared as text: exactly the same digits
    after = pd.read_csv(out, dtype=str)
    pd.testing.assert_frame_equal(before.drop(columns=TIMES), after.drop(columns=TIMES))
    same_times = (before[TIMES] == after[TIMES]).all(axis=1)
    assert same_times.sum() >= N_CELLS - 2  # the loaded cells keep their stored fit and act seconds

    resumed = out.read_text()
    code, stdout, _ = bench_run(capsys, suite_file, out)
    assert code == 0 and f"resumed {N_CELLS} of {N_CELLS} cells" in stdout
    assert out.read_text() == resumed  # all cells loaded: the very same file, timings included


def test_a_failure_after_the_first_cell_keeps_it_and_the_resume_matches(suite_file, tmp_path, monkeypatch):
    suite = load_suite(suite_file)
    reference = run_suite(suite, workers=1, progress=False)  # no store: the Python default
    store = tmp_path / "cells"
    real_cell = bench._run_cell
    calls = []

    def fail_on_second_cell(*args):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("solver crashed")
        return real_cell(*args)

    monkeypatch.setattr(bench, "_run_cell", fail_on_second_cell)
    with pytest.raises(RuntimeError, match="solver crashed"):
        run_suite(suite, workers=1, progress=False, store=store)
    assert len(cell_files(store)) == 1
    kept = CellStore(store).load(bench._cell_identity(*calls[0]))
    assert kept is not None

    monkeypatch.setattr(bench, "_run_cell", real_cell)
    resumed = run_suite(suite, workers=1, progress=False, store=store)
    assert resumed.resumed == 1 and len(cell_files(store)) == N_CELLS
    pd.testing.assert_frame_equal(reference.summary.drop(columns=TIMES), resumed.summary.drop(columns=TIMES))
    pd.testing.assert_frame_equal(reference.episodes, resumed.episodes)
    pd.testing.assert_frame_equal(reference.epochs, resumed.epochs)
    first = resumed.summary.iloc[0]
    assert (first["fit_s"], first["act_s"]) == (kept.fit_seconds, kept.trajectory.act_seconds)


def test_ctrl_c_in_process_reports_the_kept_cells(capsys, suite_file, tmp_path, monkeypatch):
    real_cell = bench._run_cell
    calls = []

    def interrupt_third_cell(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_cell(*args)

    monkeypatch.setattr(bench, "_run_cell", interrupt_third_cell)
    with pytest.raises(SuiteInterrupted) as stop:
        run_suite(load_suite(suite_file), workers=1, progress=False, store=tmp_path / "py.cells")
    assert (stop.value.finished, stop.value.kept, stop.value.total) == (2, 2, N_CELLS)

    calls.clear()
    code, stdout, stderr = bench_run(capsys, suite_file, tmp_path / "small.csv")
    store = tmp_path / "small.cells"
    assert code == 130 and stdout == ""
    assert stderr == (f"optalloc: interrupted; 2 of {N_CELLS} cells finished and kept in {store}; "
                      "re-run the same command to resume\n")
    calls.clear()
    code, _, stderr = bench_run(capsys, suite_file, tmp_path / "small.csv", "--fresh")
    assert code == 130 and "re-run without --fresh to resume" in stderr


def test_unreadable_or_foreign_cells_are_recomputed_with_a_warning(capsys, suite_file, tmp_path):
    out = tmp_path / "small.csv"
    store = tmp_path / "small.cells"
    assert bench_run(capsys, suite_file, out)[0] == 0
    episodes = (tmp_path / "small-episodes.csv").read_text()
    a, b, c, d = cell_files(store)[:4]
    a.with_suffix(".npz").write_bytes(a.with_suffix(".npz").read_bytes()[:100])  # truncated
    b.write_text('{"format": "optalloc-cell", "identity": ')  # cut off mid-write by a crash elsewhere
    shutil.copy(d, c)  # another cell's file under this key
    d.write_text('{"format": "something-else"}')
    with pytest.warns(CellStoreWarning) as caught:
        result = run_suite(load_suite(suite_file), workers=1, progress=False, store=store)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 4 and result.resumed == N_CELLS - 4
    assert any("does not match its checksum" in m for m in messages)
    assert any("belongs to another cell" in m for m in messages)
    assert any("not an optalloc-cell file" in m for m in messages)
    assert any("JSONDecodeError" in m for m in messages)
    # The CLI prints them as notes, and the recomputed cells were written back: nothing to warn about now.
    code, stdout, stderr = bench_run(capsys, suite_file, out)
    assert code == 0 and f"resumed {N_CELLS} of {N_CELLS}" in stdout and "optalloc: note" not in stderr
    assert (tmp_path / "small-episodes.csv").read_text() == episodes


def test_fresh_empties_the_store_and_recomputes(capsys, suite_file, tmp_path):
    out = tmp_path / "small.csv"
    store = tmp_path / "small.cells"
    assert bench_run(capsys, suite_file, out)[0] == 0
    stale = store / ("0" * 32 + ".json")
    stale.write_text("{}")  # a cell no current suite has
    (store / "README.txt").write_text("not a cell")
    written = {p.name: p.read_text() for p in cell_files(store) if p != stale}
    code, stdout, _ = bench_run(capsys, suite_file, out, "--fresh")
    assert code == 0 and not RESUMED.search(stdout)
    assert not stale.exists() and (store / "README.txt").exists()
    rewritten = {p.name: p.read_text() for p in cell_files(store)}
    assert set(rewritten) == set(written) and rewritten != written  # same keys, new fit and act seconds


def test_a_cell_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(0)
    curve = pd.DataFrame({"env_steps": np.array([8, 16, 24], dtype=np.int64),
                          "eval_cost": [3.5, np.nan, 1.25], "wall_s": [0.1, 0.2, 0.3]})
    trajectory = Trajectory(
        total_cost=rng.normal(size=5), stage_cost=rng.normal(size=(5, 3)),
        actions=rng.integers(0, 4, size=(5, 3, 2)),
        info={"served/unit": rng.normal(size=(5, 3)), "flag": rng.random((5, 3)) < 0.5},
        kpis={"shortage": rng.normal(size=5)}, act_seconds=0.123456789,
    )
    run = PolicyRun("agent[seed 3]", "rl", "non_anticipative", 12.3456789, trajectory, -1234.5678, curve)
    cells = CellStore(tmp_path / "cells")
    identity = {"scenario": "x", "seed": 3, "params": {"lr": 1e-4}}
    assert cells.save(identity, run)
    back = cells.load(identity)
    assert (back.name, back.method, back.information, back.exact, back.fit_seconds, back.optimum) == \
        (run.name, run.method, run.information, run.exact, run.fit_seconds, run.optimum)
    assert back.trajectory.act_seconds == trajectory.act_seconds
    for name in ("total_cost", "stage_cost", "actions"):
        got, want = getattr(back.trajectory, name), getattr(trajectory, name)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    for name in ("info", "kpis"):
        got, want = getattr(back.trajectory, name), getattr(trajectory, name)
        assert list(got) == list(want)
        for key in want:
            assert got[key].dtype == want[key].dtype
            np.testing.assert_array_equal(got[key], want[key])
    pd.testing.assert_frame_equal(back.learning_curve, curve)

    assert cells.load({**identity, "seed": 4}) is None  # another cell: not stored, no warning
    without_curve = PolicyRun("p", "heuristic", "oracle", 0.0, trajectory)
    assert cells.save({"other": 1}, without_curve)
    again = cells.load({"other": 1})
    assert again.learning_curve is None and again.optimum is None


def test_a_cell_that_needs_pickle_is_not_kept(tmp_path):
    trajectory = Trajectory(np.zeros(2), np.zeros((2, 1)), np.zeros((2, 1), dtype=int),
                            {"note": np.array([["a"], [None]], dtype=object)}, {}, 0.0)
    cells = CellStore(tmp_path / "cells")
    with pytest.warns(CellStoreWarning, match="dtype object"):
        assert not cells.save({"k": 1}, PolicyRun("p", "heuristic", "non_anticipative", 0.0, trajectory))
    assert not list(cells.path.glob("*"))


# ---------------------------------------------------------------- a real Ctrl-C
# One quick cell, then slow ones: the first cell is stored while a worker is still busy.
TINY = """
name = "tiny"
episodes = 10
seeds = [0, 1]
[[scenarios]]
id = "beds/seed002-v0"
[[policies]]
id = "rigid"
name = "quick"
params = {train_episodes = 10}
[[policies]]
id = "complaint"
name = "slow"
params = {train_episodes = 200}
"""
MESSAGE = re.compile(r"optalloc: interrupted; (\d) of 4 cells finished and kept in (\S+); "
                     r"re-run the same command to resume")


def _group_gone(pgid: int, timeout: float) -> bool:
    """Whether every process of the group has exited (workers included) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGINT are POSIX")
def test_ctrl_c_stops_the_pool_cleanly_and_the_rerun_resumes(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    command = [sys.executable, "-m", "optalloc.cli", "bench", "run", "tiny.toml", "--workers", "2", "--no-plots"]
    store = tmp_path / "results" / "tiny.cells"  # the default output is results/<suite name>.csv
    # A session of its own: SIGINT goes to the whole process group, as a terminal's Ctrl-C does.
    # SIGINT restored to its default: a shell that starts a job in the background without job control
    # (as CI runners may) leaves it ignored, and Python then keeps ignoring it, as a user would want there.
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not cell_files(store) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before any cell was stored"
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    # Nothing but the progress bar and the message: no worker's traceback, no "leaked semaphore" warning.
    lines = [line for line in re.split(r"[\r\n]", stderr) if line.strip()]
    assert all(line.startswith("suite tiny:") for line in lines[:-1]), stderr
    match = MESSAGE.fullmatch(lines[-1])
    assert match, stderr
    kept = int(match.group(1))
    assert match.group(2) == str(Path("results") / "tiny.cells")
    assert 1 <= kept < 4 and len(cell_files(store)) == kept
    assert _group_gone(proc.pid, timeout=10), "worker processes outlived the run"

    rerun = subprocess.run(command + ["--no-progress"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resumed {kept} of 4 cells from {Path('results') / 'tiny.cells'}" in rerun.stdout
    assert len(cell_files(store)) == 4 and len(pd.read_csv(tmp_path / "results" / "tiny.csv")) == 4
