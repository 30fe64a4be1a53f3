"""The result store: atomic writes, verified files, schemas, resume rules, and opening a stored run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from analysis.dump_names import DumpRecord
from controller.errors import StoreError
from controller.store import (
    CAMPAIGN_SCHEMA,
    RUN_SCHEMA,
    RunRecord,
    Store,
    open_stored_run,
    sha256_file,
    write_atomic,
)


def _record(store: Store, data: bytes = b"tensor", extra: bytes = b"") -> RunRecord:
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


def _edit_run_json(folder: Path, edit) -> None:
    path = folder / "run.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_complete_run_round_trips_with_its_schema_and_var_ids(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    store.prepare("x", resume=False)
    rec = _record(store, extra=b"in")
    assert store.load_complete("d.default") == rec
    assert not list(tmp_path.rglob("*.part"))
    data = json.loads((store.run_dir("d.default") / "run.json").read_text())
    assert data["schema"] == RUN_SCHEMA == "larfarm.run.v1"
    assert json.loads((store.root / "campaign.json").read_text())["schema"] == CAMPAIGN_SCHEMA
    records = open_stored_run(store.run_dir("d.default")).dump_records()
    assert records == rec.dump_records()
    assert [(r.name, r.var_id, r.input_index) for r in records] == [("bin/000001", 1, None), ("bin/00002a-inp0", 42, 0)]


def test_altered_file_makes_the_run_incomplete(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    _record(store)
    (store.run_dir("d.default") / "bin" / "000001").write_bytes(b"tampered")
    assert store.load_complete("d.default") is None
    with pytest.raises(StoreError, match="does not match"):
        store.verify(store.load("d.default"), ["bin/000001"])


def test_resume_redoes_a_run_with_a_file_run_json_does_not_list(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    _record(store)
    write_atomic(store.run_dir("d.default") / "bin" / "000002", b"stray")
    assert store.load_complete("d.default") is None


def test_resume_redoes_a_run_whose_manifest_was_emptied(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    _record(store)
    _edit_run_json(store.run_dir("d.default"), lambda d: d.update(manifest=[], fetched=[]))
    assert store.load_complete("d.default") is None


def test_unreadable_run_json_is_redone_not_fatal(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    (store.run_dir("x")).mkdir(parents=True)
    (store.run_dir("x") / "run.json").write_text("{not json")
    assert store.load("x") is None


def test_prepare_refuses_mixing_campaigns(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    store.prepare("digest-1", resume=False)
    _record(store)
    with pytest.raises(StoreError, match="--resume"):
        store.prepare("digest-1", resume=False)
    store.prepare("digest-1", resume=True)
    with pytest.raises(StoreError, match="changed"):
        store.prepare("digest-2", resume=True)


def test_resume_refuses_a_store_without_schema_in_one_line(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    store.prepare("d", resume=False)
    _record(store)
    marker = store.root / "campaign.json"
    marker.write_text(json.dumps({"campaign": "c", "options_digest": "d"}))  # as the first wave wrote it
    with pytest.raises(StoreError) as err:
        store.prepare("d", resume=True)
    assert str(err.value).startswith(f"{marker}: no schema field") and "\n" not in str(err.value)


def test_resume_refuses_a_run_json_of_another_schema(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    store.prepare("d", resume=False)
    _record(store)
    _edit_run_json(store.run_dir("d.default"), lambda d: d.update(schema="larfarm.run.v9"))
    with pytest.raises(
        StoreError, match=r"run\.json: schema 'larfarm\.run\.v9', this larfarm reads 'larfarm\.run\.v1'"
    ):
        store.prepare("d", resume=True)


def test_local_have_lists_only_verified_files(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    rec = _record(store)
    assert store.local_have(rec, ["bin/000001", "bin/000002"]) == {"bin/000001": rec.manifest[0].sha256}


def test_verify_trusts_a_known_digest_only_when_it_matches_the_manifest(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    rec = _record(store)
    store.verify(rec, ["bin/000001"], {"bin/000001": rec.manifest[0].sha256})
    with pytest.raises(StoreError, match="does not match"):
        store.verify(rec, ["bin/000001"], {"bin/000001": "0" * 64})
    with pytest.raises(StoreError, match="missing"):
        store.verify(rec, ["bin/000002"], {"bin/000002": "0" * 64})


# -- open_stored_run: what `controller compare`, the report and resume read


def _opened_error(folder: Path) -> str:
    with pytest.raises(StoreError) as err:
        open_stored_run(folder)
    text = str(err.value)
    assert "\n" not in text
    return text


def test_open_refuses_a_same_size_altered_file(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    _record(store, b"tensor")
    path = store.run_dir("d.default") / "bin" / "000001"
    path.write_bytes(b"tensoR")
    assert _opened_error(store.run_dir("d.default")) == f"{path}: sha256 does not match run.json; the file is damaged"


def test_open_refuses_a_file_of_another_size(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    _record(store, b"tensor")
    path = store.run_dir("d.default") / "bin" / "000001"
    path.write_bytes(b"tensor!")
    assert _opened_error(store.run_dir("d.default")).startswith(f"{path}: 7 bytes, run.json says 6")


def test_open_refuses_bin_files_the_manifest_does_not_list(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    _record(store, extra=b"in")
    folder = store.run_dir("d.default")
    _edit_run_json(folder, lambda d: d.update(manifest=d["manifest"][:1], fetched=d["fetched"][:1]))
    assert _opened_error(folder).startswith(f"{folder / 'bin' / '00002a-inp0'}: not in run.json's manifest")
    _edit_run_json(folder, lambda d: d.update(manifest=[], fetched=[]))
    assert "not in run.json's manifest" in _opened_error(folder)
    for path in (folder / "bin").iterdir():
        path.unlink()
    assert "lists no binary dump file" in _opened_error(folder)


def test_open_refuses_edited_digests(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    _record(store)
    folder = store.run_dir("d.default")
    _edit_run_json(folder, lambda d: d["manifest"][0].update(sha256="0" * 64))
    assert _opened_error(folder).startswith(f"{folder / 'bin' / '000001'}: sha256 does not match")


def test_open_refuses_a_missing_fetched_file(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    _record(store)
    (store.run_dir("d.default") / "bin" / "000001").unlink()
    assert "missing (run.json says it was fetched)" in _opened_error(store.run_dir("d.default"))


def test_open_accepts_files_never_fetched(tmp_path: Path) -> None:
    """Digest-first: a file identical to the other run's was never fetched, and that is fine."""
    store = Store(tmp_path, "c")
    _record(store, extra=b"in")
    folder = store.run_dir("d.default")
    (folder / "bin" / "00002a-inp0").unlink()
    _edit_run_json(folder, lambda d: d.update(fetched=["bin/000001"]))
    assert open_stored_run(folder).fetched == ["bin/000001"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("schema"), "no schema field (expected 'larfarm.run.v1')"),
        (lambda d: d.update(schema="larfarm.run.v2"), "schema 'larfarm.run.v2', this larfarm reads"),
        (lambda d: d["manifest"][0].update(name="../../etc/passwd"), "manifest names an unsafe file"),
        (lambda d: d["manifest"][0].update(var_id=2), "do not match the file name"),
        (lambda d: d["manifest"][0].update(size=-1), "is not a byte count"),
        (lambda d: d["manifest"][0].update(sha256="xyz"), "is not a sha256"),
        (lambda d: d.update(status="failed"), "is failed, not complete"),
        (lambda d: d.update(status="maybe"), "status 'maybe' is none of"),
        (lambda d: d.update(manifest={}), "manifest is not a list"),
        (lambda d: d.pop("run_id"), "run_id"),
    ],
)
def test_open_refuses_a_run_json_that_is_not_ours(tmp_path: Path, edit, message: str) -> None:
    store = Store(tmp_path, "c")
    _record(store)
    folder = store.run_dir("d.default")
    _edit_run_json(folder, edit)
    text = _opened_error(folder)
    assert text.startswith(str(folder / "run.json")) and message in text


def test_open_refuses_odd_files_without_opening_them(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    _record(store)
    folder = store.run_dir("d.default")
    os.mkfifo(folder / "bin" / "000003")  # reading it would hang
    assert _opened_error(folder) == f"{folder / 'bin' / '000003'}: not a regular file in a stored run"
    (folder / "bin" / "000003").unlink()
    (folder / "bin" / "000003").symlink_to(folder / "bin" / "000001")
    assert "not a regular file" in _opened_error(folder)


def test_open_names_a_folder_without_run_json(tmp_path: Path) -> None:
    assert "no run.json here" in _opened_error(tmp_path)
    (tmp_path / "run.json").write_text("[1, 2]")
    assert _opened_error(tmp_path) == f"{tmp_path / 'run.json'}: not a JSON object"
