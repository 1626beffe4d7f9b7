"""Multi-process runs: the same command relaunched on every process through accelerate's launcher, with a
generated config saved in the run directory (`accelerate_config.yaml`, plus `deepspeed.json` for ZeRO), and
signals (SLURM preemption, Ctrl-C) passed on to the workers so they checkpoint and stop."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from align.errors import AlignError
from align.hardware.plan import HardwarePlan
from align.hardware.settings import deepspeed_config
from align.outputs import write_json, write_text

log = logging.getLogger(__name__)


def accelerate_config(hw: DictConfig, plan: HardwarePlan, run_dir: Path) -> dict[str, Any]:
    """An accelerate config file equivalent to the hardware option (saved for reproducing by hand)."""
    config: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": "MULTI_GPU",
        "num_processes": plan.world_size,
        "num_machines": plan.num_machines,
        "machine_rank": plan.machine_rank,
        "main_process_ip": plan.main_process_ip,
        "main_process_port": plan.main_process_port,
        "rdzv_backend": "static",
        "same_network": True,
        "mixed_precision": {"auto": "no", "no": "no"}.get(hw.mixed_precision, hw.mixed_precision),
        "use_cpu": False,
    }
    if hw.distributed == "deepspeed" and plan.gpus > 0:
        # On GPUs, use accelerate's DeepSpeed launcher as the handbook does. Without a GPU accelerate
        # only launches DeepSpeed as one process, so workers start as plain torch.distributed ones.
        config["distributed_type"] = "DEEPSPEED"
        config["deepspeed_config"] = {
            "deepspeed_config_file": str(run_dir / "deepspeed.json"),
            "zero3_init_flag": hw.zero_stage == 3,
            "deepspeed_multinode_launcher": "standard",
        }
    return config


def launch(hw: DictConfig, plan: HardwarePlan, run_dir: Path, overrides: list[str]) -> None:
    """Run `python -m align OVERRIDES` on every process through accelerate's launcher; wait for it."""
    import yaml

    if hw.distributed == "deepspeed":
        write_json(run_dir / "deepspeed.json", deepspeed_config(hw))
    config_file = run_dir / "accelerate_config.yaml"
    config = accelerate_config(hw, plan, run_dir)
    write_text(config_file, yaml.safe_dump(config, sort_keys=False))
    args = ["-m", "align", *overrides, f"hydra.run.dir={run_dir}"]
    command = [sys.executable, "-m", "align.hardware.launch_workers", "--config_file", str(config_file), *args]
    by_hand = " ".join(["accelerate launch --config_file", str(config_file), *args])
    write_text(run_dir / "launch_command.txt", by_hand)
    log.info("Launching %s processes through accelerate: %s", config["num_processes"], by_hand)
    env = dict(os.environ, ALIGN_LAUNCHED="1")
    returncode, signum = wait_passing_on_signals(subprocess.Popen(command, env=env, start_new_session=True))
    if signum is not None:  # the workers saved a checkpoint and said so; stop as they did
        name, workers = signal.Signals(signum).name, config["num_processes"]
        sys.stderr.write(f"align: {name} passed on to the {workers} workers; run the same command again to resume "
                         "from the latest complete checkpoint\n")
        raise SystemExit(128 + signum)
    if returncode != 0:
        raise AlignError(
            f"The distributed run exited with status {returncode}; see the worker output above and "
            f"{run_dir / 'align.log'}. Rerun by hand with: {by_hand}"
        )


def wait_passing_on_signals(process: subprocess.Popen) -> tuple[int, int | None]:
    """Wait for the launcher (started in its own session); SIGTERM or SIGINT sent here (SLURM preemption, `kill`,
    Ctrl-C) is passed on to it, whose workers save a checkpoint and stop, instead of ending this process and
    orphaning them. SIGHUP (the terminal closed) is passed on as SIGTERM. Returns the launcher's exit status and
    the first signal received, if any."""
    received: list[int] = []

    def pass_on(signum: int, _frame: Any) -> None:
        received.append(signum)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM if signum == signal.SIGHUP else signum)

    previous = {s: signal.signal(s, pass_on) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        return process.wait(), (received[0] if received else None)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


