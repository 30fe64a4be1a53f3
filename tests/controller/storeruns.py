"""Test helper: put real MegEngine fixture runs into a result store, as a campaign would."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable, Optional

from analysis.dump_names import DumpRecord
from controller.store import RunRecord, Store, sha256_file


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
