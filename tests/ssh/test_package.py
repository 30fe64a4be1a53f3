"""The agent zipapp: what goes in (the agent's import closure), what the board must have."""

from __future__ import annotations

import ast
import subprocess
import zipfile
from io import BytesIO
from pathlib import Path
from typing import List

import pytest

from controller.ssh.package import PackageError, build_agent_package, parse_version, scan_imports

REPO = Path(__file__).resolve().parents[2]


def test_scan_imports_tells_module_level_from_lazy_and_guarded():
    src = """
import os
import grpc
from google.protobuf import message
from . import sibling
from .sub import thing
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    import typer
try:
    import yaml
except ImportError:
    yaml = None
try:
    import strict_dep
finally:
    pass
def f():
    import megenginelite
"""
    hard, soft = scan_imports(src, package="agent.pkg")
    assert {
        "os",
        "grpc",
        "google.protobuf",
        "google.protobuf.message",
        "agent.pkg",
        "agent.pkg.sibling",
        "agent.pkg.sub",
        "agent.pkg.sub.thing",
        "strict_dep",
    } <= hard
    assert "typer" not in hard | soft
    assert soft == {"yaml", "megenginelite"}


def test_relative_import_from_a_module_resolves_against_its_package():
    hard, _ = scan_imports("from ..x import y\n", package="agent.a.b")
    assert "agent.a.x" in hard


@pytest.fixture(scope="module")
def package():
    return build_agent_package()


def test_package_holds_the_agent_and_protocol_not_the_controller(package):
    names = zipfile.ZipFile(BytesIO(package.data[package.data.index(b"PK") :])).namelist()
    assert names[0] == "__main__.py"
    assert {"agent/cli.py", "agent/server.py", "larfarm/agent/v1/agent_pb2.py", "grpc_health/v1/health.py"} <= set(
        names
    )
    assert not [n for n in names if n.startswith(("controller/", "analysis/", "tests/", "agent/lar_lite/"))]
    assert package.data.startswith(b"#!/usr/bin/env python3\n")
    # what the board itself must provide: C extensions only
    assert set(package.board_modules) == {"grpc", "google.protobuf"}
    assert dict(package.min_versions).keys() == {"grpc", "google.protobuf"}
    assert package.pip_hint(package.board_modules) == "pip install grpcio protobuf"


def test_package_is_reproducible(package):
    assert build_agent_package().sha256 == package.sha256


