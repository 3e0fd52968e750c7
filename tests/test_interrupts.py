"""Stopped or failing suite runs keep their finished cells, and a re-run resumes with the same numbers."""

from __future__ import annotations

import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from toy_family.simple_policies import register_for_test

import optalloc.bench as bench
import optalloc.registry as bench_registry
from optalloc.bench import SuiteInterrupted, load_suite, run_suite
from optalloc.cli import main
from optalloc.store import ResultStore, StoreWarning

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


def stored(store: Path) -> pd.DataFrame:
    """The finished cells in a results store (one row each)."""
    if not store.exists():
        return pd.DataFrame(columns=["key", "policy", "seed", "status", "fit_seconds"])
    cells = ResultStore(store).table("cells")
    return cells[cells["status"] != "error"].sort_values(["seed", "policy"], ignore_index=True)


def test_resumed_run_prints_and_writes_the_same_numbers(capsys, suite_file, tmp_path):
    out = tmp_path / "small.csv"
    store = tmp_path / "small.db"
    code, stdout, _ = bench_run(capsys, suite_file, out)
    assert code == 0 and not RESUMED.search(stdout)
    assert len(stored(store)) == N_CELLS
    full = {kind: (tmp_path / f"small{kind}.csv").read_text() for kind in ("", "-episodes", "-epochs")}

    with sqlite3.connect(store) as db:  # two cells lost: they are recomputed, the four others loaded
        db.execute("DELETE FROM cells WHERE rowid IN (SELECT rowid FROM cells LIMIT 2)")
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
    assert len(ResultStore(store).table("runs")) == 3  # one manifest per run


def test_a_failing_cell_is_recorded_and_the_others_run_on(suite_file, tmp_path, monkeypatch):
    suite = load_suite(suite_file)
    reference = run_suite(suite, workers=1, progress=False)  # no store: the Python default
    store = tmp_path / "small.db"
    real_policy = bench_registry.make_policy

    def crash_the_grid_on_seed_1(policy_id, **params):
        policy = real_policy(policy_id, **params)
        if params == {"train_episodes": 10}:  # the grid search
            fit = policy.fit

            def failing_fit(scenario, seed=None):
                if seed == 1:
                    raise RuntimeError("solver crashed")
                return fit(scenario, seed=seed)

            policy.fit = failing_fit
        return policy

    monkeypatch.setattr(bench_registry, "make_policy", crash_the_grid_on_seed_1)
    result = run_suite(suite, workers=1, progress=False, store=store)
    assert list(result.failures[["seed", "policy", "status"]].itertuples(index=False, name=None)) == \
        [(1, "grid", "error")]
    assert "RuntimeError: solver crashed" in result.failures["error"].iloc[0]
    assert len(result.summary) == N_CELLS - 1  # the others ran, on the same paths as without the failure
    merged = reference.summary.merge(result.summary, on=["scenario", "seed", "policy"], suffixes=("", "_f"))
    assert len(merged) == N_CELLS - 1 and np.array_equal(merged["mean_cost"], merged["mean_cost_f"])
    cells = ResultStore(store).table("cells")
    failed = cells[cells["status"] == "error"]
    assert len(failed) == 1 and "solver crashed" in failed["error"].iloc[0]

    monkeypatch.setattr(bench_registry, "make_policy", real_policy)
    resumed = run_suite(suite, workers=1, progress=False, store=store)  # the failed cell is computed again
    assert resumed.resumed == N_CELLS - 1 and resumed.failures.empty
    pd.testing.assert_frame_equal(reference.summary.drop(columns=TIMES), resumed.summary.drop(columns=TIMES))
    pd.testing.assert_frame_equal(reference.episodes, resumed.episodes)


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
        run_suite(load_suite(suite_file), workers=1, progress=False, store=tmp_path / "py.db")
    assert (stop.value.finished, stop.value.kept, stop.value.total) == (2, 2, N_CELLS)

    calls.clear()
    code, stdout, stderr = bench_run(capsys, suite_file, tmp_path / "small.csv")
    store = tmp_path / "small.db"
    assert code == 130 and stdout == ""
    assert stderr == (f"optalloc: interrupted; 2 of {N_CELLS} cells finished and kept in {store}; "
                      "re-run the same command to resume\n")
    calls.clear()
    code, _, stderr = bench_run(capsys, suite_file, tmp_path / "small.csv", "--fresh")
    assert code == 130 and "re-run without --fresh to resume" in stderr


