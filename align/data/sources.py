"""Read one data source into `datasets` tables: a local file, a directory of files, or a Hub dataset.

Everything goes through `datasets.load_dataset` (so loads are cached and HF_DATASETS_OFFLINE is respected);
failures become DataErrors that name the file and line, the split, or the Hub id.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from align.errors import DataError, SourceUnreachable

# File suffix -> datasets' packaged builder. data.format may name a suffix to read files with another one.
READERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}
FILE_FORMATS = tuple(suffix[1:] for suffix in READERS)
_COMPRESSION = (".gz", ".bz2", ".xz", ".zst")


@dataclass
class Part:
    """Rows of one file (or one Hub split) with where they came from, to name a bad row."""

    dataset: Any
    label: str
    path: Path | None = None

    def where(self, index: int) -> str:
        """`file line N` for JSON Lines, else `file row N` (1-based)."""
        if self.path is not None and self._line_numbers:
            return f"{self.label} line {self._line_numbers[index]}"
        return f"{self.label} row {index + 1}"

    @cached_property
    def _line_numbers(self) -> list[int] | None:
        """Line of each row of a JSON Lines file (blank lines skipped); None for other files."""
        if _suffix(self.path) not in (".json", ".jsonl") or self.path.suffix in _COMPRESSION:
            return None
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            lines = [number for number, line in enumerate(handle, start=1) if line.strip()]
        return None if not lines or _starts_array(self.path) else lines


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _starts_array(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as handle:
        return handle.read(4096).lstrip().startswith("[")


def is_local(path: str) -> bool:
    """A local file or directory (existing, or written like a path); anything else is a Hub dataset id."""
    return (
        Path(path).expanduser().exists()
        or path.startswith(("/", ".", "~"))
        or path.count("/") > 1
        or "\\" in path
        or _suffix(Path(path)) in READERS
    )


def reader(path: Path, fmt: str) -> str | None:
    """datasets' builder for a file: from data.format when it names a file format, else from the suffix."""
    return READERS["." + fmt] if fmt in FILE_FORMATS else READERS.get(_suffix(path))


def path_problem(path: str, fmt: str, key: str, hub: bool) -> str | None:
    """What a valid value would be, when `path` cannot be a source (checked at config validation)."""
    readable = "json, jsonl, parquet or csv"
    if not is_local(path):
        if hub:
            return None
        return (f"an existing local file or directory of {readable} files (for a Hub dataset use data=mixture "
                f"'data.sources=[{{path: {path}}}]')")
    local = Path(path).expanduser()
    if not local.exists():
        return f"an existing file or directory of {readable} files; no such path exists"
    if local.is_file() and reader(local, fmt) is None:
        formats = "|".join(FILE_FORMATS)
        return f"a file ending in .json, .jsonl, .parquet or .csv, or {key}.format={formats} to read it as one"
    return None


def read(source: Any, key: str, split: str) -> list[Part]:
    """The rows of `split` of a source (path, config, revision, format, columns), one Part per file."""
    if is_local(source.path):
        parts = _read_local(Path(source.path).expanduser(), split, source.format, key)
    else:
        parts = [_read_hub(source, key, split)]
    if sum(len(part.dataset) for part in parts) == 0:
        raise _empty(key, source.path, split)
    columns = list(source.columns or [])
    for part in parts:
        missing = [c for c in columns if c not in part.dataset.column_names]
        if missing:
            raise DataError(
                f"{key}.columns lists {', '.join(missing)}, which {part.label} does not have. Its columns are "
                f"{', '.join(part.dataset.column_names)}."
            )
        if columns:
            part.dataset = part.dataset.select_columns(columns)
    return parts


def _read_local(path: Path, split: str, fmt: str, key: str) -> list[Part]:
    if path.is_file():
        builder = reader(path, fmt)
        if builder is None:
            raise DataError(
                f"{key}.path={str(path)!r} is not a json, jsonl, parquet or csv file; set {key}.format to the "
                "file format to read it as one."
            )
        return [Part(_load_file(path, builder, split, key), str(path), path)]
    files = _split_files(path, split, fmt, key)
    return [Part(_load_file(file, reader(file, fmt), "train", key), str(file), file) for file in files]


def _split_files(directory: Path, split: str, fmt: str, key: str) -> list[Path]:
    """Data files of `split` in a directory, by datasets' naming rules (train*.jsonl, test*.jsonl; else all: train)."""
    from datasets.data_files import DataFilesDict, get_data_patterns

    try:
        by_split = DataFilesDict.from_patterns(get_data_patterns(str(directory)), base_path=str(directory))
    except FileNotFoundError:  # datasets' EmptyDatasetError and DataFilesNotFoundError: no files
        by_split = {}
    by_split = {
        name: sorted(Path(f) for f in files if reader(Path(f), fmt) is not None) for name, files in by_split.items()
    }
    by_split = {name: files for name, files in by_split.items() if files}
    if not by_split:
        raise DataError(f"{key}.path={str(directory)!r} is a directory without json, jsonl, parquet or csv files.")
    if split not in by_split:
        raise DataError(
            f"{key}.split={split!r} does not exist in {str(directory)!r}: its files give the split(s) "
            f"{', '.join(map(str, by_split))} (files named train*, test*, validation* ... form splits; otherwise "
            f"every file is 'train'). Set {key}.split to one of them."
        )
    return by_split[split]


