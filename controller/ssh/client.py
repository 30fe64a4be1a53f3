"""Open an SSH session to a board with paramiko: keys, known_hosts policy, jump host.

Every failure becomes one SshError line that names the board and says how to fix it.
"""

from __future__ import annotations

import getpass
import logging
import os
import shlex
import socket
import threading
import time
from pathlib import Path
from typing import Optional, Tuple, Union

import paramiko

from controller.ssh.config import JumpHost, SshTarget
from controller.ssh.errors import (
    AuthFailed,
    HostKeyMismatch,
    HostKeyUnknown,
    HostUnreachable,
    RemoteCommandFailed,
    SshError,
)

log = logging.getLogger(__name__)

# A dead link (cable pulled, namespace link down) must fail calls within seconds
# (SshTarget.link_timeout), not after TCP's ~15 minutes of retransmissions: SSH
# keepalives keep data in flight, and TCP_USER_TIMEOUT drops the connection when
# it stays unacknowledged.
KEEPALIVES_PER_TIMEOUT = 3


# paramiko's transport logs are routed here (SSHClient.set_log_channel). It logs
# expected link failures at ERROR ("Socket exception: No route to host") while we
# report them ourselves as one SshError line; its chatter shows only when this
# logger is enabled for DEBUG (e.g. --debug).
WIRE_LOG = "controller.ssh.wire"


class _WireFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(WIRE_LOG).isEnabledFor(logging.DEBUG)


_wire_filter = _WireFilter()


def _quiet_wire() -> None:
    for name in (WIRE_LOG, WIRE_LOG + ".sftp"):
        logger = logging.getLogger(name)
        if _wire_filter not in logger.filters:
            logger.addFilter(_wire_filter)


def known_hosts_name(host: str, port: int) -> str:
    """The name OpenSSH and paramiko file a host key under."""
    return host if port == 22 else f"[{host}]:{port}"


def _resolve(path: Optional[str], base_dir: Optional[Path]) -> Optional[Path]:
    if path is None:
        return None
    p = Path(os.path.expanduser(path))
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    return p


def known_hosts_path(target: SshTarget, base_dir: Optional[Path] = None) -> Path:
    """The known_hosts file this target's host keys are checked against."""
    return _resolve(target.known_hosts, base_dir) or Path(os.path.expanduser("~/.ssh/known_hosts"))


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """strict: refuse unknown keys, saying how to accept them; accept-new: record
    the key in known_hosts on first contact (as OpenSSH's StrictHostKeyChecking=accept-new).
    A changed key is refused by paramiko itself in both cases (BadHostKeyException)."""

    _lock = threading.Lock()

    def __init__(self, device: str, where: str, policy: str, path: Path) -> None:
        self.device, self.where, self.policy, self.path = device, where, policy, path

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if self.policy == "accept-new":
            with self._lock:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                with open(self.path, "ab+") as f:
                    # a file whose last line lacks its newline must not swallow ours
                    end = f.seek(0, os.SEEK_END)
                    lead = b""
                    if end > 0:
                        f.seek(end - 1)
                        lead = b"" if f.read(1) == b"\n" else b"\n"
                    f.write(lead + f"{hostname} {key.get_name()} {key.get_base64()}\n".encode("ascii"))
            client.get_host_keys().add(hostname, key.get_name(), key)
            log.info("%s: recorded new host key %s %s in %s", self.device, key.get_name(), key.fingerprint, self.path)
            return
        host, _, port = hostname.rpartition("]:") if hostname.startswith("[") else (hostname, "", "22")
        host = host.lstrip("[")
        scan = f"ssh-keyscan -p {port} {shlex.quote(host)} >> {shlex.quote(str(self.path))}"
        raise HostKeyUnknown(
            self.device,
            self.where,
            f"host key {key.get_name()} {key.fingerprint} is not in {self.path}; "
            f"check the fingerprint, then accept it with `{scan}` or set `host_key_policy: accept-new` under ssh:",
        )


def _tcp_socket(device: str, where: str, host: str, port: int, timeout: float, link_timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise HostUnreachable(device, where, f"unknown host name {host!r} ({exc.strerror})") from None
    except TimeoutError:
        raise HostUnreachable(
            device, where, f"no answer from sshd within {timeout:g}s (host down or port filtered?)"
        ) from None
    except OSError as exc:
        raise HostUnreachable(device, where, f"cannot connect to sshd: {exc.strerror or exc}") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(link_timeout * 1000))
    return sock


