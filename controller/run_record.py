"""run.json, read back: the record of one stored run, its schema, and its files checked against it.

Nothing read back from the store is trusted: `controller compare` opens a stored run
through `open_stored_run` and `--resume` through the same `check_complete_run`, which
check run.json's schema and fields, and every file the run folder holds against the
manifest's size and sha256. (A live campaign's checks read files verified as fetched.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Tuple

from analysis.dump_names import BIN_DIR, DumpRecord
from controller.errors import StoreError

RUN_JSON = "run.json"
#: Version of run.json's layout; a reader refuses any other (or none: stores from before it).
RUN_SCHEMA = "larfarm.run.v1"
RUN_STATUSES = ("pending", "complete", "failed")
#: run.json (and campaign.json) are small; a bigger one is not ours (and is not read into memory).
MAX_JSON_BYTES = 64 << 20
#: No file a run writes is larger (an int64 file size): a bigger manifest size is damage, not data.
MAX_FILE_BYTES = (1 << 63) - 1

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass
class RunRecord:
    """What run.json holds: the spec, the device, timings, exit status and the manifest."""

    run_id: str
    device: str
    role: str
    status: str = "pending"  # one of RUN_STATUSES
    agent_run_id: str = ""
    spec: Dict[str, Any] = dataclasses.field(default_factory=dict)
    facts: Dict[str, Any] = dataclasses.field(default_factory=dict)
    started_at: float = 0.0
    finished_at: float = 0.0
    wall_s: float = 0.0
    state: str = ""
    exit_code: int = 0
    error: str = ""
    #: every file the run wrote, as the agent's manifest listed it (var ids as the agent parsed them)
    manifest: Tuple[DumpRecord, ...] = ()
    #: the names of the manifest held in the store (digest-first: identical files are not fetched)
    fetched: List[str] = dataclasses.field(default_factory=list)
    bytes_fetched: int = 0
    attempts: int = 0

    def dump_records(self) -> Tuple[DumpRecord, ...]:
        """The run's manifest: one DumpRecord per file it wrote (``is_bin_dump`` picks the dumps)."""
        return tuple(self.manifest)

    def digests(self) -> Dict[str, str]:
        """name -> sha256 over the manifest."""
        return {f.name: f.sha256 for f in self.manifest}

    def bin_digests(self) -> Dict[str, str]:
        """Binary dump files only: `bin/<hex id>` -> sha256."""
        return {f.name: f.sha256 for f in self.manifest if f.name.startswith(BIN_DIR + "/")}

    def size_of(self, name: str) -> int:
        for f in self.manifest:
            if f.name == name:
                return f.size
        return 0

    @property
    def bytes_dumped(self) -> int:
        """Every byte the run wrote (dumps, text dump, logs): what a fetch of all of it would move."""
        return sum(f.size for f in self.manifest)

    def to_json(self) -> Dict[str, Any]:
        """run.json's content: the fields, the manifest as plain objects, and the schema."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["manifest"] = [dataclasses.asdict(f) for f in self.manifest]
        data["schema"] = RUN_SCHEMA
        return data

    @classmethod
    def from_json(cls, data: Any, path: Path) -> RunRecord:
        """Parse run.json's content (read from `path`, named in errors); StoreError when it is not ours."""
        check_schema(path, data, RUN_SCHEMA)
        kwargs: Dict[str, Any] = {}
        for name, types in _FIELD_TYPES.items():
            if name not in data:
                continue
            value = data[name]
            if not isinstance(value, types) or isinstance(value, bool):
                raise StoreError(f"{path}: {name} is {type(value).__name__}, not {types[0].__name__}")
            kwargs[name] = value
        entries = data.get("manifest", [])
        if not isinstance(entries, list):
            raise StoreError(f"{path}: manifest is not a list")
        kwargs["manifest"] = tuple(_dump_record(path, i, e) for i, e in enumerate(entries))
        fetched = data.get("fetched", [])
        if not isinstance(fetched, list) or not all(isinstance(n, str) for n in fetched):
            raise StoreError(f"{path}: fetched is not a list of names")
        kwargs["fetched"] = fetched
        try:
            record = cls(**kwargs)
        except TypeError as exc:  # a required field is missing
            raise StoreError(f"{path}: {exc}") from None
        if record.run_id in ("", ".", "..") or any(c in record.run_id for c in "/\\\x00"):
            # it names the run's folder in the store: never a path that leaves it
            raise StoreError(f"{path}: run_id {record.run_id!r} is not a run folder's name")
        if record.status not in RUN_STATUSES:
            raise StoreError(f"{path}: status {record.status!r} is none of {', '.join(RUN_STATUSES)}")
        return record


#: run.json's fields (but manifest, fetched) and the JSON types each may hold.
_FIELD_TYPES: Dict[str, Tuple[type, ...]] = {
    "run_id": (str,),
    "device": (str,),
    "role": (str,),
    "status": (str,),
    "agent_run_id": (str,),
    "spec": (dict,),
    "facts": (dict,),
    "started_at": (float, int),
    "finished_at": (float, int),
    "wall_s": (float, int),
    "state": (str,),
    "exit_code": (int,),
    "error": (str,),
    "bytes_fetched": (int,),
    "attempts": (int,),
}


def check_schema(path: Path, data: Any, expected: str) -> Dict[str, Any]:
    """`data` (a file's parsed JSON) as a dict whose `schema` is `expected`, else StoreError."""
    if not isinstance(data, dict):
        raise StoreError(f"{path}: not a JSON object")
    found = data.get("schema")
    if found is None:
        raise StoreError(
            f"{path}: no schema field (expected {expected!r}): written by an older larfarm; "
            "make the runs again with a new --out"
        )
    if found != expected:
        raise StoreError(f"{path}: schema {found!r}, this larfarm reads {expected!r}")
    return data


