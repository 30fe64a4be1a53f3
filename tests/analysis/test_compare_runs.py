"""compare_runs: the digest-aware run-level entry point (vars identical by sha256 are never read)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import List

import pytest

from analysis.compare import compare_folders, compare_runs
from analysis.dump_names import DumpRecord
from analysis.errors import DumpFolderError
from analysis.graph import VarGraph
from analysis.results import ERROR, IDENTICAL_BY_DIGEST

RUNS = Path(__file__).resolve().parents[1] / "fixtures/megengine/runs"


def records(folder: Path) -> List[DumpRecord]:
    """A run's file list as a manifest gives it: `bin/<name>`, size, sha256."""
    out = []
    for f in sorted(folder.iterdir()):
        out.append(DumpRecord.of(f"bin/{f.name}", f.stat().st_size, hashlib.sha256(f.read_bytes()).hexdigest()))
    return out


def copy_run(src: Path, dest: Path) -> Path:
    shutil.copytree(src / "bin", dest)
    return dest


def test_without_records_it_is_compare_folders() -> None:
    a, b = RUNS / "tiny_cnn/default/bin", RUNS / "tiny_cnn/naive/bin"
    assert compare_runs(a, b, 1e-7).to_dict() == compare_folders(a, b, 1e-7).to_dict()


def test_identical_digests_are_never_opened(tmp_path: Path) -> None:
    src_a, src_b = RUNS / "tiny_cnn/default", RUNS / "tiny_cnn/naive"
    ra, rb = records(src_a / "bin"), records(src_b / "bin")
    same = {r.basename for r in ra} & {r.basename for r in rb if r in ra}
    assert same, "the fixture pair has vars with equal bytes"
    a, b = copy_run(src_a, tmp_path / "a"), copy_run(src_b, tmp_path / "b")
    for name in same:  # what a store holds after a digest-first fetch: only differing files
        (a / name).unlink()
        (b / name).unlink()
    run = compare_runs(a, b, 1e-7, records_a=ra, records_b=rb)
    full = compare_folders(src_a / "bin", src_b / "bin", 1e-7)
    assert {v.name for v in run.vars if v.status == IDENTICAL_BY_DIGEST} == same
    assert not run.errors()
    # the same answer as reading everything
    assert [v.var_id for v in run.differing()] == [v.var_id for v in full.differing()]
    assert [v.var_id for v in run.roots()] == [v.var_id for v in full.roots()] == [9]
    assert run.first().var_id == full.first().var_id
    assert run.amplification == full.amplification
    s, fs = run.stats(), full.stats()
    assert s["identical_by_digest"] == len([v for v in run.outputs() if v.identical_by_digest]) > 0
    for key in ("compared", "bitwise_equal", "differing", "only_a", "only_b", "errors"):
        assert s[key] == fs[key], key
    ident = next(v for v in run.vars if v.status == IDENTICAL_BY_DIGEST)
    data = ident.to_dict()
    assert data["max_err"] == 0.0 and data["bitwise_equal"] is True and data["differs"] is False
    assert data["status"] == "identical_by_digest" and data["count_over_tol"] == 0


def test_a_graph_names_the_vars_not_read(tmp_path: Path) -> None:
    src = RUNS / "tiny_cnn/default"
    rec = records(src / "bin")
    graph = VarGraph.from_text_dump(src / "io_dump.txt")
    # nothing on disk at all: every var is identical by digest
    run = compare_runs(tmp_path / "gone", tmp_path / "gone", 0.0, records_a=rec, records_b=rec, graph=graph)
    assert run.clean and all(v.status == IDENTICAL_BY_DIGEST for v in run.vars)
    v9 = run.var(9)
    assert v9.opr_type == "ConvolutionForward" and v9.inputs == graph.inputs_of(9)
    assert run.graph_source == "graph" and run.order == tuple(graph.execution_order())


def test_a_differing_file_missing_is_an_error_never_a_zero(tmp_path: Path) -> None:
    src_a, src_b = RUNS / "tiny_cnn/default", RUNS / "tiny_cnn/naive"
    a, b = copy_run(src_a, tmp_path / "a"), copy_run(src_b, tmp_path / "b")
    (b / "000009").unlink()
    run = compare_runs(a, b, 1e-7, records_a=records(src_a / "bin"), records_b=records(src_b / "bin"))
    bad = run.var(9)
    assert bad.status == ERROR and "000009" in bad.error


def test_a_side_without_records_is_listed(tmp_path: Path) -> None:
    src_a, src_b = RUNS / "mlp/default", RUNS / "mlp/default_rerun"
    run = compare_runs(src_a / "bin", src_b / "bin", 0.0, records_a=records(src_a / "bin"))
    assert run.clean and not any(v.identical_by_digest for v in run.vars)  # one digest list: nothing skipped


def test_records_naming_no_dump_is_refused(tmp_path: Path) -> None:
    only_text = [DumpRecord.of("io.txt", 10, "0" * 64)]
    with pytest.raises(DumpFolderError, match="names no binary dump files"):
        compare_runs(tmp_path, tmp_path, 1e-3, records_a=only_text, records_b=only_text)
