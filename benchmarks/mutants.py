#!/usr/bin/env python
"""Plant known bugs one at a time and check that the tests meant to catch each one fail.

Each mutant replaces one exact piece of package text (which must occur
exactly once in its file) in a scratch copy of the repository and runs the
tests listed for it. A mutant the tests do not catch is a gap in the tests; a
mutant whose text no longer occurs (the code moved on) is ``stale`` and must
be updated or removed, so the list cannot silently rot.

The scratch copy mirrors the installed layout: ``pyproject.toml`` maps the
wheel's packages to source folders (``formulations/`` is installed as
``optalloc.formulations``, ``rl/`` as ``optalloc.rl``), so every folder of
``[tool.setuptools] package-dir`` is copied to ``<tmp>/src/<package path>``,
next to ``<tmp>/tests`` and ``<tmp>/pyproject.toml`` (the pytest
configuration). Pytest runs with ``PYTHONPATH=<tmp>/src`` so that the copy
shadows the editable install of the working tree, which is never modified.
Before any mutant runs, the script checks that ``optalloc`` imports from the
copy and that the unmutated copy passes every selected test.

Usage::

    python benchmarks/mutants.py                       # every mutant (a few minutes)
    python benchmarks/mutants.py --list                # the mutants, without running anything
    python benchmarks/mutants.py --only gap-sign-flip surge-applied-twice
    python benchmarks/mutants.py --keep                # leave the scratch copy for inspection

Exit status: 0 if every mutant run is caught; 1 if one is not caught or its
test run broke (collection error, timeout); 2 if a mutant is stale or the
scratch copy is unusable.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Wall-clock limit of one pytest run [s]; a mutant that makes a test loop forever is not "caught".
TIMEOUT = 600.0

SUMMARY_TESTS = ("tests/test_summary_formulas.py",)
REFERENCE_TESTS = ("tests/families/beds/reference/test_beds_reference.py",)


@dataclass(frozen=True)
class Mutant:
    """One planted bug.

    Attributes
    ----------
    name : str
        Short identifier (``--only`` takes it).
    file : str
        Path relative to the repository root, as in the working tree (``formulations/...``, ``rl/...``).
    old : str
        Exact text to replace; must occur exactly once in ``file``.
    new : str
        Replacement text.
    description : str
        What the bug does, in the table.
    tests : tuple of str
        Test files or node ids (relative to the repository root) that must fail.
    """

    name: str
    file: str
    old: str
    new: str
    description: str
    tests: tuple[str, ...]


MUTANTS: list[Mutant] = [
    Mutant(
        name="gap-sign-flip",
        file="optalloc/evaluation.py",
        old="return 100 * (mean - bound) / abs(bound)",
        new="return 100 * (bound - mean) / abs(bound)",
        description="gap to bound computed as (bound - mean): policies above the bound show negative gaps",
        tests=SUMMARY_TESTS,
    ),
    Mutant(
        name="ci-normal-quantile",
        file="optalloc/evaluation.py",
        old="half = stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1)",
        new="half = stats.norm.ppf(0.5 + level / 2) * values.std(ddof=1)",
        description="95 % half-width with the normal quantile 1.96 instead of Student-t with n-1 df",
        tests=SUMMARY_TESTS,
    ),
    Mutant(
        name="ci-population-std",
        file="optalloc/evaluation.py",
        old="half = stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1)",
        new="half = stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=0)",
        description="half-width from the population standard deviation (ddof=0)",
        tests=SUMMARY_TESTS,
    ),
    Mutant(
        name="diff-vs-first-policy",
        file="optalloc/evaluation.py",
        old="ref_cost = runs[reference].trajectory.total_cost",
        new="ref_cost = runs[names[0]].trajectory.total_cost",
        description="paired differences taken against the first policy, not the named reference",
        tests=SUMMARY_TESTS,
    ),
    Mutant(
        name="hindsight-bound-loosest",
        file="optalloc/evaluation.py",
        old="best = max(oracles, key=lambda n: runs[n].trajectory.total_cost.mean())",
        new="best = min(oracles, key=lambda n: runs[n].trajectory.total_cost.mean())",
        description="bound = the smallest hindsight mean (the loosest lower bound) instead of the largest",
        tests=SUMMARY_TESTS,
    ),
    Mutant(
        name="discount-from-year-one",
        file="optalloc/evaluation.py",
        old="weights = scenario.discount ** np.arange(T)",
        new="weights = scenario.discount ** np.arange(1, T + 1)",
        description="reported total discounts year t by 1.03^-(t+1): year 0 is discounted too",
        tests=REFERENCE_TESTS,
    ),
    Mutant(
        name="surge-applied-twice",
        file="optalloc/families/beds/scenario.py",
        old="return p.base_demand * self.population(t, lattice) / p.initial_population * mult",
        new="return p.base_demand * self.population(t, lattice) / p.initial_population * mult * mult",
        description="surge multiplier applied twice in the shared demand mean (simulator, DP and MILP agree)",
        tests=REFERENCE_TESTS,
    ),
    Mutant(
        name="opcost-pre-addition-step",
        file="optalloc/families/beds/scenario.py",
        old="cost = self.year_cost(added, beds, unattended)",
        new='cost = self.year_cost(added, state["beds"], unattended)',
        description="simulator charges the operating cost on the beds before this year's addition",
        tests=REFERENCE_TESTS,
    ),
    Mutant(
        name="opcost-pre-addition-dp",
        file="optalloc/families/beds/scenario.py",
        old="cost = self.year_cost(actions[None, :], in_service,",
        new="cost = self.year_cost(actions[None, :], beds[:, None],",
        description="tabular model charges the operating cost on the beds before the addition",
        tests=REFERENCE_TESTS,
    ),
    Mutant(
        name="surge-weights-swapped",
        file="optalloc/families/beds/scenario.py",
        old="p.days * ((1 - p.surge_probability) * normal + p.surge_probability * surge)",
        new="p.days * (p.surge_probability * normal + (1 - p.surge_probability) * surge)",
        description="expected shortage weights surge years by 1 - q and normal years by q",
        tests=REFERENCE_TESTS,
    ),
    Mutant(
        name="shortage-off-by-one-bed",
        file="optalloc/families/beds/scenario.py",
        old="return m * stats.poisson.sf(h - 1, m) - h * stats.poisson.sf(h, m)",
        new="return m * stats.poisson.sf(h, m) - h * stats.poisson.sf(h, m)",
        description="closed-form E[(N - H)^+] uses P(N > H) where P(N >= H) belongs",
        tests=REFERENCE_TESTS,
    ),
    Mutant(
        name="dp-lattice-frozen",
        file="optalloc/families/beds/scenario.py",
        old="col = (nb - b_next0) * n_lat_next + (lat + xi - lat_next0)",
        new="col = (nb - b_next0) * n_lat_next + (lat - lat_next0)",
        description="tabular transitions drop the lattice step: the DP plans on a frozen population",
        tests=REFERENCE_TESTS,
    ),
    Mutant(
        name="dp-discount-compounded",
        file="optalloc/dp/backward_induction.py",
        old="sweeper = BellmanSweeper(mdp, gamma, workers)",
        new="sweeper = BellmanSweeper(mdp, gamma ** (t + 1), workers)",
        description="backward induction discounts stage t+1 values by gamma^(t+1) instead of gamma",
        tests=REFERENCE_TESTS,
    ),
    Mutant(
        name="dp-ignores-discount",
        file="optalloc/policies/dp.py",
        old="result = backward_induction(model.stages(), model.terminal(), gamma=scenario.discount)",
        new="result = backward_induction(model.stages(), model.terminal(), gamma=1.0)",
        description="DP policy solves the undiscounted problem on a discounted scenario",
        tests=REFERENCE_TESTS,
    ),
    Mutant(
        name="observed-population-next-year",
        file="optalloc/families/beds/scenario.py",
        old='self.population(state["t"], state["lattice"]), state["unattended"]],',
        new='self.population(state["t"] + 1, state["lattice"]), state["unattended"]],',
        description="observation reports next year's median population instead of P_t",
        tests=REFERENCE_TESTS,
    ),
]

RL_TESTS = ("tests/rl/test_internals.py",)
VECTOR_TESTS = ("tests/rl/test_vector_actions.py",)

#: Bugs in the RL update, checked by tests/rl/test_internals.py against plain-loop references.
RL_MUTANTS: list[Mutant] = [
    Mutant(
        name="ppo-no-advantage-normalisation",
        file="rl/ppo.py",
        old="ent_coef=config.ent_coef, vf_coef=config.vf_coef, norm_adv=config.norm_adv)",
        new="ent_coef=config.ent_coef, vf_coef=config.vf_coef, norm_adv=False)",
        description="PPO ignores norm_adv: advantages reach the clipped objective unnormalised",
        tests=RL_TESTS,
    ),
    Mutant(
        name="ppo-gae-lambda-ignored",
        file="rl/ppo.py",
        old="advantages, returns = gae(rewards, values, dones, next_value, next_done, config.gamma, config.gae_lambda)",
        new="advantages, returns = gae(rewards, values, dones, next_value, next_done, config.gamma, 1.0)",
        description="PPO ignores gae_lambda: Monte Carlo advantages (lambda = 1) whatever the setting",
        tests=RL_TESTS,
    ),
    Mutant(
        name="gae-without-lambda",
        file="rl/losses.py",
        old="lastgaelam = delta + gamma * gae_lambda * nextnonterminal * lastgaelam",
        new="lastgaelam = delta + gamma * nextnonterminal * lastgaelam",
        description="the GAE recursion drops lambda (PPO and A2C)",
        tests=RL_TESTS,
    ),
    Mutant(
        name="clip-upper-bound",
        file="rl/losses.py",
        old="torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)",
        new="torch.clamp(ratio, 1 - clip_coef, 1 - clip_coef)",
        description="the probability ratio is clipped to 1 - eps on both sides",
        tests=RL_TESTS,
    ),
    Mutant(
        name="mask-ignored-when-sampling",
        file="rl/policy.py",
        old="self.log_probs = torch.log_softmax(masked(logits, mask), dim=1)",
        new="self.log_probs = torch.log_softmax(logits, dim=1)",
        description="the actor samples infeasible actions (the mask is not applied to the logits)",
        tests=RL_TESTS,
    ),
    Mutant(
        name="vector-heads-swapped",
        file="rl/policy.py",
        old="self.heads = [MaskedCategorical(lg, m) for lg, m in zip(torch.split(logits, nvec, dim=1),",
        new="self.heads = [MaskedCategorical(lg, m) for lg, m in zip(torch.split(logits, nvec, dim=1)[::-1],",
        description="each component of a vector action samples from another component's logits under its own mask",
        tests=VECTOR_TESTS,
    ),
    Mutant(
        name="epoch-actions-of-the-index",
        file="optalloc/evaluation.py",
        old="for component, counts in table.decode(trajectory.actions).items():",
        new="for component, counts in {c: trajectory.actions for c in table.components}.items():",
        description="per-epoch decisions average the action index instead of the action table's counts",
        tests=SUMMARY_TESTS,
    ),
    Mutant(
        name="tabular-index-drops-lattice",
        file="optalloc/families/beds/scenario.py",
        old="return np.where(ok, (beds - p.initial_beds) * (2 * width + 1) + (lattice + width), -1).astype(np.int64)",
        new="return np.where(ok, (beds - p.initial_beds) * (2 * width + 1) + width, -1).astype(np.int64)",
        description="the DP policy looks its action up at the median population whatever the observed one",
        tests=("tests/test_tags.py",),
    ),
]

ALL_MUTANTS: list[Mutant] = MUTANTS + RL_MUTANTS


# ---------------------------------------------------------------- scratch copy
def package_dirs(repo: Path) -> list[tuple[str, Path]]:
    """``(package, source folder)`` of ``[tool.setuptools] package-dir``, parents before children."""
    config = tomllib.loads((repo / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    return sorted(((pkg, repo / folder) for pkg, folder in mapping.items()), key=lambda item: item[0].count("."))


def scratch_path(scratch: Path, repo: Path, relative: str) -> Path:
    """Where a working-tree file lives in the scratch layout."""
    source = (repo / relative).resolve()
    best: tuple[str, Path] | None = None
    for pkg, folder in package_dirs(repo):
        folder = folder.resolve()
        if source.is_relative_to(folder) and (best is None or len(folder.parts) > len(best[1].parts)):
            best = (pkg, folder)
    if best is None:  # tests/, pyproject.toml: same place as in the repository
        return scratch / relative
    pkg, folder = best
    return scratch / "src" / Path(*pkg.split(".")) / source.relative_to(folder)


def build_scratch(repo: Path, scratch: Path) -> None:
    """Copy the packages into ``scratch/src`` in their installed layout, plus tests and pyproject.toml."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for pkg, folder in package_dirs(repo):
        target = scratch / "src" / Path(*pkg.split("."))
        shutil.copytree(folder, target, ignore=ignore, dirs_exist_ok=True)
    shutil.copytree(repo / "tests", scratch / "tests", ignore=ignore)
    shutil.copy2(repo / "pyproject.toml", scratch / "pyproject.toml")


