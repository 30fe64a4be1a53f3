"""Typed client of the larfarm agent (gRPC `larfarm.agent.v1`): facts, blobs, runs, fetch.

The controller codes against the dataclasses and exceptions here, never against
raw protobuf messages. Every error is one of the `AgentClientError` subclasses
below and reads as one clear line.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator, Mapping, Optional, Sequence, Union

import grpc

from larfarm.agent.v1 import agent_pb2 as pb
from larfarm.agent.v1 import agent_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

#: Bytes per upload chunk; the agent's fetch default is the same.
CHUNK_SIZE = 1 << 20
#: Message size limit set on the channel, well above any chunk (never the 4 MB default).
MAX_MESSAGE_BYTES = 64 << 20
FETCH_METHOD = "/larfarm.agent.v1.Agent/Fetch"
#: Suffix of a file being fetched; it is renamed only once its sha256 checks out.
PARTIAL_SUFFIX = ".larfarm-partial"

_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


# ----------------------------------------------------------------- errors


class AgentClientError(Exception):
    """Root of every error this client raises; str() is one clear line."""


class AgentUnreachable(AgentClientError):
    """The agent does not answer (down, wrong address, connection lost)."""

    def __init__(self, address: str, detail: str = "") -> None:
        self.address = address
        super().__init__(f"agent at {address} is unreachable" + (f": {detail}" if detail else ""))


class AgentAuthError(AgentClientError):
    """The agent refused the token (missing or wrong)."""


class AgentRequestError(AgentClientError):
    """The agent refused the request itself (bad name, unknown runner, disallowed flag, ...)."""


class AgentNotFound(AgentClientError):
    """The run or blob named does not exist on the agent."""


class AgentQuotaError(AgentClientError):
    """The agent's workspace quota would be exceeded."""


class AgentRunError(AgentClientError):
    """A run could not be followed to its end (stream broke, no finished event)."""


class FetchVerifyError(AgentClientError):
    """A fetched file's bytes do not match the sha256 the agent announced."""


# ----------------------------------------------------------------- data


@dataclass(frozen=True)
class TlsConfig:
    """TLS for the channel: `ca` verifies the agent; `cert`+`key` for mutual TLS."""

    ca: Optional[Path] = None
    cert: Optional[Path] = None
    key: Optional[Path] = None
    server_name: Optional[str] = None  # overrides the name checked against the agent's cert


@dataclass(frozen=True)
class RunnerInfo:
    name: str
    path: str
    version: str
    available: bool


@dataclass(frozen=True)
class Facts:
    """What a device is, as its agent reports it."""

    agent_version: str
    protocol: str
    hostname: str
    arch: str
    os: str
    os_release: str
    cpu_model: str
    cpu_cores: int
    mem_total_bytes: int
    mem_available_bytes: int
    disk_free_bytes: int
    quota_bytes: int
    used_bytes: int
    python_version: str
    runners: tuple[RunnerInfo, ...]


@dataclass(frozen=True)
class InputSpec:
    """One load_and_run `--input` item: exactly one of blob (with format), literal, shape."""

    name: str = "data"
    blob_sha256: Optional[str] = None
    format: Optional[str] = None  # npy | ppm | pgm | json, for blob inputs
    literal: Optional[str] = None  # e.g. "[[1,2],[3,4]]"
    shape: Optional[tuple[int, ...]] = None


@dataclass(frozen=True)
class RunSpec:
    """What to run on the agent; mirrors load_and_run's options (see the agent README)."""

    model_sha256: str
    runner: str = "load_and_run"
    inputs: tuple[InputSpec, ...] = ()
    bin_io_dump: bool = True
    io_dump: bool = False
    iter: Optional[int] = None
    warmup_iter: Optional[int] = None
    reproducible: bool = False
    fast_run: bool = False
    fast_run_algo_policy_sha256: Optional[str] = None
    write_fast_run_algo_policy: bool = False
    cpu: bool = False
    cpu_default: bool = False
    multithread: Optional[int] = None
    cuda: bool = False
    lite: bool = False
    verbose: bool = False
    model_info: bool = False
    extra_flags: tuple[str, ...] = ()
    megdnn_dbg: Optional[int] = None  # MGB_USE_MEGDNN_DBG: 0 default, 1 fallback, 2 naive
    env: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 0.0
    label: str = ""


