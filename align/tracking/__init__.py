"""Experiment tracking: W&B and TensorBoard through the trainer's `report_to`, one W&B group per sweep.

`trainer_settings` starts the W&B run (main process only) before the trainer exists, so the trainer's
WandbCallback logs into it with our group, name and nested config; `finish` puts the final metrics in
its summary. The W&B run id is kept in <run dir>/tracking.json: running again in the same directory
continues the same W&B run. Without credentials, or with WANDB_MODE=offline, W&B logs offline.
"""

from __future__ import annotations

import json
import logging
import netrc
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from omegaconf import DictConfig, OmegaConf

from align.tracking import secrets
from align.errors import EnvironmentProblem
from align.outputs import write_json

log = logging.getLogger(__name__)

TRACKING_FILE = "tracking.json"
TENSORBOARD_DIR = "tensorboard"
# Seconds an online wandb.init may wait for the server before align falls back to offline.
INIT_TIMEOUT_S = 60
_MAX_GROUP = 128  # W&B's limit on group names


def trainer_settings(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """TrainingArguments values (report_to, run_name, ...) for the configured tracking; starts the W&B run."""
    # The trainer pickles its arguments into model/training_args.bin: hand it no token.
    settings: dict[str, Any] = secrets.hub_token_settings(cfg.method)
    backends = list(cfg.tracking.backends)
    if not backends:
        return {**settings, "report_to": "none"}
    settings.update(report_to=backends, run_name=run_name(cfg))
    if "tensorboard" in backends:
        # transformers 5 takes the TensorBoard directory from the environment only.
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / TENSORBOARD_DIR)
    if "wandb" in backends and _is_main_process():
        start_wandb(cfg, run_dir)
    return settings


def finish(cfg: DictConfig, run_dir: Path, metrics: dict[str, Any]) -> None:
    """Final metrics into the W&B summary (and TensorBoard's HParams table); close the W&B run."""
    backends = list(cfg.tracking.backends)
    if not _is_main_process():
        return
    if "wandb" in backends:
        import wandb

        start_wandb(cfg, run_dir)  # a method without a TRL trainer never called trainer_settings
        wandb.run.summary.update(secrets.scrub(metrics))
        wandb.finish()
    if "tensorboard" in backends:
        _tensorboard_hparams(cfg, run_dir, metrics)


def start_wandb(cfg: DictConfig, run_dir: Path) -> None:
    """Start (or continue, by the id in tracking.json) this run's W&B run; a no-op when it is running."""
    import wandb

    state = _read_state(run_dir)
    run_id = state.get("wandb", {}).get("id") or uuid.uuid4().hex[:12]
    if wandb.run is not None:
        if wandb.run.id == run_id:
            return
        wandb.finish()  # a job before this one in the same process (Hydra's basic launcher) left it open
    tracking = cfg.tracking
    identity = {
        "project": tracking.project,
        "entity": tracking.entity,
        "group": group(cfg, run_dir),
        "job_type": cfg.method.name,
        "name": run_name(cfg),
        "tags": list(tracking.tags),
    }
    mode = wandb_mode()
    state["wandb"] = {**identity, "id": run_id, "mode": mode, "dir": str(run_dir / "wandb")}
    write_json(run_dir / TRACKING_FILE, state)  # before init: a run that dies early still resumes
    config = secrets.scrub(OmegaConf.to_container(cfg, resolve=True))
    init = dict(identity, id=run_id, resume="allow", dir=str(run_dir), config=config)
    with secrets.scrubbed_argv():  # W&B records the command line in its metadata
        try:
            timeout = float(os.environ.get("WANDB_INIT_TIMEOUT") or INIT_TIMEOUT_S)
            wandb.init(mode=mode, settings=wandb.Settings(init_timeout=timeout), **init)
        except wandb.errors.Error as error:
            if mode != "online":
                raise EnvironmentProblem(f"W&B could not start an {mode} run in {run_dir}: {error}") from None
            log.warning(
                "W&B did not answer (%s); logging offline instead: wandb sync %s/wandb/offline-run-*", error, run_dir
            )
            state["wandb"]["mode"] = "offline"
            write_json(run_dir / TRACKING_FILE, state)
            wandb.teardown()  # the W&B service still holds the run id of the failed attempt
            wandb.init(mode="offline", **init)


def wandb_mode() -> str:
    """WANDB_MODE when set; else online with credentials and offline without, so W&B never prompts."""
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode in ("offline", "dryrun"):
        return "offline"
    if mode == "disabled":
        return "disabled"
    if has_wandb_credentials():
        return "online"
    log.warning(
        "No W&B credentials (WANDB_API_KEY or `wandb login`): logging offline; upload later with "
        "`wandb sync <run dir>/wandb/offline-run-*`."
    )
    return "offline"


def has_wandb_credentials() -> bool:
    """An API key in the environment or ~/.netrc (where `wandb login` keeps it), or an identity token file."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host or "") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def group(cfg: DictConfig, run_dir: Path) -> str:
    """tracking.group, else the sweep directory (shared by all jobs of a multirun), else the run directory."""
    if cfg.tracking.group:
        return cfg.tracking.group
    path = _sweep_dir(run_dir) or run_dir
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

    overrides = dict(parse_override(o) for o in _job_overrides())
    overrides = {k: v for k, v in overrides.items() if _names_the_run(k)}
    sweep_dir = _sweep_dir(None)
    if sweep_dir is not None:
        swept = set(sweep_plan(sweep_dir)[0])
        overrides = {k: v for k, v in overrides.items() if k in swept} or overrides
    short = short_names(overrides)
    return secrets.scrub_text("-".join([cfg.method.name, *(f"{short[k]}={v}" for k, v in overrides.items())]))


def _names_the_run(key: str) -> bool:
    """Overrides that change what is trained (the method is the name's first part already); no secrets."""
    top = key.split(".")[0].split("/")[0]
    return key != "method" and top not in ("hydra", "tracking", "dry_run") and not secrets.is_secret_key(key)


def _job_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return [str(o) for o in OmegaConf.to_container(HydraConfig.get().overrides.task, resolve=False)]


def _sweep_dir(run_dir: Path | None) -> Path | None:
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


def _tensorboard_hparams(cfg: DictConfig, run_dir: Path, metrics: dict[str, Any]) -> None:
    """The job's overrides and final metrics in TensorBoard's HParams table, to compare a sweep's jobs."""
    from torch.utils.tensorboard import SummaryWriter

    from align.sweep.read import parse_override

    hparams: dict[str, Any] = {"method": cfg.method.name}
    for key, value in (parse_override(o) for o in _job_overrides()):
        if _names_the_run(key):
            hparams[key] = _scalar(secrets.scrub_text(value))
    final = {f"final/{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    with SummaryWriter(log_dir=str(run_dir / TENSORBOARD_DIR)) as writer:
        writer.add_hparams(hparams, final, run_name=".")


def _scalar(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _read_state(run_dir: Path) -> dict[str, Any]:
    try:
        state = json.loads((run_dir / TRACKING_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0
