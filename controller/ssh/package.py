"""Build the agent zipapp pushed to boards: the agent, the `larfarm` protocol
package and the pure-Python gRPC add-ons it imports; never the controller.

What goes in is decided by reading the agent's imports (ast), so a new import
in the agent is either shipped, probed on the board, or refused here.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import io
import logging
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Set, Tuple

log = logging.getLogger(__name__)

# Our packages that go in whole when the agent imports them.
OWN_PACKAGES = ("agent", "larfarm", "analysis")
# Never shipped: the agent must not need them (the DESIGN's import rules).
FORBIDDEN = frozenset({"controller", "typer", "rich", "pydantic", "paramiko"})
# Pure-Python wheels of the gRPC project: copied into the zipapp, so the board
# needs only grpcio and protobuf.
PURE_PYTHON = ("grpc_health", "grpc_reflection")
# Third-party modules the board must provide (C extensions cannot live in a zipapp),
# with the pip line that provides them.
BOARD_PIP = {"grpc": "grpcio", "google": "protobuf", "google.protobuf": "protobuf", "yaml": "pyyaml",
             "numpy": "numpy", "megenginelite": "megenginelite", "megengine": "megengine"}
ENTRY = "agent.cli:main"
SHEBANG = b"#!/usr/bin/env python3\n"
_EPOCH = (1980, 1, 1, 0, 0, 0)


class PackageError(Exception):
    """The agent cannot be packaged for boards (missing package, forbidden import)."""


@dataclass(frozen=True)
class AgentPackage:
    """A built zipapp: its bytes, digest and what the board must provide."""

    data: bytes
    sha256: str
    files: Tuple[str, ...]
    board_modules: Tuple[str, ...]  # unconditional imports the board's Python must have
    optional_modules: Tuple[str, ...]  # imported lazily or under try/except ImportError

    def pip_hint(self, missing: Iterable[str]) -> str:
        names = sorted({BOARD_PIP.get(m, BOARD_PIP.get(m.split(".")[0], m.split(".")[0])) for m in missing})
        return "pip install " + " ".join(names)


def _package_dir(name: str) -> List[Path]:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise PackageError(f"package {name!r} is not importable here; install the project (make venv)")
    return [Path(p) for p in spec.submodule_search_locations]


def _py_files(name: str) -> Dict[str, Path]:
    """arcname -> file for every .py of package `name` (namespace packages too)."""
    files: Dict[str, Path] = {}
    for root in _package_dir(name):
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            rel = path.relative_to(root)
            files[f"{name.replace('.', '/')}/{rel.as_posix()}"] = path
    return files


def _guarded(handlers: List[ast.ExceptHandler]) -> bool:
    for h in handlers:
        names = [h.type] if not isinstance(h.type, ast.Tuple) else list(h.type.elts)
        if h.type is None or any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError", "Exception") for n in names):
            return True
    return False


def scan_imports(source: str, filename: str = "<agent>") -> Tuple[Set[str], Set[str]]:
    """(unconditional, optional) absolute module names imported by one module.

    Unconditional: at module level (also in if/with blocks) outside a try that
    catches ImportError; everything else (function bodies, guarded) is optional.
    """
    tree = ast.parse(source, filename)
    hard: Set[str] = set()
    soft: Set[str] = set()

    def visit(node: ast.AST, optional: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                (soft if optional else hard).add(alias.name)
            return
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                (soft if optional else hard).add(node.module)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            optional = True
        if isinstance(node, ast.Try):
            guarded = optional or _guarded(node.handlers)
            for child in node.body:
                visit(child, guarded)
            for child in node.handlers + node.orelse + node.finalbody:
                visit(child, optional)
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            return  # typing-only imports never run
        for child in ast.iter_child_nodes(node):
            visit(child, optional)

    visit(tree, False)
    return hard, soft


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _stdlib() -> FrozenSet[str]:
    return frozenset(sys.stdlib_module_names) | {"__future__"}


def build_agent_package(entry: str = ENTRY) -> AgentPackage:
    """Collect the agent and what it imports into a deterministic zipapp."""
    stdlib = _stdlib()
    files: Dict[str, Path] = {}
    hard: Set[str] = set()
    soft: Set[str] = set()
    todo = ["agent"]
    done: Set[str] = set()
    while todo:
        pkg = todo.pop()
        if pkg in done:
            continue
        done.add(pkg)
        pkg_files = _py_files(pkg)
        files.update(pkg_files)
        for arc, path in pkg_files.items():
            h, s = scan_imports(path.read_text(encoding="utf-8"), str(path))
            for mod in h | s:
                top = mod.split(".")[0]
                if top in FORBIDDEN and mod in h:
                    raise PackageError(f"{path}: the agent imports {mod!r} at module level; boards do not get {top}")
                if (top in OWN_PACKAGES or top in PURE_PYTHON) and top not in done:
                    if importlib.util.find_spec(top) is not None or mod in h:
                        todo.append(top)
            hard |= {m for m in h if m.split(".")[0] not in stdlib}
            soft |= {m for m in s if m.split(".")[0] not in stdlib}
    shipped = {arc.split("/")[0] for arc in files}
    board = sorted({_board_name(m) for m in hard if m.split(".")[0] not in shipped})
    optional = sorted({_board_name(m) for m in soft if m.split(".")[0] not in shipped} - set(board))
    for mod in board:
        if mod.split(".")[0] in FORBIDDEN:
            raise PackageError(f"the agent imports {mod!r}; boards do not get it")
    module, _, func = entry.partition(":")
    main = (
        "# larfarm agent zipapp entry point (generated by controller.ssh.package)\n"
        "import sys\n"
        f"from {module} import {func}\n"
        f"sys.exit({func}())\n"
    )
    buf = io.BytesIO()
    buf.write(SHEBANG)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        _add(zf, "__main__.py", main.encode())
        for arc in sorted(files):
            _add(zf, arc, files[arc].read_bytes())
    data = buf.getvalue()
    log.debug("agent zipapp: %d files, %d bytes, board needs %s", len(files), len(data), board)
    return AgentPackage(data, hashlib.sha256(data).hexdigest(), tuple(sorted(files)), tuple(board), tuple(optional))


def _board_name(mod: str) -> str:
    # google.* stands for protobuf; probe the package that provides it.
    if mod.startswith("google."):
        return "google.protobuf"
    return mod.split(".")[0]


def _add(zf: zipfile.ZipFile, arc: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arc, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)
