# -*- coding: utf-8 -*-
"""Board-side helper: piped to the board's Python (`python - CMD JSON`), stdlib only.

It probes the board, starts/stops/inspects the agent and prints one JSON object.
Written without f-strings or other new syntax so that even an old Python can run
far enough to report its own version instead of a SyntaxError.
"""

import json
import os
import socket
import subprocess
import sys
import time


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def expand(path):
    return os.path.abspath(os.path.expanduser(path))


def listening(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except (OSError, socket.error):
        return False
    finally:
        s.close()


def unit_for(workdir):
    """One systemd --user unit per workdir, so boards sharing a host (tests) or
    several farms on one board do not collide."""
    import hashlib

    return "larfarm-agent-" + hashlib.sha256(workdir.encode()).hexdigest()[:10]


def systemd_user_works():
    """ "yes" when a systemd --user manager answers and keeps units after logout
    (lingering); otherwise why not."""
    try:
        rc = subprocess.call(
            ["systemctl", "--user", "show-environment"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
        )
    except Exception:
        return "no systemctl"
    if rc != 0:
        return "`systemctl --user` does not work (no user manager)"
    try:
        p = subprocess.Popen(
            ["loginctl", "show-user", str(os.getuid()), "--property=Linger", "--value"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        linger = p.communicate(timeout=10)[0].decode().strip()
    except Exception:
        linger = ""
    if linger != "yes":
        # Without lingering, systemd stops the user's units when the SSH session ends.
        return "lingering is off (run `loginctl enable-linger` on the board)"
    return "yes"


def probe(args):
    info = {
        "python": "%d.%d.%d" % tuple(sys.version_info[:3]),
        "executable": sys.executable,
        "modules": {},
        "errors": {},
    }
    if sys.version_info < (3, 8):
        return info
    import importlib

    for name in args.get("modules", []):
        try:
            mod = importlib.import_module(name)
            info["modules"][name] = str(getattr(mod, "__version__", "") or "?")
        except Exception as exc:  # any import failure is "missing" for the report
            info["errors"][name] = "%s: %s" % (type(exc).__name__, exc)
    workdir = expand(args["workdir"])
    info["workdir"] = workdir
    try:
        os.makedirs(workdir, mode=0o700, exist_ok=True)
        info["workdir_ok"] = os.access(workdir, os.W_OK)
    except OSError as exc:
        info["workdir_ok"] = False
        info["workdir_error"] = str(exc)
    info["systemd_user"] = systemd_user_works() if args.get("check_systemd") else "not checked"
    return info


def port_state(port):
    """free, or in use and why."""
    # A listener is in the way whatever socket options it bound with (gRPC uses
    # SO_REUSEPORT); then a bind test catches sockets that do not listen.
    if listening(port):
        return {"free": False, "error": "a program accepts connections on 127.0.0.1:%d" % port}
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return {"free": True}
    except OSError as exc:
        return {"free": False, "error": str(exc)}
    finally:
        s.close()


def read_pid(workdir):
    try:
        with open(os.path.join(workdir, "agent.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def is_our_agent(pid, pyz):
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return pyz.encode() in f.read()
    except OSError:
        return True  # no /proc: trust the pid file


def systemctl(*argv):
    p = subprocess.Popen(["systemctl", "--user"] + list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    o, e = p.communicate(timeout=30)
    return p.returncode, o.decode("utf-8", "replace").strip(), e.decode("utf-8", "replace").strip()


def unit_path(unit):
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return os.path.join(base, "systemd", "user", unit + ".service")


def unit_state(unit):
    if not os.path.exists(unit_path(unit)):
        return None
    rc, o, _ = systemctl("show", "-p", "MainPID", "-p", "ActiveState", unit + ".service")
    state = dict(line.split("=", 1) for line in o.splitlines() if "=" in line)
    pid = int(state.get("MainPID", "0") or 0)
    return {"active": state.get("ActiveState") == "active", "pid": pid or None}


def stop(args):
    workdir = expand(args["workdir"])
    pyz = os.path.join(workdir, "larfarm-agent.pyz")
    stopped = []
    unit = unit_for(workdir)
    st = unit_state(unit)
    if st is not None:
        systemctl("stop", unit + ".service")
        systemctl("disable", unit + ".service")
        try:
            os.remove(unit_path(unit))
        except OSError:
            pass
        systemctl("daemon-reload")
        if st["active"]:
            stopped.append("unit %s" % unit)
    pid = read_pid(workdir)
    if is_our_agent(pid, pyz):
        import signal

        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + float(args.get("grace_s", 5))
        while time.time() < deadline and is_our_agent(pid, pyz):
            time.sleep(0.05)
        if is_our_agent(pid, pyz):
            # Started with its own session: its group holds whatever it left running.
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        stopped.append("pid %d" % pid)
    try:
        os.remove(os.path.join(workdir, "agent.pid"))
    except OSError:
        pass
    # The port must be free again before a new agent may take it.
    port = int(args["port"])
    deadline = time.time() + 5
    while time.time() < deadline and listening(port) and stopped:
        time.sleep(0.05)
    return {"stopped": stopped}


def log_tail(path, n=20):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError:
        return ""


def unit_text(workdir, argv, logpath):
    """The systemd --user unit that keeps the agent running (restarted on failure)."""

    def quote(arg):
        # systemd's own quoting: double quotes, backslash escapes, and %% for %
        return '"%s"' % arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")

    return (
        "[Unit]\nDescription=larfarm agent (%s)\n\n[Service]\nExecStart=%s\n"
        "WorkingDirectory=%s\nStandardOutput=append:%s\nStandardError=append:%s\n"
        "Restart=on-failure\nRestartSec=2\n\n[Install]\nWantedBy=default.target\n"
        % (
            workdir.replace("%", "%%"),
            " ".join(quote(a) for a in argv),
            workdir.replace("%", "%%"),
            logpath.replace("%", "%%"),
            logpath.replace("%", "%%"),
        )
    )


def start(args):
    workdir = expand(args["workdir"])
    port = int(args["port"])
    argv = [a.replace("{workdir}", workdir) for a in args["argv"]]
    logpath = os.path.join(workdir, "agent.log")
    how = "setsid"
    if args.get("service") == "systemd":
        how = "systemd"
        unit = unit_for(workdir)
        path = unit_path(unit)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        with open(path, "w") as f:
            f.write(unit_text(workdir, argv, logpath))
        open(logpath, "w").close()
        systemctl("daemon-reload")
        rc, o, e = systemctl("enable", "--now", unit + ".service")
        if rc != 0:
            return {"how": how, "pid": None, "listening": False, "exited": rc, "log_tail": (e or o)}
        st = unit_state(unit) or {}
        pid = st.get("pid")
    else:
        logf = open(logpath, "wb")
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            close_fds=True,
            start_new_session=True,
        )
        logf.close()
        pid = proc.pid
        with open(os.path.join(workdir, "agent.pid.tmp"), "w") as f:
            f.write("%d\n" % pid)
        os.rename(os.path.join(workdir, "agent.pid.tmp"), os.path.join(workdir, "agent.pid"))
    deadline = time.time() + float(args.get("wait_s", 20))
    exited = None
    while time.time() < deadline:
        if listening(port):
            break
        if how == "setsid":
            exited = proc.poll()
        else:
            st = unit_state(unit_for(workdir)) or {}
            if not st.get("active"):
                exited = -1
        if exited is not None:
            break
        time.sleep(0.1)
    up = listening(port)
    res = {"how": how, "pid": pid, "listening": up, "exited": exited}
    if not up:
        res["log_tail"] = log_tail(logpath)
    return res


def status(args):
    workdir = expand(args["workdir"])
    pyz = os.path.join(workdir, "larfarm-agent.pyz")
    res = {"deployed": os.path.exists(pyz), "how": None, "pid": None, "running": False}
    st = unit_state(unit_for(workdir))
    if st is not None:
        res.update(how="systemd", unit=unit_for(workdir), pid=st["pid"], running=st["active"])
    else:
        pid = read_pid(workdir)
        if pid is not None:
            res.update(how="setsid", pid=pid, running=is_our_agent(pid, pyz))
    res["listening"] = listening(int(args["port"]))
    return res


def main():
    cmd = sys.argv[1]
    args = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    if cmd == "probe":
        out(probe(args))
        return
    if sys.version_info < (3, 8):
        out({"error": "python too old"})
        sys.exit(3)
    handlers = {"port": lambda a: port_state(int(a["port"])), "start": start, "stop": stop, "status": status}
    out(handlers[cmd](args))


if __name__ == "__main__":
    main()
