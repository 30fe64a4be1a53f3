"""Refuse a larfarm store's run folder where its dump files alone would mislead a comparison.

A campaign fetches only the dump files whose sha256 differs from the reference
run's (digest-first), so a stored run's ``bin/`` may hold a few of the files its
run.json lists, or none. Compared as a plain folder, every var not fetched read
as "only in A" (or the folder as missing): a wrong answer where the campaign
found the bytes identical. The digests are in run.json, which the controller
checks against the files; ``controller compare RUN_A RUN_B`` is the comparison
of stored runs, and prints what this CLI prints for complete folders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from analysis.dump_names import BIN_DIR
from analysis.errors import DumpFolderError
from analysis.files import PathLike, open_regular

RUN_JSON = "run.json"
#: run.json is small; a larger file is not a store's and is not read.
MAX_RUN_JSON_BYTES = 64 << 20
HINT = "compare stored runs with `controller compare RUN_A RUN_B`"


def check_dump_folder(folder: PathLike) -> None:
    """Raise DumpFolderError when ``folder`` is a stored run, or a stored run's ``bin/`` missing listed files."""
    path = Path(folder)
    if (path / RUN_JSON).is_file() and _listed(path / RUN_JSON) is not None:
        raise DumpFolderError(path, f"a larfarm stored run, not a dump folder: {HINT}")
    if path.name != BIN_DIR:
        return
    listed = _listed(path.parent / RUN_JSON)
    if not listed:
        return
    missing = [name for name in listed if not (path.parent / name).is_file()]
    if missing:
        raise DumpFolderError(
            path,
            f"a larfarm stored run holding {len(listed) - len(missing)} of the {len(listed)} dump files "
            f"its run.json lists (identical ones are not fetched): {HINT}",
        )


def _listed(run_json: Path) -> Optional[list]:
    """The ``bin/`` names run.json's manifest lists, or None when the file is not a store's run.json."""
    try:
        with open_regular(run_json, "rb") as f:
            raw = f.read(MAX_RUN_JSON_BYTES + 1)
        data = json.loads(raw) if len(raw) <= MAX_RUN_JSON_BYTES else None
    except (OSError, ValueError):
        return None  # not readable as a store's run.json: the folder is judged as any other
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("larfarm.run."):
        return None
    manifest = data.get("manifest")
    if not isinstance(manifest, list):
        return None
    names = [m.get("name") for m in manifest if isinstance(m, dict)]
    return [n for n in names if isinstance(n, str) and n.startswith(BIN_DIR + "/") and "/" not in n[len(BIN_DIR) + 1 :]]
