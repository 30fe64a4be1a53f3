"""Protobuf <-> dataclass translation for the agent client (the only place that knows both)."""

from __future__ import annotations

from analysis.dump_names import DumpRecord
from controller.agent_client.errors import AgentRequestError, AgentRunError
from controller.agent_client.types import (
    FileComplete,
    Finished,
    LogLine,
    Queued,
    RunEvent,
    RunSpec,
    Started,
)
from larfarm.agent.v1 import agent_pb2 as pb

#: Run states, as the agent names them.
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


def _file_entry(msg: pb.FileEntry) -> DumpRecord:
    """A manifest entry as the agent sent it, var id included; refused when that var id is not
    what the dump-name grammar (the agent's and analysis's, one and the same) reads in the name."""
    record = DumpRecord(
        name=msg.name,
        size=msg.size,
        sha256=msg.sha256,
        var_id=msg.var_id if msg.HasField("var_id") else None,
        input_index=msg.input_index if msg.HasField("input_index") else None,
    )
    named = DumpRecord.of(record.name, record.size, record.sha256)
    if (record.var_id, record.input_index) != (named.var_id, named.input_index):
        raise AgentRunError(
            f"agent sent {record.name!r} as var id {record.var_id} input {record.input_index}, "
            f"but its name reads var id {named.var_id} input {named.input_index}"
        )
    return record


def _finished(run_id: str, msg: pb.Finished) -> Finished:
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


def _event(msg: pb.RunEvent) -> RunEvent:
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


def spec_to_proto(spec: RunSpec) -> pb.RunSpec:
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
        options=pb.GraphOptions(**spec.options.to_proto_fields()),
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
            raise AgentRequestError(f"input {item.name!r}: give exactly one of blob_sha256, literal, shape")
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
