"""Headless Chromium for the report tests and bench: Debian's /usr/bin/chromium driven by playwright.

No browser is downloaded: playwright only speaks CDP to the system Chromium,
started with a fresh profile and no background network.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional

CHROMIUM = os.environ.get("LARFARM_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing() -> Optional[str]:
    """Why a browser test cannot run here, or None."""
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


def require() -> None:
    """Skip the calling test when no browser can run here; fail instead under CI, which must have one."""
    why = missing()
    if why:
        import pytest

        if os.environ.get("CI"):
            pytest.fail(f"{why}: required in CI")
        pytest.skip(why)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A playwright BrowserContext on the system Chromium with a throwaway profile."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="larfarm-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=FLAGS,
                viewport={"width": 1400, "height": 900},
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def colour(kind: str, err: float, tol: float) -> str:
    """analysis/html/model.js's colour(): the fill a var node of this error must have."""
    import math

    if kind == "exact" or err == 0:
        return "rgb(233,236,239)"
    if not math.isfinite(err):
        return "rgb(123,31,162)"
    r = math.log10(err / max(tol, 1e-30))

    def mix(a, b, t):
        return "rgb(" + ",".join(str(_round(x + (y - x) * t)) for x, y in zip(a, b, strict=True)) + ")"

    if kind == "below":
        return mix([222, 235, 247], [66, 146, 198], min(1.0, max(0.0, (r + 6) / 6)))
    t = min(1.0, max(0.0, r / 4))
    if t < 0.5:
        return mix([254, 217, 118], [240, 59, 32], t * 2)
    return mix([240, 59, 32], [128, 0, 38], t * 2 - 1)


def _round(x: float) -> int:
    """JavaScript's Math.round (halves go up), not Python's banker's rounding."""
    import math

    return int(math.floor(x + 0.5))
