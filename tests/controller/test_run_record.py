"""Reading a stored run back: run.json's schema and fields, and every file checked against it."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from controller.errors import StoreError
from controller.run_record import _FIELD_TYPES
from controller.store import RunRecord, Store, open_stored_run
from tests.controller.storeruns import edit_run_json, small_run


def _opened_error(folder: Path) -> str:
    with pytest.raises(StoreError) as err:
        open_stored_run(folder)
    text = str(err.value)
    assert "\n" not in text
    return text


def test_open_refuses_a_same_size_altered_file(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    small_run(store, b"tensor")
    path = store.run_dir("d.default") / "bin" / "000001"
    path.write_bytes(b"tensoR")
    assert _opened_error(store.run_dir("d.default")) == f"{path}: sha256 does not match run.json; the file is damaged"


def test_open_refuses_a_file_of_another_size(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    small_run(store, b"tensor")
    path = store.run_dir("d.default") / "bin" / "000001"
    path.write_bytes(b"tensor!")
    assert _opened_error(store.run_dir("d.default")).startswith(f"{path}: 7 bytes, run.json says 6")


def test_open_refuses_bin_files_the_manifest_does_not_list(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    small_run(store, extra=b"in")
    folder = store.run_dir("d.default")
    edit_run_json(folder, lambda d: d.update(manifest=d["manifest"][:1], fetched=d["fetched"][:1]))
    assert _opened_error(folder).startswith(f"{folder / 'bin' / '00002a-inp0'}: not in run.json's manifest")
    edit_run_json(folder, lambda d: d.update(manifest=[], fetched=[]))
    assert "not in run.json's manifest" in _opened_error(folder)
    for path in (folder / "bin").iterdir():
        path.unlink()
    assert "lists no binary dump file" in _opened_error(folder)


def test_open_refuses_edited_digests(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    small_run(store)
    folder = store.run_dir("d.default")
    edit_run_json(folder, lambda d: d["manifest"][0].update(sha256="0" * 64))
    assert _opened_error(folder).startswith(f"{folder / 'bin' / '000001'}: sha256 does not match")


def test_open_refuses_a_missing_fetched_file(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    small_run(store)
    (store.run_dir("d.default") / "bin" / "000001").unlink()
    assert "missing (run.json says it was fetched)" in _opened_error(store.run_dir("d.default"))


def test_open_accepts_files_never_fetched(tmp_path: Path) -> None:
    """Digest-first: a file identical to the other run's was never fetched, and that is fine."""
    store = Store(tmp_path, "c")
    small_run(store, extra=b"in")
    folder = store.run_dir("d.default")
    (folder / "bin" / "00002a-inp0").unlink()
    edit_run_json(folder, lambda d: d.update(fetched=["bin/000001"]))
    assert open_stored_run(folder).fetched == ["bin/000001"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("schema"), "no schema field (expected 'larfarm.run.v1')"),
        (lambda d: d.update(schema="larfarm.run.v2"), "schema 'larfarm.run.v2', this larfarm reads"),
        (lambda d: d["manifest"][0].update(name="../../etc/passwd"), "manifest names an unsafe file"),
        (lambda d: d["manifest"][0].update(var_id=2), "do not match the file name"),
        (lambda d: d["manifest"][0].update(var_id=True), "var_id True is not a number"),
        (lambda d: d["manifest"][0].update(var_id=None), "do not match the file name"),
        (lambda d: d["manifest"][0].update(size=-1), "is not a byte count"),
        (lambda d: d["manifest"][0].update(sha256="xyz"), "is not a sha256"),
        (lambda d: d.update(status="failed"), "is failed, not complete"),
        (lambda d: d.update(status="maybe"), "status 'maybe' is none of"),
        (lambda d: d.update(manifest={}), "manifest is not a list"),
        (lambda d: d.pop("run_id"), "run_id"),
        (lambda d: d.update(exit_code="0"), "exit_code is str, not int"),
        (lambda d: d.update(wall_s=True), "wall_s is bool, not float"),
        (lambda d: d.update(fetched="bin/000001"), "fetched is not a list of names"),
    ],
)
def test_open_refuses_a_run_json_that_is_not_ours(tmp_path: Path, edit, message: str) -> None:
    store = Store(tmp_path, "c")
    small_run(store)
    folder = store.run_dir("d.default")
    edit_run_json(folder, edit)
    text = _opened_error(folder)
    assert text.startswith(str(folder / "run.json")) and message in text


def test_open_refuses_odd_files_without_opening_them(tmp_path: Path) -> None:
    store = Store(tmp_path, "c")
    small_run(store)
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


def test_every_run_json_field_has_its_type_checked() -> None:
    assert {f.name for f in dataclasses.fields(RunRecord)} == set(_FIELD_TYPES) | {"manifest", "fetched"}
