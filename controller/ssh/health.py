"""The standard gRPC health check (grpc.health.v1, no token needed) against an agent address."""

from __future__ import annotations

import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def wait_serving(address: str, timeout: float) -> str:
    """Poll Health.Check until SERVING or `timeout`; return the last status or error seen."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return last
            try:
                resp = stub.Check(  # type: ignore[attr-defined]  # the typeshed stub declares no RPCs on HealthStub
                    health_pb2.HealthCheckRequest(service=""), timeout=min(left, 5.0), wait_for_ready=True
                )
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
                if resp.status == health_pb2.HealthCheckResponse.SERVING:
                    return last
            except grpc.RpcError as err:
                code = err.code() if hasattr(err, "code") else None
                last = (
                    f"{code.name if code else 'error'}: {(err.details() or '').strip()}"
                    if hasattr(err, "details")
                    else str(err)
                )
            time.sleep(0.2)
