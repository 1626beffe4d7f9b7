"""`data=file`: rows from a local JSON Lines file already in one of TRL's formats, such as samples.jsonl."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from align.data import formats
from align.errors import DataError


def read_rows(path: str | None) -> list[dict[str, Any]]:
    """Every JSON object of the file, one per non-empty line; DataError naming file:line on a bad one."""
    if path is None:
        raise DataError("data=file needs data.path=<file.jsonl>, a JSON Lines file with one example per line.")
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"data.path={path!r} is not a file. Expected a JSON Lines file with one example per line.")
    rows = []
    with file.open() as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{file}:{number} is not valid JSON ({error.msg}).") from None
            if not isinstance(row, dict):
                raise DataError(f"{file}:{number} is a JSON {type(row).__name__}; expected an object per line.")
            rows.append(row)
    if not rows:
        raise DataError(f"data.path={path!r} has no rows.")
    return rows


def load(data: Any, kind: str, method: str | None = None):
    """DatasetDict with `train` (and `test` when data.test_split_size leaves one) in the format `kind` wants."""
    from datasets import Dataset, DatasetDict

    rows = read_rows(data.path)
    columns = list(rows[0])
    source = f"data.path={data.path!r}"
    declared = data.format
    if declared != "auto":
        if declared not in formats.FORMATS or declared == "prompt":
            names = ", ".join(f for f in formats.FORMATS if f != "prompt")
            raise DataError(f"Invalid value for data.format: {declared!r}. Expected auto or one of {names}.")
        if formats.detect(columns) != declared:
            raise DataError(
                f"{source} has columns {', '.join(columns)}, not those of data.format={declared} "
                f"({' or '.join(', '.join(c) for c in formats.FORMATS[declared])})."
            )
    fmt = formats.check(columns, kind, source, method)
    dataset = formats.convert(Dataset.from_list(rows), fmt, kind)
    if not 0 <= data.test_split_size < 1:
        raise DataError(f"Invalid value for data.test_split_size: {data.test_split_size}. Expected a fraction in [0, 1).")
    if int(data.test_split_size * len(dataset)) < 1:
        return DatasetDict(train=dataset)
    return DatasetDict(dataset.train_test_split(test_size=data.test_split_size, seed=data.seed))
