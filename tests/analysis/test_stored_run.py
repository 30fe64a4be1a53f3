"""`python -m analysis` on a larfarm store's runs: a digest-first store must not read as one-sided vars."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from analysis import cli

RUNS = Path(__file__).resolve().parents[2] / "tests/fixtures/megengine/runs/tiny_cnn"


def _stored(folder: Path, source: Path, keep: int) -> Path:
    """A run folder as the store writes it: run.json listing every dump, only `keep` of them fetched."""
    names = sorted(p.name for p in (source / "bin").iterdir())
    (folder / "bin").mkdir(parents=True)
    for name in names[:keep]:
        shutil.copy(source / "bin" / name, folder / "bin" / name)
    manifest = [{"name": f"bin/{n}", "size": 1, "sha256": "0" * 64, "var_id": None, "input_index": None} for n in names]
    (folder / "run.json").write_text(json.dumps({"schema": "larfarm.run.v1", "manifest": manifest}))
    return folder


def test_a_partly_fetched_stored_run_is_refused_not_read_as_only_in_a(tmp_path: Path, capsys) -> None:
    a = _stored(tmp_path / "a", RUNS / "default", keep=10**6)
    b = _stored(tmp_path / "b", RUNS / "naive", keep=3)
    rc = cli.main([str(a / "bin"), str(b / "bin"), "--json"])
    out, err = capsys.readouterr()
    assert (rc, out) == (2, "")
    assert err.count("\n") == 1 and "controller compare" in err and f"{b / 'bin'}:" in err
    assert "holding 3 of the" in err


def test_a_stored_run_folder_is_refused_with_the_command_that_compares_it(tmp_path: Path, capsys) -> None:
    a = _stored(tmp_path / "a", RUNS / "default", keep=10**6)
    rc = cli.main([str(a), str(RUNS / "naive/bin")])
    out, err = capsys.readouterr()
    assert (rc, out) == (2, "")
    assert err.count("\n") == 1 and "a larfarm stored run" in err and "controller compare" in err


def test_a_complete_stored_run_compares_as_its_folder(tmp_path: Path, capsys) -> None:
    a = _stored(tmp_path / "a", RUNS / "default", keep=10**6)
    b = _stored(tmp_path / "b", RUNS / "naive", keep=10**6)
    assert cli.main([str(a / "bin"), str(b / "bin"), "-e", "1e-7"]) == 1
    assert "over tolerance" in capsys.readouterr().out
