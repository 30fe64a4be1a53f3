"""The drop-in compare_binary_iodump: byte-identical to MegEngine 1.13 on the real diffs."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import compare_binary_iodump as cbi
from analysis.compare import CHUNK_ELEMS
from tests.analysis.synthetic import write_var

REPO = Path(__file__).resolve().parents[2]
DIFFS = sorted(
    p.name[: -len(".diff.txt")]
    for p in (REPO / "tests/fixtures/megengine/diffs").glob("*.diff.txt")
    if ".numpy2." not in p.name
)


def _args_of(diff_name: str):
    model, run = diff_name.split("__default_vs_")
    return model, run


def _run(*args: str, cwd: Path, workers: int = 2):
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        rc = cbi.run(*args, out=out, err=err, workers=workers)
    finally:
        os.chdir(old)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture()
def runs_dir(megengine_fixtures: Path, tmp_path: Path) -> Path:
    """cwd for the fixture commands (``runs/``), with every run's bin folder present.

    The bundled copy drops big_conv/default_rerun/bin to save space; the
    fixture README records that it is bitwise identical to default/bin, so a
    copy of default/bin stands in for it.
    """
    runs = megengine_fixtures / "runs"
    if (runs / "big_conv/default_rerun/bin").is_dir():
        return runs
    mirror = tmp_path / "runs"
    for model in runs.iterdir():
        for run in model.iterdir():
            (mirror / model.name).mkdir(parents=True, exist_ok=True)
            (mirror / model.name / run.name).symlink_to(run, target_is_directory=True)
    target = mirror / "big_conv/default_rerun"
    target.unlink()
    shutil.copytree(runs / "big_conv/default_rerun", target, symlinks=False)
    shutil.copytree(runs / "big_conv/default/bin", target / "bin")
    return mirror


@pytest.mark.parametrize("diff", DIFFS)
def test_output_is_byte_identical_to_megengine(diff: str, runs_dir: Path, megengine_fixtures: Path) -> None:
    model, run = _args_of(diff)
    expected = (megengine_fixtures / "diffs" / f"{diff}.diff.txt").read_text()
    # The first line names path A exactly as it was given on MegEngine's command line.
    if expected:
        assert re.fullmatch(rf"{model}/default/bin/[0-9a-f]{{6}}: ", expected.splitlines()[0])
    rc, out, err = _run(f"{model}/default/bin", f"{model}/{run}/bin", 1e-7, cwd=runs_dir)
    assert out == expected
    assert (rc, err) == (0, "")


def test_indices_print_as_plain_ints_not_numpy2_reprs(runs_dir: Path, megengine_fixtures: Path) -> None:
    numpy2 = (megengine_fixtures / "diffs/tiny_cnn__default_vs_naive.numpy2.diff.txt").read_text()
    assert "np.int64(" in numpy2
    rc, out, _ = _run("tiny_cnn/default/bin", "tiny_cnn/naive/bin", 1e-7, cwd=runs_dir)
    assert "np.int64" not in out
    assert out == re.sub(r"np\.int64\((\d+)\)", r"\1", numpy2)


def test_default_tolerance_is_megengines_1e3(runs_dir: Path) -> None:
    assert cbi.build_parser().parse_args(["a", "b"]).max_err == 1e-3
    rc, out, err = _run("tiny_cnn/default/bin", "tiny_cnn/naive/bin", 1e-3, cwd=runs_dir)
    assert (rc, out, err) == (0, "", "")


def test_module_runs_as_a_script(runs_dir: Path, megengine_fixtures: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis.compare_binary_iodump",
            "tiny_cnn/default/bin",
            "tiny_cnn/fallback/bin",
            "-e",
            "1e-7",
        ],
        cwd=runs_dir,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (megengine_fixtures / "diffs/tiny_cnn__default_vs_fallback.diff.txt").read_text()


# -- MegEngine's check, written from the spec (§4.1), as an oracle --------------------------------


def reference_record(path0: str, t0: str, t1: str, v0: np.ndarray, v1: np.ndarray, max_err: float) -> Optional[str]:
    name = "{}: \n{}\n{}\n".format(path0, "\n  ".join(textwrap.wrap(t0)), "\n  ".join(textwrap.wrap(t1)))
    v0 = np.ascontiguousarray(v0, dtype=np.float32)
    v1 = np.ascontiguousarray(v1, dtype=np.float32)
    with np.errstate(all="ignore"):
        s0, s1 = v0.sum(), v1.sum()
        if not (np.isfinite(s0) and np.isfinite(s1)):
            return f"{name} not finite: sum={float(s0)} vs sum={float(s1)}"
        if v0.shape != v1.shape:
            return f"{name} shape mismatch: {v0.shape} vs {v1.shape}"
        err = np.abs(v0 - v1) / np.maximum(np.maximum(np.abs(v0), np.abs(v1)), np.float32(1))
    bad = np.argwhere(err > max_err)
    if not len(bad):
        return None
    idx = tuple(int(i) for i in bad[0])
    return (
        f"{name} not equal: shape={v0.shape} nonequal_idx={idx} v0={float(v0[idx])} "
        f"v1={float(v1[idx])} err={float(err[idx])}"
    )


def _pair(tmp: Path, a: np.ndarray, b: np.ndarray, dtype: str = "Float32"):
    pa = write_var(tmp / "A", 9, a, name="conv", inputs=[(5, (2, 2))], dtype=dtype)
    pb = write_var(tmp / "B", 9, b, name="conv", inputs=[(5, (2, 2))], dtype=dtype)
    return pa, pb


def _ours(tmp: Path, max_err: float) -> str:
    rc, out, err = _run("A", "B", max_err, cwd=tmp)
    assert (rc, err) == (0, "")
    return out


def _expected(tmp: Path, a, b, max_err: float) -> str:
    from analysis.dump_bin import read_header

    t0, t1 = read_header(tmp / "A/000009").title, read_header(tmp / "B/000009").title
    rec = reference_record(str(Path("A") / "000009"), t0, t1, a, b, max_err)
    return "" if rec is None else rec + "\n"


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3 * CHUNK_ELEMS + 5),
    positions=st.lists(st.floats(0, 1, exclude_max=True), min_size=0, max_size=4),
    scale=st.sampled_from([1e-8, 1e-6, 1e-3, 1.0, 1e3]),
    tol=st.sampled_from([0.0, 1e-7, 1e-3]),
    seed=st.integers(0, 2**16),
)
def test_matches_megengine_check_on_random_tensors(tmp_path_factory, n, positions, scale, tol, seed) -> None:
    """Any size (across chunk borders), any perturbation: the same record as MegEngine's check."""
    tmp = tmp_path_factory.mktemp("rand")
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal(n) * 3).astype(np.float32)
    b = a.copy()
    for p in positions:
        b[int(p * n)] += np.float32(scale * rng.standard_normal())
    _pair(tmp, a, b)
    assert _ours(tmp, tol) == _expected(tmp, a, b, tol)


