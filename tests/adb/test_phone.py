"""The stand-in phone against the real adb client: the protocol a runner relies on, end to end."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from tests.support.adb_phone import Adb


def test_connect_shell_push_pull_exec_out(adb: Adb, phones, tmp_path: Path) -> None:
    phone = phones(model="Pixel 7")
    adb.connect(phone)
    listing = adb("devices", "-l").stdout.decode()
    assert f"{phone.serial}" in listing and "model:Pixel_7" in listing and "device:pixel7" in listing
    out = adb("-s", phone.serial, "shell", "getprop ro.product.cpu.abi && getprop ro.soc.model").stdout
    assert out == b"arm64-v8a\nSM8450\n"
    # shell v2 carries stderr apart and the exit code through
    proc = adb("-s", phone.serial, "shell", "cat /nope; echo after", check=False)
    assert proc.returncode == 0 and proc.stdout == b"after\n" and b"/nope" in proc.stderr
    assert adb("-s", phone.serial, "shell", "cat /nope && echo never", check=False).returncode == 1
    # push: parents made (fixed_push_mkdir), bytes and mode kept; sha256sum agrees
    blob = os.urandom(3 << 20)
    (tmp_path / "blob.bin").write_bytes(blob)
    adb("-s", phone.serial, "push", str(tmp_path / "blob.bin"), "/data/local/tmp/a b/in/blob.bin")
    assert phone.path("/data/local/tmp/a b/in/blob.bin").read_bytes() == blob
    got = adb("-s", phone.serial, "shell", "sha256sum '/data/local/tmp/a b/in/blob.bin'").stdout.decode()
    assert got.split()[0] == hashlib.sha256(blob).hexdigest()
    # pull of a folder (STAT/LIST/RECV) and exec-out of a tar stream give the same bytes back
    adb("-s", phone.serial, "pull", "/data/local/tmp/a b", str(tmp_path / "pulled"))
    assert (tmp_path / "pulled" / "in" / "blob.bin").read_bytes() == blob
    raw = adb("-s", phone.serial, "exec-out", "tar c -C '/data/local/tmp/a b' in").stdout
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r|") as tar:
        members = {m.name: tar.extractfile(m).read() if m.isfile() else None for m in tar}
    assert members["in/blob.bin"] == blob
    # rm -rf leaves nothing; pulling a missing file fails with the phone's message
    adb("-s", phone.serial, "shell", "rm -rf '/data/local/tmp/a b'")
    assert not phone.path("/data/local/tmp/a b").exists()
    proc = adb("-s", phone.serial, "pull", "/data/local/tmp/a b/in/blob.bin", str(tmp_path / "x"), check=False)
    assert proc.returncode != 0 and b"No such file" in proc.stderr + proc.stdout
    assert {"sync:", "exec:tar c -C '/data/local/tmp/a b' in"} <= set(phone.opened)
    assert any(s.startswith("shell,v2,") for s in phone.opened)


def test_unauthorized_phone(adb: Adb, phones) -> None:
    phone = phones(authorized=False)
    adb("connect", phone.serial, check=False)
    deadline = time.monotonic() + 15
    state = ""
    while time.monotonic() < deadline and "unauthorized" not in state:
        state = adb("devices").stdout.decode()
        time.sleep(0.2)
    assert f"{phone.serial}\tunauthorized" in state
    proc = adb("-s", phone.serial, "shell", "echo hi", check=False)
    assert proc.returncode != 0 and b"unauthorized" in proc.stderr


def test_noexec_outside_work_dir_and_exec_bit(adb: Adb, phones, tmp_path: Path) -> None:
    phone = phones(programs={"load_and_run": [sys.executable, "-c", "print('ran')"]})
    adb.connect(phone)
    prog = tmp_path / "load_and_run"
    prog.write_text("stand-in binary\n")
    prog.chmod(0o755)
    adb("-s", phone.serial, "push", str(prog), "/sdcard/load_and_run")
    adb("-s", phone.serial, "push", str(prog), "/data/local/tmp/load_and_run")
    proc = adb("-s", phone.serial, "shell", "/sdcard/load_and_run", check=False)
    assert proc.returncode == 126 and b"Permission denied" in proc.stderr
    proc = adb("-s", phone.serial, "shell", "cd /data/local/tmp && ./load_and_run", check=False)
    assert proc.returncode == 0 and proc.stdout == b"ran\n"
    adb("-s", phone.serial, "shell", "chmod 644 /data/local/tmp/load_and_run")
    assert adb("-s", phone.serial, "shell", "/data/local/tmp/load_and_run", check=False).returncode == 126


def test_unplug_mid_run_and_kill_by_group(adb: Adb, phones, tmp_path: Path) -> None:
    sleeper = [sys.executable, "-c", "import time, sys; print('up', flush=True); time.sleep(60)"]
    phone = phones(programs={"sleeper": sleeper})
    adb.connect(phone)
    prog = tmp_path / "sleeper"
    prog.write_text("x")
    prog.chmod(0o755)
    adb("-s", phone.serial, "push", str(prog), "/data/local/tmp/sleeper")
    # the process group named by $$ can be killed from a second shell
    run = subprocess.Popen(
        [
            adb.program,
            "-P",
            str(adb.port),
            "-s",
            phone.serial,
            "shell",
            "cd /data/local/tmp && echo $$ >.pid && exec ./sleeper",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert run.stdout.readline() == b"up\n"
    pid = adb("-s", phone.serial, "shell", "cat /data/local/tmp/.pid").stdout.decode().strip()
    adb("-s", phone.serial, "shell", f"kill -TERM -{pid}")
    assert run.wait(10) == 128 + 15
    # unplugged mid-run: the client's shell ends within seconds and the phone is gone from the server
    run = subprocess.Popen(
        [adb.program, "-P", str(adb.port), "-s", phone.serial, "shell", "/data/local/tmp/sleeper"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert run.stdout.readline() == b"up\n"
    t0 = time.monotonic()
    phone.unplug()
    run.wait(10)  # adb 29's client exits 0 when the transport drops without an exit packet: only the state tells
    assert time.monotonic() - t0 < 5
    assert adb("-s", phone.serial, "get-state", check=False).returncode != 0
    phone.plug()
    adb.connect(phone)
    assert adb("-s", phone.serial, "shell", "echo back").stdout == b"back\n"
