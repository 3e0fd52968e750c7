"""Core imports and lists without pyomo or torch; the command line's quick answers without the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import optalloc

BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        top = name.split('.')[0]
        if top in {'pyomo', 'torch', 'highspy'}:
            raise ModuleNotFoundError(f"No module named {top!r}", name=top)
sys.meta_path.insert(0, Block())
"""


def test_core_without_pyomo_or_torch():
    code = BLOCK + """
import optalloc
from optalloc.cli import main
assert main(['list']) == 0
s = optalloc.make_scenario('beds/seed002-v0', horizon=3)
r = optalloc.evaluate(['rigid', 'dp'], s, episodes=5)
print(len(r.summary))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("2")


def test_method_packages_import_under_optalloc():
    import optalloc.formulations
    import optalloc.rl

    assert optalloc.formulations.__name__ == "optalloc.formulations"
    assert optalloc.rl.__name__ == "optalloc.rl"


def test_rl_policy_without_torch_is_one_clear_line():
    code = BLOCK + """
from optalloc.cli import main
raise SystemExit(main(['evaluate', '--scenario', 'beds/seed002-v0', '--policy', 'ppo']))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Policy 'ppo' needs torch" in lines[0] and "optalloc[rl]" in lines[0]


# ---------------------------------------------------------------- what the quick answers load
#: Libraries that ``import optalloc`` and the command line's quick answers must not load (scipy.stats: not scipy).
HEAVY = ("pandas", "scipy.stats", "matplotlib", "numba", "pyomo", "torch", "dask")

#: Prints, at interpreter exit (after a ``SystemExit`` of ``--help`` too), the loaded modules that are heavy.
REPORT_HEAVY_AT_EXIT = f"""
import atexit, json, sys
HEAVY = {HEAVY!r}
atexit.register(lambda: print("heavy modules:", json.dumps(sorted(
    m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in HEAVY))), file=sys.stderr))
"""

#: Runs the ``optalloc`` console script's function (as the installed entry point names it) with ``sys.argv``.
CONSOLE_SCRIPT = """
from importlib.metadata import entry_points
(script,) = entry_points(group="console_scripts", name="optalloc")
sys.argv = ["optalloc", *{argv!r}]
sys.exit(script.load()())
"""


def heavy_modules_at_exit(code: str) -> list[str]:
    """The heavy modules loaded when the program ``code``, run in a fresh interpreter, exits (which must be cleanly)."""
    proc = subprocess.run([sys.executable, "-c", REPORT_HEAVY_AT_EXIT + code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("heavy modules:")]
    return json.loads(line.removeprefix("heavy modules:"))


def test_import_optalloc_loads_no_heavy_library():
    assert heavy_modules_at_exit("import optalloc\nassert set(optalloc.__all__) <= set(dir(optalloc))") == []


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["list"], ["list", "--json"], ["evaluate", "--help"],
                                  ["bench", "run", "--help"]], ids=" ".join)
def test_command_line_quick_answers_load_no_heavy_library(argv):
    assert heavy_modules_at_exit(CONSOLE_SCRIPT.format(argv=argv)) == []


@pytest.mark.parametrize("name", optalloc.__all__)
def test_public_name_is_the_object_of_its_home_module(name):
    value = getattr(optalloc, name)
    home = sys.modules[value.__module__]
    assert home.__name__.startswith("optalloc.") and getattr(home, name) is value
    assert name in dir(optalloc)


def test_submodules_are_attributes_and_unknown_names_are_not():
    import optalloc.registry

    assert optalloc.registry is sys.modules["optalloc.registry"]
    assert optalloc.exceptions.OptallocError.__module__ == "optalloc.exceptions"
    assert not hasattr(optalloc, "no_such_name")
