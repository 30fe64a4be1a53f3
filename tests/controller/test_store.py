"""The result store: atomic writes, verified files, resume rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import StoreError
from controller.store import FileInfo, RunRecord, Store, sha256_file, write_atomic


def _record(store: Store, data: bytes = b"tensor") -> RunRecord:
    path = store.run_dir("d.default") / "bin" / "000001"
    write_atomic(path, data)
    rec = RunRecord(
        "d.default",
        "d",
        "default",
        status="complete",
        manifest=[FileInfo("bin/000001", len(data), sha256_file(path))],
        fetched=["bin/000001"],
    )
    store.save(rec)
    return rec


def test_complete_run_round_trips(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    store.prepare("x", resume=False)
    rec = _record(store)
    assert store.load_complete("d.default") == rec
    assert not list(tmp_path.rglob("*.part"))


def test_altered_file_makes_the_run_incomplete(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    _record(store)
    (store.run_dir("d.default") / "bin" / "000001").write_bytes(b"tampered")
    assert store.load_complete("d.default") is None
    with pytest.raises(StoreError, match="does not match"):
        store.verify(store.load("d.default"), ["bin/000001"])


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
