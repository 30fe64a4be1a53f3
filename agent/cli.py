"""`agent`: serve the larfarm agent, or print its version or this device's facts.

argparse only: the agent must start on a board with a bare Python, grpcio and protobuf.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn, Optional, Sequence

from agent import __version__
from agent.config import AgentConfig, load_config, read_token_file
from agent.errors import EXIT_USAGE, ConfigError, describe

log = logging.getLogger("agent")

#: A stop (SIGTERM, SIGINT) ends the process within this many seconds, come what may.
SHUTDOWN_LIMIT_S = 20.0


def split_listen(listen: str) -> tuple[str, str]:
    """('host', 'port') from HOST:PORT or [v6]:PORT."""
    if listen.startswith("["):
        host, sep, port = listen[1:].partition("]:")
    else:
        host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError("--listen", f"expected HOST:PORT, got {listen!r}")
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (as every other error), not the usage block and a line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # no prefixes: `--port 9000` silently meant --port-file and wrote a file named 9000
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="agent", description="larfarm agent: runs load_and_run on this device and serves its dumps over gRPC."
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the agent's gRPC API")
    s.add_argument("--config", type=Path, help="agent.yaml (JSON works too when PyYAML is missing)")
    s.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:50051; port 0 picks a free one)")
    s.add_argument("--token-file", type=Path, help="file whose first line is the token (else $LARFARM_TOKEN)")
    s.add_argument("--tls-cert", type=Path, help="server certificate (PEM)")
    s.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    s.add_argument("--tls-client-ca", type=Path, help="CA for client certificates: turns on mutual TLS")
    s.add_argument("--workspace", type=Path, help="folder for blobs and runs")
    s.add_argument("--port-file", type=Path, help="write the bound port number here once listening")
    sub.add_parser("version", help="print the agent version")
    f = sub.add_parser("facts", help="print this device's facts as JSON")
    f.add_argument("--config", type=Path)
    return p


def resolve_config(args: argparse.Namespace) -> AgentConfig:
    """Config file, then command-line overrides, then the token from the environment."""
    cfg = load_config(args.config)
    over = {}
    if args.listen:
        over["listen"] = args.listen
    if args.workspace:
        over["workspace"] = args.workspace
    if args.token_file:
        over["token"] = read_token_file(args.token_file)
    elif cfg.token is None and os.environ.get("LARFARM_TOKEN"):
        over["token"] = os.environ["LARFARM_TOKEN"].strip()
    for key in ("tls_cert", "tls_key", "tls_client_ca", "port_file"):
        if getattr(args, key):
            over[key] = getattr(args, key)
    return dataclasses.replace(cfg, **over)


def check_exposure(cfg: AgentConfig) -> None:
    """Refuse to listen beyond loopback without a token; warn without TLS."""
    host, _port = split_listen(cfg.listen)
    if is_loopback(host):
        if not cfg.token:
            log.warning("no token set: any local user can run programs through this agent")
        return
    if not cfg.token:
        raise ConfigError(
            "--listen",
            f"refusing to listen on {host} (beyond loopback) without a token; set --token-file or LARFARM_TOKEN",
        )
    if not cfg.tls_cert:
        log.warning("listening on %s without TLS: the token and dumps cross the network in clear text", host)


def serve(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    check_exposure(cfg)
    try:
        from agent.server import build_server  # grpc is imported only for serving
    except ImportError as err:
        raise ConfigError(
            "agent",
            f"missing Python package {err.name!r}: pip install grpcio protobuf "
            "grpcio-health-checking grpcio-reflection",
        ) from None
    except Exception as err:  # the generated stubs refuse a grpcio/protobuf older than they were made for
        if type(err).__name__ not in ("RuntimeError", "VersionError"):
            raise
        raise ConfigError("agent", str(err).splitlines()[0]) from None

    srv = build_server(cfg)
    host, _ = split_listen(cfg.listen)
    bound = f"[{host}]:{srv.port}" if ":" in host else f"{host}:{srv.port}"
    if cfg.port_file:
        tmp = cfg.port_file.with_name(cfg.port_file.name + ".tmp")
        tmp.write_text(f"{srv.port}\n")  # just the port: the host is what --listen said
        os.replace(tmp, cfg.port_file)
    print(f"listening on {bound}", flush=True)
    # The handler only sets a flag: taking a lock there (Event.set) can deadlock against the
    # main thread that holds the same lock when the signal lands. Sleeping in short steps also
    # runs the handler soon when the kernel hands the signal to one of gRPC's threads.
    stopping: list = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    while not stopping:
        time.sleep(0.2)
    log.info("stopping: cancelling runs")
    # Whatever happens during shutdown, the agent must not outlive it (a supervisor or a controller
    # that started it is waiting): everything worth keeping is on disk by now.
    watchdog = threading.Timer(SHUTDOWN_LIMIT_S, _hard_exit, args=(3, "shutdown took too long"))
    watchdog.daemon = True
    watchdog.start()
    srv.stop()
    _hard_exit(0, "stopped")  # no waiting on stray handler threads at interpreter exit
    return 0


def _hard_exit(code: int, why: str) -> None:
    log.info("agent %s", why)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or gone: nothing left to say
            pass
    os._exit(code)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The `agent` console script: every failure is one line on stderr and the exit code of agent.errors' table."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return _command(args)
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 - the one place every command's errors end
        if args.debug:
            raise
        line, hint, code = describe(err)
        print(f"agent: error: {line}" + (f" (hint: {hint})" if hint else ""), file=sys.stderr)
        return code


def _command(args: argparse.Namespace) -> int:
    if args.command == "version":
        print(f"larfarm agent {__version__} (protocol larfarm.agent.v1)")
        return 0
    if args.command == "facts":
        from agent.facts import gather

        print(json.dumps(dataclasses.asdict(gather(load_config(args.config))), indent=2))
        return 0
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
