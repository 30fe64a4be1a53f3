"""Helpers for the lar-lite tests: run a fixture model, check one-line errors."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Callable, List, Optional

import pytest

from tests.support.lite import run_lar_lite


@pytest.fixture
def run_model(lar_lite_argv: List[str], megengine_fixtures: Path) -> Callable[..., subprocess.CompletedProcess]:
    """``run_model("mlp", *flags, dbg=2)``: lar-lite on a fixture model with its fixture input."""

    def run(
        model: str,
        *flags: object,
        dbg: Optional[int] = None,
        with_input: bool = True,
        cwd: Optional[Path] = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess:
        args: List[object] = [megengine_fixtures / "models" / f"{model}.mge"]
        if with_input:
            args += ["--input", f"data:{megengine_fixtures / 'inputs' / f'{model}__data.npy'}"]
        return run_lar_lite(lar_lite_argv, [*args, *flags], megdnn_dbg=dbg, cwd=cwd, timeout=timeout)

    return run


def assert_one_error(proc: subprocess.CompletedProcess, pattern: str, code: Optional[int] = None) -> str:
    """Non-zero exit, no traceback, exactly one ``lar-lite: error:`` line, last, matching ``pattern``.

    MegEngine's own log lines (``LITE[ERR] ...``) may come before it, as they
    would from load_and_run.
    """
    assert proc.returncode != 0, proc.stdout
    if code is not None:
        assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    errors = [line for line in lines if line.startswith("lar-lite: error: ")]
    assert len(errors) == 1, proc.stderr
    assert lines[-1] == errors[0], proc.stderr
    # Anything else on stderr is MegEngine's own log ("LITE[ERR] ...", "[date ...][WARN] ...").
    others = [line for line in lines[:-1] if not line.startswith(("LITE[", "["))]
    assert others == [], proc.stderr
    assert re.search(pattern, errors[0]), errors[0]
    return errors[0]
