"""The `pool` launcher's settings (`hydra/launcher=pool`) and the `safe_dirname` resolver for sweep dirs."""

# No `from __future__ import annotations`: Hydra's plugin scan runs this module before it is in
# sys.modules, where dataclasses cannot resolve string annotations.
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

# The reader of a sweep (align.report) finds job directories by the same rule, so it lives in align.
from align.sweep.names import safe_dirname


@dataclass
class PoolLauncherConf:
    _target_: str = "hydra_plugins.align_pool_launcher.pool_launcher.PoolLauncher"

    # GPU ids to share out, as CUDA_VISIBLE_DEVICES takes them. null: every visible GPU
    # (CUDA_VISIBLE_DEVICES if set, else `nvidia-smi -L`, else none); []: run on CPU slots.
    devices: list[str] | None = None
    # Devices per job: a job gets this many ids in CUDA_VISIBLE_DEVICES and starts one process per id.
    gpus_per_job: int = 1
    # Jobs at once when there are no devices. Each gets OMP_NUM_THREADS = cores / cpu_slots
    # (unless you set OMP_NUM_THREADS), since CPU training already uses every core it can.
    cpu_slots: int = 1
    # Skip a job whose directory holds `result_file` and whose .hydra/overrides.yaml matches.
    skip_complete: bool = True
    result_file: str = "metrics.json"
    # null: a job returns its whole metrics dict. A key (e.g. eval_rewards/accuracies): the job
    # returns that one number, which is what Optuna and other sweepers optimise.
    return_metric: str | None = None


ConfigStore.instance().store(group="hydra/launcher", name="pool", node=PoolLauncherConf, provider="align")
# Hydra's plugin scan executes this module again; replace=True keeps that harmless.
OmegaConf.register_new_resolver("safe_dirname", safe_dirname, replace=True)