@dataclass(frozen=True)
class FileEntry:
    """One file a run wrote: name relative to the run (`bin/00000e`, `io.txt`, ...)."""

    name: str
    size: int
    sha256: str
    var_id: Optional[int] = None
    input_index: Optional[int] = None


@dataclass(frozen=True)
class Queued:
    run_id: str
    position: int  # runs ahead of this one


@dataclass(frozen=True)
class Started:
    run_id: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    pid: int


@dataclass(frozen=True)
class LogLine:
    run_id: str
    stream: str  # "stdout" | "stderr"
    text: str


@dataclass(frozen=True)
class FileComplete:
    run_id: str
    entry: FileEntry


#: Final states of a run, as the agent names them.
RUN_STATES = {
    pb.QUEUED: "queued",
    pb.RUNNING: "running",
    pb.SUCCEEDED: "succeeded",
    pb.FAILED: "failed",
    pb.TIMED_OUT: "timed_out",
    pb.CANCELLED: "cancelled",
    pb.QUOTA_EXCEEDED: "quota_exceeded",
    pb.START_FAILED: "start_failed",
}


@dataclass(frozen=True)
class Finished:
    run_id: str
    state: str  # one of RUN_STATES' values
    exit_code: int
    signal: int
    wall_s: float
    peak_rss_bytes: int
    error: str
    manifest: tuple[FileEntry, ...]

    @property
    def ok(self) -> bool:
        return self.state == "succeeded"


RunEvent = Union[Queued, Started, LogLine, FileComplete, Finished]


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    state: str
    label: str
    queue_position: int
    finished: Optional[Finished]


# ----------------------------------------------------------------- conversion


def _file_entry(msg: "pb.FileEntry") -> FileEntry:
    return FileEntry(
        name=msg.name,
        size=msg.size,
        sha256=msg.sha256,
        var_id=msg.var_id if msg.HasField("var_id") else None,
        input_index=msg.input_index if msg.HasField("input_index") else None,
    )


def _finished(run_id: str, msg: "pb.Finished") -> Finished:
    return Finished(
        run_id=run_id,
        state=RUN_STATES.get(msg.state, "unknown"),
        exit_code=msg.exit_code,
        signal=msg.signal,
        wall_s=msg.wall_s,
        peak_rss_bytes=msg.peak_rss_bytes,
        error=msg.error,
        manifest=tuple(_file_entry(e) for e in msg.manifest),
    )


def _event(msg: "pb.RunEvent") -> RunEvent:
    kind = msg.WhichOneof("kind")
    if kind == "queued":
        return Queued(msg.run_id, msg.queued.position)
    if kind == "started":
        s = msg.started
        return Started(msg.run_id, tuple(s.argv), dict(s.env), s.pid)
    if kind == "log":
        stream = "stderr" if msg.log.stream == pb.STDERR else "stdout"
        return LogLine(msg.run_id, stream, msg.log.text)
    if kind == "file_complete":
        return FileComplete(msg.run_id, _file_entry(msg.file_complete))
    if kind == "finished":
        return _finished(msg.run_id, msg.finished)
    raise AgentRunError(f"agent sent a run event of unknown kind {kind!r}")