def scratch_env(scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(scratch / "src") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    # No .pyc files: a mutant and its restored original can have the same size and mtime second.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def check_imports_from_scratch(scratch: Path, repo: Path) -> str | None:
    """None if every configured package resolves inside the scratch copy, else the reason it does not."""
    packages = [pkg for pkg, _ in package_dirs(repo)]
    code = ("import importlib.util, sys\n"
            f"for name in {packages!r}:\n"
            "    print(name, importlib.util.find_spec(name).origin)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=scratch, env=scratch_env(scratch), capture_output=True,
                          text=True, timeout=TIMEOUT)
    if proc.returncode != 0:
        return f"importing from the scratch copy failed:\n{proc.stderr}"
    root = (scratch / "src").resolve()
    for line in proc.stdout.splitlines():
        name, origin = line.split(" ", 1)
        if not Path(origin).resolve().is_relative_to(root):
            return f"{name} resolves to {origin}, outside the scratch copy {root}"
    return None


@dataclass
class RunResult:
    status: str  # "caught", "NOT caught", "error", "timeout"
    seconds: float
    first_failure: str
    output: str


def run_tests(scratch: Path, tests: tuple[str, ...], *, stop_at_first: bool) -> RunResult:
    """Run pytest on the scratch copy; ``caught`` means some test failed (exit status 1)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", "--rootdir", str(scratch),
           "-c", str(scratch / "pyproject.toml"), *(["-x"] if stop_at_first else []), *tests]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=scratch, env=scratch_env(scratch), capture_output=True, text=True,
                              timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode(errors="replace")
        return RunResult("timeout", time.perf_counter() - start, "", out)
    seconds = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    failed = re.findall(r"^FAILED (\S+)", output, flags=re.MULTILINE)
    status = {0: "NOT caught", 1: "caught"}.get(proc.returncode, "error")
    return RunResult(status, seconds, failed[0] if failed else "", output)


# ---------------------------------------------------------------- checks and table
def stale_reason(mutant: Mutant, repo: Path) -> str | None:
    """Why a mutant no longer applies to the working tree, or None."""
    path = repo / mutant.file
    if not path.is_file():
        return f"{mutant.file} does not exist"
    count = path.read_text().count(mutant.old)
    if count != 1:
        return f"old text occurs {count} times in {mutant.file} (must be exactly once)"
    for test in mutant.tests:
        if not (repo / test.split("::", 1)[0]).exists():
            return f"test {test} does not exist"
    return None


def short_test(node: str) -> str:
    return node.removeprefix("tests/")


def print_table(rows: list[dict[str, str]]) -> None:
    headers = ["mutant", "file", "what it changes", "tests run", "result", "seconds", "first failing test"]
    widths = [max(len(h), *(len(r[h]) for r in rows)) for h in headers]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(r[h].ljust(w) for h, w in zip(headers, widths)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="list the mutants and whether they apply, then exit")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutants")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy and print its path")
    args = parser.parse_args(argv)

    mutants = ALL_MUTANTS
    if args.only:
        known = {m.name for m in ALL_MUTANTS}
        unknown = [n for n in args.only if n not in known]
        if unknown:
            parser.error(f"unknown mutant(s) {unknown}; known: {sorted(known)}")
        mutants = [m for m in ALL_MUTANTS if m.name in args.only]

    stale = {m.name: stale_reason(m, REPO) for m in mutants}
    if args.list:
        for m in mutants:
            state = f"STALE: {stale[m.name]}" if stale[m.name] else "applies"
            print(f"{m.name:<32} {m.file:<36} {state}\n    {m.description}\n    tests: {', '.join(m.tests)}")
        return 2 if any(stale.values()) else 0

    scratch = Path(tempfile.mkdtemp(prefix="optalloc-mutants-"))
    try:
        build_scratch(REPO, scratch)
        problem = check_imports_from_scratch(scratch, REPO)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        selected = tuple(dict.fromkeys(t for m in mutants if not stale[m.name] for t in m.tests))
        if selected:
            baseline = run_tests(scratch, selected, stop_at_first=False)
            if baseline.status != "NOT caught":
                print(f"error: the unmutated scratch copy does not pass {', '.join(selected)} "
                      f"({baseline.status}):\n{baseline.output[-4000:]}", file=sys.stderr)
                return 2
            print(f"unmutated copy passes {len(selected)} test file(s) in {baseline.seconds:.1f} s; "
                  f"optalloc imports from {scratch / 'src'}\n")

        rows, broken = [], []
        for m in mutants:
            row = {"mutant": m.name, "file": m.file, "what it changes": m.description,
                   "tests run": ", ".join(short_test(t) for t in m.tests), "result": "", "seconds": "",
                   "first failing test": ""}
            if stale[m.name]:
                row["result"] = "stale"
                row["first failing test"] = stale[m.name]
                rows.append(row)
                continue
            target = scratch_path(scratch, REPO, m.file)
            original = target.read_text()
            if original.count(m.old) != 1:  # the copy is taken after the stale check; the tree may have moved
                row["result"] = "stale"
                row["first failing test"] = "old text changed while the copy was taken"
                rows.append(row)
                continue
            target.write_text(original.replace(m.old, m.new))
            try:
                result = run_tests(scratch, m.tests, stop_at_first=True)
            finally:
                target.write_text(original)
            row["result"] = result.status
            row["seconds"] = f"{result.seconds:.1f}"
            row["first failing test"] = short_test(result.first_failure)
            if result.status in ("error", "timeout"):
                broken.append((m.name, result.output[-3000:]))
            rows.append(row)
            print(f"  {m.name}: {result.status} ({result.seconds:.1f} s)", flush=True)
        print()
        print_table(rows)
        for name, output in broken:
            print(f"\n--- {name}: pytest output (tail) ---\n{output}")
        if args.keep:
            print(f"\nscratch copy kept at {scratch}")
        statuses = [r["result"] for r in rows]
        if "stale" in statuses:
            return 2
        return 0 if all(s == "caught" for s in statuses) else 1
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
