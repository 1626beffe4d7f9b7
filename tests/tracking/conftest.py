"""Helpers for the tracking tests: a real tracked sweep, the offline W&B runs it leaves (read from W&B's own record
files), and a search for secrets in every file under a directory."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import cli_env, run_align

SECRETS = {
    "HF_TOKEN": "hf_secret123abcdef",
    "WANDB_API_KEY": "wandbkey0123456789abcdef0123456789abcdef",
    "MY_SERVICE_TOKEN": "svc-token-5f3a9c2e71",
}


TINY_RUN = ("method.max_steps=4", "data.num_test=32", "data.num_exact_match=4")


SWEEP = ("-m", "method=dpo", "method.beta=0.1,0.5", *TINY_RUN, "hydra/launcher=basic")


@dataclass
class OfflineRun:
    id: str
    group: str
    name: str
    job_type: str
    project: str
    tags: list[str]
    config: dict[str, Any]
    summary: dict[str, Any]


def run_tracked_sweep(root: Path) -> tuple[Path, Any]:
    """`python -m align -m method=dpo method.beta=0.1,0.5 ... tracking=wandb_tensorboard` into root/S.

    `method.hub_token` reads a secret from the environment, so the resolved value passes through the
    trainer's arguments and the W&B config. Run once per session by the `tracked_sweep` fixture (conftest).
    """
    sweep_dir = root / "S"
    done = run_align(
        *SWEEP,
        "tracking=wandb_tensorboard",
        "method.hub_token=${oc.env:MY_SERVICE_TOKEN}",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=root,
        env=cli_env(WANDB_MODE="offline", **SECRETS),
    )
    return sweep_dir, done


def offline_runs(root: Path) -> list[OfflineRun]:
    """Every offline W&B run under `root`, read from its run-<id>.wandb file (W&B's record log)."""
    return [read_offline_run(path) for path in sorted(root.rglob("offline-run-*/run-*.wandb"))]


def read_offline_run(path: Path) -> OfflineRun:
    from wandb.proto import wandb_internal_pb2 as pb

    run = None
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    for raw in _log_records(path.read_bytes()):
        record = pb.Record()
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            config.update({item.key: json.loads(item.value_json) for item in run.config.update})
        elif kind == "config":
            config.update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "summary":
            for item in record.summary.update:
                summary[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    assert run is not None, f"{path} has no run record"
    return OfflineRun(
        run.run_id, run.run_group, run.display_name, run.job_type, run.project, list(run.tags), config, summary
    )


def _log_records(data: bytes) -> list[bytes]:
    """W&B's .wandb file: a 7-byte header, then LevelDB-log style records in 32 KiB blocks."""
    assert data[:4] == b":W&B", "not a W&B transaction log"
    block, header = 32768, 7
    records, pending, pos = [], b"", header
    while pos + header <= len(data):
        if block - pos % block < header:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + header])
        chunk, pos = data[pos + header : pos + header + length], pos + header + length
        if kind == 1:  # full
            records.append(chunk)
        elif kind == 2:  # first
            pending = chunk
        elif kind == 3:  # middle
            pending += chunk
        elif kind == 4:  # last
            records.append(pending + chunk)
        else:
            break
    return records


def files_containing(root: Path, needles: list[str]) -> dict[str, list[str]]:
    """Which secrets appear in which files under `root` (bytes, so binary files count too)."""
    found: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            hits = [n for n in needles if n.encode() in data]
            if hits:
                found[str(path.relative_to(root))] = hits
    return found
