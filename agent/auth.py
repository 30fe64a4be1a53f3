"""Token authentication as a gRPC server interceptor (health checks exempt)."""

from __future__ import annotations

import hmac
import logging
from typing import Optional

import grpc

log = logging.getLogger(__name__)

#: Calls anyone may make: load balancers and probes carry no token.
EXEMPT_PREFIXES = ("/grpc.health.v1.Health/",)
TOKEN_HEADER = "x-larfarm-token"


def token_from_metadata(metadata) -> Optional[str]:
    """The token from `authorization: Bearer <t>` or `x-larfarm-token: <t>`."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value[len("Bearer ") :]
        if key == TOKEN_HEADER and isinstance(value, str):
            return value
    return None


def _rejecter(handler: grpc.RpcMethodHandler, method: str, why: str) -> grpc.RpcMethodHandler:
    """A handler of the same streaming shape as the real one that only says UNAUTHENTICATED."""

    def reject(request_or_iterator, context):
        log.warning("refused %s from %s: %s token", method, context.peer(), why)  # never the value
        context.abort(
            grpc.StatusCode.UNAUTHENTICATED, f"{why} token: pass the agent's token as 'authorization: Bearer <token>'"
        )

    kw = dict(request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(reject, **kw)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(reject, **kw)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(reject, **kw)
    return grpc.unary_unary_rpc_method_handler(reject, **kw)


class TokenInterceptor(grpc.ServerInterceptor):
    """Lets a call through only with the right token, compared in constant time."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("TokenInterceptor needs a non-empty token")
        self._token = token.encode()

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if method.startswith(EXEMPT_PREFIXES):
            return continuation(handler_call_details)
        given = token_from_metadata(handler_call_details.invocation_metadata)
        if given is not None and hmac.compare_digest(given.encode(), self._token):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return _rejecter(handler, method, "missing" if given is None else "wrong")
