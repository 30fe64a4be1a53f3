"""gRPC's fork_posix.cc line never reaches stderr when a process holding gRPC calls forks.

The controller starts local agents with a preexec_fn (a real fork, not vfork), while other
threads stream runs: gRPC's fork handlers then printed "fork_posix.cc:... Other threads are
currently calling into gRPC, skipping fork() handlers" among the controller's own output.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import subprocess, sys, threading, time
    from pathlib import Path
    from controller.agent_client import RunSpec  # first: the package sets gRPC's environment
    from tests.support.agent import script_runner, start_agent
    from tests.agent.conftest import FAKE_DUMPER

    runners = {"load_and_run": script_runner(FAKE_DUMPER, "--files", "3", "--delay", "0.3")}
    agent = start_agent(Path(sys.argv[1]), runners)
    try:
        with agent.client() as c:
            model = c.upload_blob(b"m")
            t = threading.Thread(target=lambda: list(c.run(RunSpec(model_sha256=model))))
            t.start()
            for _ in range(20):  # forks while the run's stream is in flight
                subprocess.run(["true"], preexec_fn=lambda: None)
                time.sleep(0.05)
            t.join()
    finally:
        agent.stop()
    sys.stderr.write(agent.log())
    """
)


def test_no_fork_handler_line_on_stderr(tmp_path) -> None:
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "fork_posix" not in r.stderr, r.stderr[-2000:]
    assert "agent stopped" in r.stderr  # the agent's own log was looked at too
