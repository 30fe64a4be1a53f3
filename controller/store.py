"""The result store: `<out>/<campaign>/<run-id>/run.json, io.txt, bin/...`, atomic and verified.

A run is recorded as complete only once every file the campaign needs from it is
in the store and matches its sha256. What is read back is checked first
(controller/run_record.py): `--resume` trusts exactly the runs that pass.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional

from controller.errors import StoreError
from controller.run_record import (  # re-exported: the store's one entry point for readers
    RUN_JSON,
    RUN_SCHEMA,
    RunRecord,
    check_complete_run,
    check_schema,
    is_regular,
    open_stored_run,
    read_json,
    read_run_json,
    sha256_file,
)

__all__ = [
    "CAMPAIGN_JSON",
    "CAMPAIGN_SCHEMA",
    "RUN_JSON",
    "RUN_SCHEMA",
    "RunRecord",
    "Store",
    "open_stored_run",
    "sha256_file",
    "write_atomic",
    "write_json",
]

log = logging.getLogger(__name__)

CAMPAIGN_JSON = "campaign.json"
#: Version of campaign.json's layout; resume refuses any other (or none: stores from before it).
CAMPAIGN_SCHEMA = "larfarm.campaign.v1"


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder, fsync, then rename: never a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write, sorted keys for stable diffs."""
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


class Store:
    """One campaign's folder in the result store."""

    def __init__(self, out: Path, campaign: str) -> None:
        self.out = Path(out)
        self.root = self.out / campaign
        self.campaign = campaign

    def prepare(self, options_digest: str, resume: bool) -> None:
        """Create the campaign folder; with resume, refuse a store made by a different campaign
        or written in another layout (campaign.json's and every run.json's schema)."""
        self.root.mkdir(parents=True, exist_ok=True)
        marker = self.root / CAMPAIGN_JSON
        if not resume and self._run_jsons():
            raise StoreError(
                f"{self.root}: holds runs of an earlier campaign; pass --resume to continue it, or choose another --out"
            )
        if resume and marker.exists():
            old = check_schema(marker, read_json(marker), CAMPAIGN_SCHEMA)
            if old.get("options_digest") != options_digest:
                raise StoreError(
                    f"{marker}: the campaign's model, inputs or options changed since "
                    "these runs were made; use a new --out or drop --resume"
                )
        if resume:
            for path in self._run_jsons():
                try:
                    data = read_json(path)
                except StoreError as exc:  # unreadable: that run is redone
                    log.warning("%s; the run will be redone", exc)
                    continue
                check_schema(path, data, RUN_SCHEMA)
        write_json(marker, {"schema": CAMPAIGN_SCHEMA, "campaign": self.campaign, "options_digest": options_digest})

    def _run_jsons(self) -> List[Path]:
        return sorted(p / RUN_JSON for p in self.root.iterdir() if p.is_dir() and (p / RUN_JSON).exists())

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def save(self, record: RunRecord) -> None:
        """Write run.json atomically."""
        write_json(self.run_dir(record.run_id) / RUN_JSON, record.to_json())

    def load(self, run_id: str) -> Optional[RunRecord]:
        """The stored record of `run_id`, or None when there is none or it is unreadable (redone)."""
        path = self.run_dir(run_id) / RUN_JSON
        if not path.exists():
            return None
        try:
            record = read_run_json(path)
        except StoreError as exc:
            log.warning("%s; the run will be redone", exc)
            return None
        if record.run_id != run_id:  # every later path is built from record.run_id
            log.warning("%s: run_id %r is not its folder's name; the run will be redone", path, record.run_id)
            return None
        return record

    def load_complete(self, run_id: str) -> Optional[RunRecord]:
        """A complete run whose folder checks out against its run.json (as open_stored_run), else None."""
        record = self.load(run_id)
        if record is None or record.status != "complete":
            return None
        try:
            check_complete_run(self.run_dir(run_id), record)
        except StoreError as exc:
            log.warning("%s; the run will be redone", exc)
            return None
        return record

    def local_have(self, record: RunRecord, names: Iterable[str]) -> Dict[str, str]:
        """Of `names`, those already in the store with the manifest's digest (skipped on fetch)."""
        digests = record.digests()
        have = {}
        for name in names:
            path = self.run_dir(record.run_id) / name
            if is_regular(path) and name in digests and sha256_file(path) == digests[name]:
                have[name] = digests[name]
        return have

    def verify(self, record: RunRecord, names: Iterable[str], known: Optional[Mapping[str, str]] = None) -> None:
        """Every name is in the store and matches the manifest, else StoreError.

        `known` maps names to the sha256 their bytes were hashed to as they were written
        (a verified fetch): those files are not read a second time.
        """
        digests = record.digests()
        known = known or {}
        for name in names:
            path = self.run_dir(record.run_id) / name
            if not is_regular(path):
                raise StoreError(f"{path}: missing after fetch")
            got = known[name] if name in known else sha256_file(path)
            if got != digests.get(name):
                raise StoreError(f"{path}: sha256 does not match the agent's manifest")
