"""Fixtures of the SSH tests: a real sshd on loopback (tests.support.sshd)."""

from tests.support.sshd import sshd  # noqa: F401  (a fixture)
