"""compare_folders on the real runs and on synthetic folders: every var reported, memory bounded."""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from analysis.compare import compare_files, compare_folders
from analysis.errors import DumpFolderError
from analysis.results import Tolerance
from tests.analysis.synthetic import run_network, write_var

RUNS = Path(__file__).resolve().parents[1] / "fixtures/megengine/runs"
SUMMARIES = sorted(
    p
    for p in (RUNS.parent / "diffs").glob("*.summary.json")
    if (RUNS / p.name.split("__")[0] / p.name.split("__default_vs_")[1].split(".")[0] / "bin").is_dir()
)


@pytest.mark.parametrize("summary", SUMMARIES, ids=lambda p: p.name.split(".")[0])
def test_metrics_agree_with_the_fixture_summaries(summary: Path) -> None:
    """Per var: bitwise equality, max abs error and MegEngine's metric as the fixture maker measured."""
    data = json.loads(summary.read_text())
    run = compare_folders(RUNS / data["a"], RUNS / data["b"], 1e-7)
    assert [v.name for v in run.vars] == [v["file"] for v in data["vars"]]
    for v, want in zip(run.vars, data["vars"], strict=True):
        assert v.var_id == want["var_id"] and v.var_name == want["name"]
        assert v.bitwise_equal == want["bitwise_equal"]
        assert v.metrics.max_abs == pytest.approx(want["max_abs_err"], rel=1e-6, abs=0)
        # The summary's "max_rel_err" is MegEngine's |a-b|/max(|a|,|b|,1).
        assert v.max_err == pytest.approx(want["max_rel_err"], rel=1e-6, abs=0)
        assert list(v.shape_a) == want["shape"]


def test_naive_vs_default_first_and_roots() -> None:
    run = compare_folders(RUNS / "tiny_cnn/default/bin", RUNS / "tiny_cnn/naive/bin", 1e-7)
    s = run.stats()
    assert (s["compared"], s["bitwise_equal"], s["differing"]) == (17, 7, 9)
    assert run.first().var_id == 9 and run.first().opr_type == "ConvolutionForward"
    assert [v.var_id for v in run.roots()] == [9]
    assert run.graph_source == "titles" and run.inputs_of[16] == (9, 14)
    assert 50 in run.dependents(9) and run.dependencies(16) == [5, 7, 9, 14]
    assert not run.clean


def test_rerun_is_clean() -> None:
    run = compare_folders(RUNS / "mlp/default/bin", RUNS / "mlp/default_rerun/bin", 0.0)
    assert run.clean and run.first() is None and run.roots() == []
    assert all(v.bitwise_equal for v in run.vars)


def test_one_sided_unreadable_and_stray_files_are_reported(tmp_path: Path) -> None:
    for side in "AB":
        for vid in (1, 2, 3):
            write_var(tmp_path / side, vid, np.full(4, vid, np.float32))
    write_var(tmp_path / "A", 4, np.zeros(4, np.float32))
    write_var(tmp_path / "B", 6, np.zeros(4, np.float32))
    (tmp_path / "B/000002").write_bytes(b"\x01\x02")
    (tmp_path / "A/notes.txt").write_text("x")
    run = compare_folders(tmp_path / "A", tmp_path / "B", 1e-3)
    assert [v.name for v in run.only_a()] == ["000004"] and [v.name for v in run.only_b()] == ["000006"]
    (bad,) = run.errors()
    assert bad.name == "000002" and "B/000002" in bad.error and "truncated header" in bad.error
    assert [v.var_id for v in run.outputs()] == [1, 3] and run.stray_a == ("notes.txt",)
    assert run.stats()["errors"] == 1 and not run.clean


def test_bad_folders_raise_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    write_var(tmp_path / "A", 1, np.zeros(2, np.float32))
    for other, words in (("missing", "no such folder"), ("empty", "holds no dump files"), ("file", "is a file")):
        with pytest.raises(DumpFolderError, match=words):
            compare_folders(tmp_path / "A", tmp_path / other)


def test_shape_and_dtype_mismatches(tmp_path: Path) -> None:
    write_var(tmp_path / "A", 1, np.zeros((2, 3), np.float32))
    write_var(tmp_path / "B", 1, np.zeros((3, 2), np.float32))
    write_var(tmp_path / "A", 2, np.arange(4, dtype=np.float32))
    write_var(tmp_path / "B", 2, np.arange(4, dtype=np.float16), dtype="Float16")
    run = compare_folders(tmp_path / "A", tmp_path / "B", 0.0)
    shape, dtype = run.vars
    assert shape.shape_mismatch and shape.max_err == math.inf and shape.differs() and shape.metrics is None
    assert dtype.dtype_mismatch and not dtype.bitwise_equal and dtype.max_err == 0 and not dtype.differs()
    assert run.stats()["shape_mismatch"] == 1 and run.stats()["dtype_mismatch"] == 1


