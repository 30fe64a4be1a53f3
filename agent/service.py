"""gRPC service layer: translates larfarm.agent.v1 messages to domain calls and back, nothing more."""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Iterator

import grpc

from agent import errors
from agent import events as ev
from agent import facts as facts_mod
from agent.blobs import BlobStore
from agent.config import AgentConfig
from agent.errors import RequestError
from agent.graph_options import GraphOptions
from agent.manifest import FileEntry
from agent.paths import open_confined
from agent.quota import Quota
from agent.runs import Run, RunManager
from agent.spec import InputItem, RunRequest
from agent.wire import data_frame
from larfarm.agent.v1 import agent_pb2 as pb
from larfarm.agent.v1 import agent_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

PROTOCOL = "larfarm.agent.v1"
MAX_CHUNK = 8 << 20
MAX_SHAS_PER_CALL = 10_000

#: Domain error -> gRPC status code: the one table for this boundary.
STATUS = (
    (errors.UnsafePathError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.RequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFoundError, grpc.StatusCode.NOT_FOUND),
    (errors.QuotaExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.StateError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.BlobVerifyError, grpc.StatusCode.DATA_LOSS),
    (errors.AgentError, grpc.StatusCode.INTERNAL),
)


def status_for(err: errors.AgentError) -> grpc.StatusCode:
    for cls, code in STATUS:
        if isinstance(err, cls):
            return code
    return grpc.StatusCode.INTERNAL


def _abort_on_error(fn):
    """Turn domain errors into the matching status with their one-line message."""

    @functools.wraps(fn)
    def unary(self, request, context):
        try:
            return fn(self, request, context)
        except errors.AgentError as err:
            context.abort(status_for(err), str(err))
        except Exception as err:  # a bug: log it whole, tell the caller one line
            _internal(context, fn.__name__, err)

    return unary


def _abort_on_error_stream(fn):
    @functools.wraps(fn)
    def streaming(self, request, context):
        try:
            yield from fn(self, request, context)
        except errors.AgentError as err:
            context.abort(status_for(err), str(err))
        except Exception as err:
            _internal(context, fn.__name__, err)

    return streaming


def _internal(context, method: str, err: Exception) -> None:
    if isinstance(err, (KeyboardInterrupt, SystemExit)) or type(err).__module__.startswith("grpc"):
        raise err
    log.exception("%s failed inside the agent", method)
    context.abort(grpc.StatusCode.INTERNAL, f"agent internal error in {method}: {type(err).__name__}: {err}")


_STATE = {name: getattr(pb, name) for name in ("QUEUED", "RUNNING") + ev.FINAL_STATES}


def entry_msg(e: FileEntry) -> pb.FileEntry:
    msg = pb.FileEntry(name=e.name, size=e.size, sha256=e.sha256)
    if e.var_id is not None:
        msg.var_id = e.var_id
    if e.input_index is not None:
        msg.input_index = e.input_index
    return msg


def finished_msg(r: ev.FinishedRecord) -> pb.Finished:
    return pb.Finished(
        state=_STATE[r.state],
        exit_code=r.exit_code,
        signal=r.signal,
        wall_s=r.wall_s,
        peak_rss_bytes=r.peak_rss_bytes,
        error=r.error,
        manifest=[entry_msg(e) for e in r.manifest],
    )


def event_msg(run_id: str, e: ev.Event) -> pb.RunEvent:
    if isinstance(e, ev.QueuedEvent):
        return pb.RunEvent(run_id=run_id, queued=pb.Queued(position=e.position))
    if isinstance(e, ev.StartedEvent):
        return pb.RunEvent(run_id=run_id, started=pb.Started(argv=list(e.argv), env=e.env, pid=e.pid))
    if isinstance(e, ev.LogEvent):
        stream = pb.STDERR if e.stream == "stderr" else pb.STDOUT
        return pb.RunEvent(run_id=run_id, log=pb.LogLine(stream=stream, text=e.text))
    if isinstance(e, ev.FileEvent):
        return pb.RunEvent(run_id=run_id, file_complete=entry_msg(e.entry))
    return pb.RunEvent(run_id=run_id, finished=finished_msg(e.record))


def request_from_msg(m: pb.RunSpec) -> RunRequest:
    inputs = []
    for i in m.inputs:
        kind = i.WhichOneof("value")
        name = i.name or "data"
        if kind == "blob":
            inputs.append(InputItem(name, blob_sha256=i.blob.sha256, format=i.blob.format))
        elif kind == "literal":
            inputs.append(InputItem(name, literal=i.literal))
        elif kind == "shape":
            inputs.append(InputItem(name, shape=tuple(i.shape.dims)))
        else:
            raise RequestError(f"input {name!r}: give a blob, a literal or a shape")
    return RunRequest(
        runner=m.runner,
        model_sha256=m.model_sha256,
        inputs=tuple(inputs),
        bin_io_dump=m.bin_io_dump,
        io_dump=m.io_dump,
        iter=m.iter if m.HasField("iter") else None,
        warmup_iter=m.warmup_iter if m.HasField("warmup_iter") else None,
        reproducible=m.reproducible,
        fast_run=m.fast_run,
        fast_run_algo_policy_sha256=m.fast_run_algo_policy_sha256,
        write_fast_run_algo_policy=m.write_fast_run_algo_policy,
        cpu=m.cpu,
        cpu_default=m.cpu_default,
        multithread=m.multithread if m.HasField("multithread") else None,
        cuda=m.cuda,
        lite=m.lite,
        verbose=m.verbose,
        model_info=m.model_info,
        extra_flags=tuple(m.extra_flags),
        megdnn_dbg=m.megdnn_dbg if m.HasField("megdnn_dbg") else None,
        env=tuple(sorted(m.env.items())),
        timeout_s=m.timeout_s,
        label=m.label[:200],
        options=options_from_msg(m.options),
    )


