"""The built wheel carries conf/ and works from any directory, without the checkout on the path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    target = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("align-*.whl")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr
    return target


def test_wheel_ships_configs_and_launcher(installed_wheel: Path):
    assert (installed_wheel / "align" / "conf" / "config.yaml").is_file()
    assert (installed_wheel / "align" / "conf" / "method" / "dpo.yaml").is_file()
    assert (installed_wheel / "align" / "config" / "trl_fields.json").is_file()
    assert (installed_wheel / "hydra_plugins" / "align_pool_launcher").is_dir()


def test_installed_package_composes_outside_the_checkout(installed_wheel: Path, tmp_path: Path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYDRA_FULL_ERROR")}
    env["PYTHONPATH"] = str(installed_wheel)
    out = subprocess.run(
        [sys.executable, "-m", "align", "method=dpo", "--cfg", "job"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "method:" in out.stdout and "beta:" in out.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import align.paths as p; print(p.conf_dir())"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert probe.stdout.strip() == str(installed_wheel / "align" / "conf")


def test_every_module_of_the_checkout_imports_from_the_wheel(installed_wheel: Path, tmp_path: Path):
    """A package missing from pyproject's list would be missing from the wheel: import each module from there."""
    import os

    modules = sorted(".".join(p.relative_to(REPO).with_suffix("").parts) for p in (REPO / "align").rglob("*.py"))
    modules = [m.removesuffix(".__init__") for m in modules if not m.endswith("__main__")]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYDRA_FULL_ERROR")}
    env["PYTHONPATH"] = str(installed_wheel)
    probe = ("import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]; "
             "print(importlib.import_module('align').__file__)")
    out = subprocess.run([sys.executable, "-c", probe, *modules], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith(str(installed_wheel))
