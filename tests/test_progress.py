"""Progress bars show on a terminal and stay out of files and pipes (CI logs)."""

from __future__ import annotations

import io
import subprocess
import sys

from optalloc.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_shows_on_a_terminal_only():
    screen, log = Terminal(), io.StringIO()
    assert list(progress_bar(range(3), desc="cells", file=screen, mininterval=0)) == [0, 1, 2]
    assert "cells" in screen.getvalue() and "\r" in screen.getvalue()
    # Written to a file, every refresh would add a copy of the bar to one line: none is written.
    assert list(progress_bar(range(3), desc="cells", file=log, mininterval=0)) == [0, 1, 2]
    assert log.getvalue() == ""
    silenced = Terminal()
    with progress_bar(total=3, enabled=False, file=silenced) as bar:
        bar.update(3)
    assert silenced.getvalue() == ""


def test_the_command_line_writes_no_bar_into_a_pipe():
    command = [sys.executable, "-m", "optalloc.cli", "evaluate", "--scenario", "beds/seed002-v0", "--set", "horizon=3",
               "--policy", "rigid", "--policy", "dp", "--episodes", "4", "--seed", "0"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "rigid" in proc.stdout and "\r" not in proc.stderr and "evaluate beds" not in proc.stderr