def spec_to_proto(spec: RunSpec) -> "pb.RunSpec":
    """Translate a RunSpec into its protobuf message."""
    msg = pb.RunSpec(
        runner=spec.runner,
        model_sha256=spec.model_sha256,
        bin_io_dump=spec.bin_io_dump,
        io_dump=spec.io_dump,
        reproducible=spec.reproducible,
        fast_run=spec.fast_run,
        fast_run_algo_policy_sha256=spec.fast_run_algo_policy_sha256 or "",
        write_fast_run_algo_policy=spec.write_fast_run_algo_policy,
        cpu=spec.cpu,
        cpu_default=spec.cpu_default,
        cuda=spec.cuda,
        lite=spec.lite,
        verbose=spec.verbose,
        model_info=spec.model_info,
        extra_flags=list(spec.extra_flags),
        env=dict(spec.env),
        timeout_s=spec.timeout_s,
        label=spec.label,
    )
    if spec.iter is not None:
        msg.iter = spec.iter
    if spec.warmup_iter is not None:
        msg.warmup_iter = spec.warmup_iter
    if spec.multithread is not None:
        msg.multithread = spec.multithread
    if spec.megdnn_dbg is not None:
        msg.megdnn_dbg = spec.megdnn_dbg
    for item in spec.inputs:
        given = [item.blob_sha256 is not None, item.literal is not None, item.shape is not None]
        if sum(given) != 1:
            raise AgentRequestError(
                f"input {item.name!r}: give exactly one of blob_sha256, literal, shape"
            )
        inp = pb.Input(name=item.name)
        if item.blob_sha256 is not None:
            inp.blob.sha256 = item.blob_sha256
            inp.blob.format = item.format or ""
        elif item.literal is not None:
            inp.literal = item.literal
        else:
            inp.shape.dims.extend(item.shape or ())
        msg.inputs.append(inp)
    return msg


