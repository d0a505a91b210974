"""The Makefile refuses a wrong Python in one line before it installs anything."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_wrong_python_is_refused_before_the_venv_is_made(tmp_path):
    python = tmp_path / "python3"
    python.write_text('#!/bin/sh\ncase "$1" in --version) echo "Python 3.9.2";; *) exit 1;; esac\n')
    python.chmod(0o755)
    venv = tmp_path / "venv"
    done = subprocess.run(
        ["make", "-s", "-C", str(ROOT), f"PYTHON={python}", f"VENV={venv}", "test-fast"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and not venv.exists()
    assert (
        f"This series needs Python 3.11; {python} is Python 3.9.2: run make PYTHON=python3.11"
        in done.stdout
    )
