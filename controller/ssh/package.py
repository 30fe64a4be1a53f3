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
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from controller.errors import ControllerError

log = logging.getLogger(__name__)

# Our packages that go in whole when the agent imports them.
OWN_PACKAGES = ("agent", "larfarm", "analysis")
# Never shipped: the agent must not need them (the DESIGN's import rules).
FORBIDDEN = frozenset({"controller", "typer", "rich", "pydantic", "paramiko"})
# Separate programs kept under agent/ that the agent runs as a subprocess and never imports:
# lar-lite needs numpy and the MegEngine Lite runtime (Python 3.10, x86-64), which boards lack.
SEPARATE_PROGRAMS = ("agent.lar_lite",)
# Pure-Python wheels of the gRPC project: copied into the zipapp, so the board
# needs only grpcio and protobuf.
PURE_PYTHON = ("grpc_health", "grpc_reflection")
# Third-party modules the board must provide (C extensions cannot live in a zipapp),
# with the pip line that provides them.
BOARD_PIP = {
    "grpc": "grpcio",
    "google": "protobuf",
    "google.protobuf": "protobuf",
    "yaml": "pyyaml",
    "numpy": "numpy",
    "megenginelite": "megenginelite",
    "megengine": "megengine",
}
ENTRY = "agent.cli:main"
SHEBANG = b"#!/usr/bin/env python3\n"
_EPOCH = (1980, 1, 1, 0, 0, 0)


class PackageError(ControllerError):
    """The agent cannot be packaged for boards (missing package, forbidden import)."""


@dataclass(frozen=True)
class AgentPackage:
    """A built zipapp: its bytes, digest and what the board must provide."""

    data: bytes
    sha256: str
    files: Tuple[str, ...]
    board_modules: Tuple[str, ...]  # unconditional imports the board's Python must have
    optional_modules: Tuple[str, ...]  # imported lazily or under try/except ImportError
    # The generated stubs refuse older runtimes: module -> lowest version that works.
    min_versions: Tuple[Tuple[str, Tuple[int, ...]], ...] = ()

    def pip_hint(self, missing: Iterable[str]) -> str:
        names = sorted({BOARD_PIP.get(m, BOARD_PIP.get(m.split(".")[0], m.split(".")[0])) for m in missing})
        return "pip install " + " ".join(names)


def _roots(top: str) -> List[Path]:
    """Folders that hold package `top` (several for a namespace package)."""
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p).parent for p in spec.submodule_search_locations]


def _module_file(mod: str) -> Optional[Tuple[str, Path, bool]]:
    """(arcname, file, is_package) of module `mod` of one of our packages, or None."""
    parts = mod.split(".")
    for root in _roots(parts[0]):
        base = root.joinpath(*parts)
        if base.with_suffix(".py").is_file():
            return "/".join(parts) + ".py", base.with_suffix(".py"), False
        if (base / "__init__.py").is_file():
            return "/".join(parts) + "/__init__.py", base / "__init__.py", True
        if base.is_dir():  # namespace package: nothing to ship for the folder itself
            return "", base, True
    return None


def _package_files(top: str) -> Dict[str, Path]:
    """arcname -> file for every .py of package `top` (shipped whole)."""
    files: Dict[str, Path] = {}
    for root in _roots(top):
        for path in sorted((root / top).rglob("*.py")):
            if "__pycache__" not in path.parts:
                files[path.relative_to(root).as_posix()] = path
    return files


def _guarded(handlers: List[ast.ExceptHandler]) -> bool:
    for h in handlers:
        names = [h.type] if not isinstance(h.type, ast.Tuple) else list(h.type.elts)
        if h.type is None or any(
            isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError", "Exception") for n in names
        ):
            return True
    return False


