"""A very small `sh -c` for the stand-in phone: the commands a runner needs, run for real in its storage.

Words are split as a POSIX shell does (quotes, backslashes), unquoted `$$` is the
shell's pid, and `&&`, `||`, `;`, `> FILE`, `2>/dev/null`, `2>&1` work. Commands:
cd, mkdir, rm, sha256sum, chmod, df, tar c, kill, echo, cat, getprop, env, exec,
true, false, and programs under the exec-allowed folders that the phone maps to a
host program (its load_and_run is lar-lite). Anything else: `not found`, 127.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tarfile
import threading
from typing import Callable, Sequence

from tests.support.adbd.storage import Storage
from tests.support.adbd.wire import Disconnected
from tests.support.adbd.words import ShellSyntaxError, split

Write = Callable[[bytes], None]


def _discard(_data: bytes) -> None:
    """What a redirection to /dev/null writes to."""


class Pids:
    """The phone's process table: its own pids mapped to the host processes they stand for."""

    def __init__(self) -> None:
        self._next = 4000
        self._procs: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def new(self) -> int:
        with self._lock:
            self._next += 1
            return self._next

    def bind(self, pid: int, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs[pid] = proc

    def kill(self, pid: int, sig: int, group: bool) -> bool:
        with self._lock:
            proc = self._procs.get(pid)
        if proc is None or proc.poll() is not None:
            return False
        try:
            os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
        except ProcessLookupError:
            return False
        return True

    def kill_all(self) -> None:
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


class _Out:
    """Buffered writer for tar's stream into the adb stream."""

    def __init__(self, write: Write) -> None:
        self.write_out = write
        self.buf = bytearray()

    def write(self, data: bytes) -> int:
        self.buf += data
        if len(self.buf) >= 1 << 20:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.buf:
            self.write_out(bytes(self.buf))
            self.buf = bytearray()


class Shell:
    """One `sh -c` session; `programs` maps a program's file name to the host argv that stands in for it."""

    def __init__(
        self,
        storage: Storage,
        pids: Pids,
        props: dict[str, str],
        programs: dict[str, Sequence[str]],
        free_bytes: Callable[[], int],
        host_env: dict[str, str],
    ) -> None:
        self.storage = storage
        self.pids = pids
        self.props = props
        self.programs = programs
        self.free_bytes = free_bytes
        self.host_env = host_env
        self.cwd = "/"
        self.pid = pids.new()

    def run(self, line: str, out: Write, err: Write) -> int:
        try:
            words = split(line, self.pid)
        except ShellSyntaxError as exc:
            err(f"sh: {exc}\n".encode())
            return 2
        status, op = 0, ";"
        cmd: list[str] = []
        for w in words + ["\x00;"]:
            if not w.startswith("\x00"):
                cmd.append(w)
                continue
            if cmd and (op == ";" or (op == "&&") == (status == 0)):
                status = self._simple(cmd, out, err)
            cmd, op = [], w[1:]
        return status

    def _simple(self, words: list[str], out: Write, err: Write) -> int:
        args: list[str] = []
        redirect: str | None = None
        it = iter(words)
        for w in it:
            if w in ("2>/dev/null",):
                err = _discard
            elif w == "2>&1":
                err = out
            elif w in (">", "1>"):
                redirect = next(it, None)
            elif w.startswith(">") and len(w) > 1:
                redirect = w[1:]
            else:
                args.append(w)
        if redirect is not None:
            if redirect == "/dev/null":
                out = _discard
            else:
                try:
                    target = open(self.storage.host(redirect, self.cwd), "wb")  # noqa: SIM115 (closed by the with below)
                except OSError as exc:
                    err(f"sh: {redirect}: {exc.strerror}\n".encode())
                    return 1
                with target:
                    return self._command(args, target.write, err)
        return self._command(args, out, err)

    def _command(self, args: list[str], out: Write, err: Write, env: dict[str, str] | None = None) -> int:
        env = dict(env or {})
        while args and "=" in args[0] and not args[0].startswith("="):
            key, _, value = args.pop(0).partition("=")
            env[key] = value
        if not args:
            return 0
        name, rest = args[0], args[1:]
        if name == "exec":
            return self._command(rest, out, err, env)
        if name == "env":
            return self._command(rest, out, err, env)
        builtin = getattr(self, f"_b_{name}", None)
        if builtin is not None and "/" not in name:
            try:
                return builtin(rest, out, err)
            except OSError as exc:
                err(f"{name}: {exc.filename or ''}: {exc.strerror or exc}\n".encode())
                return 1
        return self._program(name, rest, env, out, err)

    # --- programs

    def _program(self, name: str, args: list[str], env: dict[str, str], out: Write, err: Write) -> int:
        if "/" not in name:
            err(f"sh: {name}: not found\n".encode())
            return 127
        phone = self.storage.phone_path(name, self.cwd)
        host = self.storage.host(phone)
        if not host.is_file():
            err(f"sh: {name}: not found\n".encode())
            return 127
        if not self.storage.executable(phone):
            err(f"sh: {name}: Permission denied\n".encode())
            return 126
        argv0 = self.programs.get(os.path.basename(phone))
        if argv0 is None:
            err(f"sh: {name}: can't execute: Exec format error\n".encode())
            return 126
        full_env = {k: v for k, v in self.host_env.items() if k != "MGB_USE_MEGDNN_DBG"}
        full_env.update(env)
        proc = subprocess.Popen(
            [*argv0, *args],
            cwd=str(self.storage.host(self.cwd)),
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.pids.bind(self.pid, proc)  # `exec` semantics: the program takes the shell's pid

        def pump(pipe, write: Write) -> None:
            gone = False
            for chunk in iter(lambda: pipe.read1(1 << 16), b""):
                if not gone:
                    try:
                        write(chunk)
                    except Disconnected:  # the host went away (unplugged): drain, as the program keeps running
                        gone = True
            pipe.close()

        threads = [
            threading.Thread(target=pump, args=(proc.stdout, out), daemon=True),
            threading.Thread(target=pump, args=(proc.stderr, err), daemon=True),
        ]
        for t in threads:
            t.start()
        code = proc.wait()
        for t in threads:
            t.join()
        return code if code >= 0 else 128 - code

    # --- builtins (toybox's behaviour, as far as a runner sees it)

    def _b_true(self, args, out, err) -> int:
        return 0

    def _b_false(self, args, out, err) -> int:
        return 1

    def _b_cd(self, args, out, err) -> int:
        target = self.storage.phone_path(args[0] if args else "/", self.cwd)
        if not self.storage.host(target).is_dir():
            err(f"sh: cd: {target}: No such file or directory\n".encode())
            return 2
        self.cwd = target
        return 0

    def _b_echo(self, args, out, err) -> int:
        out((" ".join(args) + "\n").encode())
        return 0

    def _b_cat(self, args, out, err) -> int:
        status = 0
        for a in args:
            try:
                out(self.storage.host(a, self.cwd).read_bytes())
            except OSError:
                err(f"cat: {a}: No such file or directory\n".encode())
                status = 1
        return status

    def _b_getprop(self, args, out, err) -> int:
        if args:
            out((self.props.get(args[0], "") + "\n").encode())
        else:
            out("".join(f"[{k}]: [{v}]\n" for k, v in sorted(self.props.items())).encode())
        return 0

    def _b_mkdir(self, args, out, err) -> int:
        parents = "-p" in args
        for a in (a for a in args if not a.startswith("-")):
            self.storage.host(a, self.cwd).mkdir(parents=parents, exist_ok=parents)
        return 0

    def _b_rm(self, args, out, err) -> int:
        flags = "".join(a[1:] for a in args if a.startswith("-"))
        for a in (a for a in args if not a.startswith("-")):
            path = self.storage.host(a, self.cwd)
            if path.is_dir() and not path.is_symlink():
                if "r" not in flags:
                    err(f"rm: {a}: is a directory\n".encode())
                    return 1
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            elif "f" not in flags:
                err(f"rm: {a}: No such file or directory\n".encode())
                return 1
        return 0

    def _b_ln(self, args, out, err) -> int:
        """`ln -s TARGET LINK`: the target is kept as written (relative targets resolve on the host too)."""
        words = [a for a in args if not a.startswith("-")]
        if "-s" not in args or len(words) != 2:
            err(b"ln: only ln -s TARGET LINK here\n")
            return 1
        os.symlink(words[0], self.storage.host(words[1], self.cwd))
        return 0

    def _b_chmod(self, args, out, err) -> int:
        mode, files = args[0], args[1:]
        for a in files:
            path = self.storage.host(a, self.cwd)
            if mode == "+x":
                os.chmod(path, path.stat().st_mode | 0o111)
            else:
                os.chmod(path, int(mode, 8))
        return 0

    def _b_sha256sum(self, args, out, err) -> int:
        status = 0
        for a in (a for a in args if not a.startswith("-")):
            try:
                h = hashlib.sha256()
                with open(self.storage.host(a, self.cwd), "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
            except (OSError, PermissionError):
                err(f"sha256sum: {a}: No such file or directory\n".encode())
                status = 1
                continue
            out(f"{h.hexdigest()}  {a}\n".encode())
        return status

    def _b_df(self, args, out, err) -> int:
        path = next((a for a in args if not a.startswith("-")), "/data")
        host = self.storage.host(path, self.cwd)
        if not host.exists():
            err(f"df: {path}: No such file or directory\n".encode())
            return 1
        total = shutil.disk_usage(self.storage.root).total // 1024
        free = self.free_bytes() // 1024
        used = max(total - free, 0)
        pct = (used * 100 // total) if total else 0
        out(
            (
                "Filesystem      1K-blocks     Used Available Use% Mounted on\n"
                f"/dev/block/dm-5 {total:>9} {used:>8} {free:>9} {pct:>3}% /data\n"
            ).encode()
        )
        return 0

    def _b_kill(self, args, out, err) -> int:
        sig = signal.SIGTERM
        rest = list(args)
        if rest and rest[0] == "-s" and len(rest) > 1:
            sig = getattr(signal, "SIG" + rest[1].upper(), signal.SIGTERM)
            rest = rest[2:]
        elif rest and rest[0].startswith("-") and not rest[0][1:].isdigit() and rest[0] != "--":
            sig = getattr(signal, "SIG" + rest[0][1:].upper(), None) or signal.SIGTERM
            rest = rest[1:]
        if rest and rest[0] == "--":
            rest = rest[1:]
        status = 0
        for a in rest:
            try:
                pid = int(a)
            except ValueError:
                err(f"kill: {a}: bad pid\n".encode())
                return 1
            if not self.pids.kill(abs(pid), sig, group=pid < 0):
                err(f"kill: {a}: No such process\n".encode())
                status = 1
        return status

    def _b_tar(self, args, out, err) -> int:
        """`tar c[f -] [-C DIR] NAMES`: a ustar stream of regular files and folders to stdout."""
        rest, base, create = list(args), self.cwd, False
        names = []
        while rest:
            a = rest.pop(0)
            if a == "-C" and rest:
                base = self.storage.phone_path(rest.pop(0), self.cwd)
            elif a == "-f" and rest:
                if rest.pop(0) != "-":
                    err(b"tar: this phone only writes to stdout\n")
                    return 1
            elif a.lstrip("-") and set(a.lstrip("-")) <= set("cvf"):
                create = create or "c" in a
                if "f" in a and rest and rest[0] == "-":
                    rest.pop(0)
            else:
                names.append(a)
        if not create:
            err(b"tar: need c\n")
            return 1
        sink = _Out(out)
        root = self.storage.host(base)
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
            for name in names:
                if not (root / name).exists():
                    err(f"tar: {name}: No such file or directory\n".encode())
                    return 1
                tar.add(str(root / name), arcname=name, recursive=True)
        sink.flush()
        return 0
