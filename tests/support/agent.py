"""Start a real `agent serve` process on loopback for tests (port 0, fresh token, runners from a dict).

Use the `agent_factory` fixture (import it into a conftest) or `start_agent` directly:

    agent = start_agent(tmp_path, {"load_and_run": script_runner(FAKE_DUMPER)})
    with agent.client() as client: ...
    agent.stop()

The agent writes its bound port to `--port-file`; `start_agent` waits for it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from controller.agent_client import AgentClient, TlsConfig

PROGRAMS = Path(__file__).resolve().parent.parent / "agent" / "programs"
START_TIMEOUT_S = 30.0


def script_runner(script: Path, *args: str, type: str = "load_and_run", **extra: Any) -> dict:
    """Runner config that runs a Python script under this interpreter (with fixed leading args)."""
    return {"type": type, "path": sys.executable, "args": [str(script), *args], **extra}


@dataclass
class RunningAgent:
    address: str
    token: Optional[str]
    workspace: Path
    proc: subprocess.Popen
    log_path: Path
    config_path: Path
    tls: Optional[TlsConfig] = None
    _clients: list = field(default_factory=list)

    def client(self, token: Any = "default", tls: Any = "default", timeout: float = 30.0) -> AgentClient:
        c = AgentClient(
            self.address,
            self.token if token == "default" else token,
            self.tls if tls == "default" else tls,
            timeout,
        )
        self._clients.append(c)
        return c

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the agent (a crash, not a shutdown)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        for c in self._clients:
            c.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_agent(
    base: Path,
    runners: dict,
    *,
    token: Optional[str] = "generate",
    config: Optional[dict] = None,
    tls: Optional[dict] = None,
    client_tls: Optional[TlsConfig] = None,
    listen: str = "127.0.0.1:0",
    workspace: Optional[Path] = None,
) -> RunningAgent:
    """Start `python -m agent serve` with a JSON config; return once it listens.

    token "generate" makes a fresh one (passed via LARFARM_TOKEN); None runs without a token.
    tls: {"cert": path, "key": path, "client_ca": path} for the server.
    """
    base.mkdir(parents=True, exist_ok=True)
    if token == "generate":
        token = secrets.token_urlsafe(24)
    ws = workspace or base / "workspace"
    cfg = {"workspace": str(ws), "runners": runners, **(config or {})}
    if tls:
        cfg["tls"] = {k: str(v) for k, v in tls.items()}
    config_path = base / "agent.json"
    config_path.write_text(json.dumps(cfg, indent=1))
    port_file = base / "agent.port"
    port_file.unlink(missing_ok=True)
    log_path = base / "agent.log"
    env = dict(os.environ)
    env.pop("LARFARM_TOKEN", None)
    if token:
        env["LARFARM_TOKEN"] = token
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent",
                "serve",
                "--config",
                str(config_path),
                "--listen",
                listen,
                "--port-file",
                str(port_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if port_file.is_file():
            port = port_file.read_text().strip()
            host = listen.rpartition(":")[0]
            return RunningAgent(f"{host}:{port}", token, ws, proc, log_path, config_path, client_tls)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"agent did not start: {log_path.read_text(errors='replace')[-2000:]}")


@pytest.fixture
def agent_factory(tmp_path: Path) -> Iterator:
    """Call it like start_agent (minus `base`); every agent started is stopped at teardown."""
    started: list[RunningAgent] = []

    def factory(runners: dict, **kw: Any) -> RunningAgent:
        agent = start_agent(tmp_path / f"agent{len(started)}", runners, **kw)
        started.append(agent)
        return agent

    yield factory
    for agent in started:
        agent.stop()
