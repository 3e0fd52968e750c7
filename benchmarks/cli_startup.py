#!/usr/bin/env python
"""Start-up time of the ``optalloc`` command line against a bare ``python -c "import numpy"``.

Every command here answers without computing anything (help, version, the
registry listing with family discovery through entry points), so its wall
time is almost all interpreter start-up and imports. Each one runs ``--runs``
times as a fresh subprocess of the installed ``optalloc`` console script
(the same interpreter as this script), round-robin with the bare-numpy
baseline so that all of them see the same machine load; the table gives each
command's median wall clock, the baseline's, and their ratio against the
budget of twice the baseline.

Then ``optalloc list`` runs once under ``python -X importtime`` and the five
most expensive packages it still imports are named, by the cumulative time of
the imports that brought each package in from outside it. Left out are
optalloc's own modules (their cumulative times contain everything they
import) and what every interpreter imports at start-up (``site``, an
editable install's finder), which the baseline pays too.

Usage::

    python benchmarks/cli_startup.py                          # 7 runs per command
    python benchmarks/cli_startup.py --runs 15 --save now.json
    python benchmarks/cli_startup.py --before now.json         # adds the saved medians as a "before" column
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

#: The commands timed, as arguments of ``optalloc``.
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("--version",),
    ("list",),
    ("list", "--help"),
    ("evaluate", "--help"),
    ("bench", "run", "--help"),
)
#: The budget: a command may take at most this many times the bare-numpy start-up.
BUDGET = 2.0
BASELINE = "python -c 'import numpy'"
#: How many of the remaining imports are named.
TOP = 5


def optalloc_command() -> list[str]:
    """The ``optalloc`` console script of this interpreter, or an equivalent ``-c`` program if none is installed."""
    script = Path(sys.executable).with_name("optalloc")
    if script.is_file():
        return [sys.executable, str(script)]
    return [sys.executable, "-c", "import sys; from optalloc.cli import main; sys.argv[0] = 'optalloc'; "
                                  "sys.exit(main())"]


def wall_seconds(argv: list[str]) -> float:
    """Wall clock of one subprocess run of ``argv``, its output discarded (a failing run stops the benchmark)."""
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def medians(runs: int) -> dict[str, float]:
    """Median wall seconds of every command and of the baseline, over ``runs`` round-robin runs."""
    optalloc = optalloc_command()
    argvs = {BASELINE: [sys.executable, "-c", "import numpy"]}
    argvs |= {"optalloc " + " ".join(args): optalloc + list(args) for args in COMMANDS}
    for argv in argvs.values():  # warm-up: byte-code compiled, files in the page cache
        wall_seconds(argv)
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        for name, argv in argvs.items():
            times[name].append(wall_seconds(argv))
    return {name: statistics.median(values) for name, values in times.items()}


@dataclass(frozen=True)
class Import:
    """One line of ``-X importtime``: a module, its own and cumulative microseconds, and its nesting depth."""

    name: str
    self_us: int
    cumulative_us: int
    depth: int


def parse_importtime(stderr: str) -> list[Import]:
    """The import lines of ``-X importtime`` output, in the order printed (a module after the modules it imported)."""
    out = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        out.append(Import(name.strip(), int(own), int(cumulative), depth))
    return out


def importtime(argv: list[str]) -> list[Import]:
    """The imports of one run of ``python -X importtime ARGV...``."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=True)
    return parse_importtime(proc.stderr)


def package_entries(imports: list[Import], skip: set[str]) -> dict[str, tuple[int, list[str]]]:
    """Per top-level package: the cumulative microseconds of the imports that entered it from outside, and their names.

    An import is an entry into its package when the module that imported it
    (the next line at one depth less) belongs to another package, or when it
    is at the top. optalloc's own package and the modules named in ``skip``
    are left out.
    """
    cost: dict[str, int] = defaultdict(int)
    entries: dict[str, list[str]] = defaultdict(list)
    parents: list[str] = []  # the enclosing module at each depth, read from the end (parents print last)
    for item in reversed(imports):
        del parents[item.depth:]
        root = item.name.split(".")[0]
        parent_root = parents[-1].split(".")[0] if parents else None
        if root != parent_root and root != "optalloc" and item.name not in skip:
            cost[root] += item.cumulative_us
            entries[root].append(item.name)
        parents.append(item.name)
    return {root: (cost[root], entries[root]) for root in cost}


def top_imports(count: int) -> tuple[list[tuple[str, tuple[int, list[str]]]], int]:
    """The ``count`` most expensive packages ``optalloc list`` imports beyond start-up, and all its import time [us]."""
    startup = {item.name for item in importtime(["-c", "pass"])}
    imports = importtime([*optalloc_command()[1:], "list"])
    total = sum(item.cumulative_us for item in imports if item.depth == 0)
    ranked = sorted(package_entries(imports, startup).items(), key=lambda kv: -kv[1][0])
    return ranked[:count], total


def main() -> int:
    """Time the commands, print the table and the remaining imports; exit code 1 if a command is over budget."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="subprocess runs per command (default 7)")
    parser.add_argument("--save", metavar="FILE.json", help="write the medians to FILE.json")
    parser.add_argument("--before", metavar="FILE.json", help="medians saved by an earlier --save, shown beside")
    args = parser.parse_args()

    before = json.loads(Path(args.before).read_text()) if args.before else {}
    result = medians(args.runs)
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=2) + "\n")
    base = result[BASELINE]
    print(f"optalloc command-line start-up: median of {args.runs} subprocess runs (wall clock), Python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs")
    width = max(len(name) for name in result)
    head = f"{'command':<{width}}  " + (f"{'before s':>9}  " if before else "") + f"{'median s':>9}  {'x numpy':>8}"
    print(head + "  budget")
    over = False
    for name, seconds in result.items():
        ratio = seconds / base
        was = f"{before[name]:>9.3f}  " if name in before else (f"{'':>9}  " if before else "")
        verdict = "" if name == BASELINE else ("ok" if ratio <= BUDGET else f"over {BUDGET:g}x")
        over |= name != BASELINE and ratio > BUDGET
        print(f"{name:<{width}}  {was}{seconds:>9.3f}  {ratio:>8.2f}  {verdict}")

    ranked, total = top_imports(TOP)
    print(f"\nmost expensive imports left in 'optalloc list' beyond interpreter start-up (cumulative; "
          f"{total / 1e3:.0f} ms of imports in all under -X importtime):")
    width = max((len(name) for name, _ in ranked), default=0)
    for name, (micros, entries) in ranked:
        through = ", ".join(sorted(entries)[:3]) + (", ..." if len(entries) > 3 else "")
        print(f"  {name:<{width}}  {micros / 1e3:>7.1f} ms  ({through})")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
