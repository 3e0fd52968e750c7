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
#: A family's data folders (``optalloc/families/<family>/data``, no ``__init__.py``) are packages of data
#: files: named here, they ship their files through ``package-data`` without setuptools' "would be ignored".
DATA = [name for name in find_namespace_packages(include=["optalloc.*"], exclude=["*.__pycache__"])
        if "data" in name.split(".")]

setup(packages=find_packages(include=["optalloc", "optalloc.*"]) + DATA
      + [f"optalloc.{name}" for name in find_packages(include=[f"{m}{s}" for m in MAPPED for s in ("", ".*")])])
