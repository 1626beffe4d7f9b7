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


def _collected(*args: str) -> list[str]:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return [line for line in out.stdout.splitlines() if "::" in line]


def test_ci_runs_every_test_slow_ones_included():
    import shlex

    ci_args = shlex.split(ci_command().split("python -m pytest", 1)[1])
    ci_args = [a for i, a in enumerate(ci_args) if not {a, ci_args[i - 1] if i else ""} & {"-n", "--dist"}]
    everything = _collected("-m", "")  # no marker filter at all
    assert _collected(*ci_args) == everything
    assert len(everything) > len(_collected())  # the plain `pytest` of local work leaves the slow tests out
