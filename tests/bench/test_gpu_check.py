"""bench/gpu_check.py: its CPU dry mode runs every section that needs no GPU and names why the others are skipped,
so the check a lent GPU runs once cannot rot before then; and the MFU arithmetic that only a GPU run reaches."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import gpu_check
from tests.conftest import REPO, cli_env


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.slow
def test_cpu_mode_measures_what_needs_no_gpu_and_skips_the_rest(tmp_path: Path):
    out = tmp_path / "gpu_check.json"
    # A budget wide enough that a loaded CI machine still starts every run (the default, 270 s, would skip some)
    done = subprocess.run(
        [sys.executable, "bench/gpu_check.py", "--cpu", "--out", str(out), "--work", str(tmp_path / "work"),
         "--budget-s", "900"],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    report = json.loads(out.read_text())
    sections = report["sections"]
    assert list(sections) == list(gpu_check.SECTIONS)

    gpu_only = {name: sections[name] for name in ("correctness", "vllm")}
    for section in gpu_only.values():
        assert section["status"] == "skipped"
        assert section["reason"] == ("--cpu mode" if cuda_available() else "no CUDA")
    if not cuda_available():
        assert done.stdout.strip().splitlines()[-1] == "skipped: no CUDA"

    for name in ("pool", "throughput", "memory", "options"):
        assert sections[name]["status"] == "ok", (name, sections[name])
    runs = sections["throughput"]["runs"]
    assert {"dpo align 1", "dpo plain TRL 1"} <= set(runs)
    assert all(r["tokens_per_s"] > 0 and r["peak_mib"] > 0 and r["reference_model"] for r in runs.values())
    assert sections["throughput"]["same_tokens_per_step"] == {"dpo": True}
    assert sections["throughput"]["align_over_plain_tokens_per_s"] > 0

    estimate = sections["memory"]["runs"]["dpo"]
    assert estimate["estimate_mib"] > 0 and estimate["measured_mib"] > 0

    jobs = sections["pool"]["jobs"]
    assert len(jobs) == 2 and all(job["device"] == "cpu" and int(job["port"]) > 0 for job in jobs.values())

    option_runs = sections["options"]["runs"]
    cached = option_runs["dpo reference cache"]
    assert cached["status"] == "ok" and cached["tokens_per_s"] > 0 and not cached["reference_model"]
    assert option_runs["dpo liger"]["status"].startswith("skipped: ")
    assert report["environment"]["torch"] and report["wall_s"] > 0


def test_mfu_counts_the_policy_and_a_held_reference_over_the_gpu_peak():
    ctx = gpu_check.Context(gpu=True, mode_reason="", deadline=0, work=Path("."), log=Path("log"), env={},
                            missing=[], data={"peak_flops": 1e15})
    train = {"settings": {"per_device_train_batch_size": 4}, "matmul_params": 10**8, "layers": 10, "hidden": 1000,
             "reference_model": False}
    figures = {"kind": "dpo", "tokens_per_s": 1e6, "tokens_per_step": 4000.0}  # 8 sequences of 500 tokens
    per_token = 6 * 10**8 + 12 * 10 * 1000 * 500  # 6N + 12·L·d·T
    assert gpu_check._mfu(ctx, train, figures)["mfu"] == round(per_token * 1e6 / 1e15, 3) == 0.66
    held = gpu_check._mfu(ctx, {**train, "reference_model": True}, figures)  # plus the reference's forward, 2N
    assert held["mfu"] == 0.88 and held["model_tflops"] == 880.0
    assert gpu_check._mfu(ctx, train, {**figures, "kind": "sft"})["mean_sequence_tokens"] == 1000.0
