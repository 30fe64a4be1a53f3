"""controller/checks holds no metric code: every error, tolerance decision, root and amplification is analysis's."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from analysis.results import spread
from tests.controller.test_one_engine import RUNS

CHECKS = Path(__file__).resolve().parents[2] / "controller/checks"
#: VarDiff/metric attributes a check may not compute with (reading them off to render is the reports' job).
METRIC_ATTRS = {"max_err", "metrics", "max_abs", "max_rel", "cosine", "sqnr_db", "count_over_tol"}


def _findings(path: Path) -> list:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Lt, ast.Gt, ast.LtE, ast.GtE)) for op in node.ops):
            sides = [node.left, *node.comparators]
            if not any(isinstance(s, ast.Call) and getattr(s.func, "id", "") == "len" for s in sides):
                out.append(f"{path.name}:{node.lineno}: an ordering comparison (a tolerance decision?)")
        if isinstance(node, ast.Attribute) and node.attr in METRIC_ATTRS:
            out.append(f"{path.name}:{node.lineno}: computes with .{node.attr}")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if any(n.split(".")[0] in ("numpy", "math") or n == "exceeds" for n in names):
                out.append(f"{path.name}:{node.lineno}: imports {names}")
    return out


@pytest.mark.parametrize("path", sorted(CHECKS.glob("*.py")), ids=lambda p: p.name)
def test_a_check_computes_no_metric(path: Path) -> None:
    assert _findings(path) == []


def test_spread_is_the_largest_error_per_var_over_repeats(tmp_path: Path) -> None:
    from analysis.compare import compare_folders

    same = compare_folders(RUNS / "tiny_cnn/default/bin", RUNS / "tiny_cnn/default/bin", 1e-7)
    naive = compare_folders(RUNS / "tiny_cnn/default/bin", RUNS / "tiny_cnn/naive/bin", 1e-7)
    assert spread([same]) == {}
    got = spread([same, naive])
    assert got == {v.var_id: v.max_err for v in naive.outputs() if v.max_err}
    assert got[9] == pytest.approx(6.556510925292969e-07)
