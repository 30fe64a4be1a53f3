"""Fixtures of the SSH tests: a real sshd on loopback and a bare "board" Python."""

from tests.support.sshd import board_python, sshd  # noqa: F401  (fixtures)
