"""Shared reference log-prob cache: a sweep over beta or the loss computes the reference model's log-probs once.

TRL's `precompute_ref_log_probs` does the work: it tokenizes each split, runs the reference forward passes before
training and reads the result from dataset columns (DPO: `ref_chosen_logps`, `ref_rejected_logps`; KTO:
`ref_logps`, `ref_KL_logps`), keeping no reference model in memory. `with_ref_cache` wraps a TRL trainer so that
each split's prepared dataset, with those columns, is stored in `cache.dir` under a key of everything the
columns depend on (reference weights, tokenizer, rows, the trainer's length settings, dtype and precision) and
nothing else, so not beta or the loss. A later job with the same key loads it instead of tokenizing and running
the reference. Entries are filled in a staging dir and renamed into place; jobs needing the same key take turns
on a file lock, so one computes and the others reuse. `python -m align.cache` lists and prunes the entries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from align.errors import EnvironmentProblem
from align.outputs import swap_in, write_json
from align.paths import cache_dir, file_hash

log = logging.getLogger(__name__)

# Bump when what an entry holds or how its key is made changes.
CACHE_FORMAT = 2
ENTRY_FILE = "entry.json"
# How often a job waiting for another job's entry says so (it waits as long as that job computes).
_WAIT_REPORT_S = 60
# Files of a model directory that decide its weights (its tokenizer is keyed on its own).
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_CONFIG_FILES = ("config.json", "adapter_config.json")
_NOT_WEIGHTS = ("training_args.bin",)


@dataclass(frozen=True)
class RefCache:
    """Where entries live, and the model revision the run loads (a Hub id is keyed by its resolved commit)."""

    dir: Path
    revision: str | None = None


def ref_cache_for(cfg: Any, method: Any) -> RefCache | None:
    """The run's cache, or None when off: on (cache.ref_logps null) for a method with a reference model, unless
    method.sync_ref_model moves the reference during training (validation refuses cache.ref_logps=true then)."""
    if not method.ref_settings:  # no reference, or one whose log-probs change with each sampled completion
        return None
    wanted = cfg.cache.ref_logps
    if not (wanted if wanted is not None else not cfg.method.get("sync_ref_model")):
        return None
    root = Path(cfg.cache.dir).expanduser() if cfg.cache.dir else default_dir()
    return RefCache(root, cfg.model.revision)


def default_dir() -> Path:
    return cache_dir() / "ref_logps"


def with_ref_cache(cache: RefCache | None, trainer_class: type, settings: tuple[str, ...]) -> tuple[type, dict]:
    """The trainer class to use and its extra arguments: `trainer_class` itself when the cache is off, else a
    subclass that reads and fills the cache through TRL's precompute_ref_log_probs.

    `settings` name the TRL config fields the reference columns depend on besides weights, tokenizer, rows,
    dtype and precision.
    """
    if cache is None:
        return trainer_class, {}
    # TRL's own name, so messages that name the trainer ("TRL's DPOTrainer rejected ...") stay TRL's.
    cached = type(trainer_class.__name__, (_RefCacheMixin, trainer_class),
                  {"_ref_settings": settings, "_ref_trainer": trainer_class.__name__})
    return cached, {"ref_cache": cache}


class _RefCacheMixin:
    """Hooks TRL's `_prepare_dataset` and `_precompute_ref_logps`: a cached split skips both; a new one is stored."""

    _ref_settings: tuple[str, ...] = ()
    _ref_trainer: str = ""

    def __init__(self, *args: Any, ref_cache: RefCache, **kwargs: Any) -> None:
        trl_args = kwargs["args"]
        trl_args.precompute_ref_log_probs = True  # TRL then keeps no reference model (with LoRA: adapters off)
        self._ref_session = _Session(ref_cache, kwargs["model"], kwargs["processing_class"], trl_args,
                                     self._ref_settings, self._ref_trainer)
        try:
            super().__init__(*args, **kwargs)
        finally:
            self._ref_session.release()
        self._ref_session.report()
        self._ref_session = None  # datasets given to evaluate() later take TRL's own path

    def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
        session = self._ref_session
        if session is None:
            return super()._prepare_dataset(dataset, processing_class, args, dataset_name)
        entry = session.open(dataset_name, dataset)
        if entry.hit:
            return entry.load()
        started = time.perf_counter()
        prepared = super()._prepare_dataset(dataset, processing_class, args, dataset_name)
        if args.remove_unused_columns:  # the raw text stays out of the entry (the trainer drops it anyway)
            self._signature_columns = None  # Trainer.__init__ has not run yet: ask TRL for its column list
            self._set_signature_columns_if_needed()
            prepared = prepared.select_columns([c for c in prepared.column_names if c in self._signature_columns])
        prepared = entry.stage(prepared)
        entry.seconds += time.perf_counter() - started
        return prepared

    def _precompute_ref_logps(self, dataset: Any, name: str, batch_size: int) -> Any:
        entry = self._ref_session.entries.get(name) if self._ref_session is not None else None
        if entry is not None and entry.hit:
            return dataset  # the cached split already has TRL's reference columns
        if len(dataset) == 0:  # e.g. every row's prompt alone was longer than max_length; TRL dropped them all
            log.warning("The %s split has no rows left to compute reference log-probs for.", name)
            return dataset
        started = time.perf_counter()
        with_refs = super()._precompute_ref_logps(dataset, name, batch_size)
        if entry is None:
            return with_refs
        entry.seconds += time.perf_counter() - started
        return entry.commit(with_refs, dataset)