@pytest.mark.parametrize(
    "case",
    [
        "nan_one_side",
        "nan_both",
        "inf",
        "sum_overflow",
        "overflow_equal",
        "shape",
        "shape_and_nan",
        "float16",
        "int32",
        "one_dim",
        "4d_late_chunk",
        "negative_zero",
    ],
)
def test_matches_megengine_check_on_edge_cases(tmp_path: Path, case: str) -> None:
    big = np.arange(2 * CHUNK_ELEMS + 10, dtype=np.float32).reshape(2, -1, 1) / 7
    a = np.linspace(-2, 2, 24, dtype=np.float32).reshape(2, 3, 4)
    b = a.copy()
    dtype = "Float32"
    if case == "nan_one_side":
        b[1, 2, 3] = np.nan
    elif case == "nan_both":
        a[0, 0, 0] = b[0, 0, 0] = np.nan
    elif case == "inf":
        a[1, 1, 1] = np.inf
        b[1, 1, 1] = -np.inf
    elif case == "sum_overflow":
        a[:] = b[:] = np.float32(3e38)  # every value finite, the float32 sum is not
        b[0, 0, 1] = np.float32(2e38)
    elif case == "overflow_equal":
        a[:] = b[:] = np.float32(3e38)  # identical files, still "not finite" for MegEngine
    elif case == "shape":
        b = a.reshape(4, 3, 2).copy()
    elif case == "shape_and_nan":
        b = a.reshape(4, 6).copy()
        b[0, 0] = np.nan
    elif case == "float16":
        a, b, dtype = a.astype(np.float16), (a + np.float32(0.01)).astype(np.float16), "Float16"
    elif case == "int32":
        a, b, dtype = np.arange(24, dtype=np.int32).reshape(6, 4), np.arange(24, dtype=np.int32).reshape(6, 4), "Int32"
        b[5, 3] = 2**30
    elif case == "one_dim":
        a = np.zeros(10, np.float32)
        b = a.copy()
        b[3] = 1e-3
    elif case == "4d_late_chunk":
        a = big.reshape(1, 2, -1, 1)
        b = a.copy()
        b[0, 1, -3, 0] += 1
        b[0, 1, -1, 0] += 5
    elif case == "negative_zero":
        b = -a * 0 + a  # same values; -0.0 vs 0.0 bytes where a is 0
        a[0, 0, 0], b[0, 0, 0] = np.float32(0.0), np.float32(-0.0)
    _pair(tmp_path, a, b, dtype)
    expected = _expected(tmp_path, a, b, 1e-7)
    assert _ours(tmp_path, 1e-7) == expected
    if case != "negative_zero":
        assert expected  # the case really produces a record