def _load_file(path: Path, builder: str, split: str, key: str):
    from datasets import load_dataset
    from datasets.exceptions import DatasetGenerationError

    if builder in ("json", "csv") and path.suffix not in _COMPRESSION:
        _check_utf8(path)
    try:
        return load_dataset(builder, data_files={"train": str(path)}, split=split)
    except StopIteration:  # what datasets raises for an empty JSON file
        raise _empty(key, str(path), split) from None
    except (DatasetGenerationError, ValueError) as error:
        if "corresponds to no data" in str(error):
            raise _empty(key, str(path), split) from None
        if isinstance(error, DatasetGenerationError) or "split" not in str(error).lower():
            raise DataError(_unreadable(path, builder, error)) from None
        raise DataError(
            f"{key}.split={split!r} does not exist in {str(path)!r}: a single file holds one split, 'train' "
            f"(slices such as 'train[:10%]' work too). Set {key}.split=train, or point {key}.path at a directory "
            "with files named by split (train.jsonl, test.jsonl)."
        ) from None


def _check_utf8(path: Path) -> None:
    """A text file's first byte sequence that is not UTF-8, named by line (Arrow would fail later, and vaguely)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataError(
                    f"{path}:{number} is not UTF-8 text (byte {line[error.start]:#04x} at column {error.start + 1}). "
                    "Expected a UTF-8 encoded file: convert it, e.g. iconv -f latin1 -t utf-8."
                ) from None


def _empty(key: str, path: str, split: str) -> DataError:
    return DataError(
        f"{key}.path={path!r} (split {split!r}) has no rows. Expected at least one example: a JSON object per "
        "line, a JSON array of objects, or a table with a header and rows."
    )


def _unreadable(path: Path, builder: str, error: Exception) -> str:
    """The first malformed JSON line (or JSON array position) of a file datasets could not read, else the cause."""
    if builder == "json" and path.suffix not in _COMPRESSION:
        found = _json_problem(path)
        if found:
            return found
    cause = error.__cause__ or error
    reason = " ".join(str(cause).split()) or type(cause).__name__
    return (
        f"{path} could not be read as {builder}: {reason}. Every row must be an object with the same fields, "
        "each field of one type throughout the file."
    )


def _json_problem(path: Path) -> str | None:
    text = path.read_text(encoding="utf-8", errors="replace")
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as error:
            return f"{path}:{error.lineno} is not valid JSON ({error.msg}, column {error.colno})."
        bad = next((i for i, row in enumerate(rows) if not isinstance(row, dict)), None)
        if bad is not None:
            return f"{path} row {bad + 1} is a JSON {type(rows[bad]).__name__}; expected an object per row."
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            return f"{path}:{number} is not valid JSON ({error.msg}). Expected one JSON object per line."
        if not isinstance(row, dict):
            return f"{path}:{number} is a JSON {type(row).__name__}; expected an object per line."
    return None


def _read_hub(source: Any, key: str, split: str) -> Part:
    from datasets import load_dataset

    label = f"{source.path} (split {split})"
    try:
        dataset = load_dataset(source.path, name=source.config, split=split, revision=source.revision)
    except ValueError as error:
        reason = " ".join(str(error).split())
        if "split" in reason.lower():
            raise DataError(
                f"{key}.split={split!r} does not exist in the Hub dataset {source.path!r}: {reason} Set {key}.split "
                "(or test_split) to one of its splits."
            ) from None
        raise DataError(f"Could not load the Hub dataset {source.path!r} ({key}): {reason}") from None
    except (ConnectionError, OSError) as error:
        raise unreachable(source, key, error) from None
    return Part(dataset, label)


def unreachable(source: Any, key: str, error: Exception, what: str = "load") -> SourceUnreachable:
    """The Hub dataset of `source` could not be reached (`what`: load, or read the metadata of): why, and whether
    offline mode is on."""
    reason = " ".join(str(error).split()) or type(error).__name__
    offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
    where = (
        "Offline mode is on (HF_DATASETS_OFFLINE/HF_HUB_OFFLINE), so only the local datasets cache was searched"
        if offline
        else "Check the id, the config name, your network and, for gated datasets, your HF token"
    )
    return SourceUnreachable(f"Could not {what} the Hub dataset {source.path!r} ({key}.path): {reason}. {where}.")
