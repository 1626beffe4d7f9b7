"""README.md and .ci/run agree: CI runs exactly the test command the README gives."""

from __future__ import annotations

from tests.conftest import REPO


def ci_command() -> str:
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    return next(line for line in lines if "pytest" in line and not line.startswith("#"))


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert ci_command() in readme.splitlines()


def test_readme_installs_the_cpu_torch_pin_first():
    assert ci_command().startswith("python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0")