def check_relname(path: Path, name: Any) -> str:
    """A manifest name safe to join to a run folder: relative, '/'-separated, no '..' (never trust a file)."""
    if (
        not isinstance(name, str)
        or not name
        or "\\" in name
        or "\x00" in name
        or name.startswith("/")
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise StoreError(f"{path}: manifest names an unsafe file {name!r}")
    return name


def _dump_record(path: Path, index: int, entry: Any) -> DumpRecord:
    """One manifest entry of run.json, checked: types, a sha256, var id consistent with the name."""
    where = f"{path}: manifest[{index}]"
    if not isinstance(entry, dict):
        raise StoreError(f"{where}: not an object")
    name = check_relname(path, entry.get("name"))
    size, sha256 = entry.get("size"), entry.get("sha256")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_FILE_BYTES:
        raise StoreError(f"{where} {name}: size {size!r} is not a byte count")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise StoreError(f"{where} {name}: sha256 {sha256!r} is not a sha256")
    var_id, input_index = entry.get("var_id"), entry.get("input_index")
    for key, value in (("var_id", var_id), ("input_index", input_index)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise StoreError(f"{where} {name}: {key} {value!r} is not a number")
    record = DumpRecord(name, size, sha256, var_id, input_index)
    named = DumpRecord.of(name, size, sha256)  # what the one dump-name grammar reads in the name
    if (record.var_id, record.input_index) != (named.var_id, named.input_index):
        raise StoreError(
            f"{where} {name}: var id {record.var_id} input {record.input_index} do not match the file name"
        )
    return record


def read_json(path: Path) -> Any:
    """A small JSON file of the store; StoreError (naming it) when absent, odd or unreadable."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise StoreError(f"{path}: not found") from None
    except OSError as exc:
        raise StoreError(f"{path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise StoreError(f"{path}: not a regular file")
    if st.st_size > MAX_JSON_BYTES:
        raise StoreError(f"{path}: {st.st_size} bytes, more than a store file ever holds")
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read(MAX_JSON_BYTES + 1))
    except OSError as exc:
        raise StoreError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:  # JSONDecodeError, bad UTF-8
        raise StoreError(f"{path}: unreadable ({exc})") from None


def read_run_json(path: Path) -> RunRecord:
    """The record a run.json holds, schema and manifest checked (its files are not read)."""
    return RunRecord.from_json(read_json(path), path)


def open_stored_run(folder: Path) -> RunRecord:
    """A complete stored run, every file checked against run.json; StoreError naming what is wrong.

    Files the digest-first fetch skipped may be absent; every file present must be
    in the manifest with its size and sha256, every file listed as fetched must be
    present, and the manifest must list binary dump files (a complete run has some).
    """
    folder = Path(folder)
    path = folder / RUN_JSON
    if not os.path.lexists(path):
        raise StoreError(f"{folder}: no run.json here (for plain dump folders use analysis's compare_binary_iodump)")
    record = read_run_json(path)
    check_complete_run(folder, record)
    return record


def check_complete_run(folder: Path, record: RunRecord) -> None:
    """The checks of open_stored_run on a record already read (resume reads it first)."""
    if record.status != "complete":
        raise StoreError(f"{folder / RUN_JSON}: run {record.run_id} is {record.status}, not complete")
    verify_run_folder(folder, record)
    if not any(f.is_bin_dump for f in record.manifest):
        raise StoreError(f"{folder / RUN_JSON}: the manifest lists no binary dump file")


def is_regular(path: Path) -> bool:
    """A regular file itself, not through a symlink (a FIFO or device would hang or never end a read)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def verify_run_folder(folder: Path, record: RunRecord) -> None:
    """Every file in `folder` is in the record's manifest and matches it; every fetched file is there."""
    listed = {f.name: f for f in record.manifest}
    present = _stored_files(folder)
    for name in record.fetched:
        if name not in listed:
            raise StoreError(f"{folder / RUN_JSON}: fetched names {name}, which its manifest does not list")
        if name not in present:
            raise StoreError(f"{folder / name}: missing (run.json says it was fetched)")
    for name, size in present.items():
        entry = listed.get(name)
        if entry is None:
            raise StoreError(f"{folder / name}: not in run.json's manifest; the run folder was altered")
        if size != entry.size:
            raise StoreError(f"{folder / name}: {size} bytes, run.json says {entry.size}; the file is damaged")
    names = sorted(present)
    with ThreadPoolExecutor(2, thread_name_prefix="store-sha256") as pool:  # hashlib drops the GIL
        for name, got in zip(names, pool.map(lambda n: sha256_file(folder / n), names), strict=True):
            if got != listed[name].sha256:
                raise StoreError(f"{folder / name}: sha256 does not match run.json; the file is damaged")


def _stored_files(folder: Path) -> Dict[str, int]:
    """Relative name -> size of every file under a run folder but run.json; anything odd is refused."""
    out: Dict[str, int] = {}
    for dirpath, dirs, files in os.walk(folder, onerror=_walk_error):
        for name in dirs + files:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):  # symlink, FIFO, device: never followed nor opened
                raise StoreError(f"{full}: not a regular file in a stored run")
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            if rel != RUN_JSON:
                out[rel] = st.st_size
    return out


def _walk_error(exc: OSError) -> None:
    raise StoreError(f"{exc.filename}: {exc.strerror}")


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
