"""Blobs: content-addressed, verified on arrival, idempotent (the second upload sends no bytes)."""

from __future__ import annotations

import hashlib

import grpc
import pytest

from controller.agent_client import AgentRequestError
from larfarm.agent.v1 import agent_pb2 as pb
from larfarm.agent.v1 import agent_pb2_grpc as pb_grpc


def _stub(agent):
    ch = grpc.insecure_channel(agent.address)
    return ch, pb_grpc.AgentStub(ch), (("authorization", f"Bearer {agent.token}"),)


def test_second_upload_sends_no_bytes(shared_agent, tmp_path) -> None:
    data = b"model" * 300_000  # 1.5 MB: more than one chunk
    path = tmp_path / "m.mge"
    path.write_bytes(data)
    with shared_agent.client() as c:
        sha = hashlib.sha256(data).hexdigest()
        assert c.missing_blobs([sha]) == [sha]
        calls = []
        real = c._stub.UploadBlob

        class Counting:  # the client starts the upload as a future, so it can cancel a stalled one
            def future(self, chunks, **kw):
                chunks = list(chunks)
                calls.append(sum(len(ch.data) for ch in chunks))
                return real.future(iter(chunks), **kw)

        c._stub.UploadBlob = Counting()
        assert c.upload_blob(path) == sha
        assert calls == [len(data)]
        assert c.missing_blobs([sha]) == []
        assert c.upload_blob(data) == sha  # same content from bytes: nothing moves
        assert calls == [len(data)]
    blob = shared_agent.workspace / "blobs" / sha[:2] / sha
    assert blob.read_bytes() == data


def _upload(stub, md, header, datas):
    msgs = [pb.UploadBlobChunk(header=header)] if header else []
    msgs += [pb.UploadBlobChunk(data=d) for d in datas]
    return stub.UploadBlob(iter(msgs), timeout=10, metadata=md)


def test_upload_is_verified_on_arrival(shared_agent) -> None:
    ch, stub, md = _stub(shared_agent)
    data = b"abc" * 1000
    sha = hashlib.sha256(data).hexdigest()
    with ch:
        with pytest.raises(grpc.RpcError) as err:  # bytes that do not hash to the header's sha256
            _upload(stub, md, pb.BlobHeader(sha256=sha, size=len(data)), [data[:-1] + b"x"])
        assert err.value.code() == grpc.StatusCode.DATA_LOSS and "not the announced sha256" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:  # short
            _upload(stub, md, pb.BlobHeader(sha256=sha, size=len(data)), [data[:10]])
        assert err.value.code() == grpc.StatusCode.DATA_LOSS and "got 10 bytes" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:  # longer than announced
            _upload(stub, md, pb.BlobHeader(sha256=sha, size=10), [data])
        assert err.value.code() == grpc.StatusCode.DATA_LOSS
        with pytest.raises(grpc.RpcError) as err:  # no header
            _upload(stub, md, None, [data])
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as err:  # a name, not a digest
            _upload(stub, md, pb.BlobHeader(sha256="../../agent.json", size=3), [b"abc"])
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert stub.HaveBlobs(pb.HaveBlobsRequest(sha256=[sha]), timeout=10, metadata=md).missing == [sha]
        resp = _upload(stub, md, pb.BlobHeader(sha256=sha, size=len(data)), [data[:1000], data[1000:]])
        assert (resp.sha256, resp.size, resp.already_present) == (sha, len(data), False)
        resp = _upload(stub, md, pb.BlobHeader(sha256=sha, size=len(data)), [b"ignored"])
        assert resp.already_present
    assert not list((shared_agent.workspace / "blobs" / "tmp").iterdir())  # failed uploads leave nothing


def test_have_blobs_refuses_non_digests(shared_agent) -> None:
    with shared_agent.client() as c, pytest.raises(AgentRequestError, match="not a lowercase hex sha256"):
        c.missing_blobs(["../../etc/passwd"])
