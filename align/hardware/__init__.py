"""Hardware: device, precision and multi-process training (DDP, DeepSpeed ZeRO, FSDP2) through accelerate.

A multi-process option relaunches the same command through `accelerate launch` with a generated config
saved in the run directory (`accelerate_config.yaml`, plus `deepspeed.json` for ZeRO); each worker
passes the DeepSpeed/FSDP settings to TRL's arguments, and the HF Trainer sets them up.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from align.errors import AlignError
from align.outputs import write_json, write_text

log = logging.getLogger(__name__)

DEFAULT_PORT = 29500


def visible_gpus() -> int:
    """GPUs this process may use, found without importing torch."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in out.stdout.splitlines())


def inside_distributed_launch() -> bool:
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def slurm_nodes() -> dict[str, Any]:
    """num_machines, machine_rank and main_process_ip from SLURM's environment, when inside a SLURM job."""
    if "SLURM_JOB_ID" not in os.environ:
        return {}
    found: dict[str, Any] = {}
    if os.environ.get("SLURM_NNODES"):
        found["num_machines"] = int(os.environ["SLURM_NNODES"])
    if os.environ.get("SLURM_NODEID"):
        found["machine_rank"] = int(os.environ["SLURM_NODEID"])
    nodelist = os.environ.get("SLURM_JOB_NODELIST")
    if nodelist and shutil.which("scontrol"):
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True)
        if out.stdout.strip():
            found["main_process_ip"] = out.stdout.split()[0]
    return found


def resolved(hw: DictConfig) -> dict[str, Any]:
    """The hardware settings with defaults filled in: process count, machines, rendezvous address."""
    values = {key: hw[key] for key in hw}
    for key, value in slurm_nodes().items():
        if values.get(key) is None:
            values[key] = value
    values["num_machines"] = values.get("num_machines") or 1
    values["machine_rank"] = values.get("machine_rank") or 0
    values["main_process_ip"] = values.get("main_process_ip") or "127.0.0.1"
    port = values.get("main_process_port") or os.environ.get("ALIGN_MAIN_PROCESS_PORT") or DEFAULT_PORT
    values["main_process_port"] = int(port)
    if values.get("num_processes") is None:
        values["num_processes"] = max(visible_gpus(), 1) if hw.distributed != "no" else 1
    return values


def needs_launch(hw: DictConfig) -> bool:
    """A multi-process option asked for from a plain (not yet distributed) process."""
    if hw.distributed == "no" or inside_distributed_launch():
        return False
    return world_size(hw) > 1


def world_size(hw: DictConfig) -> int:
    """Processes over all machines."""
    settings = resolved(hw)
    return settings["num_processes"] * settings["num_machines"]


def single_process_rendezvous(hw: DictConfig) -> None:
    """Give a one-process DeepSpeed run the torch.distributed environment a launcher would set.

    Without it DeepSpeed falls back to MPI discovery (mpi4py) to find its one process.
    """
    if hw.distributed != "deepspeed" or inside_distributed_launch():
        return
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for key, value in {"RANK": 0, "LOCAL_RANK": 0, "WORLD_SIZE": 1, "LOCAL_WORLD_SIZE": 1,
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}.items():
        os.environ.setdefault(key, str(value))


def deepspeed_config(hw: DictConfig) -> dict[str, Any]:
    """A DeepSpeed ZeRO config whose batch, precision and clipping values come from TRL's args ("auto")."""

    def offload(enabled: bool) -> dict[str, Any]:
        return {"device": "cpu", "pin_memory": True} if enabled else {"device": "none"}

    zero: dict[str, Any] = {
        "stage": hw.zero_stage,
        "offload_optimizer": offload(hw.offload_optimizer),
        "overlap_comm": True,
        "contiguous_gradients": True,
    }
    if hw.zero_stage == 3:
        zero["offload_param"] = offload(hw.offload_params)
        zero["stage3_gather_16bit_weights_on_model_save"] = True  # model/ holds consolidated weights
    return {
        "zero_optimization": zero,
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
    }


