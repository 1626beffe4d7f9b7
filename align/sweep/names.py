"""Job directory names: `safe_dirname`, which the pool launcher registers as a resolver for
`hydra.sweep.subdir`, and `override_dirname`, Hydra's rule for the name it is applied to.

Both the launcher (naming a job's directory) and the sweep reader (finding it again) use these, so
this module imports nothing beyond the standard library: it is loaded during Hydra's plugin scan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# ext4, xfs and most other file systems refuse names longer than 255 bytes.
_MAX_NAME_BYTES = 255


def safe_dirname(name: str) -> str:
    """One directory level for any override string: `/` becomes `_`, too-long names get a hash tail.

    Used as `hydra.sweep.subdir: ${safe_dirname:${hydra.job.override_dirname}}` so that
    `experiment=pref_align_scan/zephyr` stays one level and long sweeps stay legal file names.
    """
    name = str(name).replace("/", "_").replace("\0", "")
    if name in ("", ".", ".."):
        return "default" if name == "" else name.replace(".", "_")
    if len(name.encode()) <= _MAX_NAME_BYTES:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:12]
    head = name.encode()[: _MAX_NAME_BYTES - len(digest) - 1].decode(errors="ignore")
    return f"{head}-{digest}"


def override_dirname(
    overrides: Iterable[tuple[str, str]], exclude_keys: Iterable[str] = (), item_sep: str = ",", kv_sep: str = "="
) -> str:
    """`hydra.job.override_dirname` of a job, from (key, override as typed) pairs.

    Hydra's rule (hydra/_internal/config_loader_impl.py, get_overrides_dirname), which is not public API:
    drop overrides whose key (without +/~ and @package) is in `exclude_keys`, sort the rest as typed,
    join them with `item_sep`, then replace every `=` (in values too) with `kv_sep`.
    """
    excluded = set(exclude_keys)
    lines = sorted(line for key, line in overrides if key not in excluded)
    return item_sep.join(lines).replace("=", kv_sep)
