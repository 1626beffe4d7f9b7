"""GGUF checkpoints (`model.gguf_file`, as llama.cpp, Ollama and LM Studio keep models): converted once into a plain
transformers directory in `<cache>/gguf/<key>/`, from which the model and its tokenizer load like any local model.

Why convert and cache instead of passing `gguf_file=` to every `from_pretrained`: transformers dequantises the
whole file on each load (30-90 s for 135M parameters on 2 CPU cores, minutes for 7B), and the model it gives keeps
a GGUF quantizer marker that Trainer and save_pretrained refuse. A sweep, a DPO reference or a rejection-sampling
run would pay the conversion again each time. So the file is converted once (dequantised to float32, the marker
dropped), keyed by the file's content hash and the transformers version (the conversion is transformers' code),
built under a file lock and renamed into place whole, as the tiny model is (model/tiny.py). Every consumer then
reads that directory: the model, the tokenizer with its own chat template, and the reference log-prob cache, which
keys on the GGUF's hash recorded in MARKER (not on the 4x larger converted weights).

The dry run never converts: it reads the converted directory's config.json when there is one, else the GGUF's
metadata (`AutoConfig`/`AutoTokenizer` with `gguf_file=`, which parse the header and no tensor data), and never
downloads a Hub GGUF.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from align.errors import EnvironmentProblem, ModelError
from align.paths import cache_dir, file_hash

log = logging.getLogger(__name__)

# Bump when what a converted directory holds or how it is made changes: it changes the cache key.
CONVERT_VERSION = 1
# In a converted directory: the GGUF file it came from and that file's sha256.
MARKER = "align_gguf.json"
# transformers' own floor for reading GGUF (transformers.utils.import_utils.GGUF_MIN_VERSION).
GGUF_MIN_VERSION = (0, 10)


def require_gguf() -> None:
    """EnvironmentProblem unless the `gguf` package that transformers reads GGUF files with is installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("gguf")
    except PackageNotFoundError:
        found = None
    if found is None or tuple(int(p) for p in found.split(".")[:2] if p.isdigit()) < GGUF_MIN_VERSION:
        have = f"gguf {found} is installed" if found else "it is not installed"
        raise EnvironmentProblem(
            f"model.gguf_file loads a GGUF checkpoint through transformers, which needs the gguf package "
            f">= {'.'.join(map(str, GGUF_MIN_VERSION))} ({have}): pip install 'align[gguf]' (or pip install gguf)."
        )


def gguf_path(model: Any, download: bool = True) -> Path | None:
    """The local .gguf file of `model.gguf_file`: inside the local directory `model.name_or_path`, or for a Hub repo
    in the local Hub cache, fetched there first when `download` (HF_HUB_OFFLINE=1: the cache only). None when
    not `download` and the Hub cache lacks it."""
    local = Path(model.name_or_path).expanduser()
    if local.is_dir():
        return local / model.gguf_file
    if not download:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model.name_or_path, model.gguf_file, revision=model.revision)
        return Path(found) if isinstance(found, str) else None
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(model.name_or_path, model.gguf_file, revision=model.revision))
    except (OSError, ValueError) as error:
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        raise ModelError(
            f"Could not fetch model.gguf_file={model.gguf_file!r} from the Hub repo {model.name_or_path!r} "
            f"(revision {model.revision}): {reason}. Check the file name and repo, or download it and set "
            "model.name_or_path to its local directory."
        ) from None


def converted_dir(gguf: Path, build: bool = True) -> Path | None:
    """The transformers directory converted from the GGUF file `gguf`, converting it now if `build` and it is not
    cached yet; None when not `build` and it is not cached."""
    import transformers

    key = hashlib.sha256(json.dumps({"sha256": file_hash(gguf), "transformers": transformers.__version__,
                                     "v": CONVERT_VERSION}, sort_keys=True).encode()).hexdigest()[:16]
    target = cache_dir() / "gguf" / key
    if (target / MARKER).is_file():
        return target
    if not build:
        return None
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / MARKER).is_file():
            _convert(gguf, target)
    return target


def unconverted_source(model: Any) -> tuple[str, dict[str, str]]:
    """What the dry run reads, converting nothing and downloading nothing: the converted directory when it is cached
    (`from_pretrained(path)`), else the GGUF file's directory and `gguf_file=` (transformers then parses the file's
    metadata, no tensor data). ModelError when a Hub GGUF is not in the local Hub cache."""
    gguf = gguf_path(model, download=False)
    if gguf is None:
        raise ModelError(
            f"model.gguf_file={model.gguf_file!r} of the Hub repo {model.name_or_path!r} is not in the local Hub "
            f"cache, and a dry run downloads no weights: `hf download {model.name_or_path} {model.gguf_file}` first."
        )
    converted = converted_dir(gguf, build=False)
    if converted is not None:
        return str(converted), {}
    require_gguf()
    return str(gguf.parent), {"gguf_file": gguf.name}


def source_of(directory: Path) -> dict[str, Any] | None:
    """What MARKER says of a converted directory (the GGUF file, its sha256, the conversion), or None."""
    try:
        return json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return None


def drop_quantizer(model: Any) -> None:
    """Drop the GGUF quantizer marker transformers leaves on a model it loaded (and fully dequantised) from GGUF:
    with it, save_pretrained refuses, config.json would carry a quantization_config that re-attaches the marker on
    reload, and Trainer refuses to train a "purely quantized" model. The quantizer's own helper removes all three."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)


@functools.lru_cache(maxsize=4)
def _metadata_config(path: str, size: int, mtime_ns: int) -> Any:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(str(Path(path).parent), gguf_file=Path(path).name)


def metadata_config(gguf: Path) -> Any:
    """The transformers config that the GGUF file's metadata describes, without reading tensor data (several
    seconds: transformers parses the whole header, vocabulary included); remembered for the process, since the
    dry run asks for it twice (parameters and checkpoint disk)."""
    require_gguf()
    stat = gguf.stat()
    return _metadata_config(str(gguf), stat.st_size, stat.st_mtime_ns)


def _convert(gguf: Path, target: Path) -> None:
    """Dequantise `gguf` to float32 (exact for every GGUF type) and save it with its tokenizer as `target`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from align.outputs import swap_in

    require_gguf()
    log.info("Converting the GGUF file %s (%.0f MB) to a transformers directory, once: every tensor is "
             "dequantised to float32 (about 30 s per 100M parameters on 2 CPU cores); cached in %s",
             gguf, gguf.stat().st_size / 1e6, target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except (OSError, ValueError, KeyError, NotImplementedError) as error:
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        raise ModelError(f"Could not convert the GGUF file {gguf} (model.gguf_file) with transformers: {reason}. "
                         "transformers reads the architectures and quantisation types it lists in its GGUF "
                         "documentation.") from None
    drop_quantizer(model)
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        marker = {"gguf_file": str(gguf), "sha256": file_hash(gguf), "format": CONVERT_VERSION}
        (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        swap_in(staging, target)  # also replaces a partial directory left by an interrupted conversion
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("Converted %s into %s", gguf.name, target)
