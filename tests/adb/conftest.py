"""Fixtures for the phone tests: the real adb client on a private server, and stand-in phones."""

from tests.support.adb_phone import adb, phones  # noqa: F401  (fixtures, used by name)
from tests.support.sshd import board_python  # noqa: F401  (Termux's Python stands in as a board's)
