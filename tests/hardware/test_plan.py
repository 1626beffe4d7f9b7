"""The resolved hardware plan: process counts, machines, rendezvous and device, from the option, the visible GPUs
and SLURM's environment."""

from __future__ import annotations

import socket

import pytest
from omegaconf import OmegaConf

from align.config.schema import HardwareConfig
from align.hardware.plan import DEFAULT_PORT, plan, slurm_nodes


def option(**values):
    return OmegaConf.structured(HardwareConfig(**values))


def test_multinode_settings_come_from_slurm(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("SLURM_NNODES", "4")
    monkeypatch.setenv("SLURM_NODEID", "2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3,4,5,6,7")
    assert slurm_nodes()["num_machines"] == 4
    resolved = plan(option(name="multinode", distributed="deepspeed"))
    assert (resolved.num_machines, resolved.machine_rank, resolved.num_processes) == (4, 2, 8)
    assert resolved.world_size == 32 and resolved.device == "cuda"


def test_one_process_per_visible_gpu_for_a_multi_process_option(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,-1,3")  # CUDA stops reading at -1: two GPUs
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    ddp = plan(option(name="ddp", distributed="ddp"))
    assert (ddp.gpus, ddp.num_processes, ddp.world_size) == (2, 2, 2) and ddp.needs_launch
    single = plan(option())
    assert single.num_processes == 1 and not single.needs_launch


def test_a_cpu_machine_plans_the_cpu(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    resolved = plan(option(name="ddp", distributed="ddp", num_processes=2))
    assert resolved.device == "cpu" and resolved.world_size == 2
    assert plan(option(device="cpu")).device == "cpu"


def test_the_rendezvous_port_comes_from_the_sweep_launcher(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALIGN_MAIN_PROCESS_PORT", "31337")
    assert plan(option()).main_process_port == 31337
    assert plan(option(main_process_port=1234)).main_process_port == 1234  # the config wins


def test_one_machine_meets_on_a_free_port_and_several_on_the_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ALIGN_MAIN_PROCESS_PORT", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert plan(option(num_machines=2)).main_process_port == DEFAULT_PORT
    with socket.socket() as leftover:  # another run (or a leftover worker) listening on the default port
        leftover.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        leftover.bind(("127.0.0.1", DEFAULT_PORT))
        leftover.listen()
        port = plan(option()).main_process_port
        assert port != DEFAULT_PORT
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
