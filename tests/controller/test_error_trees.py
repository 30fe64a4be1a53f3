"""Each program's exceptions form one tree: every class defined in it derives from the program's root, each by a
single line of exception bases (no diamonds), so one table row per class decides how it looks to the user."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Set, Tuple

import pytest

from agent.errors import AgentError
from agent.lar_lite.errors import LarLiteError
from controller.errors import ControllerError


def exception_classes(package: str, skip: Tuple[str, ...] = ()) -> Set[type]:
    """Every exception class defined in a module of `package` (modules named __main__ run on import: skipped)."""
    found: Set[type] = set()
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        if info.name.endswith("__main__") or info.name.startswith(skip):
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                found.add(obj)
    return found


@pytest.mark.parametrize(
    "package, root, skip",
    [
        ("controller", ControllerError, ()),
        ("agent", AgentError, ("agent.lar_lite",)),
        ("agent.lar_lite", LarLiteError, ()),
    ],
)
def test_one_tree_per_program(package: str, root: type, skip: Tuple[str, ...]) -> None:
    classes = exception_classes(package, skip)
    assert root in classes and len(classes) > 3
    outside = sorted(c.__qualname__ for c in classes if not issubclass(c, root))
    assert not outside, f"not under {root.__name__}: {outside}"
    for cls in classes:
        for klass in cls.__mro__[: cls.__mro__.index(root)]:
            bases = [b for b in klass.__bases__ if issubclass(b, BaseException)]
            assert len(bases) == 1, f"{klass.__qualname__} has exception bases {bases}: a diamond"
