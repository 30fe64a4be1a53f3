"""A real campaign through the SSH tunnel: the agent deployed from its zipapp on the
board, MegEngine Lite (lar-lite) as the runner, `controller run` as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from controller.ssh.config import SshTarget
from controller.ssh.deploy import stop
from tests.support.lite import lar_lite_command
from tests.support.sshd import free_port


def test_naive_check_on_an_ssh_board_finds_megengine_root(
    sshd, board_python, tmp_path, megengine_fixtures, lite_runtime
):
    from typer.testing import CliRunner

    from controller.cli import app

    shutil.copyfile(megengine_fixtures / "models" / "tiny_cnn.mge", tmp_path / "tiny_cnn.mge")
    shutil.copyfile(megengine_fixtures / "inputs" / "tiny_cnn__data.npy", tmp_path / "data.npy")
    lar_lite = lar_lite_command()
    runner = {"type": "lite", "path": lar_lite[0], "args": lar_lite[1:]}
    (tmp_path / "board-agent.json").write_text(json.dumps({"runners": {"lite": runner}}))
    block = sshd.target(python=board_python, agent_port=free_port(), agent_config="board-agent.json")
    import yaml

    (tmp_path / "farm.yaml").write_text(
        yaml.safe_dump({"devices": [{"name": "board1", "runner": "lite", "ssh": block}]})
    )
    (tmp_path / "campaign.yaml").write_text(
        "name: tiny\nmodel: tiny_cnn.mge\ninputs:\n  data: data.npy\nchecks: [naive]\nfetch: all\n"
    )
    deployed = CliRunner().invoke(app, ["deploy", "--devices", str(tmp_path / "farm.yaml")])
    assert deployed.exit_code == 0, deployed.output
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "controller.cli",
                "run",
                "--devices",
                "farm.yaml",
                "--campaign",
                "campaign.yaml",
                "--out",
                "out",
                "--json",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
            env=dict(os.environ, COLUMNS="200"),
        )
    finally:
        stop("board1", SshTarget(**block), tmp_path)
    assert proc.returncode == 1, proc.stderr  # naive differs from default
    data = json.loads(proc.stdout)
    naive = next(c for c in data["checks"] if c["kind"] == "naive")
    # MegEngine's own accuracy_shake_var_tree names var 9 (conv1) for these runs
    assert naive["first"] == 9 and [r["id"] for r in naive["roots"]] == [9]
    device = data["devices"][0]
    assert device["healthy"] and device["attempts"] == 1
    # every dump file came through the tunnel, identically named to MegEngine's own
    # dump of the same run and matching the digest the agent announced
    from controller.store import sha256_file

    fixture = megengine_fixtures / "runs" / "tiny_cnn" / "default" / "bin"
    run_dir = tmp_path / "out" / "tiny" / "board1.default"
    record = json.loads((run_dir / "run.json").read_text())
    assert sorted(p.name for p in (run_dir / "bin").iterdir()) == sorted(p.name for p in fixture.iterdir())
    for entry in record["manifest"]:
        assert sha256_file(run_dir / entry["name"]) == entry["sha256"]
