"""Reading a sweep directory: one `Job` per job directory (done, failed) or per planned job that has no
directory (missing), from `.hydra/overrides.yaml`, `metrics.json`, `stderr.log` and Hydra's multirun.yaml.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from align.errors import AlignError

# What makes a subdirectory of the sweep a job directory (align's files, or the pool launcher's logs).
_JOB_FILES = (".hydra", "metrics.json", "stdout.log", "stderr.log", "align.log")


class ReportError(AlignError):
    """The sweep directory cannot be reported: missing, without jobs, or without the asked-for metric."""


def is_number(value: Any) -> bool:
    """A metric value that can be ranked and plotted (JSON numbers; booleans are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class Job:
    name: str  # the job directory's name; for a missing job, its overrides
    status: str  # done, failed or missing
    overrides: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    method: str = ""
    detail: str = ""

    def value(self, metric: str) -> float | None:
        value = self.metrics.get(metric)
        return float(value) if is_number(value) else None


@dataclass
class Sweep:
    dir: Path
    jobs: list[Job]
    # Override keys that vary between jobs (the sweep's own first), without `method`.
    swept: list[str]

    @property
    def done(self) -> list[Job]:
        return [job for job in self.jobs if job.status == "done"]

    def metric_names(self) -> list[str]:
        names = {k for job in self.done for k, v in job.metrics.items() if is_number(v)}
        return sorted(names)


def parse_override(text: str) -> tuple[str, str]:
    """`method.beta=0.1` -> ("method.beta", "0.1"); Hydra's +/++/~ prefixes are dropped from the key."""
    key, _, value = str(text).partition("=")
    return key.lstrip("+~"), value


def short_names(keys: Iterable[str]) -> dict[str, str]:
    """Each key's last dotted part (`method.beta` -> `beta`), or the whole key where two would clash."""
    keys = list(dict.fromkeys(keys))
    leaves = [key.rsplit(".", 1)[-1] for key in keys]
    return {key: leaf if leaves.count(leaf) == 1 else key for key, leaf in zip(keys, leaves, strict=True)}


def sweep_plan(sweep_dir: Path) -> tuple[list[str], list[list[str]] | None]:
    """From Hydra's multirun.yaml: the swept keys, and every job's overrides (None where unknown).

    Jobs can be listed only for Hydra's basic sweeper (a grid); other sweepers (Optuna) choose as they go.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    hydra = _multirun_hydra(sweep_dir)
    if hydra is None:
        return [], None
    sweeper = hydra.get("sweeper") or {}
    params = sweeper.get("params") or {}
    lines = [f"{key}={value}" for key, value in params.items()]
    lines += [str(o) for o in (hydra.get("overrides") or {}).get("task") or []]
    try:
        overrides = OverridesParser.create().parse_overrides(lines)
    except HydraException:
        return [], None
    # The command line wins over the sweeper's params, in the params' place (as BasicSweeper orders them).
    final = {override.get_key_element(): override for override in overrides}
    swept = [key.lstrip("+~") for key, override in final.items() if override.is_sweep_override()]
    if not str(sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return swept, None
    try:
        return swept, _grid(final)
    except HydraException:  # a sweep the grid cannot enumerate (interval, glob): jobs unknown
        return swept, None


def _grid(overrides: dict[str, Any]) -> list[list[str]]:
    """The basic sweeper's jobs: the product of every key's values, first key slowest, values in order."""
    from hydra.errors import HydraException

    choices = []
    for key, override in overrides.items():
        if not override.is_sweep_override():
            choices.append([f"{key}={override.get_value_element_as_str()}"])
        elif override.is_discrete_sweep():
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            raise HydraException(f"cannot enumerate the sweep {override.input_line}")
    return [list(job) for job in itertools.product(*choices)]


def _multirun_hydra(sweep_dir: Path) -> dict[str, Any] | None:
    """The `hydra` node of the sweep's multirun.yaml, unresolved, or None without one."""
    from omegaconf import OmegaConf

    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return None
    # Unresolved: an override such as `method.hub_token=${oc.env:HF_TOKEN}` stays as written.
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False).get("hydra") or {}


def load_sweep(sweep_dir: Path) -> Sweep:
    """Every job of the sweep in `sweep_dir`: done (metrics.json), failed, or missing (never started)."""
    if not sweep_dir.is_dir():
        raise ReportError(
            f"No sweep directory {str(sweep_dir)!r}. Pass the directory a sweep wrote, i.e. its hydra.sweep.dir "
            "(`python -m align -m ...` prints it as 'sweep output dir'; by default multirun/<date>/<time>)."
        )
    planned_keys, planned_jobs = sweep_plan(sweep_dir)
    dirs = sorted(
        d
        for d in sweep_dir.iterdir()
        if d.is_dir() and not d.name.startswith(".") and any((d / f).exists() for f in _JOB_FILES)
    )
    if not dirs:
        expected = f" Its multirun.yaml lists {len(planned_jobs)} job(s), none started." if planned_jobs else ""
        raise ReportError(
            f"{str(sweep_dir)!r} holds no job directories (subdirectories with .hydra/, metrics.json or "
            f"stdout.log).{expected} Pass the sweep directory itself (hydra.sweep.dir), not one job's directory."
        )
    jobs = [_read_job(d) for d in dirs]
    if planned_jobs is not None:
        jobs += _missing_jobs(jobs, planned_jobs, _dirname_settings(sweep_dir))
    varying = [
        k
        for k in dict.fromkeys(k for job in jobs for k in job.overrides)
        if len({job.overrides.get(k) for job in jobs if job.overrides}) > 1
    ]
    swept = list(dict.fromkeys(planned_keys + varying))
    if not swept:  # one job, or a sweep of one value: show what the jobs set
        swept = list(dict.fromkeys(k for job in jobs for k in job.overrides))
    return Sweep(sweep_dir, jobs, [k for k in swept if k != "method"])


