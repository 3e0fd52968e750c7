"""Core imports and lists without pyomo or torch."""

from __future__ import annotations

import subprocess
import sys

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
