"""``python -m analysis``: report, JSON, exit codes 0/1/2, and the README's walkthrough."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis import cli
from tests.analysis.synthetic import run_network, write_var

REPO = Path(__file__).resolve().parents[2]
RUNS = REPO / "tests/fixtures/megengine/runs"


def _cli(capsys, *argv: str):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_differences_exit_1_with_first_roots_and_table(capsys) -> None:
    rc, out, err = _cli(
        capsys,
        RUNS / "tiny_cnn/default/bin",
        RUNS / "tiny_cnn/naive/bin",
        "-e",
        "1e-7",
        "--txt-a",
        RUNS / "tiny_cnn/default/io_dump.txt",
    )
    assert (rc, err) == (1, "")
    assert "graph from text dump" in out
    assert re.search(
        r"^\s+9\s+ConvolutionForward\s+conv\(data,const\{8,3,3,3\}\[237\]\)\[239\]\s+6\.56e-07\s+9\.54e-07"
        r"\s+new\s+698/8192$",
        out,
        re.M,
    )
    assert "first: var 9 " in out and "roots: var 9 " in out and "threshold: no suggestion" in out
    rows = re.findall(r"^\s+(\d+)\s+\w+\s", out.split("differing vars")[1], re.M)
    assert [int(r) for r in rows] == [9, 16, 20, 23, 25, 28, 41, 45, 48]  # execution order


def test_within_tolerance_exits_0(capsys) -> None:
    rc, out, err = _cli(capsys, RUNS / "tiny_cnn/default/bin", RUNS / "tiny_cnn/naive/bin")  # default 1e-3
    assert (rc, err) == (0, "")
    assert "first: none" in out and "roots: none" in out


def test_json_is_strict_and_complete(capsys) -> None:
    rc, out, _ = _cli(capsys, RUNS / "mlp/default/bin", RUNS / "mlp/naive/bin", "-e", "1e-7", "--json")
    assert rc == 1
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert data["first"] == 11 and data["roots"] == [11] and data["stats"]["differing"] == len(data["differing"])
    assert data["amplification"]["11"] == "inf"
    v = next(x for x in data["vars"] if x["var_id"] == 11)
    assert v["opr_type"] == "MatrixMul" and v["differs"] and v["first_index"] is not None and v["sqnr_db"] > 100
    assert data["threshold"]["cut_source"] == "none" and data["threshold"]["quantiles"]["p50"] > 0


def test_threshold_auto_and_value(tmp_path: Path, capsys) -> None:
    run_network(tmp_path / "A")
    run_network(tmp_path / "B", noise=1e-7, inject={16: 1e-2}, noise_seed=3)
    rc, out, _ = _cli(capsys, tmp_path / "A", tmp_path / "B", "-e", "1e-9")
    assert rc == 1
    assert re.search(r"threshold: suggested [0-9.e-]+ \(largest gap", out)
    assert re.search(r"at the suggested cut [0-9.e-]+: 4 vars over, roots: var 16$", out, re.M)
    rc, out, _ = _cli(capsys, tmp_path / "A", tmp_path / "B", "-e", "1e-9", "--threshold", "0.5", "--json")
    th = json.loads(out)["threshold"]
    assert th["cut"] == 0.5 and th["cut_source"] == "given" and th["roots_at_cut"] == []


def test_one_sided_file_exits_1(tmp_path: Path, capsys) -> None:
    for side in "AB":
        write_var(tmp_path / side, 1, np.ones(3, np.float32))
    write_var(tmp_path / "A", 2, np.ones(3, np.float32))
    rc, out, err = _cli(capsys, tmp_path / "A", tmp_path / "B")
    assert rc == 1 and "only in A: 000002" in out and err == ""


def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    write_var(tmp_path / "A", 1, np.ones(3, np.float32))
    rc, out, err = _cli(capsys, tmp_path / "A", tmp_path / "nope")
    assert (rc, out) == (2, "") and err.count("\n") == 1 and "nope: no such folder" in err
    (tmp_path / "B").mkdir()
    (tmp_path / "B/000001").write_bytes(b"\x00" * 12 + b"junk")
    rc, out, err = _cli(capsys, tmp_path / "A", tmp_path / "B")
    assert rc == 2 and "unreadable: " in out and err.count("\n") == 1 and "B/000001" in err
    bad_txt = tmp_path / "bad.txt"
    bad_txt.write_text("this is not a text dump\n")
    rc, out, err = _cli(capsys, tmp_path / "A", tmp_path / "A", "--txt-a", bad_txt)
    # what was compared is still printed (with the titles' graph), then the one error line
    assert rc == 2 and "graph from titles" in out and err.startswith("analysis: error: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["a"],
        ["a", "b", "-e", "x"],
        ["a", "b", "-e", "-1"],
        ["a", "b", "--threshold", "big"],
        ["a", "b", "--limit", "-1"],
    ],
)
def test_bad_usage_exits_2(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2


def test_text_dumps_that_disagree_are_warned_about(capsys) -> None:
    rc, out, err = _cli(
        capsys,
        RUNS / "tiny_cnn/default/bin",
        RUNS / "tiny_cnn/naive/bin",
        "--txt-a",
        RUNS / "tiny_cnn/default/io_dump.txt",
        "--txt-b",
        RUNS / "mlp/default/io_dump.txt",
    )
    assert rc == 0 and "analysis: warning: text dumps disagree" in err


@pytest.mark.parametrize("txt", ["empty", "mlp/default/io_dump.txt"])
def test_text_dump_of_another_run_is_bad_input(tmp_path: Path, capsys, txt: str) -> None:
    """Its graph would replace the titles': an empty or foreign one made every differing var a root."""
    path = RUNS / txt
    if txt == "empty":
        path = tmp_path / "empty.txt"
        path.write_text("")
    rc, out, err = _cli(
        capsys, RUNS / "tiny_cnn/default/bin", RUNS / "tiny_cnn/naive/bin", "-e", "1e-7", "--txt-a", path
    )
    assert rc == 2 and "graph from titles" in out
    assert err.count("\n") == 1 and err.startswith(f"analysis: error: {path}: text dump does not describe")
    assert "dumped vars are not in it (first: var " in err


