"""The result store: `<out>/<campaign>/<run-id>/run.json, io.txt, bin/...`, atomic and verified.

A run is recorded as complete only once every file the campaign needs from it is
in the store and matches its sha256; `--resume` trusts exactly those runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional

from controller.errors import StoreError

log = logging.getLogger(__name__)

RUN_JSON = "run.json"
CAMPAIGN_JSON = "campaign.json"


@dataclasses.dataclass
class FileInfo:
    """One file of a run's manifest, as the agent reported it."""

    name: str
    size: int
    sha256: str


@dataclasses.dataclass
class RunRecord:
    """What run.json holds: the spec, the device, timings, exit status and the manifest."""

    run_id: str
    device: str
    role: str
    status: str = "pending"  # pending | complete | failed
    agent_run_id: str = ""
    spec: Dict[str, Any] = dataclasses.field(default_factory=dict)
    facts: Dict[str, Any] = dataclasses.field(default_factory=dict)
    started_at: float = 0.0
    finished_at: float = 0.0
    wall_s: float = 0.0
    state: str = ""
    exit_code: int = 0
    error: str = ""
    manifest: List[FileInfo] = dataclasses.field(default_factory=list)
    fetched: List[str] = dataclasses.field(default_factory=list)
    bytes_fetched: int = 0
    attempts: int = 0

    def digests(self) -> Dict[str, str]:
        """name -> sha256 over the manifest."""
        return {f.name: f.sha256 for f in self.manifest}

    def bin_digests(self) -> Dict[str, str]:
        """Binary dump files only: `bin/<hex id>` -> sha256."""
        return {f.name: f.sha256 for f in self.manifest if f.name.startswith("bin/")}

    def size_of(self, name: str) -> int:
        for f in self.manifest:
            if f.name == name:
                return f.size
        return 0

    def to_json(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "RunRecord":
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["manifest"] = [FileInfo(**f) for f in data.get("manifest", [])]
        return cls(**kwargs)


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
        """Create the campaign folder; with resume, refuse a store made by a different campaign."""
        self.root.mkdir(parents=True, exist_ok=True)
        marker = self.root / CAMPAIGN_JSON
        if marker.exists():
            try:
                old = json.loads(marker.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise StoreError(f"{marker}: unreadable ({exc})") from None
            if resume and old.get("options_digest") != options_digest:
                raise StoreError(
                    f"{marker}: the campaign's model, inputs or options changed since "
                    "these runs were made; use a new --out or drop --resume"
                )
            if not resume and any(p.is_dir() and (p / RUN_JSON).exists() for p in self.root.iterdir()):
                raise StoreError(
                    f"{self.root}: holds runs of an earlier campaign; "
                    "pass --resume to continue it, or choose another --out"
                )
        write_json(marker, {"campaign": self.campaign, "options_digest": options_digest})

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def save(self, record: RunRecord) -> None:
        """Write run.json atomically."""
        write_json(self.run_dir(record.run_id) / RUN_JSON, record.to_json())

    def load(self, run_id: str) -> Optional[RunRecord]:
        """The stored record of `run_id`, or None."""
        path = self.run_dir(run_id) / RUN_JSON
        if not path.exists():
            return None
        try:
            return RunRecord.from_json(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            log.warning("%s: unreadable, the run will be redone (%s)", path, exc)
            return None

    def load_complete(self, run_id: str) -> Optional[RunRecord]:
        """A complete run whose fetched files are all present and verified, else None."""
        record = self.load(run_id)
        if record is None or record.status != "complete":
            return None
        digests = record.digests()
        for name in record.fetched:
            path = self.run_dir(run_id) / name
            if not path.is_file() or sha256_file(path) != digests.get(name):
                log.warning("%s: %s missing or altered, the run will be redone", run_id, name)
                return None
        return record

    def local_have(self, record: RunRecord, names: Iterable[str]) -> Dict[str, str]:
        """Of `names`, those already in the store with the manifest's digest (skipped on fetch)."""
        digests = record.digests()
        have = {}
        for name in names:
            path = self.run_dir(record.run_id) / name
            if path.is_file() and name in digests and sha256_file(path) == digests[name]:
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
            if not path.is_file():
                raise StoreError(f"{path}: missing after fetch")
            got = known[name] if name in known else sha256_file(path)
            if got != digests.get(name):
                raise StoreError(f"{path}: sha256 does not match the agent's manifest")
