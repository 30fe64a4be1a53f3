"""AgentClient: one gRPC connection to one agent, with the calls the controller makes."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, Union

import grpc

from analysis.dump_names import DumpRecord
from controller.agent_client.convert import RUN_STATES, _event, _finished, spec_to_proto
from controller.agent_client.errors import (
    AgentAuthError,
    AgentClientError,
    AgentNotFound,
    AgentQuotaError,
    AgentRequestError,
    AgentRunError,
    AgentUnreachable,
    FetchVerifyError,
)
from controller.agent_client.fetch import HashQueue, _data_payload, _PartialFile
from controller.agent_client.spec_check import check_spec
from controller.agent_client.types import (
    Facts,
    Finished,
    PhoneFacts,
    RunEvent,
    RunInfo,
    RunnerInfo,
    RunSpec,
    TlsConfig,
)
from controller.store import sha256_file
from larfarm.agent.v1 import agent_pb2 as pb
from larfarm.agent.v1 import agent_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
#: Message size limit set on the channel, well above any chunk (never the 4 MB default).
MAX_MESSAGE_BYTES = 64 << 20
FETCH_METHOD = "/larfarm.agent.v1.Agent/Fetch"

#: Longest a run's event stream may stay open beyond the run's own timeout: queueing behind other
#: runs, staging, hashing the manifest. With timeout_s = 0 the agent picks the timeout (its own cap
#: is 6 h unless configured otherwise), so the stream allows that cap.
RUN_STREAM_SLACK_S = 15 * 60.0
AGENT_DEFAULT_CAP_S = 6 * 3600.0
MAX_CHUNK_SIZE = 8 << 20  # the agent serves at most this per chunk

_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


class AgentClient:
    """One connection to one agent. Thread-safe for concurrent calls."""

    def __init__(
        self,
        address: str,
        token: Optional[str] = None,
        tls: Optional[TlsConfig] = None,
        timeout: float = 30.0,
        where: Optional[str] = None,
    ) -> None:
        # how messages name the agent: `where` when the dialled address is only a local
        # end (an SSH tunnel's loopback port means nothing to the user), else the address
        self.address = where or address
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
            raise AgentRequestError(f"agent client for {self.address}: timeout must be a positive number of seconds")
        self.timeout = float(timeout)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        options: list[tuple[str, Any]] = list(_CHANNEL_OPTIONS)
        if tls is not None:
            creds = grpc.ssl_channel_credentials(
                root_certificates=_read(tls.ca),
                private_key=_read(tls.key),
                certificate_chain=_read(tls.cert),
            )
            if tls.server_name:
                options.append(("grpc.ssl_target_name_override", tls.server_name))
            self._channel = grpc.secure_channel(address, creds, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._stub = pb_grpc.AgentStub(self._channel)
        self._fetch_raw: Any = self._channel.unary_stream(
            FETCH_METHOD, request_serializer=pb.FetchRequest.SerializeToString, response_deserializer=None
        )

    # -- plumbing

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, err: grpc.RpcError, what: str) -> AgentClientError:
        """Map a gRPC status to this client's exception table."""
        code = err.code() if hasattr(err, "code") else None
        detail = err.details() if hasattr(err, "details") else str(err)
        detail = (detail or "").strip().splitlines()[0] if detail else ""
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return AgentUnreachable(self.address, f"{what}: {detail or code.name}")
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return AgentAuthError(f"agent at {self.address} refused the token: {detail}")
        if code == grpc.StatusCode.PERMISSION_DENIED:
            return AgentAuthError(f"agent at {self.address} denied {what}: {detail}")
        if code == grpc.StatusCode.NOT_FOUND:
            return AgentNotFound(f"agent at {self.address}: {detail}")
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            return AgentQuotaError(f"agent at {self.address}: {detail}")
        if code in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.OUT_OF_RANGE,
            grpc.StatusCode.ALREADY_EXISTS,
            grpc.StatusCode.DATA_LOSS,
        ):
            return AgentRequestError(f"agent at {self.address} refused {what}: {detail}")
        if code == grpc.StatusCode.CANCELLED:
            return AgentUnreachable(self.address, f"{what} cancelled: {detail}")
        name = code.name if code is not None else "error"
        return AgentClientError(f"agent at {self.address}: {what} failed ({name}): {detail}")

    def _unary(self, method, request, what: str):
        try:
            return method(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            raise self._error(err, what) from None

    # -- calls

    def facts(self) -> Facts:
        """Device facts: arch, OS, CPU, memory, disk, runners."""
        f = self._unary(self._stub.GetFacts, pb.GetFactsRequest(), "facts")
        return Facts(
            agent_version=f.agent_version,
            protocol=f.protocol,
            hostname=f.hostname,
            arch=f.arch,
            os=f.os,
            os_release=f.os_release,
            cpu_model=f.cpu_model,
            cpu_cores=f.cpu_cores,
            mem_total_bytes=f.mem_total_bytes,
            mem_available_bytes=f.mem_available_bytes,
            disk_free_bytes=f.disk_free_bytes,
            quota_bytes=f.quota_bytes,
            used_bytes=f.used_bytes,
            python_version=f.python_version,
            runners=tuple(RunnerInfo(r.name, r.path, r.version, r.available) for r in f.runners),
            phone=_phone(f.phone) if f.HasField("phone") else None,
        )

    def missing_blobs(self, shas: Iterable[str]) -> list[str]:
        """Which of these sha256 digests the agent does not hold."""
        resp = self._unary(self._stub.HaveBlobs, pb.HaveBlobsRequest(sha256=list(shas)), "blob check")
        return list(resp.missing)

    def upload_blob(self, source: Union[str, os.PathLike, bytes], sha256: Optional[str] = None) -> str:
        """Upload a file or bytes as a content-addressed blob; sends nothing if the agent has it.

        `sha256`, when the caller already knows the file's digest, spares hashing it again
        (the agent still verifies the bytes against it).
        """
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            sha, size = sha256 or hashlib.sha256(data).hexdigest(), len(data)
            path = None
        else:
            path = Path(source)
            try:
                sha, size = sha256 or sha256_file(path), path.stat().st_size
            except OSError as err:
                raise AgentRequestError(f"cannot read blob {path}: {err.strerror}") from None
            data = None
        if not self.missing_blobs([sha]):
            log.debug("blob %s already on %s", sha[:12], self.address)
            return sha

        watchdog: Optional[_IdleWatchdog] = None

        def chunks() -> Iterator[pb.UploadBlobChunk]:
            # each chunk the channel takes is progress; a stalled agent stops taking them
            yield pb.UploadBlobChunk(header=pb.BlobHeader(sha256=sha, size=size))
            if data is not None:
                for off in range(0, size, CHUNK_SIZE):
                    if watchdog is not None:
                        watchdog.poke()
                    yield pb.UploadBlobChunk(data=data[off : off + CHUNK_SIZE])
            else:
                with open(path, "rb") as f:  # type: ignore[arg-type]
                    while True:
                        block = f.read(CHUNK_SIZE)
                        if not block:
                            break
                        if watchdog is not None:
                            watchdog.poke()
                        yield pb.UploadBlobChunk(data=block)
            if watchdog is not None:
                watchdog.poke()  # the agent checks the digest and stores the blob before it answers

        call = self._stub.UploadBlob.future(chunks(), timeout=None, metadata=self._metadata)
        watchdog = _IdleWatchdog(call, self.timeout)
        try:
            resp = call.result()
        except (grpc.RpcError, grpc.FutureCancelledError) as err:
            if watchdog.fired or not isinstance(err, grpc.RpcError):
                raise AgentUnreachable(
                    self.address, f"upload of blob {sha[:12]}: no progress for {self.timeout:g} s; gave up"
                ) from None
            raise self._error(err, f"upload of blob {sha[:12]}") from None
        finally:
            watchdog.stop()
        if resp.sha256 != sha:
            raise FetchVerifyError(f"agent at {self.address} stored {resp.sha256} for blob {sha}")
        return sha

    def run(self, spec: RunSpec, deadline_s: Optional[float] = None) -> Iterator[RunEvent]:
        """Start a run (when first iterated); yields Queued, Started, LogLine, FileComplete, then Finished.

        The stream ends with AgentUnreachable after deadline_s (default: the run's timeout,
        or the agent's usual cap when it is 0, plus RUN_STREAM_SLACK_S), so a stalled agent
        cannot hold the caller forever.
        """
        check_spec(spec)
        request = spec_to_proto(spec)
        if deadline_s is None:
            deadline_s = (spec.timeout_s or AGENT_DEFAULT_CAP_S) + RUN_STREAM_SLACK_S
        stream = self._stub.Run(request, timeout=_seconds(deadline_s, "deadline_s"), metadata=self._metadata)
        yield from self._events(stream, "")

    def follow(self, run_id: str, deadline_s: float = AGENT_DEFAULT_CAP_S + RUN_STREAM_SLACK_S) -> Iterator[RunEvent]:
        """The events of a run already started (from its first), e.g. after the Run stream was lost."""
        stream = self._stub.Follow(
            pb.RunRef(run_id=run_id), timeout=_seconds(deadline_s, "deadline_s"), metadata=self._metadata
        )
        yield from self._events(stream, run_id)

    def _events(self, stream, run_id: str) -> Iterator[RunEvent]:
        try:
            for msg in stream:
                run_id = run_id or msg.run_id
                event = _event(msg)
                yield event
                if isinstance(event, Finished):
                    return
        except grpc.RpcError as err:
            raise self._error(err, f"run {run_id or '(not started)'}") from None
        finally:
            stream.cancel()  # no-op once the stream has ended; stops it if the caller broke off
        raise AgentRunError(f"agent at {self.address} ended run {run_id or '(unknown)'} without a finished event")

    def get_run(self, run_id: str) -> RunInfo:
        """State of a run and, once it is over, its Finished record with the manifest."""
        info = self._unary(self._stub.GetRun, pb.RunRef(run_id=run_id), f"run {run_id}")
        fin = _finished(info.run_id, info.finished) if info.HasField("finished") else None
        return RunInfo(
            run_id=info.run_id,
            state=RUN_STATES.get(info.state, "unknown"),
            label=info.label,
            queue_position=info.queue_position,
            finished=fin,
        )

    def cancel(self, run_id: str) -> str:
        """Cancel a queued or running run; returns its state afterwards."""
        resp = self._unary(self._stub.Cancel, pb.RunRef(run_id=run_id), f"cancel of run {run_id}")
        return RUN_STATES.get(resp.state, "unknown")

    def release(self, run_id: str) -> int:
        """Delete a finished run's folder on the agent; returns the bytes freed."""
        resp = self._unary(self._stub.Release, pb.RunRef(run_id=run_id), f"release of run {run_id}")
        return resp.freed_bytes

    def fetch(
        self,
        run_id: str,
        dest_dir: Union[str, os.PathLike],
        names: Optional[Sequence[str]] = None,
        have: Optional[Mapping[str, str]] = None,
        chunk_size: int = 0,
    ) -> list[DumpRecord]:
        """Fetch a finished run's files into dest_dir (same relative names), verified and atomic.

        `names` limits the files (default: all of the manifest); `have` maps name to the
        sha256 already held, and those files are skipped. Each file is written to a
        temporary name, checked against the agent's sha256, then renamed into place;
        on any error no partial file is left under its real name. The fetch gives up with
        AgentUnreachable when nothing arrives for the client's `timeout` seconds.
        """
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or not 0 <= chunk_size <= MAX_CHUNK_SIZE:
            raise AgentRequestError(f"fetch: chunk_size must be 0 (the agent's default) to {MAX_CHUNK_SIZE} bytes")
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        request = pb.FetchRequest(run_id=run_id, names=list(names or ()), have=dict(have or {}), chunk_size=chunk_size)
        fetched: list[Future] = []
        current: Optional[_PartialFile] = None
        # Raw bytes, not FetchChunk objects: data chunks are sliced without a protobuf copy.
        stream = self._fetch_raw(request, metadata=self._metadata)
        watchdog = _IdleWatchdog(stream, self.timeout)
        hasher = HashQueue()
        try:
            for raw in stream:
                watchdog.poke()
                payload = _data_payload(raw)
                if payload is not None:
                    if current is None:
                        raise FetchVerifyError(f"agent at {self.address} sent data outside a file")
                    current.write(payload)
                    continue
                msg = pb.FetchChunk.FromString(raw)
                kind = msg.WhichOneof("kind")
                if kind == "data":
                    if current is None:
                        raise FetchVerifyError(f"agent at {self.address} sent data outside a file")
                    current.write(msg.data)
                elif kind == "start":
                    if current is not None:
                        raise FetchVerifyError(
                            f"agent at {self.address} started {msg.start.name!r} before ending {current.name!r}"
                        )
                    current = _PartialFile(dest, msg.start.name, msg.start.size, hasher)
                elif kind == "end":
                    if current is None or msg.end.name != current.name:
                        raise FetchVerifyError(f"agent at {self.address} ended a file it never started")
                    fetched.append(current.commit(msg.end.sha256, self.address))  # a future
                    current = None
                elif kind == "done":
                    if current is not None:
                        raise FetchVerifyError(f"agent at {self.address} closed the fetch inside {current.name!r}")
                    return [f.result() for f in fetched]  # raises the first file that failed its check
        except grpc.RpcError as err:
            if watchdog.fired:
                raise AgentUnreachable(
                    self.address, f"fetch of run {run_id}: nothing received for {self.timeout:g} s; gave up"
                ) from None
            raise self._error(err, f"fetch of run {run_id}") from None
        finally:
            watchdog.stop()
            if current is not None:
                current.discard()
            hasher.shutdown()
            stream.cancel()
        raise AgentUnreachable(self.address, f"fetch of run {run_id} ended before its verified end")


class _IdleWatchdog:
    """Cancels a gRPC call when no progress is noted (poke) for idle_s seconds.

    A deadline for a whole fetch or upload would have to guess its size; silence is what
    tells a stalled agent from a slow transfer.
    """

    def __init__(self, call: Any, idle_s: float) -> None:  # a grpc.Future or a streaming call: both cancel()
        self._call = call
        self._idle_s = idle_s
        self._last = time.monotonic()
        self._done = threading.Event()
        self.fired = False
        self._thread = threading.Thread(target=self._watch, name="agent-client-watchdog", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._done.set()

    def _watch(self) -> None:
        while not self._done.wait(min(1.0, self._idle_s / 4)):
            if time.monotonic() - self._last > self._idle_s:
                self.fired = True
                self._call.cancel()
                return


def _seconds(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise AgentRequestError(f"{what} must be a positive finite number of seconds, got {value!r}")
    return float(value)


def _phone(p) -> PhoneFacts:
    """Facts.phone off the wire."""
    return PhoneFacts(p.serial, p.model, p.abi, p.android_version, p.sdk, p.soc, p.platform, p.workdir_free_bytes)


def _read(path: Optional[Path]) -> Optional[bytes]:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise AgentRequestError(f"cannot read TLS file {path}: {err.strerror}") from None
