"""Fast path for Fetch: data chunks are framed by hand so a 1 MiB chunk is not copied through
a protobuf message on the way out. The bytes are exactly protobuf's encoding of
`FetchChunk{data: ...}` (field 2, length-delimited), so any gRPC client decodes them.
"""

from __future__ import annotations

from typing import Any

import grpc

from larfarm.agent.v1 import agent_pb2

#: FetchChunk.data is field 2, wire type 2 (length-delimited): tag byte 0x12.
DATA_TAG = b"\x12"


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def data_frame(block: bytes) -> bytes:
    """Serialized FetchChunk{data: block}."""
    return DATA_TAG + varint(len(block)) + block


def _serialize(msg: Any) -> bytes:
    return msg if isinstance(msg, bytes) else msg.SerializeToString()


def agent_handler(servicer: Any) -> grpc.GenericRpcHandler:
    """The Agent service's handlers, built from its descriptor; Fetch accepts pre-framed bytes."""
    from google.protobuf.message_factory import GetMessageClass

    service = agent_pb2.DESCRIPTOR.services_by_name["Agent"]
    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    handlers = {}
    for m in service.methods:
        request_cls = GetMessageClass(m.input_type)
        response_cls = GetMessageClass(m.output_type)
        handlers[m.name] = kinds[(m.client_streaming, m.server_streaming)](
            getattr(servicer, m.name),
            request_deserializer=request_cls.FromString,
            response_serializer=_serialize if m.name == "Fetch" else response_cls.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)
