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
import re
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
AGENT_PID_FILE = "agent.pid"
LEGACY_OWNER_FILE = "controller.pid"  # folders made before the owner moved into the name
#: how long a sweep waits for a dead controller's leftover processes to go after SIGKILL
REAP_WAIT_S = 5.0
_PR_SET_PDEATHSIG = 1
#: larfarm-local-<owner pid>.<owner start time in clock ticks>-<device>-<random>
_OWNER_IN_NAME = re.compile(r"^larfarm-local-(\d+)\.(\d+)-")
_HAVE_PROC = Path("/proc/self/stat").is_file()


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
        # The owner is in the folder's name, so there is no moment when a folder exists without
        # it: a controller killed at any point leaves a folder the next one can judge.
        self.dir = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{_owner_tag()}-{name}-"))
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
        _remove(self.dir)


def _process_start(pid: int) -> Optional[int]:
    """Start time (clock ticks since boot) of a live process `pid`; None when gone or a zombie.

    A pid names a process only together with its start time: pids are recycled.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):  # an orphan nobody reaped yet: dead all the same
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _owner_tag() -> str:
    """This controller as `pid.start`, for the name of the folders it makes."""
    return f"{os.getpid()}.{_process_start(os.getpid()) or 0}"


def _pid_exists(pid: int) -> bool:
    """Without /proc: whether a pid is in use (whoever it now belongs to)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not ours to judge, so keep the folder
        return True
    return True


def _owner_alive(folder: Path) -> Optional[bool]:
    """Whether the controller that made `folder` still runs; None when the folder names no owner."""
    match = _OWNER_IN_NAME.match(folder.name)
    if match is not None:
        pid, start = int(match.group(1)), int(match.group(2))
        if _HAVE_PROC and start:
            return _process_start(pid) == start
        return _pid_exists(pid)
    try:  # a folder of an older controller: the owner's pid in a file
        pid = int((folder / LEGACY_OWNER_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return _process_start(pid) is not None if _HAVE_PROC else _pid_exists(pid)


def _processes_in(folder: Path) -> Dict[int, Optional[int]]:
    """Live processes of `folder`'s agent: the agent (`--config FOLDER/agent.json`) and the
    programs it runs (their dump paths are in FOLDER/workspace/); pid -> start time.

    Found by command line rather than by a pid file, which a controller killed right after
    starting the agent never wrote, and which cannot name the agent's own children. Someone
    reading the folder (`tail -f FOLDER/agent.log`) is not one of them.
    """
    if not _HAVE_PROC:
        try:
            pid = int((folder / AGENT_PID_FILE).read_text().strip())
        except (OSError, ValueError):
            return {}
        return {pid: None} if _pid_exists(pid) else {}
    root = os.fsencode(str(folder))
    needles = (root + b"/agent.json", root + b"/workspace/")
    found: Dict[int, Optional[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if any(n in cmdline for n in needles):
            start = _process_start(int(entry.name))
            if start is not None:
                found[int(entry.name)] = start
    return found


def _end_processes(found: Dict[int, Optional[int]]) -> bool:
    """SIGKILL the leftover processes of a dead controller; True once all are gone.

    They are orphans: the agent got SIGTERM when its controller died and may still be
    shutting down (writing into the folder we are about to remove), and a program it ran
    in its own process group may outlive it.
    """
    for pid, start in found.items():
        if start is not None and _process_start(pid) != start:
            continue  # ended meanwhile; the pid may be someone else's by now
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:  # gone meanwhile, or not ours to kill
            pass
    deadline = time.monotonic() + REAP_WAIT_S
    while True:
        left = [p for p, st in found.items() if (_process_start(p) == st if st is not None else _pid_exists(p))]
        if not left or time.monotonic() >= deadline:
            return not left
        time.sleep(0.05)


def _remove(folder: Path) -> bool:
    """Remove a folder tree; a failure is logged (never raised): it is a temp folder."""
    for _ in range(2):  # a second pass takes what a dying writer added during the first
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            return True
    log.warning("could not remove local agent folder %s", folder)
    return False


def remove_stale_folders() -> List[Path]:
    """Remove the folders of local agents whose controller was killed (no `stop()` ran).

    A folder is stale when the controller named in it is gone (pid and start time, so a
    recycled pid does not keep it); its agent and the agent's programs are ended first.
    A live controller's folders, and folders that name no owner, are left alone.
    """
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        if not folder.is_dir() or _owner_alive(folder) is not False:
            continue
        if not _end_processes(_processes_in(folder)):
            log.warning("leaving %s: processes of a killed controller's agent would not end", folder)
            continue
        if _remove(folder):
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
