"""`python -m agent.adb_run`: one load_and_run run on a phone, driven from the agent's run folder.

The agent starts this like any runner program, in the run folder (in/ staged,
out/ empty). It pushes what the phone lacks (files go to <workdir>/.blobs/<sha256>,
so a model already there moves no bytes), runs load_and_run in <workdir>/<run id>
with the spec's argv and environment, streams its output, brings out/ back in one
`adb exec-out tar` stream and removes the phone's run folder. SIGTERM (cancel,
timeout) kills the program's process group on the phone; a phone that goes away
ends the run with `device SERIAL disconnected` as the last stderr line.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Sequence, cast

from agent.adb import Phone, PhoneDisconnected, PhoneError, PhoneStopped, command, quote

#: How often the phone's presence is checked while load_and_run runs.
MONITOR_S = 2.0
KILL_GRACE_S = 0.4
#: Free space wanted on the phone beyond what is pushed (dumps of a small model).
SPACE_MARGIN = 16 << 20
EXIT_PHONE = 255
_RUN_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,63}$")
_PART = ".adb-part"


class UnsafeTar(PhoneError):
    """The phone's tar stream holds something other than files and folders under out/."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def extract_out(stream, dest: Path) -> int:
    """Untar the phone's out/ into dest/out: regular files and folders only, never outside it; bytes written.

    Each file is written beside out/ and renamed in whole, so the dump watcher never sees half a file.
    """
    out_root = os.path.realpath(dest / "out")
    part = dest / _PART
    total = 0
    with tarfile.open(fileobj=stream, mode="r|", bufsize=1 << 20) as tar:  # the default reads a pipe 10 KiB at a time
        for member in tar:
            parts = member.name.split("/")
            if member.name.startswith("/") or ".." in parts or parts[0] != "out" or "" in parts[1:-1]:
                raise UnsafeTar(f"the phone sent {member.name[:100]!r}, which is not a file under out/")
            target = dest.joinpath(*[p for p in parts if p])
            real_parent = os.path.realpath(target.parent)
            inside = real_parent == out_root or real_parent.startswith(out_root + os.sep)
            if not inside and target != dest / "out":
                raise UnsafeTar(f"the phone sent {member.name[:100]!r}, which leaves out/")
            if member.isdir():
                if os.path.islink(target):
                    raise UnsafeTar(f"{member.name[:100]!r} is a link here")
                target.mkdir(parents=True, exist_ok=True)
                continue
            if not member.isfile():
                raise UnsafeTar(f"the phone sent {member.name[:100]!r}, a link or device: only files are accepted")
            source = tar.extractfile(member)
            if source is None:
                raise UnsafeTar(f"the phone sent {member.name[:100]!r} without its bytes")
            with open(part, "wb") as f:
                shutil.copyfileobj(source, f, 1 << 20)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, target)
            total += member.size
    return total