def _login(
    device: str,
    where: str,
    host: str,
    port: int,
    user: Optional[str],
    key_file: Optional[Path],
    sock: Union[socket.socket, paramiko.Channel],
    policy: _HostKeyPolicy,
    timeout: float,
    link_timeout: float,
) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    _quiet_wire()
    client.set_log_channel(WIRE_LOG)
    if policy.path.exists():
        if not policy.path.is_file():  # a FIFO or a device would block paramiko's read for ever
            sock.close()
            raise SshError(device, where, f"cannot read known_hosts {policy.path}: not a regular file")
        try:
            client.load_host_keys(str(policy.path))
        except (OSError, paramiko.SSHException) as exc:
            sock.close()
            raise SshError(device, where, f"cannot read known_hosts {policy.path}: {exc}") from None
    client.set_missing_host_key_policy(policy)
    if key_file is not None and not key_file.is_file():
        sock.close()
        raise AuthFailed(device, where, f"key_file {key_file} does not exist")
    try:
        client.connect(
            host,
            port=port,
            username=user,
            key_filename=str(key_file) if key_file else None,
            # An explicit key means exactly that key; otherwise ssh-agent and ~/.ssh keys.
            allow_agent=key_file is None,
            look_for_keys=key_file is None,
            sock=sock,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
        )
    except SshError:
        client.close()
        raise
    except paramiko.BadHostKeyException as exc:
        client.close()
        name = known_hosts_name(host, port)
        raise HostKeyMismatch(
            device,
            where,
            f"host key CHANGED: {policy.path} has {exc.expected_key.get_name()} {exc.expected_key.fingerprint}, "
            f"the server offers {exc.key.get_name()} {exc.key.fingerprint}; if the board was really re-installed, "
            f"remove the old key with `ssh-keygen -R {shlex.quote(name)} -f {shlex.quote(str(policy.path))}` "
            "and deploy again",
        ) from None
    except paramiko.PasswordRequiredException:
        client.close()
        raise AuthFailed(
            device, where, f"key_file {key_file} is passphrase-protected; add it to ssh-agent and remove key_file"
        ) from None
    except paramiko.AuthenticationException:
        client.close()
        how = f"key {key_file}" if key_file else "ssh-agent and default keys"
        raise AuthFailed(
            device,
            where,
            f"sshd refused login as {user or _local_user()} with {how}; check `user:` and `key_file:` under ssh:",
        ) from None
    except TimeoutError:
        client.close()
        raise HostUnreachable(device, where, f"sshd did not answer within {timeout:g}s") from None
    except paramiko.SSHException as exc:
        client.close()
        if "No authentication methods available" in str(exc):
            # paramiko's word for: no key file, no ssh-agent, no ~/.ssh keys
            raise AuthFailed(
                device,
                where,
                f"no key to log in as {user or _local_user()}: no key_file, no ssh-agent "
                "(SSH_AUTH_SOCK) and no ~/.ssh/id_* keys; set `key_file:` under ssh:",
            ) from None
        raise HostUnreachable(device, where, f"SSH handshake failed: {exc}") from None
    except OSError as exc:
        client.close()
        raise HostUnreachable(device, where, f"connection lost during login: {exc.strerror or exc}") from None
    except EOFError:
        client.close()
        raise HostUnreachable(device, where, "sshd closed the connection during login") from None
    transport = client.get_transport()
    if transport is not None:
        transport.set_keepalive(max(1, int(link_timeout / KEEPALIVES_PER_TIMEOUT)))
    return client


def _local_user() -> str:
    return getpass.getuser()


def _close_quietly(chan: paramiko.Channel) -> None:
    # paramiko raises EOFError/OSError from the close message of a dying transport
    try:
        chan.close()
    except (EOFError, OSError, paramiko.SSHException):
        pass


