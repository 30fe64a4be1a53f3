"""accuracy_shake_var_tree: MegEngine's output on the real diffs, correct roots on any record order."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from analysis import accuracy_shake_var_tree as tree
from analysis import compare_binary_iodump as cbi
from tests.analysis.synthetic import run_network, write_var

REPO = Path(__file__).resolve().parents[2]
DIFFS = sorted(p.name[: -len(".tree.txt")] for p in (REPO / "tests/fixtures/megengine/diffs").glob("*.tree.txt"))


def _main(path: Path):
    out = io.StringIO()
    with redirect_stdout(out):
        rc = tree.main([str(path)])
    return rc, out.getvalue()


def _records(text: str):
    """Split a compare output into records (path line .. message line)."""
    recs, cur = [], []
    for line in text.splitlines(keepends=True):
        cur.append(line)
        if line.startswith(" not equal: ") or line.startswith(" not finite: ") or line.startswith(" shape mismatch: "):
            recs.append("".join(cur))
            cur = []
    return recs


@pytest.mark.parametrize("diff", DIFFS)
def test_output_is_byte_identical_to_megengine(diff: str, megengine_fixtures: Path) -> None:
    expected = (megengine_fixtures / "diffs" / f"{diff}.tree.txt").read_text()
    # The fixture maker appended the tool's exit status; the tool never prints it.
    body, _, status = expected.rstrip("\n").rpartition("\n")
    assert status == "exit_code=0"
    rc, out = _main(megengine_fixtures / "diffs" / f"{diff}.diff.txt")
    assert rc == 0
    assert out == body + "\n"


def test_fixture_roots_are_the_documented_ones(megengine_fixtures: Path) -> None:
    diffs = megengine_fixtures / "diffs"
    expected = {
        "tiny_cnn__default_vs_naive": ["id:9"],
        "mlp__default_vs_naive": ["id:11"],
        "big_conv__default_vs_naive": ["id:9"],
        "tiny_cnn__default_vs_fallback": ["id:45"],
        "tiny_cnn__default_vs_fastrun": ["id:20"],
        "tiny_cnn__default_vs_default_rerun": [],
    }
    for name, roots in expected.items():
        assert list(tree.parse(str(diffs / f"{name}.diff.txt"))) == roots, name


def test_reversed_records_give_the_same_roots(megengine_fixtures: Path, tmp_path: Path) -> None:
    text = (megengine_fixtures / "diffs/mlp__default_vs_naive.diff.txt").read_text()
    recs = _records(text)
    assert len(recs) > 5
    rev = tmp_path / "reversed.txt"
    rev.write_text("".join(reversed(recs)))
    forward = tree.parse(str(megengine_fixtures / "diffs/mlp__default_vs_naive.diff.txt"))
    keys_fwd = {k: v.src_info for k, v in forward.items()}
    backward = tree.parse(str(rev))  # MegEngine raises TypeError here
    assert {k: v.src_info for k, v in backward.items()} == keys_fwd


def test_two_diffs_concatenated_do_not_crash(megengine_fixtures: Path, tmp_path: Path) -> None:
    d = megengine_fixtures / "diffs"
    both = tmp_path / "both.txt"
    both.write_text(
        (d / "tiny_cnn__default_vs_fastrun.diff.txt").read_text()
        + (d / "tiny_cnn__default_vs_naive.diff.txt").read_text()
    )
    rc, out = _main(both)
    assert rc == 0
    # naive's conv1 (id:9) is upstream of fastrun's winograd conv (id:20): only id:9 stays a root.
    roots = tree.parse(str(both))
    assert list(roots) == ["id:9"]
    node = tree.varNode.get_varNode("id:20")
    assert not node.is_root and "id:16" in [n.id for n in node.get_dependence_list()]
    # The first record of a var is kept (fastrun's, which came first).
    fastrun = _records((d / "tiny_cnn__default_vs_fastrun.diff.txt").read_text())
    assert fastrun[0].startswith("tiny_cnn/default/bin/000014: ")
    assert node.src_info.endswith(fastrun[0].splitlines(keepends=True)[-1])


def test_api_keeps_megengines_names(megengine_fixtures: Path, capsys) -> None:
    roots = tree.parse(str(megengine_fixtures / "diffs/tiny_cnn__default_vs_naive.diff.txt"))
    assert isinstance(roots, dict) and list(roots) == ["id:9"]
    conv = tree.varNode.get_varNode("id:9")
    assert [n.id for n in conv.get_dependence_list()] == ["id:5", "id:7"]
    assert "id:16" in [n.id for n in conv.get_reference_list()]
    assert tree.varNode.get_varNode("id:5").vitrual  # an input that did not differ
    conv.show_src_info()
    printed = capsys.readouterr().out
    assert printed.startswith("var={id:9,") and " not equal: shape=(1, 8, 32, 32)" in printed
    with pytest.raises(KeyError):
        tree.varNode.get_varNode("id::3")


def test_get_dependence_parses_one_title() -> None:
    tree.varNode.clear()
    title = (
        "var={id:20, layout:{4(1) Float32}, Float32, owner:add{Elemwise}, name:add, slot:0, "
        'CompNode("cpu0:0"from "cpu0:0"), s, 4, 8}owner_opr_inputs=0={id:18, layout:{4(1) Float32},'
        ' Float32, owner:w{ImmutableTensor}, name:w, slot:0, CompNode("cpu0:0" from "cpu0:0"), s, 2, 2}'
        '1={id:39, shape:{2}, Int32, owner:c{Concat}, name:c, slot:0, CompNode("cpu0:0" from "cpu0:0"), s, 4, 8}'
    )
    node = tree.get_dependence(title, "info")
    assert node.id == "id:20" and [d.id for d in node.get_dependence_list()] == ["id:18", "id:39"]
    assert list(tree.varNode.var_node_root_dict) == ["id:20"]


def _diff_of(tmp: Path, max_err: float = 1e-6) -> Path:
    out = io.StringIO()
    old = os.getcwd()
    os.chdir(tmp)
    try:
        cbi.run("A", "B", max_err, out=out, err=io.StringIO())
    finally:
        os.chdir(old)
    path = tmp / "diff.txt"
    path.write_text(out.getvalue())
    return path


def test_inputless_differing_var_is_a_root(tmp_path: Path) -> None:
    """A weight that differs is the origin; MegEngine would name its consumer instead."""
    run_network(tmp_path / "A")
    run_network(tmp_path / "B", inject={7: 1e-3})
    roots = tree.parse(str(_diff_of(tmp_path)))
    assert list(roots) == ["id:7"]
    assert tree.varNode.get_varNode("id:9").is_root is False


def test_not_finite_and_shape_records_count_as_differing(tmp_path: Path) -> None:
    write_var(tmp_path / "A", 5, np.ones(4, np.float32), name="x", opr_type="Host2DeviceCopy")
    write_var(tmp_path / "B", 5, np.array([1, np.nan, 1, 1], np.float32), name="x", opr_type="Host2DeviceCopy")
    write_var(tmp_path / "A", 9, np.ones(4, np.float32), inputs=[(5, (4,))])
    write_var(tmp_path / "B", 9, np.ones(4, np.float32) * 2, inputs=[(5, (4,))])
    diff = _diff_of(tmp_path)
    assert " not finite: " in diff.read_text()
    assert list(tree.parse(str(diff))) == ["id:5"]


def test_missing_file_is_one_line_exit_1(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "analysis.accuracy_shake_var_tree", str(tmp_path / "nope.txt")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "nope.txt" in proc.stderr


def test_any_text_parses_without_crashing(megengine_fixtures: Path, tmp_path: Path) -> None:
    """Truncated, shuffled or garbled diffs never raise: bad records are just skipped."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    lines = (megengine_fixtures / "diffs/mlp__default_vs_naive.diff.txt").read_text().splitlines(keepends=True)

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.one_of(st.sampled_from(lines), st.text(max_size=80).map(lambda t: t + "\n")), max_size=80))
    def check(picked):
        path = tmp_path / "fuzz.txt"
        path.write_text("".join(picked), encoding="utf-8", errors="surrogatepass")
        roots = tree.parse(str(path))
        for node in roots.values():
            assert node.is_root and not any(not d.vitrual for d in node.get_dependence_list())

    check()