def scan_imports(source: str, filename: str = "<agent>", package: str = "") -> Tuple[Set[str], Set[str]]:
    """(unconditional, optional) absolute module names imported by one module.

    Unconditional: at module level (also in if/with blocks) outside a try that
    catches ImportError; everything else (function bodies, guarded) is optional.
    `package` resolves relative imports. `from m import n` yields m and m.n
    (n may be a submodule).
    """
    tree = ast.parse(source, filename)
    hard: Set[str] = set()
    soft: Set[str] = set()

    def visit(node: ast.AST, optional: bool) -> None:
        child: ast.AST
        if isinstance(node, ast.Import):
            for alias in node.names:
                (soft if optional else hard).add(alias.name)
            return
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: max(len(package.split(".")) - node.level + 1, 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module:
                bucket = soft if optional else hard
                bucket.add(module)
                bucket.update(f"{module}.{a.name}" for a in node.names if a.name != "*")
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
    """Collect the entry module, every module of ours it imports (also lazily),
    and the pure-Python gRPC add-ons into a deterministic zipapp."""
    stdlib = _stdlib()
    files: Dict[str, Path] = {}
    hard: Set[str] = set()
    soft: Set[str] = set()
    module, _, func = entry.partition(":")
    todo = [module]
    seen: Set[str] = set()
    shipped_whole: Set[str] = set()
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        found = _module_file(mod)
        if found is None:
            if mod == module:
                raise PackageError(f"the agent's entry module {mod!r} is missing; install the project (make venv)")
            continue  # `from pkg import name` where name is not a module
        arc, path, is_pkg = found
        parent = mod.rpartition(".")[0]
        if parent:
            todo.append(parent)  # a package's __init__ runs before its modules
        if not arc:
            continue
        files[arc] = path
        h, s = scan_imports(path.read_text(encoding="utf-8"), str(path), mod if is_pkg else parent)
        for name in sorted(h | s):
            top = name.split(".")[0]
            if top in stdlib:
                continue
            if top == "controller" or (top in FORBIDDEN and name in h):
                raise PackageError(f"{path}: the agent imports {name!r}; boards do not get {top}")
            program = next((p for p in SEPARATE_PROGRAMS if name == p or name.startswith(p + ".")), None)
            if program is not None:
                raise PackageError(
                    f"{path}: the agent imports {name!r}; {program} is a separate program the agent runs, "
                    "never imports, and it is not shipped to boards"
                )
            if top in OWN_PACKAGES:
                todo.append(name)
            elif top in PURE_PYTHON:
                if top not in shipped_whole and (importlib.util.find_spec(top) is not None or name in h):
                    shipped_whole.add(top)
                    pkg_files = _package_files(top)
                    if not pkg_files:
                        raise PackageError(f"{path}: the agent imports {name!r}, which is not installed here")
                    files.update(pkg_files)
                    for arc2, path2 in pkg_files.items():
                        h2, s2 = scan_imports(
                            path2.read_text(encoding="utf-8"), str(path2), arc2.rpartition("/")[0].replace("/", ".")
                        )
                        hard.update(m for m in h2 if m.split(".")[0] not in stdlib | {top})
                        soft.update(m for m in s2 if m.split(".")[0] not in stdlib | {top})
            elif name in h:
                hard.add(name)
            else:
                soft.add(name)
    shipped = {arc.split("/")[0] for arc in files}
    board = sorted({_board_name(m) for m in hard if m.split(".")[0] not in shipped})
    optional = sorted({_board_name(m) for m in soft if m.split(".")[0] not in shipped} - set(board))
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
    return AgentPackage(
        data,
        hashlib.sha256(data).hexdigest(),
        tuple(sorted(files)),
        tuple(board),
        tuple(optional),
        _min_versions(files),
    )


_PB_GENCODE = re.compile(r"ValidateProtobufRuntimeVersion\(\s*[\w.]+,\s*(\d+),\s*(\d+),\s*(\d+),")
_GRPC_GENCODE = re.compile(r"^GRPC_GENERATED_VERSION\s*=\s*['\"](\d+)\.(\d+)\.(\d+)['\"]", re.M)


def _min_versions(files: Dict[str, Path]) -> Tuple[Tuple[str, Tuple[int, ...]], ...]:
    """The protobuf and grpcio versions the shipped stubs were generated for."""
    need: Dict[str, Tuple[int, ...]] = {}
    for arc, path in files.items():
        if not arc.endswith(("_pb2.py", "_pb2_grpc.py")):
            continue
        text = path.read_text(encoding="utf-8")
        for mod, rx in (("google.protobuf", _PB_GENCODE), ("grpc", _GRPC_GENCODE)):
            m = rx.search(text)
            if m:
                version = tuple(int(x) for x in m.groups())
                need[mod] = max(need.get(mod, version), version)
    return tuple(sorted(need.items()))


def parse_version(text: str) -> Tuple[int, ...]:
    """'5.29.3' -> (5, 29, 3); stops at the first non-numeric part ('1.60.0rc1' -> (1, 60))."""
    out = []
    for part in text.split("."):
        if not part.isdigit():
            break
        out.append(int(part))
    return tuple(out)


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