def test_text_dump_of_the_same_run_gives_the_titles_roots(capsys) -> None:
    rc, out, err = _cli(
        capsys,
        RUNS / "tiny_cnn/default/bin",
        RUNS / "tiny_cnn/naive/bin",
        "-e",
        "1e-7",
        "--txt-a",
        RUNS / "tiny_cnn/default/io_dump.txt",
    )
    assert (rc, err) == (1, "")
    assert "graph from text dump" in out and re.search(r"^roots: var 9 [^;]*$", out, re.M)


def test_readme_walkthrough_runs(tmp_path: Path) -> None:
    """The commands of the README's analysis section, as a user would paste them."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("<!-- section: analysis -->")[1].split("<!-- /section: analysis -->")[0]
    script = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    assert "python -m analysis " in script and "accuracy_shake_var_tree" in script
    (tmp_path / "tests").symlink_to(REPO / "tests", target_is_directory=True)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.stderr == ""
    assert "roots: var 9 conv(data,const{8,3,3,3}[237])[239] {ConvolutionForward}" in proc.stdout
    assert proc.stdout.endswith("varnode root:\nid:9\ndetail info:\n" + proc.stdout.split("detail info:\n")[1])
    fixture = (REPO / "tests/fixtures/megengine/diffs/tiny_cnn__default_vs_naive.diff.txt").read_text()
    expected = re.sub(r"^tiny_cnn/", "tests/fixtures/megengine/runs/tiny_cnn/", fixture, flags=re.M)
    assert (tmp_path / "diff.txt").read_text() == expected


def test_report_rows_for_shape_nan_and_limit(tmp_path: Path, capsys) -> None:
    write_var(tmp_path / "A", 1, np.zeros((2, 3), np.float32), name="reshaped")
    write_var(tmp_path / "B", 1, np.zeros((3, 2), np.float32), name="reshaped")
    write_var(tmp_path / "A", 2, np.ones(4, np.float32), name="nanny", inputs=[(1, (2, 3))])
    write_var(tmp_path / "B", 2, np.array([1, np.nan, 1, 1], np.float32), name="nanny", inputs=[(1, (2, 3))])
    rc, out, err = _cli(capsys, tmp_path / "A", tmp_path / "B")
    assert (rc, err) == (1, "")
    assert re.search(r"^\s+1\s+Elemwise\s+reshaped\s+inf\s+-\s+-\s+shape \(2, 3\) vs \(3, 2\)$", out, re.M)
    # amplification of an infinite error over an infinite input error is unknown: "?"
    assert re.search(r"^\s+2\s+Elemwise\s+nanny\s+inf\s+inf\s+\?\s+1/4 nan 0/1 inf 0/0$", out, re.M)
    assert "roots: var 1 reshaped {Elemwise} err inf" in out
    rc, out, _ = _cli(capsys, tmp_path / "A", tmp_path / "B", "--limit", "1")
    assert "... 1 more (--limit)" in out
    data = json.loads(_cli(capsys, tmp_path / "A", tmp_path / "B", "--json")[1])
    assert data["vars"][0]["max_err"] == "inf" and data["vars"][1]["nan_b"] == 1


@pytest.mark.parametrize("workers", ["99999999999999999999", "257"])
def test_a_huge_worker_count_is_one_usage_error_not_a_traceback(capsys, workers: str) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main([str(RUNS / "tiny_cnn/default/bin"), str(RUNS / "tiny_cnn/naive/bin"), "--workers", workers])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--workers: at most 256" in err


def _analysis(*args: str, **kw) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "analysis", str(RUNS / "tiny_cnn/default/bin"), str(RUNS / "tiny_cnn/naive/bin")]
    return subprocess.run([*argv, *args], capture_output=True, text=True, cwd=REPO, timeout=60, **kw)


def test_html_to_a_fifo_nobody_reads_is_one_line_not_a_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "page.html")
    proc = _analysis("--html", str(tmp_path / "page.html"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "page.html: a FIFO that nothing reads" in proc.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_stdout_that_cannot_be_written_is_one_line_not_a_traceback() -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "analysis", str(RUNS / "tiny_cnn/default/bin"), str(RUNS / "tiny_cnn/naive/bin")],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            timeout=60,
        )
    assert proc.returncode == 2
    assert proc.stderr == "analysis: error: cannot write the report to stdout: No space left on device\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(
    "module,args,code",
    [
        ("compare_binary_iodump", ["tiny_cnn/default/bin", "tiny_cnn/naive/bin", "-e", "1e-7"], 2),
        ("accuracy_shake_var_tree", ["tiny_cnn/default/io_dump.txt"], 1),
    ],
)
def test_the_drop_ins_say_in_one_line_that_stdout_cannot_be_written(module: str, args: list, code: int) -> None:
    argv = [str(RUNS / a) if "/" in a else a for a in args]
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", f"analysis.{module}", *argv],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            timeout=60,
        )
    assert proc.returncode == code
    assert proc.stderr == f"{module}: error: cannot write to stdout: No space left on device\n"
