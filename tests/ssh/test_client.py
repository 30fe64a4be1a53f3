"""Logging in to a real sshd: keys, host-key policy, jump host, unreachable hosts."""

from __future__ import annotations

import socket

import pytest

from controller.ssh.client import ssh_login
from controller.ssh.config import SshTarget
from controller.ssh.errors import AuthFailed, HostKeyMismatch, HostKeyUnknown, HostUnreachable
from tests.support.sshd import free_port, keygen


def test_login_runs_a_command(sshd):
    with ssh_login("board1", SshTarget(**sshd.target())) as session:
        rc, out, err = session.run("echo hello; echo oops >&2; exit 3")
    assert (rc, out, err) == (3, "hello\n", "oops\n")


def test_stdin_reaches_the_command(sshd):
    with ssh_login("board1", SshTarget(**sshd.target())) as session:
        rc, out, _ = session.run("wc -c", stdin=b"x" * 100_000)
    assert rc == 0 and out.strip() == "100000"


def test_command_that_outlives_its_timeout(sshd):
    from controller.ssh.errors import RemoteCommandFailed

    with ssh_login("board1", SshTarget(**sshd.target())) as session:
        with pytest.raises(RemoteCommandFailed, match=r"command did not finish within 0.5s: sleep 30"):
            session.run("sleep 30", timeout=0.5)
        assert session.run("echo still-usable")[1] == "still-usable\n"


def test_wrong_key_is_one_clear_line(sshd, tmp_path):
    other = keygen(tmp_path / "other_key")
    with pytest.raises(AuthFailed) as exc:
        ssh_login("board1", SshTarget(**sshd.target(key_file=str(other))))
    msg = str(exc.value)
    assert msg.startswith(f"board1 (127.0.0.1:{sshd.port}): sshd refused login as root with key {other}")
    assert "\n" not in msg


def test_missing_key_file(sshd, tmp_path):
    with pytest.raises(AuthFailed, match="key_file .*nope does not exist"):
        ssh_login("board1", SshTarget(**sshd.target(key_file=str(tmp_path / "nope"))))


def test_unknown_host_key_strict_says_how_to_accept(sshd, tmp_path):
    empty = tmp_path / "kh"
    with pytest.raises(HostKeyUnknown) as exc:
        ssh_login("board1", SshTarget(**sshd.target(known_hosts=str(empty))))
    msg = str(exc.value)
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {empty}" in msg
    assert "host_key_policy: accept-new" in msg
    assert "SHA256:" in msg
    assert not empty.exists()  # strict never writes known_hosts


def test_accept_new_records_the_key_then_strict_works(sshd, tmp_path):
    kh = tmp_path / "sub" / "known_hosts"
    with ssh_login("board1", SshTarget(**sshd.target(known_hosts=str(kh), host_key_policy="accept-new"))):
        pass
    assert kh.read_text() == sshd.host_key_line()
    with ssh_login("board1", SshTarget(**sshd.target(known_hosts=str(kh)))) as session:
        assert session.run("true")[0] == 0


def test_changed_host_key_is_refused_even_with_accept_new(sshd, tmp_path):
    keygen(tmp_path / "fake_host")
    kind, b64 = (tmp_path / "fake_host.pub").read_text().split()[:2]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd.port} {kind} {b64}\n")
    for policy in ("strict", "accept-new"):
        with pytest.raises(HostKeyMismatch) as exc:
            ssh_login("board1", SshTarget(**sshd.target(known_hosts=str(kh), host_key_policy=policy)))
        msg = str(exc.value)
        assert "host key CHANGED" in msg
        assert f"ssh-keygen -R '[127.0.0.1]:{sshd.port}' -f {kh}" in msg
    assert kh.read_text() == f"[127.0.0.1]:{sshd.port} {kind} {b64}\n"  # untouched


def test_closed_port_is_unreachable():
    with socket.socket() as held:  # bound, never listening: refused, and nobody else can take the port
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        with pytest.raises(HostUnreachable) as exc:
            ssh_login("board9", SshTarget(host="127.0.0.1", port=port, connect_timeout=3))
    assert str(exc.value).startswith(f"board9 (127.0.0.1:{port}): cannot connect to sshd: Connection refused")


def test_not_an_ssh_server_is_unreachable():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        with pytest.raises(HostUnreachable, match="SSH handshake failed|did not answer"):
            ssh_login("board9", SshTarget(host="127.0.0.1", port=port, connect_timeout=1))


def test_unknown_host_name():
    with pytest.raises(HostUnreachable, match="unknown host name 'no-such-board.invalid'"):
        ssh_login("board9", SshTarget(host="no-such-board.invalid", connect_timeout=3))


def test_jump_host(sshd):
    # The same sshd serves as bastion and board: the board is reached through a
    # direct-tcpip channel opened on the jump host.
    target = SshTarget(**sshd.target(jump={"host": "127.0.0.1", "port": sshd.port}))
    with ssh_login("board1", target) as session:
        rc, out, _ = session.run("echo via-jump")
    assert (rc, out) == (0, "via-jump\n")


def test_jump_host_cannot_reach_board(sshd):
    dead = free_port()
    target = SshTarget(**sshd.target(port=dead, jump={"host": "127.0.0.1", "port": sshd.port}))
    with pytest.raises(HostUnreachable, match=f"jump host 127.0.0.1:{sshd.port} cannot reach the board"):
        ssh_login("board1", target)


def test_accept_new_keeps_other_entries_of_known_hosts(sshd, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl")
    with ssh_login("board1", SshTarget(**sshd.target(known_hosts=str(kh), host_key_policy="accept-new"))):
        pass
    lines = kh.read_text().splitlines()
    assert lines[0].startswith("other.example ") and lines[1] + "\n" == sshd.host_key_line()


def test_login_with_the_users_ssh_agent(sshd, tmp_path, monkeypatch):
    import shutil
    import subprocess
    import time

    if shutil.which("ssh-agent") is None:  # part of openssh-client, which openssh-server needs
        pytest.fail("ssh-agent missing although sshd is installed")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        env = {"SSH_AUTH_SOCK": str(sock), "PATH": "/usr/bin:/bin"}
        subprocess.run(["ssh-add", "-q", str(sshd.user_key)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("HOME", str(tmp_path))  # no default keys in ~/.ssh: only the agent can log in
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        target = SshTarget(**sshd.target(key_file=None))
        with ssh_login("board1", target) as session:
            assert session.run("echo via-agent")[1] == "via-agent\n"
        monkeypatch.delenv("SSH_AUTH_SOCK")
        with pytest.raises(AuthFailed, match=r"no key to log in as root: no key_file, no ssh-agent \(SSH_AUTH_SOCK\)"):
            ssh_login("board1", target)
    finally:
        agent.terminate()
        agent.wait(5)
