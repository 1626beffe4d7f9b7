"""The W&B run of an align run: started (or continued, by the id kept in <run dir>/tracking.json) before training
so the trainer's WandbCallback logs into it with our group, name and nested config. Without credentials, or with
WANDB_MODE=offline, it logs offline; an online server that does not answer falls back to offline. Its files go to
the run directory, or to $WANDB_DIR when the user set it."""

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

from align.errors import EnvironmentProblem
from align.outputs import write_json
from align.tracking import secrets
from align.tracking.names import group, run_name

log = logging.getLogger(__name__)

TRACKING_FILE = "tracking.json"
# Seconds an online wandb.init may wait for the server before align falls back to offline.
INIT_TIMEOUT_S = 60


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
    files = wandb_files_dir(run_dir)
    state["wandb"] = {**identity, "id": run_id, "mode": mode, "dir": str(files / "wandb")}
    write_json(run_dir / TRACKING_FILE, state)  # before init: a run that dies early still resumes
    config = secrets.scrub(OmegaConf.to_container(cfg, resolve=True))
    init = dict(identity, id=run_id, resume="allow", dir=str(files), config=config)
    with secrets.scrubbed_argv():  # W&B records the command line in its metadata
        started = init_or_offline(mode, init, files)
    if started != mode:
        state["wandb"]["mode"] = started
        write_json(run_dir / TRACKING_FILE, state)


def wandb_files_dir(default: Path) -> Path:
    """Where W&B writes its files: $WANDB_DIR when the user set it, else `default`."""
    return Path(os.environ["WANDB_DIR"]).expanduser() if os.environ.get("WANDB_DIR") else default


def init_or_offline(mode: str, init: dict[str, Any], files: Path) -> str:
    """wandb.init(mode, **init); an online server that does not answer within WANDB_INIT_TIMEOUT (default
    INIT_TIMEOUT_S) means an offline run instead. Returns the mode the run got."""
    import wandb

    timeout = float(os.environ.get("WANDB_INIT_TIMEOUT") or INIT_TIMEOUT_S)
    try:
        wandb.init(mode=mode, settings=wandb.Settings(init_timeout=timeout), **init)
        return mode
    except wandb.errors.Error as error:
        if mode != "online":
            raise EnvironmentProblem(f"W&B could not start an {mode} run in {files}: {error}") from None
        log.warning("W&B did not answer (%s); logging offline instead: wandb sync %s/wandb/offline-run-*", error, files)
        wandb.teardown()  # the W&B service still holds the run id of the failed attempt
        wandb.init(mode="offline", **init)
        return "offline"


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


def _read_state(run_dir: Path) -> dict[str, Any]:
    try:
        state = json.loads((run_dir / TRACKING_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}