def _folder(tmp: Path, side: str, ids, bump=()):
    for vid in ids:
        data = np.full((2, 2), float(vid), np.float32)
        if vid in bump:
            data[1, 1] += 1
        write_var(tmp / side, vid, data, name=f"v{vid}")


def test_different_file_sets_name_both_sides_and_compare_the_rest(tmp_path: Path) -> None:
    _folder(tmp_path, "A", [1, 2, 3, 4])
    _folder(tmp_path, "B", [2, 3, 4, 5], bump=[3])
    rc, out, err = _run("A", "B", 1e-3, cwd=tmp_path)
    assert rc == 1
    lines = err.splitlines()
    assert len(lines) == 1
    assert "only in A: 000001" in lines[0] and "only in B: 000005" in lines[0]
    assert out.startswith("A/000003: \n") and out.count(" not equal: ") == 1


def test_bad_file_is_one_line_and_the_others_are_still_compared(tmp_path: Path) -> None:
    _folder(tmp_path, "A", [1, 2, 3], bump=())
    _folder(tmp_path, "B", [1, 2, 3], bump=[3])
    (tmp_path / "B/000002").write_bytes((tmp_path / "B/000002").read_bytes()[:30])
    rc, out, err = _run("A", "B", 1e-3, cwd=tmp_path)
    assert rc == 1
    assert err.count("\n") == 1 and "B/000002" in err and "truncated header" in err
    assert out.startswith("A/000003: \n")


def test_stop_on_error_stops_at_the_first_difference(tmp_path: Path) -> None:
    _folder(tmp_path, "A", [1, 2, 3])
    _folder(tmp_path, "B", [1, 2, 3], bump=[2, 3])
    rc, out, err = _run("A", "B", 1e-3, True, cwd=tmp_path)
    assert rc == 1
    assert out.count(" not equal: ") == 1 and out.startswith("A/000002: ")
    assert "-s" in err


def test_two_single_files_and_mixed_arguments(tmp_path: Path) -> None:
    _folder(tmp_path, "A", [1])
    _folder(tmp_path, "B", [1], bump=[1])
    rc, out, err = _run("A/000001", "B/000001", 1e-3, cwd=tmp_path)
    assert rc == 0 and out.startswith("A/000001: \n") and "nonequal_idx=(1, 1)" in out
    rc, out, err = _run("A", "B/000001", 1e-3, cwd=tmp_path)
    assert rc == 1 and out == "" and "B/000001: is not a folder" in err
    rc, out, err = _run("missing", "B/000001", 1e-3, cwd=tmp_path)
    assert rc == 1 and out == "" and "missing" in err and err.count("\n") == 1
    rc, out, err = _run("missing", "B", 1e-3, cwd=tmp_path)
    assert rc == 1 and out == "" and err == "compare_binary_iodump: error: missing: no such file or folder\n"