def _read_job(job_dir: Path) -> Job:
    from omegaconf import OmegaConf

    job = Job(name=job_dir.name, status="failed")
    recorded = job_dir / ".hydra" / "overrides.yaml"
    if recorded.is_file():
        job.overrides = dict(parse_override(o) for o in OmegaConf.to_container(OmegaConf.load(recorded), resolve=False))
    try:
        metrics = json.loads((job_dir / "metrics.json").read_text())
    except FileNotFoundError:
        job.detail = _failure(job_dir)
    except (OSError, ValueError) as error:
        job.detail = f"unreadable metrics.json: {error}"
    else:
        if isinstance(metrics, dict):
            job.status, job.metrics = "done", metrics
        else:
            job.detail = "metrics.json does not hold a JSON object"
    job.method = str(job.metrics.get("method") or job.overrides.get("method") or _configured_method(job_dir))
    return job


def _configured_method(job_dir: Path) -> str:
    from omegaconf import OmegaConf

    config = job_dir / ".hydra" / "config.yaml"
    if not config.is_file():
        return ""
    method = OmegaConf.to_container(OmegaConf.load(config), resolve=False).get("method") or {}
    return str(method.get("name") or "")


def _failure(job_dir: Path) -> str:
    """Why a job has no metrics.json: the last line of its stderr.log (align's one-paragraph error)."""
    from align.tracking.secrets import scrub_text

    stderr = job_dir / "stderr.log"
    lines = [line.strip() for line in stderr.read_text(errors="replace").splitlines()] if stderr.is_file() else []
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith("align: error:")]
    last = (errors or lines or [""])[-1]
    if not last:
        return "no metrics.json (failed, interrupted or still running)"
    return scrub_text(last if len(last) <= 300 else last[:297] + "...")


@dataclass
class _DirnameSettings:
    """The sweep's `hydra.job.config.override_dirname`: what Hydra built each job's override_dirname from."""

    exclude_keys: list[str] = field(default_factory=list)
    item_sep: str = ","
    kv_sep: str = "="


def _dirname_settings(sweep_dir: Path) -> _DirnameSettings:
    hydra = _multirun_hydra(sweep_dir) or {}
    settings = ((hydra.get("job") or {}).get("config") or {}).get("override_dirname") or {}
    defaults = _DirnameSettings()
    return _DirnameSettings(
        exclude_keys=[str(k) for k in settings.get("exclude_keys") or []],
        item_sep=str(settings.get("item_sep", defaults.item_sep)),
        kv_sep=str(settings.get("kv_sep", defaults.kv_sep)),
    )


def _job_dirname(overrides: list[str], settings: _DirnameSettings) -> str:
    """The directory the pool launcher gives a job: `${safe_dirname:${hydra.job.override_dirname}}`."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from align.sweep.names import override_dirname, safe_dirname

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException:  # not Hydra's to parse again: the keys as written
        pairs = [(parse_override(o)[0], o) for o in overrides]
    else:
        pairs = [(o.key_or_group, str(o.input_line)) for o in parsed]
    return safe_dirname(override_dirname(pairs, settings.exclude_keys, settings.item_sep, settings.kv_sep))


def _missing_jobs(found: list[Job], planned: list[list[str]], settings: _DirnameSettings) -> list[Job]:
    """Planned jobs that no directory accounts for (by its recorded overrides, else by its name)."""
    recorded = {_identity(job.overrides.items()) for job in found if job.overrides}
    unrecorded = {job.name: job for job in found if not job.overrides}
    missing = []
    for overrides in planned:
        pairs = dict(parse_override(o) for o in overrides)
        if _identity(pairs.items()) in recorded:
            continue
        dirname = _job_dirname(overrides, settings)
        if dirname in unrecorded:
            job = unrecorded[dirname]
            job.overrides, job.method = pairs, job.method or pairs.get("method", "")
            continue
        missing.append(
            Job(
                name=" ".join(overrides),
                status="missing",
                overrides=pairs,
                method=pairs.get("method", ""),
                detail="not started (no directory)",
            )
        )
    return missing


def _identity(pairs: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    # Secrets are recorded redacted (align.tracking.secrets), so they cannot tell jobs apart.
    from align.tracking.secrets import is_secret_key

    return tuple(sorted(f"{k}={v}" for k, v in pairs if not is_secret_key(k)))