def options_from_msg(m: pb.GraphOptions) -> GraphOptions:
    """The typed graph options; an unset workspace_limit stays None (no limit)."""
    values = {f.name: getattr(m, f.name) for f in dataclasses.fields(GraphOptions) if f.name != "workspace_limit"}
    limit = m.workspace_limit if m.HasField("workspace_limit") else None
    return GraphOptions(workspace_limit=limit, **values)


def _stream(run: Run, context) -> Iterator[pb.RunEvent]:
    """The run's events until finished, or until the caller goes away."""
    # The run goes on if the caller goes away; GetRun and Fetch still reach it.
    for event in run.follow():
        if not context.is_active():
            return  # frees this thread; the run itself is unaffected
        if event is not None:
            yield event_msg(run.id, event)


class AgentService(pb_grpc.AgentServicer):
    def __init__(self, config: AgentConfig, blobs: BlobStore, runs: RunManager, quota: Quota) -> None:
        self.config = config
        self.blobs = blobs
        self.runs = runs
        self.quota = quota

    @_abort_on_error
    def GetFacts(self, request, context):
        f = facts_mod.gather(self.config)
        return pb.Facts(
            agent_version=f.agent_version,
            protocol=PROTOCOL,
            hostname=f.hostname,
            arch=f.arch,
            os=f.os,
            os_release=f.os_release,
            cpu_model=f.cpu_model,
            cpu_cores=f.cpu_cores,
            mem_total_bytes=f.mem_total_bytes,
            mem_available_bytes=f.mem_available_bytes,
            disk_free_bytes=f.disk_free_bytes,
            quota_bytes=self.quota.limit,
            used_bytes=self.quota.used,
            python_version=f.python_version,
            runners=[
                pb.RunnerInfo(name=r.name, path=r.path, version=r.version, available=r.available) for r in f.runners
            ],
            phone=pb.PhoneFacts(**dataclasses.asdict(f.phone)) if f.phone is not None else None,
        )

    @_abort_on_error
    def HaveBlobs(self, request, context):
        if len(request.sha256) > MAX_SHAS_PER_CALL:
            raise RequestError(f"at most {MAX_SHAS_PER_CALL} digests per call")
        return pb.HaveBlobsResponse(missing=self.blobs.missing(request.sha256))

    @_abort_on_error
    def UploadBlob(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("kind") != "header":
            raise RequestError("upload: the first message must be a BlobHeader")
        header = first.header

        def data() -> Iterator[bytes]:
            for chunk in request_iterator:
                if chunk.WhichOneof("kind") != "data":
                    raise RequestError("upload: only data chunks may follow the header")
                yield chunk.data

        stored = self.blobs.receive(header.sha256, header.size, data())
        return pb.UploadBlobResponse(sha256=stored.sha256, size=stored.size, already_present=stored.already_present)

    @_abort_on_error_stream
    def Run(self, request, context):
        yield from _stream(self.runs.submit(request_from_msg(request)), context)

    @_abort_on_error_stream
    def Follow(self, request, context):
        yield from _stream(self.runs.get(request.run_id), context)

    @_abort_on_error
    def GetRun(self, request, context):
        run = self.runs.get(request.run_id)
        info = pb.RunInfo(run_id=run.id, state=_STATE[run.state], label=run.req.label, queue_position=run.position)
        if run.finished is not None:
            info.finished.CopyFrom(finished_msg(run.finished))
        return info

    @_abort_on_error
    def Cancel(self, request, context):
        return pb.CancelResponse(state=_STATE[self.runs.cancel(request.run_id)])

    @_abort_on_error
    def Release(self, request, context):
        return pb.ReleaseResponse(freed_bytes=self.runs.release(request.run_id))

    @_abort_on_error_stream
    def Fetch(self, request, context):
        out_dir, entries, skipped = self.runs.fetch_plan(request.run_id, list(request.names), dict(request.have))
        chunk = min(request.chunk_size or self.config.fetch_chunk_bytes, MAX_CHUNK)
        total = 0
        for e in entries:
            f = open_confined(out_dir, e.name, "fetch")
            with f:
                yield pb.FetchChunk(start=pb.FileStart(name=e.name, size=e.size))
                sent = 0
                while sent < e.size:
                    block = f.read(min(chunk, e.size - sent))
                    if not block:
                        break  # the file shrank: the client sees the size mismatch
                    sent += len(block)
                    yield data_frame(block)  # == FetchChunk(data=block), without the extra copy
            total += sent
            # sha256 recorded when the run finished; the client checks the bytes against it.
            yield pb.FetchChunk(end=pb.FileEnd(name=e.name, sha256=e.sha256))
        yield pb.FetchChunk(done=pb.FetchDone(files=len(entries), bytes=total, skipped=skipped))