def test_empty_folders_are_an_error_not_a_silent_pass(tmp_path: Path) -> None:
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    rc, out, err = _run("A", "B", 1e-3, cwd=tmp_path)
    assert rc == 1 and out == ""
    assert err.splitlines() == [
        "compare_binary_iodump: error: A: holds no dump files",
        "compare_binary_iodump: error: B: holds no dump files",
    ]


def test_bad_arguments_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cbi.main(["only-one"])
    assert exc.value.code == 2


def test_record_order_is_megengines_sorted_paths(tmp_path: Path) -> None:
    """MegEngine sorts full paths as strings: 1000000 (7 hex digits) sorts before ffffff."""
    for vid in (5, 0xFFFFFF, 0x1000000):
        write_var(tmp_path / "A", vid, np.zeros(2, np.float32))
        write_var(tmp_path / "B", vid, np.ones(2, np.float32))
    rc, out, _ = _run("A", "B", 0.0, cwd=tmp_path)
    heads = [line for line in out.splitlines() if line.startswith("A/")]
    assert heads == ["A/000005: ", "A/1000000: ", "A/ffffff: "] and rc == 0


def test_complex64_reports_the_element_index(tmp_path: Path) -> None:
    """Complex compares as (real, imag) pairs; the index printed is the element's, not a component's."""
    a = np.array([[1 + 1j, 2 + 2j], [3 + 3j, 4 + 4j]], np.complex64)
    b = a.copy()
    b[1, 1] = 4 + 5j
    write_var(tmp_path / "A", 2, a, dtype="Complex64")
    write_var(tmp_path / "B", 2, b, dtype="Complex64")
    write_var(tmp_path / "B2", 2, a.real.copy(), dtype="Float32")  # same shape, real only
    rc, out, err = _run("A", "B", 1e-3, cwd=tmp_path)
    assert (rc, err) == (0, "")
    assert out.endswith(" not equal: shape=(2, 2) nonequal_idx=(1, 1) v0=4.0 v1=5.0 err=0.20000000298023224\n")
    rc, out, err = _run("A", "B2", 1e-3, cwd=tmp_path)
    assert (rc, err) == (0, "")
    assert out.endswith(" not equal: shape=(2, 2) nonequal_idx=(0, 0) v0=1.0 v1=0.0 err=1.0\n")


def test_complex64_not_finite_is_quiet(tmp_path: Path) -> None:
    a = np.array([1 + 1j, np.inf + 0j], np.complex64)
    write_var(tmp_path / "A", 2, a, dtype="Complex64")
    write_var(tmp_path / "B", 2, a, dtype="Complex64")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's ComplexWarning went to stderr
        rc, out, err = _run("A", "B", 1e-3, cwd=tmp_path)
    assert (rc, err) == (0, "")
    assert out.endswith(" not finite: sum=inf vs sum=inf\n")


@pytest.mark.parametrize("full", [False, True])
def test_streamed_nan_inf_and_overflow_warn_nothing(tmp_path: Path, full: bool) -> None:
    """numpy's floating-point warnings are silenced once per tensor (not per chunk): none leaks out."""
    from analysis.compare_tensors import compare_dumps
    from analysis.dump_bin import read_header

    n = 2 * CHUNK_ELEMS + 3
    a = np.ones(n, np.float32)
    b = a.copy()
    a[5], b[CHUNK_ELEMS + 1], a[-1], b[-1] = np.nan, np.inf, 3e38, -3e38  # NaN, Inf, a-b overflowing
    pa, pb = write_var(tmp_path / "A", 3, a), write_var(tmp_path / "B", 3, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = compare_dumps(read_header(pa), read_header(pb), 1e-7, full=full)
    assert m is not None and m.first_index == 5 and m.maybe_not_finite