def test_unreadable_or_foreign_cells_are_recomputed_with_a_warning(capsys, suite_file, tmp_path):
    out = tmp_path / "small.csv"
    store = tmp_path / "small.db"
    assert bench_run(capsys, suite_file, out)[0] == 0
    episodes = (tmp_path / "small-episodes.csv").read_text()
    with sqlite3.connect(store) as db:
        keys = [row[0] for row in db.execute("SELECT key FROM cells ORDER BY key")]
        db.execute("UPDATE cells SET arrays = substr(arrays, 1, 100) WHERE key = ?", (keys[0],))  # truncated
        db.execute("UPDATE cells SET identity = '{}' WHERE key = ?", (keys[1],))  # another cell's row
        db.execute("UPDATE cells SET fields = '{\"info\": ' WHERE key = ?", (keys[2],))  # cut off
    with pytest.warns(StoreWarning) as caught:
        result = run_suite(load_suite(suite_file), workers=1, progress=False, store=store)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 3 and result.resumed == N_CELLS - 3
    assert any("do not match their checksum" in m for m in messages)
    assert any("belongs to another cell" in m for m in messages)
    assert any("JSONDecodeError" in m for m in messages)
    # The CLI prints them as notes, and the recomputed cells were written back: nothing to warn about now.
    code, stdout, stderr = bench_run(capsys, suite_file, out)
    assert code == 0 and f"resumed {N_CELLS} of {N_CELLS}" in stdout and "optalloc: note" not in stderr
    assert (tmp_path / "small-episodes.csv").read_text() == episodes


def test_a_file_that_is_not_a_results_store_is_refused(capsys, suite_file, tmp_path):
    out = tmp_path / "small.csv"
    (tmp_path / "text.db").write_text("a note, not a database\n" * 100)
    with sqlite3.connect(tmp_path / "other.db") as db:
        db.execute("CREATE TABLE accounts (id INTEGER)")
    for name, expected in (("text.db", "not an optalloc results store"), ("other.db", "SQLite file of something else")):
        code, _, stderr = bench_run(capsys, suite_file, out, "--store", str(tmp_path / name))
        assert code == 2 and expected in stderr and "Traceback" not in stderr, stderr
    assert (tmp_path / "text.db").read_text().startswith("a note")  # nothing of the user's is overwritten


def test_fresh_empties_the_store_and_recomputes(capsys, suite_file, tmp_path):
    out = tmp_path / "small.csv"
    store = tmp_path / "small.db"
    assert bench_run(capsys, suite_file, out)[0] == 0
    written = stored(store)
    code, stdout, _ = bench_run(capsys, suite_file, out, "--fresh")
    assert code == 0 and not RESUMED.search(stdout)
    rewritten = stored(store)
    assert set(rewritten["key"]) == set(written["key"]) and len(rewritten) == N_CELLS
    assert not rewritten["finished"].equals(written["finished"]) or not \
        rewritten["fit_seconds"].equals(written["fit_seconds"])  # computed again


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
    store = tmp_path / "results" / "tiny.db"  # the default output is results/<suite name>.csv
    # A session of its own: SIGINT goes to the whole process group, as a terminal's Ctrl-C does.
    # SIGINT restored to its default: a shell that starts a job in the background without job control
    # (as CI runners may) leaves it ignored, and Python then keeps ignoring it, as a user would want there.
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not len(stored(store)) and proc.poll() is None and time.monotonic() < deadline:
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
    assert match.group(2) == str(Path("results") / "tiny.db")
    assert 1 <= kept < 4 and len(stored(store)) == kept
    assert _group_gone(proc.pid, timeout=10), "worker processes outlived the run"

    rerun = subprocess.run(command + ["--no-progress"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resumed {kept} of 4 cells from {Path('results') / 'tiny.db'}" in rerun.stdout
    assert len(stored(store)) == 4 and len(pd.read_csv(tmp_path / "results" / "tiny.csv")) == 4
