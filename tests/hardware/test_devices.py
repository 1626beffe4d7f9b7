"""The GPUs a process may use (align.hardware.devices.visible_devices, also the pool launcher's source of
device ids): CUDA_VISIBLE_DEVICES as CUDA reads it, else nvidia-smi's list, else none."""

from __future__ import annotations

import pytest

from align.hardware.devices import visible_devices


@pytest.mark.parametrize(
    ("env", "expected"),
    [("0,1,2", ["0", "1", "2"]), ("3, 5", ["3", "5"]), ("", []), ("0,-1,2", ["0"]), ("GPU-ab", ["GPU-ab"])],
)
def test_visible_devices_from_cuda_visible_devices(monkeypatch, env, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", env)
    assert visible_devices() == expected


def test_no_gpus_without_nvidia_smi(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert visible_devices() == []


def test_visible_devices_from_nvidia_smi(monkeypatch, tmp_path):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: H100 (UUID: GPU-1)'\necho 'GPU 1: H100 (UUID: GPU-2)'\n")
    fake.chmod(0o755)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert visible_devices() == ["0", "1"]