def _safe_relpath(name: str) -> PurePosixPath:
    """Check a file name the agent sent before it becomes a local path (never trust the wire)."""
    p = PurePosixPath(name)
    if (
        not name
        or "\x00" in name
        or "\\" in name
        or p.is_absolute()
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise AgentRequestError(f"agent sent an unsafe file name {name!r}")
    return p


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in large blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(4 << 20)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------- client


class AgentClient:
    """One connection to one agent. Thread-safe for concurrent calls."""

    def __init__(
        self,
        address: str,
        token: Optional[str] = None,
        tls: Optional[TlsConfig] = None,
        timeout: float = 30.0,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        options = list(_CHANNEL_OPTIONS)
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
        self._fetch_raw = self._channel.unary_stream(
            FETCH_METHOD, request_serializer=pb.FetchRequest.SerializeToString, response_deserializer=None
        )

    # -- plumbing

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "AgentClient":
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
        )

    def missing_blobs(self, shas: Iterable[str]) -> list[str]:
        """Which of these sha256 digests the agent does not hold."""
        resp = self._unary(self._stub.HaveBlobs, pb.HaveBlobsRequest(sha256=list(shas)), "blob check")
        return list(resp.missing)

    def upload_blob(self, source: Union[str, os.PathLike, bytes]) -> str:
        """Upload a file or bytes as a content-addressed blob; sends nothing if the agent has it."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            sha, size = hashlib.sha256(data).hexdigest(), len(data)
            path = None
        else:
            path = Path(source)
            try:
                sha, size = sha256_file(path), path.stat().st_size
            except OSError as err:
                raise AgentRequestError(f"cannot read blob {path}: {err.strerror}") from None
            data = None
        if not self.missing_blobs([sha]):
            log.debug("blob %s already on %s", sha[:12], self.address)
            return sha

        def chunks() -> Iterator[pb.UploadBlobChunk]:
            yield pb.UploadBlobChunk(header=pb.BlobHeader(sha256=sha, size=size))
            if data is not None:
                for off in range(0, size, CHUNK_SIZE):
                    yield pb.UploadBlobChunk(data=data[off : off + CHUNK_SIZE])
            else:
                with open(path, "rb") as f:  # type: ignore[arg-type]
                    while True:
                        block = f.read(CHUNK_SIZE)
                        if not block:
                            break
                        yield pb.UploadBlobChunk(data=block)

        try:
            resp = self._stub.UploadBlob(chunks(), timeout=None, metadata=self._metadata)
        except grpc.RpcError as err:
            raise self._error(err, f"upload of blob {sha[:12]}") from None
        if resp.sha256 != sha:
            raise FetchVerifyError(f"agent at {self.address} stored {resp.sha256} for blob {sha}")
        return sha

    def run(self, spec: RunSpec) -> Iterator[RunEvent]:
        """Start a run; yields Queued, Started, LogLine, FileComplete and finally Finished."""
        request = spec_to_proto(spec)
        stream = self._stub.Run(request, metadata=self._metadata)
        run_id = ""
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
        raise AgentRunError(
            f"agent at {self.address} ended run {run_id or '(unknown)'} without a finished event"
        )

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
    ) -> list[FileEntry]:
        """Fetch a finished run's files into dest_dir (same relative names), verified and atomic.

        `names` limits the files (default: all of the manifest); `have` maps name to the
        sha256 already held, and those files are skipped. Each file is written to a
        temporary name, checked against the agent's sha256, then renamed into place;
        on any error no partial file is left under its real name.
        """
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        request = pb.FetchRequest(
            run_id=run_id, names=list(names or ()), have=dict(have or {}), chunk_size=chunk_size
        )
        fetched: list[FileEntry] = []
        current: Optional[_PartialFile] = None
        # Raw bytes, not FetchChunk objects: data chunks are sliced without a protobuf copy.
        stream = self._fetch_raw(request, metadata=self._metadata)
        hasher = ThreadPoolExecutor(1, thread_name_prefix="fetch-sha256")
        try:
            for raw in stream:
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
                    fetched.append(current.commit(msg.end.sha256, self.address))
                    current = None
                elif kind == "done":
                    if current is not None:
                        raise FetchVerifyError(
                            f"agent at {self.address} closed the fetch inside {current.name!r}"
                        )
                    return fetched
        except grpc.RpcError as err:
            raise self._error(err, f"fetch of run {run_id}") from None
        finally:
            if current is not None:
                current.discard()
            hasher.shutdown(wait=True)
            stream.cancel()
        raise AgentUnreachable(
            self.address, f"fetch of run {run_id} ended before its verified end"
        )


def _data_payload(raw: bytes) -> Optional[memoryview]:
    """The data of a serialized FetchChunk{data} without copying it, or None for other kinds.

    FetchChunk.data is field 2 (tag byte 0x12) followed by a varint length; the
    frame is taken only when that length covers exactly the rest of the message.
    """
    if not raw or raw[0] != 0x12:
        return None
    n = shift = 0
    i = 1
    while i < len(raw) and i < 11:
        b = raw[i]
        n |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            break
        shift += 7
    else:
        return None
    if i + n != len(raw):
        return None
    return memoryview(raw)[i:]


class _PartialFile:
    """A fetched file being written under a temporary name until its sha256 is verified."""

    def __init__(self, dest: Path, name: str, size: int, hasher: Optional[ThreadPoolExecutor] = None) -> None:
        rel = _safe_relpath(name)
        # sha256 runs on its own thread (hashlib drops the GIL) while this one receives and writes.
        self._hasher = hasher
        self.name = name
        self.size = size
        self.final = dest.joinpath(*rel.parts)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.final.with_name(f"{self.final.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
        self._f = open(self.tmp, "wb", buffering=0)
        self._h = hashlib.sha256()
        self._n = 0

    def write(self, data: Union[bytes, memoryview]) -> None:
        self._n += len(data)
        if self._n > self.size:
            raise FetchVerifyError(f"{self.name}: agent sent more than the announced {self.size} bytes")
        if self._hasher is not None:
            self._hasher.submit(self._h.update, data)
        else:
            self._h.update(data)
        view = memoryview(data)
        while view:  # an unbuffered write may be short
            view = view[self._f.write(view):]

    def commit(self, sha256: str, address: str) -> FileEntry:
        self._f.close()
        if self._hasher is not None:
            self._hasher.submit(lambda: None).result()  # every queued update is done
        got = self._h.hexdigest()
        if self._n != self.size or got != sha256:
            self.discard()
            raise FetchVerifyError(
                f"{self.name} from agent at {address}: got {self._n} bytes sha256 {got[:12]}, "
                f"expected {self.size} bytes sha256 {sha256[:12]}"
            )
        os.replace(self.tmp, self.final)
        return FileEntry(name=self.name, size=self.size, sha256=got)

    def discard(self) -> None:
        if not self._f.closed:
            self._f.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def _read(path: Optional[Path]) -> Optional[bytes]:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise AgentRequestError(f"cannot read TLS file {path}: {err.strerror}") from None
