from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    r = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]


def test_ruff_format_is_applied():
    r = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "src", "tests", "benchmarks", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]


def test_every_subcommand_has_help_with_example_and_out():
    from typer.testing import CliRunner

    from chromatize.cli import app

    r = CliRunner().invoke(app, ["--help"])
    assert r.exit_code == 0 and "Example:" in r.output
    for cmd in ["prepare", "train", "colorize", "models", "evaluate", "palette", "tune", "demo"]:
        r = CliRunner().invoke(app, [cmd, "--help"])
        assert r.exit_code == 0 and "Example:" in r.output and "--out" in r.output, cmd
