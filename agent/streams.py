"""Bound the agent's open streams, and end those whose peer stalls.

Each open gRPC stream holds one server thread for as long as it lasts, and a reader that
never reads blocks that thread in a send. Without bounds, one client that opened 100
Fetch streams and read none of them took every RPC thread: health and GetFacts timed out
and the agent's memory grew by the chunks held for the stalled readers. So every
streaming call passes a gate (in total and per client, the excess gets RESOURCE_EXHAUSTED
at once), and a watchdog cancels a stream that has waited on its peer for stall_s.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Callable, Dict, Iterator, Optional

import grpc

from agent.auth import token_from_metadata

log = logging.getLogger(__name__)

#: Threads kept for unary calls (health, facts, blob checks, cancel) beyond every stream slot.
UNARY_THREADS = 16
REFUSAL_LOG_S = 60.0


def client_key(context: grpc.ServicerContext) -> str:
    """Who a call comes from: its token (hashed, never logged), else the peer's host without the port."""
    token = token_from_metadata(context.invocation_metadata())
    if token:
        return "token " + hashlib.sha256(token.encode()).hexdigest()[:12]
    peer = context.peer() or "unknown"
    host = peer.rsplit(":", 1)[0] if peer.count(":") >= 2 else peer
    return "host " + host


class Slot:
    """One open stream: when it started waiting on its peer (None while the agent works)."""

    def __init__(self, gate: StreamGate, key: str, method: str, context: grpc.ServicerContext) -> None:
        self.gate = gate
        self.key = key
        self.method = method
        self.context = context
        self.waiting_since: Optional[float] = None
        self._released = False

    def release(self) -> None:
        self.gate._release(self)

    def sending(self, messages: Iterator) -> Iterator:
        """Pass the messages on, counting the time each one waits for the peer to take it."""
        for msg in messages:
            self.waiting_since = time.monotonic()
            yield msg  # suspended here until gRPC has handed the message to the peer
            self.waiting_since = None

    def receiving(self, requests: Iterator) -> Iterator:
        """Pass the client's messages on, counting the time spent waiting for each."""
        while True:
            self.waiting_since = time.monotonic()
            try:
                msg = next(requests)
            except StopIteration:
                return
            finally:
                self.waiting_since = None
            yield msg


class StreamGate:
    """At most `total` open streams, `per_client` of them from one client; stalls end after stall_s."""

    def __init__(self, name: str, total: int, per_client: int, stall_s: float) -> None:
        self.name = name
        self.total = total
        self.per_client = per_client
        self.stall_s = stall_s
        self._lock = threading.Lock()
        self._slots: set = set()
        self._per_key: Dict[str, int] = {}
        self._refused = 0
        self._refusal_logged = -REFUSAL_LOG_S
        self._closed = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name=f"{name}-watchdog", daemon=True)
        self._watchdog.start()

    def open(self, context: grpc.ServicerContext, method: str) -> Optional[Slot]:
        """A slot for this call, or None when the limits are reached (the caller refuses the call)."""
        key = client_key(context)
        with self._lock:
            if len(self._slots) >= self.total or self._per_key.get(key, 0) >= self.per_client:
                return None
            slot = Slot(self, key, method, context)
            self._slots.add(slot)
            self._per_key[key] = self._per_key.get(key, 0) + 1
        context.add_callback(slot.release)  # also when gRPC drops the call without closing our generator
        return slot

    def refusal(self, context: grpc.ServicerContext) -> str:
        key = client_key(context)
        with self._lock:
            if self._per_key.get(key, 0) >= self.per_client:
                return (
                    f"this client already has {self.per_client} {self.name} open "
                    f"(max_streams_per_client); finish or cancel one first"
                )
            return f"the agent already has {self.total} {self.name} open; try again when one has finished"

    def note_refusal(self) -> bool:
        """Count a refusal; True when it should be logged (the first in REFUSAL_LOG_S, with the count)."""
        with self._lock:
            self._refused += 1
            now = time.monotonic()
            if now - self._refusal_logged < REFUSAL_LOG_S:
                return False
            self._refusal_logged = now
            return True

    def open_count(self) -> int:
        with self._lock:
            return len(self._slots)

    def _release(self, slot: Slot) -> None:
        with self._lock:
            if slot._released:
                return
            slot._released = True
            self._slots.discard(slot)
            n = self._per_key.get(slot.key, 1) - 1
            if n:
                self._per_key[slot.key] = n
            else:
                self._per_key.pop(slot.key, None)

    def close(self) -> None:
        self._closed.set()

    def _watch(self) -> None:
        period = max(0.05, min(1.0, self.stall_s / 4))
        while not self._closed.wait(period):
            now = time.monotonic()
            with self._lock:
                stalled = [
                    s for s in self._slots if s.waiting_since is not None and now - s.waiting_since > self.stall_s
                ]
            for slot in stalled:
                log.warning(
                    "ending %s from %s: its peer took or sent nothing for %g s", slot.method, slot.key, self.stall_s
                )
                slot.context.cancel()  # unblocks the thread stuck in the send; the slot is released by callback
                slot.release()


class StreamLimitInterceptor(grpc.ServerInterceptor):
    """Puts every streaming call through a gate: `pick(method)` names the gate (None: not limited)."""

    def __init__(self, pick: Callable[[str], Optional[StreamGate]]) -> None:
        self._pick = pick

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or not (handler.request_streaming or handler.response_streaming):
            return handler
        gate = self._pick(handler_call_details.method)
        if gate is None:
            return handler
        return _gated(handler, gate, handler_call_details.method)


def _gated(handler: grpc.RpcMethodHandler, gate: StreamGate, method: str) -> grpc.RpcMethodHandler:
    kw = dict(request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
    short = method.rsplit("/", 1)[-1]

    def enter(context) -> Slot:
        slot = gate.open(context, short)
        if slot is None:
            why = gate.refusal(context)
            if gate.note_refusal():  # once a minute: a flood of refusals must not flood the log
                log.warning("refused %s from %s: %s", short, client_key(context), why)
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, why)
            raise AssertionError("context.abort() raises")  # never reached: gRPC ends the call there
        return slot

    if handler.response_streaming:
        behavior = handler.stream_stream if handler.request_streaming else handler.unary_stream

        def streaming(request, context):
            slot = enter(context)
            try:
                if handler.request_streaming:
                    request = slot.receiving(request)
                yield from slot.sending(behavior(request, context))
            finally:
                slot.release()

        if handler.request_streaming:
            return grpc.stream_stream_rpc_method_handler(streaming, **kw)
        return grpc.unary_stream_rpc_method_handler(streaming, **kw)

    def unary_response(request_iterator, context):
        slot = enter(context)
        try:
            return handler.stream_unary(slot.receiving(request_iterator), context)
        finally:
            slot.release()

    return grpc.stream_unary_rpc_method_handler(unary_response, **kw)
