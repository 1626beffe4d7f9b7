"""What this machine must have for the run: GPUs for GPU-only options, optional packages, the TRL version the
method settings describe, a judge's endpoint that answers. Skipped by `dry_run=true`, which plans a run for the
hardware it names (a recipe's 8 GPUs) from a laptop."""

from __future__ import annotations

import importlib.util

from omegaconf import DictConfig

from align.config.trl_fields import check_installed_trl
from align.errors import EnvironmentProblem, invalid


def check_machine(cfg: DictConfig, gpus: int) -> None:
    """Raise an EnvironmentProblem (or ConfigError) for what this machine, with `gpus` visible GPUs, cannot run."""
    check_installed_trl()
    hw, peft = cfg.hardware, cfg.peft
    if hw.device == "cuda" and gpus == 0:
        raise invalid("hardware.device", "cuda", "a device that exists: no CUDA GPU is visible", "Use hardware=cpu.")
    if peft.method == "qlora" and (gpus == 0 or hw.device == "cpu" or not _installed("bitsandbytes")):
        raise EnvironmentProblem(
            "peft=qlora loads the model in 4-bit NF4 through bitsandbytes, which needs a CUDA GPU and "
            "the bitsandbytes package (pip install bitsandbytes). Use peft=lora on this machine."
        )
    lacking = liger_lacking(cfg, gpus)
    if lacking:
        raise EnvironmentProblem(
            f"method.use_liger_kernel=true patches the model with Liger's Triton kernels, which need a CUDA GPU and "
            f"the liger-kernel package (pip install liger-kernel); this machine has no {' and no '.join(lacking)}. "
            "Set method.use_liger_kernel=false to train without them."
        )
    if hw.num_processes is not None and gpus and hw.device != "cpu" and hw.num_processes > gpus:
        raise invalid("hardware.num_processes", hw.num_processes, f"at most the {gpus} visible GPU(s) of this machine")
    if hw.distributed in ("ddp", "fsdp") and hw.num_processes is None and gpus == 0:
        raise invalid("hardware.num_processes", None,
                      f"a number of CPU processes for hardware={hw.name} on a machine without GPUs",
                      "For example hardware.num_processes=2.")
    if hw.distributed == "deepspeed" and not _installed("deepspeed"):
        raise EnvironmentProblem(
            f"hardware={hw.name} needs DeepSpeed, which is not installed: pip install 'align[deepspeed]' "
            "(or pip install deepspeed)."
        )
    if hw.distributed == "deepspeed" and gpus == 0 and (hw.num_processes or 1) * (hw.num_machines or 1) > 1:
        raise invalid("hardware.num_processes", hw.num_processes,
                      "1 for DeepSpeed without a GPU (its CPU backend runs one process here)",
                      "Use hardware=ddp or hardware=fsdp for several CPU processes.")
    if cfg.model.gguf_file is not None:
        from align.model.gguf import require_gguf

        require_gguf()
    if cfg.method.get("use_vllm") and (gpus == 0 or not _installed("vllm")):
        raise EnvironmentProblem(
            f"method.use_vllm=true generates with vLLM, which needs a CUDA GPU and the vllm package ({gpus} GPU(s) "
            f"visible, vllm {'installed' if _installed('vllm') else 'not installed'}: pip install 'trl[vllm]'). "
            "Use method.use_vllm=false to generate with transformers, or see docs/online.md for vLLM's server mode."
        )
    check_generation_backend(cfg, gpus)
    if cfg.get("judge") is not None and "base_url" in cfg.judge:
        from align.eval.judges.openai import check_endpoint
        from align.eval.run import judged

        if judged(cfg):  # the endpoint answers, with the key it is given
            check_endpoint(cfg.judge)
    if cfg.model.attn_implementation == "flash_attention_2" and (gpus == 0 or not _installed("flash_attn")):
        raise EnvironmentProblem(
            "model.attn_implementation=flash_attention_2 needs a CUDA GPU and the flash-attn package "
            "(pip install flash-attn --no-build-isolation). Use model.attn_implementation=sdpa (or auto)."
        )


def check_generation_backend(cfg: DictConfig, gpus: int) -> None:
    """generation.backend is one align knows, and vllm only where vLLM can run: the vllm package and a CUDA GPU."""
    from align.generation import BACKENDS

    backend = cfg.generation.backend
    if backend not in BACKENDS:
        raise invalid("generation.backend", backend, " or ".join(BACKENDS))
    vllm = _installed("vllm")
    if backend == "vllm" and (gpus == 0 or cfg.hardware.device == "cpu" or not vllm):
        raise EnvironmentProblem(
            f"generation.backend=vllm generates with vLLM, which needs a CUDA GPU and the vllm package ({gpus} GPU(s) "
            f"visible, hardware.device={cfg.hardware.device}, vllm {'installed' if vllm else 'not installed'}: "
            "pip install vllm). Use generation.backend=transformers to generate with transformers on this machine."
        )


def liger_lacking(cfg: DictConfig, gpus: int) -> list[str]:
    """What this machine lacks for method.use_liger_kernel=true ([] when it is off or nothing is missing)."""
    if not cfg.method.get("use_liger_kernel"):
        return []
    lacking = ["CUDA GPU"] if gpus == 0 or cfg.hardware.device == "cpu" else []
    return lacking + ([] if _installed("liger_kernel") else ["liger-kernel package"])


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None
