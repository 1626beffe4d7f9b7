"""How the trainer runs on the resolved hardware: the device and precision, TrainingArguments values for DeepSpeed
ZeRO, FSDP2 and DDP, the one-process rendezvous DeepSpeed needs, and FSDP2 across CPU processes (which accelerate
does not switch on)."""

from __future__ import annotations

import logging
import os
from typing import Any

from omegaconf import DictConfig

from align.hardware.devices import inside_distributed_launch

log = logging.getLogger(__name__)


def single_process_rendezvous(hw: DictConfig) -> None:
    """Give a one-process DeepSpeed run the torch.distributed environment a launcher would set.

    Without it DeepSpeed falls back to MPI discovery (mpi4py) to find its one process.
    """
    if hw.distributed != "deepspeed" or inside_distributed_launch():
        return
    from align.hardware.plan import free_local_port

    port = free_local_port()
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


def use_cuda(plan: Any) -> bool:
    """Whether the model goes on the GPU: the plan's device, which torch must be able to use."""
    if not plan.on_cuda:
        return False
    import torch

    if not torch.cuda.is_available():
        from align.errors import EnvironmentProblem

        raise EnvironmentProblem(
            f"{plan.gpus} GPU(s) are visible, but the installed torch {torch.__version__} cannot use CUDA (a CPU "
            "build, or a driver it does not support). Install a CUDA build of torch (pytorch.org), or train on the "
            "CPU with hardware=cpu."
        )
    return True


def use_bf16(hw: DictConfig, on_cuda: bool) -> bool:
    """bf16 mixed precision: hardware.mixed_precision, where `auto` means wherever the GPU supports it."""
    if hw.mixed_precision == "auto":
        import torch

        return on_cuda and torch.cuda.is_bf16_supported()
    return hw.mixed_precision == "bf16"