def trainer_settings(hw: DictConfig, on_cuda: bool) -> dict[str, Any]:
    """TrainingArguments values for the hardware option (DeepSpeed/FSDP settings, DDP backend)."""
    if hw.distributed == "deepspeed":
        return {"deepspeed": deepspeed_config(hw)}
    if hw.distributed == "fsdp":
        return {
            "fsdp": True,
            "fsdp_config": {  # FSDP2, full shard (reshard after forward), one unit per transformer layer
                "version": 2,
                "reshard_after_forward": True,
                "cpu_offload": hw.offload_params,
                "cpu_ram_efficient_loading": hw.cpu_ram_efficient_loading,
                "state_dict_type": "FULL_STATE_DICT",
            },
        }
    if hw.distributed == "ddp":
        return {"ddp_backend": None if on_cuda else "gloo", "ddp_find_unused_parameters": False}
    return {}


def accelerate_config(hw: DictConfig, run_dir: Path) -> dict[str, Any]:
    """An accelerate config file equivalent to the hardware option (saved for reproducing by hand)."""
    settings = resolved(hw)
    config: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": "MULTI_GPU",
        "num_processes": settings["num_processes"] * settings["num_machines"],
        "num_machines": settings["num_machines"],
        "machine_rank": settings["machine_rank"],
        "main_process_ip": settings["main_process_ip"],
        "main_process_port": settings["main_process_port"],
        "rdzv_backend": "static",
        "same_network": True,
        "mixed_precision": {"auto": "no", "no": "no"}.get(hw.mixed_precision, hw.mixed_precision),
        "use_cpu": False,
    }
    if hw.distributed == "deepspeed" and visible_gpus() > 0:
        # On GPUs, use accelerate's DeepSpeed launcher as the handbook does. Without a GPU accelerate
        # only launches DeepSpeed as one process, so workers start as plain torch.distributed ones.
        config["distributed_type"] = "DEEPSPEED"
        config["deepspeed_config"] = {
            "deepspeed_config_file": str(run_dir / "deepspeed.json"),
            "zero3_init_flag": hw.zero_stage == 3,
            "deepspeed_multinode_launcher": "standard",
        }
    return config


def launch(hw: DictConfig, run_dir: Path, overrides: list[str]) -> None:
    """Run `python -m align OVERRIDES` on every process through accelerate's launcher; wait for it."""
    import yaml

    if hw.distributed == "deepspeed":
        write_json(run_dir / "deepspeed.json", deepspeed_config(hw))
    config_file = run_dir / "accelerate_config.yaml"
    config = accelerate_config(hw, run_dir)
    write_text(config_file, yaml.safe_dump(config, sort_keys=False))
    args = ["-m", "align", *overrides, f"hydra.run.dir={run_dir}"]
    command = [sys.executable, "-m", "align.launch_workers", "--config_file", str(config_file), *args]
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


def enable_fsdp_on_cpu(args: Any) -> None:
    """Let the Trainer shard with FSDP2 across CPU processes (gloo), as it does across GPUs.

    accelerate turns FSDP on only for accelerator devices and would silently fall back to plain data
    parallelism on CPUs. torch's FSDP2 itself runs on CPU, so the shared accelerator state is created
    here first with FSDP selected; the Trainer's Accelerator then reuses it.
    """
    from accelerate import Accelerator, FullyShardedDataParallelPlugin
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType

    _ = args.device  # TrainingArguments set up (and reset) accelerate's state on first use: do that first
    plugin = FullyShardedDataParallelPlugin(**args.fsdp_plugin_args)
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "no"
    state = Accelerator(cpu=True, mixed_precision=precision, fsdp_plugin=plugin).state
    state.fsdp_plugin = plugin
    # every AcceleratorState() copies the process-level state, so both say FSDP
    PartialState().distributed_type = state.distributed_type = DistributedType.FSDP
    log.info("FSDP2 on CPU: %d processes over gloo, parameters sharded per transformer layer", state.num_processes)
