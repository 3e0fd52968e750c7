"""The manifest of a suite run: what ran it, on what, with which versions, so a number can be traced.

Recorded in the results store (:meth:`optalloc.store.ResultStore.begin_run`)
before the first cell. Versions are read from the installed distributions'
metadata, so nothing heavy (torch, Pyomo) is imported to write it.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["git_revision", "hardware", "policy_settings", "run_manifest", "versions"]

#: Distributions whose versions decide numbers or speed.
DISTRIBUTIONS = ("optalloc", "numpy", "scipy", "pandas", "numba", "gymnasium", "pyomo", "highspy", "torch",
                 "stable-baselines3", "dask", "distributed")


def versions() -> dict[str, str | None]:
    """Python's and each of :data:`DISTRIBUTIONS`' installed version (None when not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in DISTRIBUTIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def hardware() -> dict[str, Any]:
    """The machine: OS, architecture, processor name, logical CPUs and memory [GiB]."""
    memory = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        try:
            memory = round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 2)
        except (OSError, ValueError):
            memory = None
    processor = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():  # platform.processor() is often empty on Linux
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                processor = line.split(":", 1)[1].strip()
                break
    return {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
            "processor": processor, "cpus": os.cpu_count(), "memory_gib": memory, "node": platform.node()}


def git_revision() -> str | None:
    """The git commit of the optalloc source tree (with ``+dirty`` for uncommitted changes); None outside a checkout."""
    import optalloc

    folder = Path(optalloc.__file__).resolve().parent.parent
    try:
        revision = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{revision}+dirty" if dirty else revision or None


#: Hyper-parameters that are a method's compute budget, named in the manifest's ``budgets``.
BUDGET_NAMES = ("total_timesteps", "train_episodes", "samples", "time_limit", "mip_rel_gap", "eval_episodes")


def policy_settings(suite: Any) -> list[dict[str, Any]]:
    """Every hyper-parameter of each policy entry of ``suite``, defaults included, and its budget among them.

    What a suite file leaves out takes the policy's default; the manifest keeps
    the value either way, so that two runs' budgets (training steps, MIP time
    limit and gap, sample counts) can be compared without the code.
    """
    from optalloc.registry import make_policy

    out = []
    for entry in suite.policies:
        policy = make_policy(entry.id, **entry.params)
        values = {name: getattr(policy, name, None) for name in type(policy)._param_names()}
        out.append({"name": entry.name, "id": entry.id, "train_seed": entry.train_seed, "hyperparameters": values,
                    "budget": {k: v for k, v in values.items() if k in BUDGET_NAMES}})
    return out


def run_manifest(suite: Any, *, episodes: int, workers: int | None, executor: str = "local",
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of one run of ``suite`` (a :class:`optalloc.bench.Suite`).

    Returns
    -------
    dict
        ``started`` (local time), ``argv``, ``suite`` (every entry: scenarios
        with overrides, policies with hyper-parameters and training seeds,
        seeds, reference), ``policies`` (:func:`policy_settings`: every
        hyper-parameter with defaults, and the budget), ``episodes``,
        ``workers``, ``executor``, ``versions``, ``hardware``,
        ``git_revision`` and ``code_fingerprint``.
    """
    from optalloc.store import code_fingerprint

    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": list(sys.argv),
        "suite": dataclasses.asdict(suite) if dataclasses.is_dataclass(suite) else repr(suite),
        "policies": policy_settings(suite),
        "episodes": int(episodes),
        "workers": workers,
        "executor": executor,
        "versions": versions(),
        "hardware": hardware(),
        "git_revision": git_revision(),
        "code_fingerprint": code_fingerprint(),
        **dict(extra or {}),
    }
