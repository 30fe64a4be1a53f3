"""`local: true` devices: the controller runs `agent serve` on loopback itself, with a fresh token.

Each local agent gets a temporary workspace, a config naming its one runner, and
port 0; it dies with the controller (parent-death signal) and is stopped at the end.
"""

from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from controller.errors import DeviceUnreachable

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
FOLDER_PREFIX = "larfarm-local-"
OWNER_FILE = "controller.pid"
AGENT_PID_FILE = "agent.pid"
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the agent gets SIGTERM when the controller dies, even by SIGKILL.

    The kernel ties this to the thread that started the agent: its device's queue
    thread, which ends only once that device has nothing left to run. A controller
    that died between fork and prctl sends no signal, so the child checks its parent.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except OSError:
        return
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)


class LocalAgent:
    """One `agent serve` subprocess on 127.0.0.1."""

    def __init__(
        self,
        name: str,
        runner: str,
        program: Path,
        env_allow: Iterable[str] = (),
        flags_allow: Iterable[str] = (),
        runner_extra: Optional[Dict[str, object]] = None,  # more runner settings (an adb runner's phone)
    ) -> None:
        self.name = name
        self.runner = runner
        self.program = Path(program).resolve()
        self.env_allow = sorted(set(env_allow))
        self.flags_allow = sorted(set(flags_allow))
        self.runner_extra = dict(runner_extra or {})
        self.token = secrets.token_urlsafe(32)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{name}-"))
        # who owns the folder: a later controller removes it if both are dead (remove_stale_folders)
        (self.dir / OWNER_FILE).write_text(f"{os.getpid()}\n")
        self.proc: Optional[subprocess.Popen] = None
        self.address = ""

    def _config(self) -> Path:
        token_file = self.dir / "token"
        token_file.write_text(self.token + "\n")
        os.chmod(token_file, 0o600)
        runner: Dict[str, object] = {"type": self.runner, "path": str(self.program)}
        if self.program.suffix == ".py" or not os.access(self.program, os.X_OK):
            # a Python script (e.g. a fake dumper) runs under this interpreter
            runner = {"type": self.runner, "path": sys.executable, "args": [str(self.program)]}
        runner.update(self.runner_extra)
        if self.env_allow:
            runner["env_allow"] = self.env_allow
        if self.flags_allow:
            runner["extra_flags_allow"] = [f.split("=", 1)[0] for f in self.flags_allow]
        config = {
            "listen": "127.0.0.1:0",
            "workspace": str(self.dir / "workspace"),
            "token_file": str(token_file),
            "runners": {self.runner: runner},
        }
        path = self.dir / "agent.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def start(self) -> None:
        """Start the agent and wait until it has bound its port."""
        if not self.program.is_file():
            raise DeviceUnreachable(self.name, "local", f"runner program not found: {self.program}")
        config = self._config()
        port_file = self.dir / "port"
        port_file.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "agent", "serve", "--config", str(config), "--port-file", str(port_file)]
        log_path = self.dir / "agent.log"
        with open(log_path, "ab") as out:
            self.proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=functools.partial(_die_with_parent, os.getpid()) if sys.platform == "linux" else None,
            )
        (self.dir / AGENT_PID_FILE).write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if port_file.is_file():
                text = port_file.read_text().strip()
                if text.isdigit():
                    self.address = f"127.0.0.1:{int(text)}"
                    log.info("local agent %s on %s (pid %d)", self.name, self.address, self.proc.pid)
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = _tail(log_path)
        self.stop()
        raise DeviceUnreachable(self.name, "local", f"local agent did not start: {tail}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Stop the agent (SIGTERM, then SIGKILL) and remove its workspace."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process by now: not ours to judge
        return True
    try:  # an orphan nobody reaped stays a zombie: it is dead all the same
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def remove_stale_folders() -> List[Path]:
    """Remove the folders of local agents whose controller was killed (no `stop()` ran).

    Only folders with our owner file, whose controller and agent are both gone: a
    SIGKILLed controller's agents exit on their parent-death signal, their folders stay.
    """
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        owner = folder / OWNER_FILE
        if not owner.is_file() or _alive(owner) or _alive(folder / AGENT_PID_FILE):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    if removed:
        log.info("removed %d local agent folder(s) of killed controllers", len(removed))
    return removed


def _tail(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1] if lines else "exited without a message"


class LocalAgents:
    """The local agents of one campaign, started on demand and restarted when one died."""

    def __init__(self, env_allow: Iterable[str] = (), flags_allow: Iterable[str] = ()) -> None:
        self.env_allow = list(env_allow)
        self.flags_allow = list(flags_allow)
        self._agents: Dict[str, LocalAgent] = {}
        self._lock = threading.Lock()
        self._swept = False

    def ensure(self, device, program: Path, runner_extra: Optional[Dict[str, object]] = None) -> LocalAgent:
        """The running agent of `device`, started (or restarted after a crash) as needed."""
        with self._lock:
            agent = self._agents.get(device.name)
        if agent is not None and agent.alive():
            return agent
        with self._lock:
            sweep, self._swept = not self._swept, True
        if sweep:
            remove_stale_folders()
        if agent is not None:
            log.warning("local agent of %s died; starting a new one", device.name)
            agent.stop()
        agent = LocalAgent(device.name, device.runner, program, self.env_allow, self.flags_allow, runner_extra)
        agent.start()
        with self._lock:
            self._agents[device.name] = agent
        return agent

    def pids(self) -> List[int]:
        return [a.proc.pid for a in self._agents.values() if a.proc is not None]

    def stop_all(self) -> None:
        with self._lock:
            agents, self._agents = list(self._agents.values()), {}
        for agent in agents:
            agent.stop()
