"""Test helpers: put runs into a result store as a campaign would (real MegEngine fixture runs, or a tiny one)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional

from analysis.dump_names import DumpRecord
from controller.store import RunRecord, Store, sha256_file, write_atomic


def stored_run(
    store: Store, fixture_run: Path, device: str, role: str, fetch: Optional[Iterable[str]] = None
) -> RunRecord:
    """Copy a fixture run (bin/ + io_dump.txt) into the store; `fetch` limits which bin files are kept."""
    rid = f"{device}.{role}"
    dest = store.run_dir(rid)
    manifest = []
    (dest / "bin").mkdir(parents=True, exist_ok=True)
    keep = None if fetch is None else set(fetch)
    for f in sorted((fixture_run / "bin").iterdir()):
        name = f"bin/{f.name}"
        manifest.append(DumpRecord.of(name, f.stat().st_size, sha256_file(f)))
        if keep is None or name in keep:
            shutil.copyfile(f, dest / name)
    if (fixture_run / "io_dump.txt").is_file():  # synthetic runs have binary dumps only
        shutil.copyfile(fixture_run / "io_dump.txt", dest / "io.txt")
        manifest.append(DumpRecord.of("io.txt", (dest / "io.txt").stat().st_size, sha256_file(dest / "io.txt")))
    fetched = sorted(n.name for n in manifest if (dest / n.name).exists())
    rec = RunRecord(run_id=rid, device=device, role=role, status="complete", manifest=tuple(manifest), fetched=fetched)
    store.save(rec)
    return rec


def small_run(store: Store, data: bytes = b"tensor", extra: bytes = b"") -> RunRecord:
    """A complete stored run with bin/000001 (and bin/00002a-inp0 when `extra`)."""
    manifest = []
    for name, body in (("bin/000001", data), ("bin/00002a-inp0", extra)):
        if name.endswith("inp0") and not extra:
            continue
        path = store.run_dir("d.default") / name
        write_atomic(path, body)
        manifest.append(DumpRecord.of(name, len(body), sha256_file(path)))
    rec = RunRecord(
        "d.default",
        "d",
        "default",
        status="complete",
        manifest=tuple(manifest),
        fetched=[f.name for f in manifest],
    )
    store.save(rec)
    return rec


def edit_run_json(folder: Path, edit: Callable[[Dict[str, Any]], Any]) -> None:
    """Rewrite a stored run's run.json through `edit` (a damaged store, made on purpose)."""
    path = folder / "run.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
