"""Typed client of the larfarm agent (gRPC `larfarm.agent.v1`): facts, blobs, runs, fetch.

The controller codes against the dataclasses and exceptions here, never against
raw protobuf messages. Every error is one of the `AgentClientError` subclasses
and reads as one clear line.

    with AgentClient("127.0.0.1:50051", token) as agent:
        model = agent.upload_blob("model.mge")          # sends nothing if the agent has it
        for event in agent.run(RunSpec(model_sha256=model, megdnn_dbg=2)):
            ...                                          # Queued, Started, LogLine, FileComplete, Finished
        agent.fetch(event.run_id, "store/run1")         # verified, atomic
"""

from analysis.dump_names import DumpRecord  # a file a run wrote, as the manifest lists it
from controller.agent_client.client import CHUNK_SIZE, MAX_MESSAGE_BYTES, AgentClient
from controller.agent_client.convert import RUN_STATES, spec_to_proto
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
from controller.agent_client.fetch import PARTIAL_SUFFIX
from controller.agent_client.types import (
    Facts,
    FileComplete,
    Finished,
    InputSpec,
    LogLine,
    PhoneFacts,
    Queued,
    RunEvent,
    RunInfo,
    RunnerInfo,
    RunSpec,
    Started,
    TlsConfig,
)
from controller.store import sha256_file  # the controller's one file hasher, re-exported here

__all__ = [
    "AgentAuthError",
    "AgentClient",
    "AgentClientError",
    "AgentNotFound",
    "AgentQuotaError",
    "AgentRequestError",
    "AgentRunError",
    "AgentUnreachable",
    "CHUNK_SIZE",
    "Facts",
    "PhoneFacts",
    "FetchVerifyError",
    "FileComplete",
    "DumpRecord",
    "Finished",
    "InputSpec",
    "LogLine",
    "MAX_MESSAGE_BYTES",
    "PARTIAL_SUFFIX",
    "Queued",
    "RUN_STATES",
    "RunEvent",
    "RunInfo",
    "RunnerInfo",
    "RunSpec",
    "Started",
    "TlsConfig",
    "sha256_file",
    "spec_to_proto",
]
