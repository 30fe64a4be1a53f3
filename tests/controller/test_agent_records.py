"""The agent's manifest entries become DumpRecords at the client, var ids as the agent parsed them."""

from __future__ import annotations

import pytest

from analysis.dump_names import DumpRecord
from controller.agent_client import AgentRunError
from controller.agent_client.convert import _file_entry, _finished
from larfarm.agent.v1 import agent_pb2 as pb

SHA = "ab" * 32


def test_a_manifest_entry_keeps_the_agents_var_id() -> None:
    msg = pb.FileEntry(name="bin/00002a-inp1", size=8, sha256=SHA, var_id=42, input_index=1)
    assert _file_entry(msg) == DumpRecord("bin/00002a-inp1", 8, SHA, 42, 1)
    assert _file_entry(pb.FileEntry(name="io.txt", size=3, sha256=SHA)) == DumpRecord("io.txt", 3, SHA)
    fin = _finished("r1", pb.Finished(state=pb.SUCCEEDED, manifest=[msg]))
    assert fin.ok and fin.manifest == (DumpRecord("bin/00002a-inp1", 8, SHA, 42, 1),)


@pytest.mark.parametrize(
    "msg",
    [
        pb.FileEntry(name="bin/00002a", size=8, sha256=SHA, var_id=41),  # not the name's id
        pb.FileEntry(name="bin/00002a", size=8, sha256=SHA),  # a dump without its id
        pb.FileEntry(name="bin/0000002a", size=8, sha256=SHA, var_id=42),  # not a dump name: no id
        pb.FileEntry(name="bin/00002a-inp1", size=8, sha256=SHA, var_id=42),  # input index dropped
    ],
)
def test_a_var_id_the_grammar_does_not_read_in_the_name_is_refused(msg) -> None:
    with pytest.raises(AgentRunError, match=rf"agent sent '{msg.name}' as var id"):
        _file_entry(msg)
