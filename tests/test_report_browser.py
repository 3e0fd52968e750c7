"""The HTML report renders in a real headless browser (Chromium) with its tables and images."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from optalloc.bench import load_suite, run_suite
from optalloc.report import write_report

SUITE = """
name = "browser"
episodes = 40
reference = "dp"
[[scenarios]]
id = "beds/seed002-v0"
overrides = {horizon = 4}
[[scenarios]]
id = "beds/stochastic-v0"
overrides = {horizon = 4}
[[policies]]
id = "dp"
[[policies]]
id = "rigid"
params = {train_episodes = 20}
"""


def _chromium() -> str | None:
    return next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)


def test_the_html_report_renders_its_tables_and_images(tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("OPTALLOC_REQUIRE_BROWSER"):
            pytest.fail("OPTALLOC_REQUIRE_BROWSER is set but no Chromium is installed (apt-get install chromium)")
        pytest.skip("no Chromium here (.ci/run installs Debian's chromium)")
    (tmp_path / "s.toml").write_text(SUITE)
    run_suite(load_suite(tmp_path / "s.toml"), workers=1, progress=False, store=tmp_path / "s.db")
    report = write_report(tmp_path / "s.db", tmp_path / "report")
    page = tmp_path / "report" / "report.html"
    for figure in (f for f in report.files if f.suffix == ".png"):  # the page must not need the PNG files
        figure.unlink()
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
    dom = subprocess.run(command + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stdout[:500]
    # Two sections (one per scenario): two tables and three decoded images (two cost distributions and the
    # performance profiles across the scenarios), counted by the page itself.
    assert 'data-tables="2"' in body.group(0) and 'data-images="3"' in body.group(0), body.group(0)
    assert "<h2>Performance profiles</h2>" in dom.stdout
    assert dom.stdout.count("<td>reference</td>") == 2
    shot = tmp_path / "report.png"
    picture = subprocess.run(command + [f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()],
                             capture_output=True, text=True, timeout=120)
    assert picture.returncode == 0 and shot.stat().st_size > 20_000, picture.stderr
