"""The result store: atomic writes, verified files, schemas, resume rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.errors import StoreError
from controller.store import (
    CAMPAIGN_SCHEMA,
    RUN_SCHEMA,
    Store,
    open_stored_run,
    write_atomic,
)
from tests.controller.storeruns import edit_run_json, small_run


def test_complete_run_round_trips_with_its_schema_and_var_ids(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    store.prepare("x", resume=False)
    rec = small_run(store, extra=b"in")
    assert store.load_complete("d.default") == rec
    assert not list(tmp_path.rglob("*.part"))
    data = json.loads((store.run_dir("d.default") / "run.json").read_text())
    assert data["schema"] == RUN_SCHEMA == "larfarm.run.v1"
    assert json.loads((store.root / "campaign.json").read_text())["schema"] == CAMPAIGN_SCHEMA
    records = open_stored_run(store.run_dir("d.default")).dump_records()
    assert records == rec.dump_records()
    assert [(r.name, r.var_id, r.input_index) for r in records] == [("bin/000001", 1, None), ("bin/00002a-inp0", 42, 0)]


def test_bytes_dumped_counts_every_file_the_run_wrote() -> None:
    """A fetch moves the text dump and logs too; counting only bin/ as dumped read as 'fetched 130%'."""
    from analysis.dump_names import DumpRecord
    from controller.store import RunRecord

    files = (DumpRecord.of("bin/000001", 100, "a" * 64), DumpRecord.of("io.txt", 40, "b" * 64))
    rec = RunRecord("d.default", "d", "default", status="complete", manifest=files, fetched=[f.name for f in files])
    assert rec.bytes_dumped == 140


def test_altered_file_makes_the_run_incomplete(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    small_run(store)
    (store.run_dir("d.default") / "bin" / "000001").write_bytes(b"tampered")
    assert store.load_complete("d.default") is None
    with pytest.raises(StoreError, match="does not match"):
        store.verify(store.load("d.default"), ["bin/000001"])


def test_resume_redoes_a_run_with_a_file_run_json_does_not_list(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    small_run(store)
    write_atomic(store.run_dir("d.default") / "bin" / "000002", b"stray")
    assert store.load_complete("d.default") is None


def test_resume_redoes_a_run_whose_manifest_was_emptied(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    small_run(store)
    edit_run_json(store.run_dir("d.default"), lambda d: d.update(manifest=[], fetched=[]))
    assert store.load_complete("d.default") is None


def test_unreadable_run_json_is_redone_not_fatal(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    (store.run_dir("x")).mkdir(parents=True)
    (store.run_dir("x") / "run.json").write_text("{not json")
    assert store.load("x") is None


def test_prepare_refuses_mixing_campaigns(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    store.prepare("digest-1", resume=False)
    small_run(store)
    with pytest.raises(StoreError, match="--resume"):
        store.prepare("digest-1", resume=False)
    store.prepare("digest-1", resume=True)
    with pytest.raises(StoreError, match="changed"):
        store.prepare("digest-2", resume=True)


def test_resume_refuses_a_store_without_schema_in_one_line(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    store.prepare("d", resume=False)
    small_run(store)
    marker = store.root / "campaign.json"
    marker.write_text(json.dumps({"campaign": "c", "options_digest": "d"}))  # as the first wave wrote it
    with pytest.raises(StoreError) as err:
        store.prepare("d", resume=True)
    assert str(err.value).startswith(f"{marker}: no schema field") and "\n" not in str(err.value)


def test_resume_refuses_a_run_json_of_another_schema(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    store.prepare("d", resume=False)
    small_run(store)
    edit_run_json(store.run_dir("d.default"), lambda d: d.update(schema="larfarm.run.v9"))
    with pytest.raises(
        StoreError, match=r"run\.json: schema 'larfarm\.run\.v9', this larfarm reads 'larfarm\.run\.v1'"
    ):
        store.prepare("d", resume=True)


def test_local_have_lists_only_verified_files(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    rec = small_run(store)
    assert store.local_have(rec, ["bin/000001", "bin/000002"]) == {"bin/000001": rec.manifest[0].sha256}


def test_verify_trusts_a_known_digest_only_when_it_matches_the_manifest(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    rec = small_run(store)
    store.verify(rec, ["bin/000001"], {"bin/000001": rec.manifest[0].sha256})
    with pytest.raises(StoreError, match="does not match"):
        store.verify(rec, ["bin/000001"], {"bin/000001": "0" * 64})
    with pytest.raises(StoreError, match="missing"):
        store.verify(rec, ["bin/000002"], {"bin/000002": "0" * 64})


def test_a_symlink_in_the_store_is_never_followed(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    rec = small_run(store)
    path = store.run_dir("d.default") / "bin" / "000001"
    path.rename(tmp_path / "elsewhere")
    path.symlink_to(tmp_path / "elsewhere")  # same bytes, but not the store's file
    assert store.local_have(rec, ["bin/000001"]) == {}
    with pytest.raises(StoreError, match="missing after fetch"):
        store.verify(rec, ["bin/000001"])
    assert store.load_complete("d.default") is None


@pytest.mark.parametrize("run_id", ["../../x", "..", "a/b", ""])
def test_a_run_json_whose_run_id_leaves_the_store_is_refused(tmp_path: Path, run_id: str) -> None:
    """Paths are built from the record's run_id: a damaged one must not point outside the store."""
    store = Store(tmp_path, "c")
    small_run(store)
    edit_run_json(store.run_dir("d.default"), lambda d: d.update(run_id=run_id))
    with pytest.raises(StoreError, match="not a run folder's name"):
        open_stored_run(store.run_dir("d.default"))
    assert store.load_complete("d.default") is None


def test_resume_redoes_a_run_whose_run_json_names_another_run(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    small_run(store)
    edit_run_json(store.run_dir("d.default"), lambda d: d.update(run_id="d.naive"))
    assert store.load("d.default") is None


def test_a_manifest_size_no_file_can_have_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    small_run(store)
    edit_run_json(store.run_dir("d.default"), lambda d: d["manifest"][0].update(size=10**30))
    with pytest.raises(StoreError, match="is not a byte count"):
        open_stored_run(store.run_dir("d.default"))