@dataclass
class _Entry:
    """One split's cache entry, `<root>/<key>/`: TRL's tokenized split (`tokenized/`), its reference columns as
    TRL wrote them (`ref_logps.arrow`) and `entry.json`. It is filled in `.<key>.staging/` and renamed into
    place whole, so a directory without entry.json is never read.
    """

    root: Path
    key: str
    name: str
    state: Any  # accelerate's PartialState: which process writes, and the barrier between them
    trainer: str = ""  # shown by `python -m align.cache`
    model: str = ""
    hit: bool = False
    seconds: float = 0.0  # to tokenize and run the reference (stored on a miss, read back on a hit)
    lock: Any = None

    @property
    def path(self) -> Path:
        return self.root / self.key

    @property
    def staging(self) -> Path:
        return self.root / f".{self.key}.staging"  # one writer per key: the lock holder

    def complete(self) -> bool:
        return all((self.path / name).exists() for name in (ENTRY_FILE, "tokenized", "ref_logps.arrow"))

    def claim(self) -> bool:
        """True if the entry is complete; else lock it for this job to fill, after waiting for any job filling it."""
        from filelock import FileLock, Timeout

        if self.complete():
            return True
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.lock = FileLock(str(self.path) + ".lock")
            self._acquire(Timeout)
        except OSError as error:
            raise EnvironmentProblem(
                f"The reference log-prob cache in {self.root} cannot be written ({error}). Set cache.dir to a "
                "writable directory, or cache.ref_logps=false."
            ) from None
        if self.complete():  # the job that held the lock filled it
            self.lock.release()
            self.lock = None
            return True
        _write_owner(self.path)
        shutil.rmtree(self.staging, ignore_errors=True)  # left by a job that died while writing
        if self.path.exists():  # files deleted by hand, or written by another align version: computed again
            log.warning("reference log-probs %s: the cache entry %s is incomplete; computing it again",
                        self.key[:12], self.path)
            shutil.rmtree(self.path, ignore_errors=True)
        return False

    def _acquire(self, timeout_error: type) -> None:
        """Take the entry's lock, saying every minute who holds it while another job computes the entry."""
        started = time.monotonic()
        timeout = 0.0
        while True:
            try:
                self.lock.acquire(timeout=timeout)
                return
            except timeout_error:
                log.info("reference log-probs %s: waiting for %s computing them (%.0f s so far; its lock is %s.lock)",
                         self.key[:12], _read_owner(self.path) or "another job", time.monotonic() - started,
                         self.path)
                timeout = _WAIT_REPORT_S

    def load(self) -> Any:
        from datasets import Dataset, concatenate_datasets, load_from_disk

        started = time.perf_counter()
        tokenized = load_from_disk(str(self.path / "tokenized"))
        dataset = concatenate_datasets([tokenized, Dataset.from_file(str(self.path / "ref_logps.arrow"))], axis=1)
        computed = json.loads((self.path / ENTRY_FILE).read_text())["seconds"]
        if self.hit:
            self.seconds = max(0.0, computed - (time.perf_counter() - started))
            _touch(self.path / ENTRY_FILE)  # its modification time is when it was last used (for pruning)
        return dataset

    def stage(self, prepared: Any) -> Any:
        """The tokenized split, saved where every process reads it; TRL then writes its reference columns beside
        it (it puts them next to a dataset's files, and in a per-process temp dir for one held in memory)."""
        from datasets import load_from_disk

        if self.state.is_main_process:  # an empty table saves as 0 shards, which datasets cannot load: write one
            prepared.save_to_disk(str(self.staging / "tokenized"), num_shards=1 if len(prepared) == 0 else None)
        self.state.wait_for_everyone()
        return load_from_disk(str(self.staging / "tokenized"))

    def commit(self, with_refs: Any, tokenized: Any) -> Any:
        """Keep TRL's file of reference columns, rename the entry into place, and return it loaded from there."""
        self.state.wait_for_everyone()  # every process has opened TRL's file before the main process moves it
        if self.state.is_main_process:
            before = {f["filename"] for f in tokenized.cache_files}
            (refs,) = {f["filename"] for f in with_refs.cache_files} - before
            shutil.move(refs, self.staging / "ref_logps.arrow")
            write_json(self.staging / ENTRY_FILE, {"key": self.key, "split": self.name, "rows": len(with_refs),
                                                   "trainer": self.trainer, "model": self.model,
                                                   "seconds": round(self.seconds, 3), "created": time.time()})
            swap_in(self.staging, self.path)
        self.state.wait_for_everyone()
        self.release()
        return self.load()

    def release(self) -> None:
        if self.lock is not None:
            Path(str(self.path) + ".owner").unlink(missing_ok=True)
            self.lock.release()
            self.lock = None


