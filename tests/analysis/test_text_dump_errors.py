"""A bad text dump still leaves the comparison printed (titles' graph) with one error line, and
the error names the folder the text dump was checked against.

Once, a bad --txt-a left stdout and --json empty, and a --txt-b error named A's folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis import cli

RUNS = Path(__file__).resolve().parents[1] / "fixtures/megengine/runs"
A, B = RUNS / "tiny_cnn/default/bin", RUNS / "tiny_cnn/naive/bin"


def _cli(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(params=["not a text dump", "foreign"])
def bad_txt(request, tmp_path) -> Path:
    if request.param == "foreign":
        return RUNS / "mlp/default/io_dump.txt"
    path = tmp_path / "bad.txt"
    path.write_text("this is not a text dump\n")
    return path


@pytest.mark.parametrize("flag", ["--txt-a", "--txt-b"])
def test_bad_text_dump_still_prints_the_comparison_and_one_error(capsys, bad_txt, flag) -> None:
    rc, out, err = _cli(capsys, A, B, "-e", "1e-7", flag, bad_txt)
    assert rc == 2
    assert "graph from titles" in out and "differing vars" in out and "roots: var 9" in out
    assert err.count("\n") == 1 and err.startswith(f"analysis: error: {bad_txt}")


def test_bad_text_dump_still_prints_the_json(capsys, bad_txt) -> None:
    rc, out, err = _cli(capsys, A, B, "-e", "1e-7", "--json", "--txt-a", bad_txt)
    assert rc == 2 and err.count("\n") == 1
    data = json.loads(out)
    assert data["first"] == 9 and data["roots"] == [9]


def test_a_txt_b_that_does_not_fit_names_bs_folder(capsys) -> None:
    foreign = RUNS / "mlp/default/io_dump.txt"
    rc, _out, err = _cli(capsys, A, B, "-e", "1e-7", "--txt-b", foreign)
    assert rc == 2
    assert f"does not describe the dumps in {B}:" in err and f"dumps in {A}:" not in err
