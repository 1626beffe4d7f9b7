"""The command line as a user meets it: fast config printing, clean one-paragraph errors, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env, run_align

NO_TORCH_PROBE = """
import sys
sys.argv = ["align", *{args!r}]
from align.cli import main
try:
    main()
except SystemExit as exit:
    assert not exit.code, exit.code
print("TORCH_IMPORTED=" + str("torch" in sys.modules))
"""


@pytest.mark.parametrize("args", [["method=dpo", "--cfg", "job"], ["--help"], ["--info"]])
def test_config_printing_does_not_import_torch(args: list[str], tmp_path: Path):
    out = subprocess.run(
        [sys.executable, "-c", NO_TORCH_PROBE.format(args=args)],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "TORCH_IMPORTED=False" in out.stdout


def test_cfg_job_shows_every_group_at_top_level(tmp_path: Path):
    out = run_align("method=dpo", "--cfg", "job", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    top_level = {line.split(":")[0] for line in out.stdout.splitlines() if line and not line.startswith(" ")}
    assert {"model", "method", "data", "hardware", "peft"} <= top_level
    assert "  beta: 0.1" in out.stdout


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("method.beta=-1", "method.beta"),
        ("method.learning_rate=abc", "method.learning_rate"),
        ("+method.no_such_field=1", "method.no_such_field"),
        ("method.no_such_field=1", "method.no_such_field"),
        ("model.name_or_path=/nonexistent/model", "model.name_or_path"),
        ("method=dpoo", "dpoo"),
        ("hardware=gpu", "hardware"),
        ("method.loss_type=hinj", "method.loss_type"),
        ("method.max_steps=-5", "method.max_steps"),
        ("method.beta=[1", "method.beta=[1"),
    ],
)
def test_bad_input_is_one_clean_paragraph_and_writes_nothing(override: str, named: str, tmp_path: Path):
    run_dir = tmp_path / "run"
    out = run_align("method=dpo", override, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert out.returncode == 2
    assert named in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("align: error: ") and out.stderr.strip().count("\n") == 0
    assert not run_dir.exists()


def test_unknown_key_lists_closest_valid_names(tmp_path: Path):
    out = run_align("method=dpo", "method.lerning_rate=1", cwd=tmp_path)
    assert "Did you mean method.learning_rate" in out.stderr


def test_unknown_option_lists_available_options(tmp_path: Path):
    out = run_align("method=dpoo", cwd=tmp_path)
    assert "Did you mean dpo" in out.stderr and "sft" in out.stderr and "base_dpo" not in out.stderr


def test_bad_input_leaves_earlier_outputs_untouched(tmp_path: Path):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / "metrics.json").write_text('{"train_loss": 1.0}')
    (run_dir / ".hydra" / "config.yaml").write_text("earlier: true\n")
    out = run_align("method.beta=-1", "method=dpo", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert out.returncode == 2
    assert (run_dir / "metrics.json").read_text() == '{"train_loss": 1.0}'
    assert (run_dir / ".hydra" / "config.yaml").read_text() == "earlier: true\n"
    assert sorted(p.name for p in run_dir.iterdir()) == [".hydra", "metrics.json"]


def test_full_error_env_shows_the_traceback(tmp_path: Path):
    out = run_align("method=dpoo", cwd=tmp_path, env=cli_env(HYDRA_FULL_ERROR="1"))
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_console_script_is_declared():
    assert 'align = "align.cli:main"' in (REPO / "pyproject.toml").read_text()