class PhoneRun:
    """One run on the phone; execute() returns load_and_run's exit code."""

    def __init__(
        self,
        phone: Phone,
        workdir: str,
        program: str,
        program_local: Path | None,
        env: Sequence[str],
        lar_args: Sequence[str],
        here: Path,
    ) -> None:
        self.phone = phone
        self.workdir = workdir
        self.program = program
        self.program_local = program_local
        self.env = list(env)
        self.lar_args = list(lar_args)
        self.here = here
        if not _RUN_NAME.match(here.name):
            raise PhoneError(f"run folder name {here.name[:70]!r} cannot name a folder on the phone")
        self.remote = f"{workdir}/{here.name}"
        self.blobs = f"{workdir}/.blobs"
        self.stop = threading.Event()
        self._pid: str | None = None

    # --- steps

    def execute(self) -> int:
        self.phone.connect()
        self.phone.require()
        try:
            self._stage()
            if self.stop.is_set():
                return 128 + signal.SIGTERM
            code = self._run()
            if (self.here / "out").is_dir() and not self.stop.is_set():  # a cancelled run's dumps are not wanted
                self._fetch()
            return code
        except PhoneStopped:  # a push cut short by cancel or timeout
            return 128 + signal.SIGTERM
        finally:
            if not self._lost():
                self.phone.shell(["rm", "-rf", self.remote], timeout=30)

    def _lost(self) -> bool:
        try:
            return self.phone.state() != "device"
        except PhoneError:
            return True

    def _stage(self) -> None:
        """Folders, then only the files the phone lacks, then links from the run folder to them."""
        files: dict[str, Path] = {}
        for path in sorted((self.here / "in").rglob("*")):
            if path.is_file():
                files[path.relative_to(self.here).as_posix()] = path
        digests = {rel: sha256_file(p) for rel, p in files.items()}
        folders = [self.blobs, f"{self.remote}/in"]
        folders += [f"{self.remote}/{p.relative_to(self.here).as_posix()}" for p in self._dirs("out")]
        wanted = [f"{self.blobs}/{d}" for d in sorted(set(digests.values()))]
        program_sha = sha256_file(self.program_local) if self.program_local else None
        if program_sha:
            wanted.append(self.program)
        line = command(["mkdir", "-p", *folders]) + " && " + command(["sha256sum", *wanted])
        code, out, err = self.phone.shell_line(line)
        have = {}
        for row in out.decode("utf-8", "replace").splitlines():
            digest, _, name = row.partition("  ")
            have[name] = digest
        if code != 0 and not out and b"mkdir" in err:
            raise PhoneError(f"phone {self.phone.serial}: cannot make {self.remote}: {err.decode(errors='replace')}")
        missing = sorted({d for d in digests.values() if have.get(f"{self.blobs}/{d}") != d})
        push_program = program_sha is not None and have.get(self.program) != program_sha
        need = sum(files[r].stat().st_size for r, d in digests.items() if d in missing)
        need += self.program_local.stat().st_size if push_program and self.program_local else 0
        free = self.phone.free_bytes(self.workdir)
        if free is not None and free < need + SPACE_MARGIN:
            raise PhoneError(
                f"phone {self.phone.serial}: no space left in {self.workdir}: {free >> 20} MiB free, "
                f"{(need + SPACE_MARGIN) >> 20} MiB needed"
            )
        if missing:
            with tempfile.TemporaryDirectory(dir=self.here) as tmp:
                by_sha = {d: files[r] for r, d in digests.items()}
                names = []
                for d in missing:
                    os.link(by_sha[d], os.path.join(tmp, d))  # pushed under its digest: the phone's blob cache
                    names.append(os.path.join(tmp, d))
                self.phone.push(names, self.blobs + "/", interrupt=self.stop)
        if push_program and self.program_local:
            self.phone.push([str(self.program_local)], self.program, interrupt=self.stop)
            self.phone.shell(["chmod", "755", self.program])
        links = [
            command(["ln", "-s", "../" * rel.count("/") + f"../.blobs/{d}", f"{self.remote}/{rel}"])
            for rel, d in digests.items()
        ]
        if links:
            code, _out, err = self.phone.shell_line(" && ".join(links))
            if code != 0:
                raise PhoneError(f"phone {self.phone.serial}: cannot link inputs: {err.decode(errors='replace')}")

    def _dirs(self, top: str) -> list[Path]:
        root = self.here / top
        return [root, *sorted(p for p in root.rglob("*") if p.is_dir())] if root.is_dir() else []

    def _run(self) -> int:
        env = ["env", *self.env] if self.env else []
        line = f"cd {quote(self.remote)} && echo $$ >.pid && exec " + command([*env, self.program, *self.lar_args])
        proc = subprocess.Popen(
            self.phone.argv("shell", line),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # the agent's SIGTERM is ours to turn into a kill on the phone
        )
        tail: list[bytes] = []
        pumps = [
            threading.Thread(target=_pump, args=(proc.stdout, sys.stdout.buffer, None), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, sys.stderr.buffer, tail), daemon=True),
        ]
        for t in pumps:
            t.start()
        next_check = time.monotonic() + MONITOR_S
        killed_at: float | None = None
        while proc.poll() is None:
            now = time.monotonic()
            if self.stop.is_set():
                if killed_at is None:
                    self._kill("TERM")
                    killed_at = now
                elif now - killed_at > KILL_GRACE_S:
                    self._kill("KILL")
                    proc.kill()
            elif now >= next_check:
                next_check = now + MONITOR_S
                if self._lost():
                    proc.kill()
                    raise PhoneDisconnected(self.phone.serial)
            time.sleep(0.05)
        for t in pumps:
            t.join(5)
        code = proc.returncode
        if self._lost():  # adb's client ends with 0 when the phone vanishes without an exit status
            raise PhoneDisconnected(self.phone.serial)
        said = b"".join(tail).decode("utf-8", "replace")
        if code == 126 and self.program in said:
            raise PhoneError(
                f"phone {self.phone.serial}: {self.program} is not executable there (a noexec mount such as "
                "/sdcard?): put load_and_run under /data/local/tmp"
            )
        if code == 127 and self.program in said:
            raise PhoneError(
                f"phone {self.phone.serial}: {self.program} not found: set program_local to push load_and_run"
            )
        return code

    def _kill(self, sig: str) -> None:
        """Signal load_and_run's process group on the phone (its pid is the shell's, kept in .pid)."""
        try:
            if self._pid is None:
                _code, out, _err = self.phone.shell(["cat", f"{self.remote}/.pid"], timeout=10)
                pid = out.decode("ascii", "replace").strip()
                self._pid = pid if pid.isdigit() else None
            if self._pid is not None:
                self.phone.shell(["kill", f"-{sig}", f"-{self._pid}"], timeout=10)
        except PhoneError:
            pass

    def _fetch(self) -> None:
        """out/ of the phone's run folder, in one exec-out tar stream."""
        proc = subprocess.Popen(
            self.phone.argv("exec-out", command(["tar", "c", "-C", self.remote, "out"])),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        stream = cast(IO[bytes], proc.stdout)
        try:
            extract_out(stream, self.here)
        except tarfile.TarError as err:
            proc.kill()
            if self._lost():
                raise PhoneDisconnected(self.phone.serial) from None
            raise PhoneError(f"phone {self.phone.serial}: the dump transfer broke off: {err}") from None
        finally:
            stream.close()
            proc.wait()
            (self.here / _PART).unlink(missing_ok=True)


def _pump(pipe, sink, tail: list[bytes] | None) -> None:
    for line in iter(pipe.readline, b""):
        sink.write(line)
        sink.flush()
        if tail is not None:
            tail.append(line)
            del tail[:-20]
    pipe.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agent.adb_run", description=__doc__.splitlines()[0])
    parser.add_argument("--adb", required=True)
    parser.add_argument("--serial", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--program", required=True)
    parser.add_argument("--program-local")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE set for load_and_run on the phone")
    parser.add_argument("lar_args", nargs=argparse.REMAINDER, help="-- then load_and_run's arguments")
    args = parser.parse_args(argv)
    lar_args = args.lar_args[1:] if args.lar_args[:1] == ["--"] else args.lar_args
    try:
        run = PhoneRun(
            Phone(args.adb, args.serial),
            args.workdir,
            args.program,
            Path(args.program_local) if args.program_local else None,
            args.env,
            lar_args,
            Path.cwd(),
        )
        signal.signal(signal.SIGTERM, lambda *_: run.stop.set())
        return run.execute()
    except PhoneError as err:
        sys.stdout.flush()
        sys.stderr.write(f"{err}\n")
        return EXIT_PHONE


if __name__ == "__main__":
    sys.exit(main())