def test_package_runs_without_the_repo(package, tmp_path, board_python):
    pyz = tmp_path / "agent.pyz"
    pyz.write_bytes(package.data)
    out = subprocess.run([board_python, str(pyz), "version"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("larfarm agent ")
    where = subprocess.run([board_python, "-c", "import agent"], capture_output=True, text=True, cwd=tmp_path)
    assert where.returncode != 0  # the board Python really lacks our packages


def test_missing_entry_module_is_refused():
    with pytest.raises(PackageError, match="entry module 'agent.no_such_cli' is missing"):
        build_agent_package("agent.no_such_cli:main")


def test_parse_version():
    assert parse_version("5.29.3") == (5, 29, 3)
    assert parse_version("1.60.0rc1") == (1, 60)
    assert parse_version("?") == ()


def test_controller_import_is_refused(tmp_path, monkeypatch):
    pkg = tmp_path / "agentx"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "cli.py").write_text("def main():\n    from controller import farm\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("controller.ssh.package.OWN_PACKAGES", ("agentx", "larfarm"))
    with pytest.raises(PackageError, match=r"the agent imports 'controller'"):
        build_agent_package("agentx.cli:main")


def _runtime_annotations(tree: ast.Module):
    """Annotations Python evaluates at run time without `from __future__ import annotations`:
    every function signature, and variable annotations at module and class level."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            args += [a for a in (node.args.vararg, node.args.kwarg) if a is not None]
            yield from (a.annotation for a in args if a.annotation is not None)
            if node.returns is not None:
                yield node.returns

    def scope(body):
        for node in body:
            if isinstance(node, ast.AnnAssign):
                yield node.annotation
            elif isinstance(node, ast.ClassDef):
                yield from scope(node.body)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for part in (getattr(node, f, []) for f in ("body", "orelse", "finalbody")):
                    yield from scope(part)

    yield from scope(tree.body)


def _newer_than_38(annotation: ast.expr) -> bool:
    for n in ast.walk(annotation):
        if (
            isinstance(n, ast.Subscript)
            and isinstance(n.value, ast.Name)
            and n.value.id in ("list", "dict", "tuple", "set", "frozenset", "type")
        ):
            return True  # PEP 585 generics: Python 3.9
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr):
            return True  # PEP 604 unions: Python 3.10
    return False


def test_shipped_code_runs_on_the_oldest_board_python(package):
    # Boards need only Python >= 3.8 (board.MIN_PYTHON): every shipped file must parse
    # with 3.8's grammar, and annotations evaluated at import must be 3.8's.

    from controller.ssh.board import MIN_PYTHON

    assert MIN_PYTHON == (3, 8)
    archive = zipfile.ZipFile(BytesIO(package.data[package.data.index(b"PK") :]))
    problems = []
    for name in archive.namelist():
        source = archive.read(name).decode()
        tree = ast.parse(source, name, feature_version=MIN_PYTHON)
        lazy = any(
            isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
            for n in tree.body
        )
        if not lazy:
            problems += [f"{name}:{a.lineno}" for a in _runtime_annotations(tree) if _newer_than_38(a)]
    assert problems == []


def _lar_lite_imports(path: Path, root: Path = REPO) -> List[str]:
    """Imports of agent.lar_lite in one agent module, static or through importlib/__import__."""
    source = path.read_text(encoding="utf-8")
    rel = path.relative_to(root).with_suffix("")
    module = ".".join(rel.parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    hard, soft = scan_imports(source, str(path), package.removesuffix(".__init__"))
    names = [n for n in hard | soft if n == "agent.lar_lite" or n.startswith("agent.lar_lite.")]
    for node in ast.walk(ast.parse(source, str(path))):
        if (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and node.args[0].value.startswith("agent.lar_lite")
            and ast.unparse(node.func) in ("importlib.import_module", "import_module", "__import__")
        ):
            names.append(node.args[0].value)
    return sorted(f"{rel}.py: {n}" for n in names)


def test_agent_never_imports_lar_lite():
    # lar-lite is a separate program (numpy + MegEngine Lite, Python 3.10) that the agent runs
    # as a subprocess; the agent itself (Python 3.8 on boards) must work without it.
    agent_files = [p for p in (REPO / "agent").rglob("*.py") if "lar_lite" not in p.relative_to(REPO).parts]
    assert len(agent_files) > 10
    assert [hit for p in agent_files for hit in _lar_lite_imports(p)] == []


def test_the_import_check_sees_every_spelling(tmp_path):
    probe = tmp_path / "agent" / "probe.py"
    probe.parent.mkdir()
    for line in (
        "import agent.lar_lite.cli",
        "from agent import lar_lite",
        "from .lar_lite import engine",
        "def f():\n    from agent.lar_lite.run import run",
        "import importlib\nimportlib.import_module('agent.lar_lite.engine')",
    ):
        probe.write_text(line + "\n")
        assert _lar_lite_imports(probe, tmp_path), line
    probe.write_text("import agent.runners\nRUN = ['python', '-m', 'agent.lar_lite.cli']  # run, not imported\n")
    assert _lar_lite_imports(probe, tmp_path) == []


def test_zipapp_never_holds_lar_lite(package):
    names = zipfile.ZipFile(BytesIO(package.data[package.data.index(b"PK") :])).namelist()
    assert "agent/cli.py" in names
    assert [n for n in names if "lar_lite" in n] == []


def test_building_an_agent_that_imports_lar_lite_is_refused(tmp_path, monkeypatch):
    pkg = tmp_path / "agentx"
    (pkg / "lar_lite").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "lar_lite" / "__init__.py").write_text("")
    (pkg / "cli.py").write_text("def main():\n    from agentx.lar_lite import engine\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("controller.ssh.package.OWN_PACKAGES", ("agentx", "larfarm"))
    monkeypatch.setattr("controller.ssh.package.SEPARATE_PROGRAMS", ("agentx.lar_lite",))
    with pytest.raises(PackageError, match=r"imports 'agentx.lar_lite.*separate program the agent runs"):
        build_agent_package("agentx.cli:main")
