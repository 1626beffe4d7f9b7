"""The sweep configs shipped in conf/ compose with align, and Hydra's Optuna sweeper works on the pool."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from align.config.store import register_configs
from align.paths import conf_dir
from tests.launchers.pool_helpers import run_app

SCAN_BETAS = [0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def compose_hydra(*overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


def jobs_of(cfg, *arguments: str) -> list[list[str]]:
    """The job overrides BasicSweeper makes from the config's sweeper params plus command-line sweeps."""
    params = [f"{k}={v}" for k, v in (cfg.hydra.sweeper.params or {}).items()] + list(arguments)
    overrides = OverridesParser.create().parse_overrides(params)
    return BasicSweeper.split_arguments(overrides, None)[0]


def test_pool_is_the_default_launcher_with_one_dir_level_per_job():
    cfg = compose_hydra("experiment=pref_align_scan/zephyr", "model=tiny", "data=arithmetic", "method.beta=0.1")
    assert cfg.hydra.launcher._target_.endswith("PoolLauncher")
    subdir = "data=arithmetic,experiment=pref_align_scan_zephyr,method.beta=0.1,model=tiny"
    assert cfg.hydra.sweep.subdir == subdir


@pytest.mark.parametrize("name", ["zephyr", "openhermes"])
def test_handbook_scan_is_three_methods_by_ten_betas(name: str):
    cfg = compose_hydra(f"experiment=pref_align_scan/{name}", "model=tiny", "data=arithmetic")
    assert cfg.method.name == "dpo" and cfg.method.learning_rate == 5.0e-7 and cfg.method.seed == 42
    assert cfg.hydra.sweep.dir == f"multirun/pref_align_scan/{name}"
    jobs = jobs_of(cfg)
    assert len(jobs) == 30
    assert {job[0] for job in jobs} == {"method=dpo", "method=ipo", "method=kto"}
    assert sorted({float(job[1].split("=")[1]) for job in jobs}) == SCAN_BETAS
    assert cfg.eval.mt_bench is not None and cfg.judge.model == "gpt-4"  # MT-Bench after every job, by GPT-4
    cpu_run = jobs_of(cfg, "model=tiny", "data=arithmetic", "method.beta=0.1,0.5", "method.max_steps=3")
    assert len(cpu_run) == 6


def test_slurm_preset_is_submitit_on_whole_8_gpu_nodes():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    launcher = compose_hydra("hydra/launcher=slurm").hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.nodes, launcher.gpus_per_node, launcher.tasks_per_node) == (1, 8, 1)
    assert launcher.additional_parameters.exclusive is True
    assert launcher.max_num_timeout > 0  # a job at its time limit is requeued and resumes from its checkpoint


def test_optuna_example_maximises_the_win_rate():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    cfg = compose_hydra("experiment=optuna_dpo")
    assert cfg.method.name == "dpo"
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.sweeper.direction == "maximize"
    assert set(cfg.hydra.sweeper.params) == {"method.beta", "method.learning_rate"}
    assert cfg.hydra.launcher.return_metric == "win_rate" and cfg.eval.win_rate is not None
    assert cfg.judge.name == "reward_model"


def test_optuna_sweeper_runs_on_the_pool(tmp_path: Path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep = tmp_path / "S"
    optuna = ["hydra/sweeper=optuna", "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=3"]
    optuna += ["hydra.sweeper.direction=maximize", "hydra.sweeper.sampler.seed=0"]
    result = run_app(sweep, *optuna, "value=range(0,4)", "seconds=0", "hydra.launcher.return_metric=score")
    assert result.returncode == 0, result.stderr
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    tried = [int(p.name.rsplit("=", 1)[1]) for p in sweep.glob("*value=*") if (p / "metrics.json").exists()]
    assert best.best_value == 2.0 * max(tried)