@dataclass
class _Session:
    """The cache entries one trainer opens while TRL prepares its splits, and the line it logs about them."""

    cache: RefCache
    model: Any
    tokenizer: Any
    args: Any
    settings: tuple[str, ...]
    trainer: str
    entries: dict[str, _Entry] = field(default_factory=dict)
    _parts: dict[str, Any] | None = None

    def open(self, name: str, dataset: Any) -> _Entry:
        """The entry for this split: a hit if complete; else locked for this job to fill (by the main process)."""
        from accelerate.utils import broadcast_object_list

        if self._parts is None:
            fingerprint = model_fingerprint(self.model.config._name_or_path, self.cache.revision)
            self._parts = key_parts(fingerprint, self.model, self.tokenizer, self.args, self.settings, self.trainer)
        # the split's name is part of the key: a train and an eval split with the same rows are two entries, so one
        # job never waits on a lock it holds itself
        key = entry_key({**self._parts, "split": name, "rows": rows_hash(dataset)})
        entry = _Entry(self.cache.dir, key, name, self.args.distributed_state, self.trainer,
                       str(self.model.config._name_or_path))
        decision = [entry.claim() if self.args.process_index == 0 else None]
        broadcast_object_list(decision, from_process=0)  # every process follows the main process's view
        entry.hit = decision[0]
        self.entries[name] = entry
        return entry

    def release(self) -> None:
        for entry in self.entries.values():
            entry.release()

    def report(self) -> None:
        """One line: hit or computed per split, the entries' size on disk, and the seconds saved or spent."""
        if not self.entries or self.args.process_index != 0:
            return
        hits = [n for n, e in self.entries.items() if e.hit]
        misses = [n for n, e in self.entries.items() if not e.hit]
        size = sum(_size(e.path) for e in self.entries.values()) / 2**20
        parts = []
        if hits:
            saved = sum(self.entries[n].seconds for n in hits)
            parts.append(f"cache hit for {', '.join(hits)} ({saved:.1f} s saved)")
        if misses:
            spent = sum(self.entries[n].seconds for n in misses)
            parts.append(f"computed and cached {', '.join(misses)} ({spent:.1f} s)")
        keys = ", ".join(e.key[:12] for e in self.entries.values())
        log.info("reference log-probs: %s; %.2f MB in %s (keys %s); no reference model held in training",
                 "; ".join(parts), size, self.cache.dir, keys)


