"""`controller compare RUN_A RUN_B` trusts nothing in the store: every file is checked against run.json.

Each case was a wrong answer before (issue 9, item 8): an altered file read as a real
difference, an emptied manifest as "17 of 17 over", edited digests as "0 over".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.store import Store
from tests.controller.campaigns import run_controller
from tests.controller.storeruns import stored_run


@pytest.fixture
def store(tmp_path: Path, megengine_fixtures: Path) -> Store:
    store = Store(tmp_path / "out", "c")
    runs = megengine_fixtures / "runs" / "tiny_cnn"
    stored_run(store, runs / "default", "dev", "default")
    stored_run(store, runs / "naive", "dev", "naive")
    return store


def _compare(store: Store, tmp_path: Path):
    return run_controller(["compare", str(store.run_dir("dev.default")), str(store.run_dir("dev.naive"))], tmp_path)


def _one_line(proc) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and not proc.stdout, (proc.returncode, proc.stdout, proc.stderr)
    return lines[0]


def _edit(folder: Path, edit) -> None:
    data = json.loads((folder / "run.json").read_text())
    edit(data)
    (folder / "run.json").write_text(json.dumps(data))


def _differing_file(store: Store) -> str:
    a = store.load("dev.default").bin_digests()
    b = store.load("dev.naive").bin_digests()
    return sorted(n for n in a if a[n] != b[n])[0]


def test_untouched_runs_compare(store: Store, tmp_path: Path) -> None:
    proc = _compare(store, tmp_path)
    assert proc.returncode == 1 and "roots: var 9 " in proc.stdout and "6.56e-07" in proc.stdout, proc.stderr


def test_a_same_size_altered_dump_file_is_refused(store: Store, tmp_path: Path) -> None:
    name = _differing_file(store)
    path = store.run_dir("dev.naive") / name
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x40  # one bit of the last element's exponent: same size, wrong values
    path.write_bytes(bytes(data))
    assert _one_line(_compare(store, tmp_path)) == f"error: {path}: sha256 does not match run.json; the file is damaged"


def test_an_emptied_manifest_is_refused(store: Store, tmp_path: Path) -> None:
    folder = store.run_dir("dev.naive")
    _edit(folder, lambda d: d.update(manifest=[], fetched=[]))
    line = _one_line(_compare(store, tmp_path))
    assert line.startswith(f"error: {folder}/") and line.endswith(
        ": not in run.json's manifest; the run folder was altered"
    )


def test_edited_digests_are_refused(store: Store, tmp_path: Path) -> None:
    """Digests copied from the reference would make every var 'identical by digest': 0 over."""
    reference = {
        f["name"]: f["sha256"] for f in json.loads((store.run_dir("dev.default") / "run.json").read_text())["manifest"]
    }

    def same_as_reference(d: dict) -> None:
        for f in d["manifest"]:
            f["sha256"] = reference.get(f["name"], f["sha256"])

    _edit(store.run_dir("dev.naive"), same_as_reference)
    line = _one_line(_compare(store, tmp_path))
    assert line.startswith(f"error: {store.run_dir('dev.naive') / 'bin'}/") and "sha256 does not match" in line


def test_a_store_of_another_schema_is_refused(store: Store, tmp_path: Path) -> None:
    folder = store.run_dir("dev.default")
    _edit(folder, lambda d: d.pop("schema"))
    line = _one_line(_compare(store, tmp_path))
    assert line.startswith(f"error: {folder / 'run.json'}: no schema field")