class SshSession:
    """A logged-in SSH connection to one board (and its jump host, if any)."""

    def __init__(
        self, device: str, target: SshTarget, client: paramiko.SSHClient, jump: Optional[paramiko.SSHClient]
    ) -> None:
        self.device = device
        self.target = target
        self.client = client
        self._jump = jump

    @property
    def where(self) -> str:
        return self.target.where

    @property
    def transport(self) -> paramiko.Transport:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise HostUnreachable(self.device, self.where, "SSH connection lost")
        return transport

    def is_active(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def run(self, command: str, stdin: Optional[bytes] = None, timeout: float = 60.0) -> Tuple[int, str, str]:
        """Run a shell command on the board; return (exit status, stdout, stderr)."""
        chan: Optional[paramiko.Channel] = None
        try:
            chan = self.transport.open_session(timeout=timeout)
            chan.settimeout(timeout)
            chan.exec_command(command)
            if stdin is not None:
                chan.sendall(stdin)
            chan.shutdown_write()
            deadline = time.monotonic() + timeout
            out, err = bytearray(), bytearray()
            # Read both streams to EOF: sshd may send the exit status before the
            # last output, so the exit status is no sign that the output is complete.
            while True:
                if chan.recv_ready():
                    out += chan.recv(65536)
                elif chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                elif chan.eof_received or chan.closed:
                    break
                elif time.monotonic() > deadline:
                    raise TimeoutError()
                else:
                    # a short poll, not select() on chan.fileno(): see tunnel.Tunnel._pump
                    time.sleep(0.005)
            if not chan.status_event.wait(max(deadline - time.monotonic(), 0.1)):
                raise TimeoutError()
            rc = chan.recv_exit_status()
            _close_quietly(chan)
        except TimeoutError:
            if chan is not None:
                _close_quietly(chan)  # sshd hangs up the command's session
            raise RemoteCommandFailed(
                self.device, self.where, f"command did not finish within {timeout:g}s: {command[:80]}"
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise HostUnreachable(
                self.device, self.where, f"SSH connection lost while running a command: {exc}"
            ) from None
        return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def sftp(self) -> paramiko.SFTPClient:
        try:
            return self.client.open_sftp()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise RemoteCommandFailed(self.device, self.where, f"sftp unavailable on the board's sshd: {exc}") from None

    def close(self) -> None:
        self.client.close()
        if self._jump is not None:
            self._jump.close()

    def __enter__(self) -> SshSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_jump_channel(
    device: str, target: SshTarget, jump_client: paramiko.SSHClient, jump: JumpHost, timeout: float
) -> paramiko.Channel:
    transport = jump_client.get_transport()
    if transport is None:
        raise HostUnreachable(device, target.where, f"jump host {jump.where} closed the connection")
    try:
        return transport.open_channel("direct-tcpip", (target.host, target.port), ("127.0.0.1", 0), timeout=timeout)
    except paramiko.ChannelException as exc:
        raise HostUnreachable(
            device, target.where, f"jump host {jump.where} cannot reach the board: {exc.text or exc}"
        ) from None
    except (paramiko.SSHException, OSError) as exc:
        raise HostUnreachable(device, target.where, f"jump host {jump.where} cannot reach the board: {exc}") from None


def ssh_login(device: str, target: SshTarget, base_dir: Optional[Path] = None) -> SshSession:
    """Log in to the board described by `target` (through its jump host, if any).

    `base_dir` resolves relative key_file/known_hosts paths (the farm file's folder).
    """
    kh = known_hosts_path(target, base_dir)
    timeout = target.connect_timeout
    jump_client: Optional[paramiko.SSHClient] = None
    if target.jump is not None:
        jump = target.jump
        jwhere = f"via jump {jump.where}"
        jsock = _tcp_socket(device, f"{target.where} {jwhere}", jump.host, jump.port, timeout, target.link_timeout)
        jump_client = _login(
            device,
            f"{target.where} {jwhere}",
            jump.host,
            jump.port,
            jump.user or target.user,
            _resolve(jump.key_file or target.key_file, base_dir),
            jsock,
            _HostKeyPolicy(device, f"jump {jump.where}", target.host_key_policy, kh),
            timeout,
            target.link_timeout,
        )
        try:
            sock: Union[socket.socket, paramiko.Channel] = _open_jump_channel(
                device, target, jump_client, jump, timeout
            )
        except SshError:
            jump_client.close()
            raise
    else:
        sock = _tcp_socket(device, target.where, target.host, target.port, timeout, target.link_timeout)
    try:
        client = _login(
            device,
            target.where,
            target.host,
            target.port,
            target.user,
            _resolve(target.key_file, base_dir),
            sock,
            _HostKeyPolicy(device, target.where, target.host_key_policy, kh),
            timeout,
            target.link_timeout,
        )
    except SshError:
        if jump_client is not None:
            jump_client.close()
        raise
    log.debug("%s: logged in to %s", device, target.where)
    return SshSession(device, target, client, jump_client)
