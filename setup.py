"""Package discovery.

``pyproject.toml`` holds the project's metadata and its ``package-dir``
mapping, under which ``formulations/`` and ``rl/`` install as
``optalloc.formulations`` and ``optalloc.rl``. Setuptools' find-style
discovery in ``pyproject.toml`` cannot map a folder to another package name,
so the packages are discovered here: every package under ``optalloc/``,
``formulations/`` and ``rl/`` -- a new family's folders included -- without a
hand-written list.
"""

from setuptools import find_namespace_packages, find_packages, setup

MAPPED = ("formulations", "rl")

# Namespace discovery under optalloc/: its only folders without an __init__.py are the families' data/
# folders, packages of data files (package-data in pyproject.toml); plain discovery would leave them out,
# with setuptools' "Package would be ignored" warning.
setup(packages=find_namespace_packages(include=["optalloc", "optalloc.*"], exclude=["*.__pycache__"])
      + [f"optalloc.{name}" for name in find_packages(include=[f"{m}{s}" for m in MAPPED for s in ("", ".*")])])
