"""Installation hygiene: the version flag, ignored outputs, and where compiled kernels are cached."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import optalloc
from optalloc.cli import main

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(optalloc.__file__).resolve().parent

# Compiles every kernel an evaluation uses (subkeys, guide tables, excess levels).
EVALUATE = ("import optalloc as oa; s = oa.make_scenario('beds/seed002-v0', horizon=2); "
            "print(oa.evaluate(['rigid'], s, episodes=2).summary['mean_cost'].iloc[0])")
SUBKEYS = "import numpy as np, optalloc.sampling as sm; print(sm.subkeys(np.arange(3, dtype=np.uint64), 2).shape)"


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"optalloc {optalloc.__version__}"


def test_version_matches_the_installed_distribution():
    assert optalloc.__version__ == importlib.metadata.version("optalloc")


def test_bench_results_are_ignored_by_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    # The README's first command writes results/<suite>.csv (and PNGs) in the clone.
    for path in ("results/beds.csv", "results/beds-episodes.csv", "results/beds-beds_seed002-v0-seed0-costs.png"):
        proc = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert proc.returncode == 0, f"{path} is not ignored by .gitignore"
    tracked = subprocess.run(["git", "check-ignore", "-q", "optalloc/describe.py"], cwd=ROOT)
    assert tracked.returncode == 1


# ---------------------------------------------------------------- numba kernel cache
def _package_cache_files() -> dict[Path, int]:
    """numba index and data files under the package, with their modification times."""
    return {p: p.stat().st_mtime_ns for p in PACKAGE.rglob("*.nb[ic]")}


def _run(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter whose only cache settings are ``env`` (HOME is ``tmp_path/home``)."""
    full = {k: v for k, v in os.environ.items()
            if k not in ("NUMBA_CACHE_DIR", "NUMBA_CACHE_LOCATOR_CLASSES", "XDG_CACHE_HOME", "NUMBA_DEBUG_CACHE")}
    full["HOME"] = str(tmp_path / "home")
    full.update(env)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_kernels_are_cached_in_the_user_cache_dir_never_in_the_package(tmp_path):
    before = _package_cache_files()
    xdg = tmp_path / "xdg"
    first = _run(EVALUATE, tmp_path, XDG_CACHE_HOME=str(xdg))
    cached = {p.name.split("-")[0] for p in (xdg / "optalloc" / "numba").rglob("*.nbi")}
    assert {"sampling.subkeys", "sampling._guide_tables", "sampling.excess_levels"} <= cached
    assert _package_cache_files() == before, "a compile wrote numba cache files inside the package"
    assert not list((tmp_path / "home").rglob("*.nb[ic]"))

    # A second process loads the kernels from there instead of compiling them again.
    second = _run(EVALUATE, tmp_path, XDG_CACHE_HOME=str(xdg), NUMBA_DEBUG_CACHE="1")
    loaded = [line for line in second.stdout.splitlines() if line.startswith("[cache] data loaded from")]
    assert loaded and all(str(xdg / "optalloc" / "numba") in line for line in loaded)
    assert second.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG layout is Linux's")
def test_home_cache_without_xdg_cache_home(tmp_path):
    before = _package_cache_files()
    _run(SUBKEYS, tmp_path)
    assert list((tmp_path / "home" / ".cache" / "optalloc" / "numba").rglob("sampling.subkeys-*.nbi"))
    assert _package_cache_files() == before


def test_numba_cache_dir_is_honoured(tmp_path):
    before = _package_cache_files()
    _run(SUBKEYS, tmp_path, NUMBA_CACHE_DIR=str(tmp_path / "numba"), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert list((tmp_path / "numba").rglob("sampling.subkeys-*.nbi"))
    assert not (tmp_path / "xdg").exists()
    assert _package_cache_files() == before


def test_unusable_cache_dir_compiles_without_caching(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    before = _package_cache_files()
    proc = _run(SUBKEYS + "; print(type(sm.subkeys._cache).__name__)", tmp_path, XDG_CACHE_HOME=str(blocker))
    assert proc.stdout.split() == ["(3,", "2)", "NullCache"]
    assert _package_cache_files() == before


def test_cache_folder_lost_after_import_only_warns(tmp_path):
    code = """
import shutil, warnings
import numpy as np
import optalloc.sampling as sm
path = sm.subkeys._cache.cache_path
shutil.rmtree(path)
open(path, "w").close()  # the folder is replaced by a file between import and the first compile
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print(sm.subkeys(np.arange(3, dtype=np.uint64), 2).shape)
print(any("not caching compiled kernels" in str(w.message) for w in caught))
"""
    proc = _run(code, tmp_path, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert proc.stdout.split() == ["(3,", "2)", "True"]
