"""The README's Python examples run as written."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_block_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the examples write land in a scratch folder
    namespace: dict = {}
    exec(compile(textwrap.dedent(code), str(README), "exec"), namespace)  # blocks inside list items are indented


def test_readme_has_examples():
    assert len(BLOCKS) >= 2
