"""pytest plugin: locate the MegEngine Lite runtime and the lar-lite program.

Session fixtures:

* ``lite_runtime``: the runtime folder, set up if needed (a no-op once in
  place); skips with the reason when it cannot be had, except in CI
  (``CI`` set), where that is a failure.
* ``lar_lite_argv``: the command prefix that runs lar-lite, for example
  ``[<venv>/bin/lar-lite]``; append the model and load_and_run flags.

Helper: :func:`run_lar_lite` runs it in a subprocess with a chosen
``MGB_USE_MEGDNN_DBG`` (the variable is removed when not given, so the
developer's shell does not leak into a test).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List, Mapping, Optional, Sequence

import pytest

from agent.lar_lite import runtime
from agent.lar_lite.errors import LarLiteError


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set to something truthy."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def lite_runtime() -> Path:
    """The MegEngine Lite runtime folder (``make lite-runtime`` puts it there)."""
    try:
        return runtime.ensure()
    except LarLiteError as exc:
        if in_ci():
            pytest.fail(f"MegEngine Lite runtime unavailable in CI: {exc}")
        pytest.skip(f"MegEngine Lite runtime unavailable: {exc}")


def lar_lite_command() -> List[str]:
    """The installed ``lar-lite`` beside this Python, else ``python -m agent.lar_lite.cli``."""
    exe = Path(sys.executable).parent / "lar-lite"
    if exe.is_file() and os.access(exe, os.X_OK):
        return [str(exe)]
    return [sys.executable, "-m", "agent.lar_lite.cli"]


@pytest.fixture(scope="session")
def lar_lite_argv(lite_runtime: Path) -> List[str]:
    """Command prefix that runs lar-lite (the runtime is known to be in place)."""
    return lar_lite_command()


def run_lar_lite(
    argv: Sequence[str],
    args: Sequence[str],
    *,
    megdnn_dbg: Optional[int] = None,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[Path] = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """Run ``argv + args`` and capture stdout/stderr as text; never raises on a bad exit."""
    full_env = dict(os.environ)
    full_env.pop("MGB_USE_MEGDNN_DBG", None)
    if megdnn_dbg is not None:
        full_env["MGB_USE_MEGDNN_DBG"] = str(megdnn_dbg)
    if env:
        full_env.update(env)
    return subprocess.run(
        [*argv, *[str(a) for a in args]],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=str(cwd) if cwd else None,
        timeout=timeout,
    )