def key_parts(fingerprint: dict[str, Any], model: Any, tokenizer: Any, args: Any, settings: tuple[str, ...],
              trainer: str) -> dict[str, Any]:
    """Everything the reference columns of a split depend on, except the split's rows (never beta or the loss)."""
    import torch
    import transformers
    import trl
    from datasets.fingerprint import Hasher

    config = model.config
    quantization = getattr(config, "quantization_config", None)
    return {
        "format": CACHE_FORMAT,
        "trainer": trainer,
        # the forward pass that computes the log-probs is theirs: another version may compute other numbers
        "versions": {"trl": trl.__version__, "transformers": transformers.__version__, "torch": torch.__version__},
        "model": fingerprint,
        "dtype": str(model.dtype),
        "quantization": quantization.to_dict() if hasattr(quantization, "to_dict") else quantization,
        "attn_implementation": config._attn_implementation,
        "mixed_precision": {"bf16": bool(args.bf16), "fp16": bool(args.fp16)},
        "tokenizer": Hasher.hash(tokenizer),
        # dropout on in the reference forward pass would make the log-probs random
        "settings": {name: getattr(args, name) for name in ("disable_dropout", *settings) if hasattr(args, name)},
    }


def entry_key(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def model_fingerprint(path: str, revision: str | None = None) -> dict[str, Any]:
    """A local directory by the content of its weight and config files; a directory converted from a GGUF file
    (model/gguf.py) by that file's content; a Hub id by its resolved commit."""
    from align.model.gguf import source_of

    local = Path(path).expanduser()
    converted = source_of(local)
    if converted is not None:
        return {"gguf": converted["sha256"], "conversion": converted["format"]}
    if local.is_dir():
        files = sorted(p for p in local.iterdir() if p.is_file() and _decides_weights(p.name))
        return {"weights": {p.name: file_hash(p) for p in files}}
    return {"hub": path, "commit": _hub_commit(path, revision)}


def _decides_weights(name: str) -> bool:
    return name in _CONFIG_FILES or (name.endswith(_WEIGHT_SUFFIXES) and name not in _NOT_WEIGHTS)


def _hub_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit of the snapshot from_pretrained loaded from the local Hub cache; the revision name if unknown."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json", revision=revision or "main")
    return Path(found).parent.name if isinstance(found, str) else revision


def rows_hash(dataset: Any) -> str:
    """sha256 of a dataset's rows (Arrow IPC of each batch, in order; a selection or shuffle is followed)."""
    import pyarrow as pa

    digest = hashlib.sha256()
    for table in dataset.with_format("arrow").iter(batch_size=10_000):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        digest.update(sink.getvalue())
    return digest.hexdigest()


def _write_owner(path: Path) -> None:
    """Who computes the entry now (read by jobs waiting for it)."""
    import os
    import socket

    try:
        Path(str(path) + ".owner").write_text(f"pid {os.getpid()} on {socket.gethostname()}\n")
    except OSError:
        pass  # only a courtesy for the waiting jobs' log lines


def _read_owner(path: Path) -> str | None:
    try:
        return Path(str(path) + ".owner").read_text().strip() or None
    except OSError:
        return None


def _touch(path: Path) -> None:
    try:
        path.touch()
    except OSError:
        pass  # a read-only cache still serves; it only cannot record the use


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0
