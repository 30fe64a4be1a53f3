"""Shared test fixtures: the bundled MegEngine 1.13 files and the Lite runtime."""

from pathlib import Path

import pytest

pytest_plugins = ["tests.support.lite"]

FIXTURES = Path(__file__).parent / "fixtures"
MEGENGINE = FIXTURES / "megengine"


@pytest.fixture(scope="session")
def megengine_fixtures() -> Path:
    """Root of the real MegEngine 1.13.0 files (models, inputs, runs, diffs)."""
    return MEGENGINE
