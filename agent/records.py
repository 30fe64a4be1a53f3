"""run.json: a finished run's record on disk, so runs survive an agent restart; runs an earlier
agent left mid-way are stopped and recorded as failed."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from agent import events as ev
from agent.manifest import FileEntry, Hasher, build_manifest, dump_ids
from agent.process import kill_recorded
from agent.runners import OUT_DIR

RUN_RECORD = "run.json"
PROCESS_RECORD = "process.json"
INTERRUPTED = "the agent stopped while this run was in progress"


@dataclass(frozen=True)
class StoredRun:
    run_id: str
    label: str
    runner: str
    ended: float
    record: ev.FinishedRecord


def save(folder: Path, run: StoredRun) -> None:
    """Write run.json atomically (temp file + rename)."""
    data = {
        "run_id": run.run_id,
        "label": run.label,
        "runner": run.runner,
        "ended": run.ended,
        "finished": asdict(run.record),
    }
    tmp = folder / (RUN_RECORD + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, folder / RUN_RECORD)


def load(folder: Path) -> StoredRun:
    """The run kept in folder; one without a readable run.json was cut off: stop its program, keep its files."""
    try:
        data = json.loads((folder / RUN_RECORD).read_text())
        fin = data["finished"]
        # var ids are read again with this agent's grammar: a record an older agent wrote may hold others
        manifest = tuple(FileEntry(e["name"], e["size"], e["sha256"], *dump_ids(e["name"])) for e in fin["manifest"])
        record = ev.FinishedRecord(**{**fin, "manifest": manifest})
        return StoredRun(folder.name, data.get("label", ""), data.get("runner", ""), float(data["ended"]), record)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    # Its program may outlive the agent (own process group): stop it before anything else.
    kill_recorded(folder / PROCESS_RECORD)
    out = folder / OUT_DIR
    manifest = tuple(build_manifest(out, Hasher())) if out.is_dir() else ()
    record = ev.FinishedRecord(state=ev.FAILED, error=INTERRUPTED, manifest=manifest)
    return StoredRun(folder.name, "", "", folder.stat().st_mtime, record)
