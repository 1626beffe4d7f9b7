"""How a run is named and grouped in the trackers: the W&B group (the sweep directory, shared by a sweep's jobs)
and the run name (the method and the overrides that set this job apart, e.g. `dpo-beta=0.1`)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from align.tracking import secrets

_MAX_GROUP = 128  # W&B's limit on group names


def group(cfg: DictConfig, run_dir: Path) -> str:
    """tracking.group, else the sweep directory (shared by all jobs of a multirun), else the run directory."""
    if cfg.tracking.group:
        return cfg.tracking.group
    path = sweep_dir(run_dir) or run_dir
    try:
        shown = str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        shown = str(path.resolve())
    return secrets.scrub_text(shown)[-_MAX_GROUP:]


def run_name(cfg: DictConfig) -> str:
    """tracking.run_name, else the method and the job's swept overrides: `dpo-beta=0.1`.

    A single run shows all its overrides (`dpo-beta=0.1-max_steps=4`); a sweep's job only the keys the
    sweep varies, since the group already says what they share.
    """
    if cfg.tracking.run_name:
        return cfg.tracking.run_name
    from align.sweep.read import parse_override, short_names, sweep_plan

    overrides = dict(parse_override(o) for o in job_overrides())
    overrides = {k: v for k, v in overrides.items() if names_the_run(k)}
    sweep = sweep_dir(None)
    if sweep is not None:
        swept = set(sweep_plan(sweep)[0])
        overrides = {k: v for k, v in overrides.items() if k in swept} or overrides
    short = short_names(overrides)
    return secrets.scrub_text("-".join([cfg.method.name, *(f"{short[k]}={v}" for k, v in overrides.items())]))


def names_the_run(key: str) -> bool:
    """Overrides that change what is trained (the method is the name's first part already); no secrets."""
    top = key.split(".")[0].split("/")[0]
    return key != "method" and top not in ("hydra", "tracking", "dry_run", "tune") and not secrets.is_secret_key(key)


def job_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return [str(o) for o in OmegaConf.to_container(HydraConfig.get().overrides.task, resolve=False)]


def sweep_dir(run_dir: Path | None) -> Path | None:
    """The sweep directory this run belongs to, or None for a single run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        if hydra_cfg.mode == RunMode.MULTIRUN:
            return Path(str(hydra_cfg.sweep.dir))
        run_dir = run_dir or Path(str(hydra_cfg.runtime.output_dir))
    # A multi-process job is relaunched as a single run in its job directory, inside the sweep's.
    if run_dir is not None and (run_dir.parent / "multirun.yaml").is_file():
        return run_dir.parent
    return None
