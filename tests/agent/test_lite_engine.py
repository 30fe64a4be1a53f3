"""A real-engine run: the agent runs lar-lite (MegEngine Lite) on a bundled model and serves its dumps."""

from __future__ import annotations

import pytest

from analysis.dump_bin import read_header
from controller.agent_client import FileComplete, InputSpec, RunSpec


@pytest.fixture(scope="module")
def lite_agent(tmp_path_factory, lar_lite_argv):
    from tests.support.agent import start_agent

    base = tmp_path_factory.mktemp("lite-agent")
    agent = start_agent(
        base,
        {"lite": {"type": "lite", "path": lar_lite_argv[0], "args": lar_lite_argv[1:]}},
        config={"run_timeout_s": 300},
    )
    yield agent
    agent.stop()


def test_lar_lite_dumps_are_streamed_and_served_byte_for_byte(lite_agent, megengine_fixtures, tmp_path) -> None:
    model = megengine_fixtures / "models" / "tiny_cnn.mge"
    data = megengine_fixtures / "inputs" / "tiny_cnn__data.npy"
    expected = sorted(p.name for p in (megengine_fixtures / "runs" / "tiny_cnn" / "default" / "bin").iterdir())
    results = {}
    with lite_agent.client() as c:
        spec = dict(
            runner="lite",
            model_sha256=c.upload_blob(model),
            bin_io_dump=True,
            io_dump=True,
            inputs=(InputSpec(name="data", blob_sha256=c.upload_blob(data), format="npy"),),
        )
        for dbg in (0, 2):
            events = list(c.run(RunSpec(**spec, megdnn_dbg=dbg)))
            fin = events[-1]
            assert fin.ok, fin.error
            streamed = [e.entry.name for e in events if isinstance(e, FileComplete)]
            assert sorted(n.split("/")[1] for n in streamed) == expected
            dest = tmp_path / f"dbg{dbg}"
            c.fetch(fin.run_id, dest)
            results[dbg] = {e.name: e for e in fin.manifest}
            assert sorted(p.name for p in (dest / "bin").iterdir()) == expected  # MegEngine's own names
            for name in expected:
                header = read_header(dest / "bin" / name)  # real dump format, readable by analysis
                assert header.var_id == int(name, 16) == results[dbg][f"bin/{name}"].var_id
            assert "produced: name=data" in (dest / "io.txt").read_text()
    # MGB_USE_MEGDNN_DBG reached the engine: naive kernels give other bytes for some vars
    differing = [n for n in results[0] if n.startswith("bin/") and results[0][n].sha256 != results[2][n].sha256]
    assert differing
