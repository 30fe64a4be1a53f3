"""Build the agent's gRPC server in one place: auth, health, reflection, TLS, message limits."""

from __future__ import annotations

import logging
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import grpc

from agent.blobs import BlobStore
from agent.config import AgentConfig
from agent.errors import ConfigError
from agent.quota import Quota
from agent.runs import RunManager
from agent.service import AgentService

log = logging.getLogger(__name__)

#: Far above the largest chunk (8 MiB) and manifest; never gRPC's 4 MB default.
MAX_MESSAGE_BYTES = 64 << 20
SERVICE_NAME = "larfarm.agent.v1.Agent"


@dataclass
class AgentServer:
    server: grpc.Server
    port: int
    runs: RunManager
    gates: tuple = ()

    def stop(self, grace: Optional[float] = 2.0) -> None:
        self.runs.close()
        self.server.stop(grace).wait()
        for gate in self.gates:
            gate.close()


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConfigError(str(path), f"cannot read {what}: {err.strerror}") from None


def build_server(config: AgentConfig, max_workers: Optional[int] = None) -> AgentServer:
    """Wire store, runs, service, token interceptor, health and reflection; bind and start.

    Returns the started server and the bound port (config.listen may ask for port 0).
    """
    try:
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc
        from grpc_reflection.v1alpha import reflection
    except ImportError as err:
        raise ConfigError(
            "agent", f"missing Python package ({err.name}): pip install grpcio-health-checking grpcio-reflection"
        ) from None
    from agent.auth import TokenInterceptor
    from agent.streams import UNARY_THREADS, StreamGate, StreamLimitInterceptor
    from agent.wire import agent_handler
    from larfarm.agent.v1 import agent_pb2

    if config.tls_cert or config.tls_key:
        if not (config.tls_cert and config.tls_key):
            raise ConfigError("tls", "give both a certificate and a key")
        client_ca = _read(config.tls_client_ca, "TLS client CA") if config.tls_client_ca else None
        creds = grpc.ssl_server_credentials(
            [(_read(config.tls_key, "TLS key"), _read(config.tls_cert, "TLS certificate"))],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )
    elif config.tls_client_ca:
        raise ConfigError("tls", "a client CA (mutual TLS) needs a server certificate and key too")
    else:
        creds = None
    ws = config.workspace
    ws.mkdir(parents=True, exist_ok=True)
    quota = Quota(config.quota_bytes)
    blobs = BlobStore(ws / "blobs", quota, config.max_blob_bytes)
    runs = RunManager(config, blobs, quota)
    quota.add(blobs.used_bytes() + runs.run_bytes())

    # Each open stream holds a thread. Run streams are bounded by the queue (every queued run
    # plus the running one, and one being refused); every other stream by max_streams. The
    # pool has room for all of them and UNARY_THREADS more, so health and facts always answer.
    run_streams = StreamGate(
        "Run streams", config.max_queued_runs + 2, config.max_queued_runs + 2, config.stream_stall_s
    )
    other_streams = StreamGate("streams", config.max_streams, config.max_streams_per_client, config.stream_stall_s)
    gates = (run_streams, other_streams)
    max_workers = max_workers or run_streams.total + other_streams.total + UNARY_THREADS
    interceptors: list = [TokenInterceptor(config.token)] if config.token else []
    interceptors.append(
        StreamLimitInterceptor(lambda method: run_streams if method == f"/{SERVICE_NAME}/Run" else other_streams)
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="agent-rpc"),
        interceptors=interceptors,
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
            ("grpc.keepalive_permit_without_calls", 1),
            # Clients ping every 30 s during long silent runs; do not treat that as abuse.
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_ping_strikes", 0),
        ],
    )
    server.add_generic_rpc_handlers((agent_handler(AgentService(config, blobs, runs, quota)),))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (agent_pb2.DESCRIPTOR.services_by_name["Agent"].full_name, health.SERVICE_NAME, reflection.SERVICE_NAME),
        server,
    )
    try:
        port = server.add_secure_port(config.listen, creds) if creds else server.add_insecure_port(config.listen)
    except RuntimeError:
        port = 0
    if not port:
        runs.close()
        for gate in gates:
            gate.close()
        raise ConfigError("listen", f"cannot listen on {config.listen} (address in use or not local?)")
    server.start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("workspace %s: %d of %d bytes used", ws, quota.used, quota.limit)
    return AgentServer(server, port, runs, gates)
