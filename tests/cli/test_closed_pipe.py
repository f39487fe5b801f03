"""``imagecheck … | head``: a reader that goes away early must not turn into a Python traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.cli import REPO_ROOT, clean_env


def test_output_into_a_closed_pipe_ends_quietly_with_the_sigpipe_status(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line: every write fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "bot", "parse", "nginx", "redis:7", "Ubuntu:22.04"],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60, cwd=REPO_ROOT,
                              env=clean_env(tmp_path, None), check=False)
    finally:
        os.close(write_end)
    assert done.stderr == ""  # no traceback, and no "Exception ignored" from the interpreter's last flush
    assert done.returncode == 141  # 128 + SIGPIPE, what a shell shows for a writer that lost its reader