def test_workers_do_not_change_results(tmp_path: Path) -> None:
    run_network(tmp_path / "A")
    run_network(tmp_path / "B", noise=1e-6, inject={16: 1e-2})
    one = compare_folders(tmp_path / "A", tmp_path / "B", 1e-7, workers=1)
    two = compare_folders(tmp_path / "A", tmp_path / "B", 1e-7, workers=2)
    assert one.to_dict() == two.to_dict()
    json.dumps(one.to_dict(), allow_nan=False)  # strict JSON


def test_per_var_tolerance_override(tmp_path: Path) -> None:
    run_network(tmp_path / "A")
    run_network(tmp_path / "B", inject={16: 1e-2})
    loose = Tolerance(1e-7, {16: 1.0, 18: 1.0, 20: 1.0, 23: 1.0})
    run = compare_folders(tmp_path / "A", tmp_path / "B", loose)
    assert run.differing() == [] and run.var(16).tolerance == 1.0 and run.var(9).tolerance == 1e-7
    with pytest.raises(ValueError):
        compare_folders(tmp_path / "A", tmp_path / "B", -1.0)
    policy = compare_folders(tmp_path / "A", tmp_path / "B", lambda vid: 1.0 if vid >= 16 else 1e-8)
    assert policy.differing() == [] and policy.tolerance == 1e-8


def test_compare_two_files(tmp_path: Path) -> None:
    write_var(tmp_path / "A", 9, np.ones(3, np.float32), name="conv", opr_type="ConvolutionForward")
    write_var(tmp_path / "B", 9, np.array([1, 1, 2], np.float32), name="conv", opr_type="ConvolutionForward")
    v = compare_files(tmp_path / "A/000009", tmp_path / "B/000009", 1e-3)
    assert v.var_id == 9 and v.opr_type == "ConvolutionForward" and v.metrics.first_index == 2 and v.differs()


def test_memory_is_bounded_by_chunks_not_tensors(tmp_path: Path) -> None:
    """Two 32 MB tensors compare with a few MB of Python/numpy allocations."""
    n = 8 * 1024 * 1024
    a = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    write_var(tmp_path / "A", 1, a)
    a[n // 2 :] += np.float32(1e-3)
    write_var(tmp_path / "B", 1, a)
    del a
    tracemalloc.start()
    try:
        run = compare_folders(tmp_path / "A", tmp_path / "B", 1e-7, workers=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert run.var(1).metrics.first_index == n // 2
    assert peak < 4 * 1024 * 1024, peak


def test_input_dumps_are_reported_but_never_roots(tmp_path: Path) -> None:
    """MGB_DUMP_INPUT files (<id>-inpK) repeat an input's value after its consumer ran."""
    from analysis.dump_bin import write_dump

    for side, bump in (("A", 0.0), ("B", 1.0)):
        write_var(tmp_path / side, 9, np.ones(4, np.float32) + bump, name="conv", inputs=[(5, (4,))])
        inp = np.full(4, 2.0 + bump, np.float32)
        title = (
            "inp0: " + (tmp_path / side / "000009").read_bytes()[40 : 40 + 200].decode().split(" owner_opr_inputs=")[0]
        )
        write_dump(
            tmp_path / side / "000009-inp0", title.replace("id:9,", "id:5,") + " owner_opr_inputs=", 0, (4,), inp
        )
    run = compare_folders(tmp_path / "A", tmp_path / "B", 1e-3)
    assert [(v.name, v.input_index) for v in run.vars] == [("000009", None), ("000009-inp0", 0)]
    assert run.vars[1].differs() and [v.var_id for v in run.outputs()] == [9]
    assert [v.var_id for v in run.roots()] == [9] and run.stats()["compared"] == 1


def test_names_past_six_hex_digits_keep_numeric_order(tmp_path: Path) -> None:
    for side in "AB":
        for vid in (0xFFFFFF, 0x1000000, 5):
            write_var(tmp_path / side, vid, np.ones(2, np.float32))
    run = compare_folders(tmp_path / "A", tmp_path / "B", 1e-3)
    assert [v.var_id for v in run.vars] == [5, 0xFFFFFF, 0x1000000]
