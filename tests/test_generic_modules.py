"""Generic modules name no problem family: no import of a family module, no string literal naming one.

The generic modules are every module of ``optalloc/``, ``formulations/`` and
``rl/`` outside the folders named after a family (``optalloc/families/<f>/``,
``formulations/<f>/``, ``rl/<f>/``). Their syntax trees are walked: an import
of a family module, or a string literal (docstrings aside, and the help texts
and examples of ``cli.py``) holding a family's name or vocabulary, fails.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = sorted(p.name for p in (ROOT / "optalloc" / "families").iterdir()
                  if p.is_dir() and (p / "__init__.py").exists())
#: A family's name and its vocabulary, as words or parts of identifiers (``final_beds``), plural or not.
VOCABULARY = re.compile(r"(?<![A-Za-z])(beds?|scanners?|staff|rosters?|nurses?|taka)(?![A-Za-z])", re.IGNORECASE)
#: Package roots in the source tree and their import names.
PACKAGES = {"optalloc": "optalloc", "formulations": "optalloc.formulations", "rl": "optalloc.rl"}
#: Call keywords and module constants of cli.py that hold help texts and examples.
CLI_TEXT_KEYWORDS = {"help", "description", "epilog"}
CLI_TEXT_CONSTANTS = {"EPILOG"}


def _is_family_path(relative: Path) -> bool:
    parts = relative.parts
    if parts[0] == "optalloc" and len(parts) > 3 and parts[1] == "families":  # optalloc/families/<f>/...
        return True
    return parts[0] in ("formulations", "rl") and len(parts) > 1 and parts[1] in FAMILIES


def generic_modules() -> list[Path]:
    """Every generic module of the source tree, relative to the repository root."""
    found = []
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if not _is_family_path(relative):
                found.append(relative)
    return found


def _family_module(name: str) -> bool:
    """Whether a dotted module name is a family module (in any of the three layers)."""
    parts = name.split(".")
    for prefix in (["optalloc", "families"], ["optalloc", "formulations"], ["optalloc", "rl"],
                   ["formulations"], ["rl"]):
        rest = parts[len(prefix):]
        if parts[:len(prefix)] == prefix and rest and rest[0] in FAMILIES:
            return True
    return False


def _docstrings(tree: ast.AST) -> set[int]:
    """``id`` of every docstring node: the first string statement of a module, class or function."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                ids.add(id(first.value))
        # Attribute docstrings: a string statement right after an assignment (dataclass fields, constants).
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for before, after in zip(body, body[1:]):
                if isinstance(before, (ast.Assign, ast.AnnAssign)) and isinstance(after, ast.Expr) \
                        and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
                    ids.add(id(after.value))
    return ids


def _cli_texts(tree: ast.AST) -> set[int]:
    """``id`` of every string node inside cli.py's help keywords and example constants."""
    ids = set()
    for node in ast.walk(tree):
        roots: list[ast.AST] = []
        if isinstance(node, ast.keyword) and node.arg in CLI_TEXT_KEYWORDS:
            roots.append(node.value)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in CLI_TEXT_CONSTANTS
                                                 for t in node.targets):
            roots.append(node.value)
        for root in roots:
            ids.update(id(n) for n in ast.walk(root) if isinstance(n, ast.Constant))
    return ids


def violations(source: str, module: str, *, cli: bool = False) -> list[str]:
    """What in ``source`` names a family: imports of family modules and vocabulary in string literals.

    Parameters
    ----------
    source : str
        Python source of one module.
    module : str
        Its dotted name, to resolve relative imports.
    cli : bool
        Exempt help texts and examples (the command line's ``help=``/``epilog=`` and ``EPILOG``).
    """
    tree = ast.parse(source)
    exempt = _docstrings(tree) | (_cli_texts(tree) if cli else set())
    found = []
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            if _family_module(name):
                found.append(f"line {node.lineno}: imports {name}")
                break
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in exempt:
            match = VOCABULARY.search(node.value)
            if match:
                found.append(f"line {node.lineno}: string {node.value[:60]!r} names {match.group(0)!r}")
            for entry in re.findall(r"[\w.]+(?=:)", node.value):  # entry points "module:attribute"
                if _family_module(entry):
                    found.append(f"line {node.lineno}: entry point into {entry}")
    return found


def _module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    parts[0] = PACKAGES[parts[0]]
    return ".".join(parts)


def test_there_are_families_and_generic_modules():
    assert "beds" in FAMILIES
    modules = generic_modules()
    assert Path("optalloc/evaluation.py") in modules and Path("rl/ppo.py") in modules
    assert not any(_is_family_path(m) for m in modules)
    assert Path("optalloc/families/beds/scenario.py") not in modules
    assert Path("optalloc/families/__init__.py") in modules  # the package of all families is generic


@pytest.mark.parametrize("relative", generic_modules(), ids=str)
def test_generic_module_names_no_family(relative: Path):
    source = (ROOT / relative).read_text()
    found = violations(source, _module_name(relative), cli=relative == Path("optalloc/cli.py"))
    assert not found, f"{relative} names a problem family:\n" + "\n".join(found)


@pytest.mark.parametrize(("source", "expected"), [
    ("from optalloc.families.beds import scenario\n", "line 1: imports optalloc.families.beds"),
    ("from .families.beds.heuristics import RigidPolicy\n", "line 1: imports optalloc.families.beds"),
    ("import optalloc.formulations.beds.capacity\n", "line 1: imports optalloc.formulations.beds.capacity"),
    ("x = 1\nKPI = 'final_beds'\n", "line 2: string 'final_beds' names 'beds'"),
    ("label = f'{n} beds added'\n", "line 1: string ' beds added' names 'beds'"),
    ("SPEC = 'optalloc.families.beds.heuristics:RigidPolicy'\n", "entry point into optalloc.families.beds"),
    ("def f():\n    '''Beds are fine in a docstring.'''\n    return 'taka'\n", "line 3: string 'taka' names 'taka'"),
])
def test_the_check_finds_what_it_looks_for(source: str, expected: str):
    found = violations(source, "optalloc.example")
    assert any(expected in v for v in found), found


def test_words_that_merely_contain_the_vocabulary_pass():
    assert violations("x = ['embedded', 'bedrock', 'staffing_level', 'unattended_patient_days']\n",
                      "optalloc.example") == []


def test_docstrings_and_cli_help_are_exempt():
    source = '"""Beds."""\nclass A:\n    """A bed."""\n    x: int = 1\n    """Beds of A."""\n'
    assert violations(source, "optalloc.example") == []
    cli = "EPILOG = 'optalloc describe beds/stochastic-v0'\np.add_argument('--s', help='e.g. beds/seed002-v0')\n"
    assert violations(cli, "optalloc.cli", cli=True) == []
    assert len(violations(cli, "optalloc.cli", cli=False)) == 2
