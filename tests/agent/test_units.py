"""Agent parts in isolation: config, confinement, argv building, wire framing, dump watching, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.blobs import BlobStore
from agent.config import AgentConfig, RunnerConfig, load_config, parse_size
from agent.dumpwatch import DumpWatcher
from agent.errors import ConfigError, QuotaExceeded, RequestError, UnsafePathError
from agent.manifest import Hasher, dump_ids
from agent.paths import check_relname, confine
from agent.quota import Quota
from agent.runners import LoadAndRunRunner
from agent.spec import InputItem, RunRequest
from agent.wire import data_frame
from controller.agent_client.fetch import _data_payload
from larfarm.agent.v1 import agent_pb2 as pb

SHA = "a" * 64


def write_cfg(tmp_path: Path, data, name="agent.yaml") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def test_config_reads_every_key(tmp_path) -> None:
    (tmp_path / "tok").write_text("s3cret\n")
    cfg = load_config(
        write_cfg(
            tmp_path,
            """
listen: 0.0.0.0:6000
workspace: ws
token_file: tok
tls: {cert: c.pem, key: k.pem, client_ca: ca.pem}
quota: 2G
max_blob_size: 512M
run_timeout_s: 30
max_run_timeout_s: 60
keep_finished_s: 3600
log_lines_max: 10
log_tail_size: 64K
fetch_chunk_size: 2M
max_queued_runs: 3
runners:
  load_and_run:
    path: /opt/megengine/load_and_run
    extra_flags_allow: [--enable-nchw44, --workspace-limit]
    env_allow: [OMP_NUM_THREADS]
    env: {MGB_CONV_PROFILING_TIMEOUT: 5}
    version: "1.13.0"
  lite: {path: /usr/bin/lar-lite}
""",
        )
    )
    assert cfg.listen == "0.0.0.0:6000" and cfg.workspace == tmp_path / "ws" and cfg.token == "s3cret"
    assert cfg.tls_client_ca == tmp_path / "ca.pem" and cfg.quota_bytes == 2 << 30
    assert (cfg.max_blob_bytes, cfg.log_tail_bytes, cfg.fetch_chunk_bytes) == (512 << 20, 64 << 10, 2 << 20)
    assert (cfg.run_timeout_s, cfg.max_run_timeout_s, cfg.keep_finished_s) == (30, 60, 3600)
    lar = cfg.runner("load_and_run")
    assert lar.type == "load_and_run" and lar.env == (("MGB_CONV_PROFILING_TIMEOUT", "5"),) and lar.version == "1.13.0"
    assert cfg.runner("lite").type == "lite"


def test_json_config_works(tmp_path) -> None:
    cfg = load_config(write_cfg(tmp_path, {"runners": {"x": {"type": "lite", "path": "/bin/true"}}}, "a.json"))
    assert cfg.runner("x").path == Path("/bin/true")


@pytest.mark.parametrize(
    "text, where, message",
    [
        ("runners: {load_and_run: {path: bin/lar}}", "runners.load_and_run.path", "absolute path"),
        ("runners: {gdb: {path: /usr/bin/gdb}}", "runners.gdb.type", "unknown runner type 'gdb'"),
        ("runners: {load_and_run: {path: /x, shell: true}}", "runners.load_and_run.shell", "unknown key"),
        ("runners: {load_and_run: {path: /x, extra_flags_allow: [rm]}}", "extra_flags_allow", "is not a --flag"),
        ("quota: lots", "quota", "expected a size"),
        ("bogus: 1", "bogus", "unknown key"),
        ("runners: [a, b]", "runners", "expected a mapping"),
        ("listen: [1]", "listen", "expected HOST:PORT"),
        ("run_timeout_s: -1", "run_timeout_s", "positive number"),
        ("key: [unclosed", ":1", ""),
    ],
)
def test_config_errors_name_file_and_field(tmp_path, text, where, message) -> None:
    path = write_cfg(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and where in str(err.value) and message in str(err.value)


def test_parse_size() -> None:
    assert parse_size("1.5K", "q") == 1536 and parse_size(10, "q") == 10 and parse_size("3 GiB", "q") == 3 << 30
    for bad in (0, -1, True, "x", "1Q"):
        with pytest.raises(ConfigError):
            parse_size(bad, "q")


@pytest.mark.parametrize(
    "name",
    ["..", "../x", "/etc/passwd", "a//b", "a/./b", "a\x00b", "a\\b", "", "x" * 300, "a b", "a/../../b", "bin/$(id)"],
)
def test_check_relname_refuses(name) -> None:
    with pytest.raises(UnsafePathError):
        check_relname(name)


def test_confine_follows_symlinks_and_refuses_escapes(tmp_path) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "inside").write_text("x")
    (tmp_path / "ws" / "link").symlink_to(tmp_path / "outside")
    (tmp_path / "ws" / "ok").symlink_to(tmp_path / "ws" / "inside")
    assert confine(tmp_path / "ws", "ok") == (tmp_path / "ws" / "inside").resolve()
    with pytest.raises(UnsafePathError, match="outside the workspace"):
        confine(tmp_path / "ws", "link")


@given(st.text(max_size=80))
def test_check_relname_never_lets_out(name) -> None:
    try:
        checked = check_relname(name)
    except UnsafePathError:
        return
    assert not checked.startswith("/") and ".." not in checked.split("/") and "\x00" not in checked


def test_dump_ids() -> None:
    assert dump_ids("bin/00000e") == (14, None)
    assert dump_ids("bin/00002a-inp1") == (42, 1)
    assert dump_ids("bin/1000000") == (0x1000000, None)
    assert dump_ids("io.txt") == (None, None) and dump_ids("bin/xyz") == (None, None)


def _runner(**kw) -> LoadAndRunRunner:
    return LoadAndRunRunner(RunnerConfig(name="load_and_run", type="load_and_run", path=Path("/opt/lar"), **kw))


def test_argv_for_a_naive_dump_run(tmp_path) -> None:
    blobs = BlobStore(tmp_path / "blobs", Quota(1 << 30), 1 << 30)
    import hashlib

    model = blobs.receive(hashlib.sha256(b"m").hexdigest(), 1, iter([b"m"])).sha256
    npy = blobs.receive(hashlib.sha256(b"n").hexdigest(), 1, iter([b"n"])).sha256
    req = RunRequest(
        runner="load_and_run",
        model_sha256=model,
        bin_io_dump=True,
        megdnn_dbg=2,
        cpu=True,
        inputs=(InputItem("data", blob_sha256=npy, format="npy"),),
    )
    cmd = _runner().prepare(req, tmp_path / "run", blobs, {"PATH": "/bin", "LARFARM_TOKEN": "t"})
    assert cmd.argv == (
        "/opt/lar",
        "in/model.mge",
        "--input",
        "data:in/input0.npy",
        "--bin-io-dump",
        "out/bin/",
        "--iter",
        "1",
        "--warmup-iter",
        "0",
        "--cpu",
    )
    assert cmd.env == {"PATH": "/bin", "MGB_USE_MEGDNN_DBG": "2"}  # the token is scrubbed
    assert (tmp_path / "run" / "out" / "bin").is_dir()  # MegEngine needs the folder to exist
    assert (tmp_path / "run" / "in" / "input0.npy").read_bytes() == b"n"


def test_argv_without_dump_keeps_load_and_run_iteration_defaults_and_policy_cache(tmp_path) -> None:
    blobs = BlobStore(tmp_path / "blobs", Quota(1 << 30), 1 << 30)
    import hashlib

    m = blobs.receive(hashlib.sha256(b"m").hexdigest(), 1, iter([b"m"])).sha256
    cache = blobs.receive(hashlib.sha256(b"cache").hexdigest(), 5, iter([b"cache"])).sha256
    req = RunRequest(
        runner="load_and_run",
        model_sha256=m,
        fast_run=True,
        fast_run_algo_policy_sha256=cache,
        write_fast_run_algo_policy=True,
    )
    cmd = _runner().prepare(req, tmp_path / "run", blobs, {})
    assert cmd.argv[1:] == ("in/model.mge", "--fast-run", "--fast-run-algo-policy", "out/algo_policy.cache")
    policy = tmp_path / "run" / "out" / "algo_policy.cache"
    assert policy.read_bytes() == b"cache" and not policy.samefile(blobs.path(cache))  # a copy: the blob stays intact


@pytest.mark.parametrize(
    "allowed, flag, ok",
    [
        (("--enable-nchw44",), "--enable-nchw44", True),
        (("--workspace-limit",), "--workspace-limit=1000", True),
        (("--workspace-limit=1000",), "--workspace-limit=2000", False),
        (("--enable-nchw44",), "--enable-nchw44x", False),
        (("--enable-nchw44",), "--enable-nchw44=\n", False),
        ((), "--anything", False),
    ],
)
def test_flag_allow_list(allowed, flag, ok) -> None:
    assert _runner(extra_flags_allow=allowed).flag_allowed(flag) is ok


@given(st.binary(max_size=300_000))
def test_data_frames_are_protobuf_and_decode_without_copy(data) -> None:
    frame = data_frame(data)
    assert frame == pb.FetchChunk(data=data).SerializeToString()
    assert pb.FetchChunk.FromString(frame).data == data
    assert bytes(_data_payload(frame)) == data


def test_other_chunks_are_not_mistaken_for_data() -> None:
    for msg in (
        pb.FetchChunk(start=pb.FileStart(name="bin/000001", size=3)),
        pb.FetchChunk(end=pb.FileEnd(name="x")),
        pb.FetchChunk(done=pb.FetchDone(files=1)),
    ):
        assert _data_payload(msg.SerializeToString()) is None
    assert _data_payload(b"\x12\x05ab") is None  # a length that does not match is not taken
    assert _data_payload(b"\x12\xff\xff") is None and _data_payload(b"") is None


def test_dump_watcher_holds_back_the_newest_file_until_the_end(tmp_path) -> None:
    out = tmp_path / "out"
    (out / "bin").mkdir(parents=True)
    w = DumpWatcher(out, Hasher())
    (out / "bin" / "000001").write_bytes(b"a")
    assert w.poll()[0] == []  # may still be being written
    os.utime(out / "bin" / "000001", ns=(1, 1))
    (out / "bin" / "000002").write_bytes(b"bb")
    new, size = w.poll()
    assert [e.name for e in new] == ["bin/000001"] and size == 3
    assert [e.name for e in w.poll(final=True)[0]] == ["bin/000002"]
    assert w.poll(final=True)[0] == []


def test_quota_messages() -> None:
    q = Quota(1000, used=900)
    with pytest.raises(QuotaExceeded, match="needs 200 B but only 100 B of the 1000 B workspace quota is free"):
        q.reserve(200, "blob x")
    q.reserve(100, "blob y")
    with pytest.raises(QuotaExceeded, match="outgrew"):
        q.check_growth(1, "run r's dump")


def test_request_errors_are_one_line() -> None:
    bad = RunRequest(runner="load_and_run", model_sha256=SHA, inputs=(InputItem("data"),))
    with pytest.raises(RequestError) as err:
        _runner().validate(bad)
    assert "\n" not in str(err.value)


def _agent_cli(*args, env=None):
    e = {k: v for k, v in os.environ.items() if k != "LARFARM_TOKEN"}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=30, env=e)


def test_cli_version_and_facts() -> None:
    r = _agent_cli("version")
    assert r.returncode == 0 and r.stdout.startswith("larfarm agent ")
    r = _agent_cli("facts")
    facts = json.loads(r.stdout)
    assert r.returncode == 0 and facts["cpu_cores"] >= 1 and facts["runners"] == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["serve", "--config", "/nonexistent/agent.yaml"], "/nonexistent/agent.yaml: cannot read"),
        (["serve", "--listen", "nohost"], "--listen: expected HOST:PORT"),
        (["serve", "--listen", "127.0.0.1:0", "--tls-client-ca", "/x"], "needs a server certificate"),
        (
            ["serve", "--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"],
            "cannot read",
        ),
        (["serve", "--token-file", "/nonexistent/token"], "cannot read token file"),
    ],
)
def test_cli_bad_input_is_one_clear_line(tmp_path, args, message) -> None:
    r = _agent_cli(*args, "--workspace", str(tmp_path / "ws")) if args[0] == "serve" else _agent_cli(*args)
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("agent: error: ") and message in last, r.stderr
    assert "Traceback" not in r.stderr


def _readme_agent_section() -> str:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    return text.split("<!-- section: agent -->")[1].split("<!-- /section: agent -->")[0]


def test_readme_config_example_loads_and_names_every_key(tmp_path) -> None:
    section = _readme_agent_section()
    example = section.split("### Config file")[1].split("```yaml\n")[1].split("```")[0]
    (tmp_path / "agent.token").write_text("t\n")
    cfg = load_config(write_cfg(tmp_path, example))
    assert {r.name for r in cfg.runners} == {"load_and_run", "lite"} and cfg.quota_bytes == 20 << 30
    defaults = AgentConfig()
    for key in ("run_timeout_s", "max_run_timeout_s", "keep_finished_s", "log_lines_max", "max_queued_runs"):
        assert getattr(cfg, key) == getattr(defaults, key), f"README's {key} is not the default"
    from agent.config import _TOP_KEYS

    for key in _TOP_KEYS:
        assert f"\n{key}:" in "\n" + example, f"README's config example lacks {key}"


def test_readme_systemd_unit_runs_a_real_agent_command() -> None:
    unit = _readme_agent_section().split("```ini\n")[1].split("```")[0]
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv = exec_start.split("=", 1)[1].split()
    assert argv[1:4] == ["-m", "agent", "serve"]
    from agent.cli import _parser

    args = _parser().parse_args(argv[3:])
    assert args.config == Path("/etc/larfarm/agent.yaml") and args.token_file == Path("/etc/larfarm/agent.token")


def test_missing_grpc_is_one_clear_line(tmp_path) -> None:
    """On a board without grpcio, `agent serve` says what to install instead of a traceback."""
    root = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(root), "PATH": os.environ.get("PATH", "")}
    r = subprocess.run(
        [sys.executable, "-S", "-m", "agent", "serve", "--workspace", str(tmp_path / "ws")],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("agent: error: agent: missing Python package 'grpc'")
    assert "Traceback" not in r.stderr


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(
    name=_text,
    literal=st.one_of(st.none(), _text),
    fmt=_text,
    flags=st.lists(_text, max_size=3),
    env=st.dictionaries(_text, _text, max_size=3),
    dbg=st.one_of(st.none(), st.integers(0, 10)),
    iters=st.one_of(st.none(), st.integers(0, 10**6)),
    shape=st.one_of(st.none(), st.lists(st.integers(0, 10**10), max_size=9)),
)
def test_any_request_is_accepted_or_refused_with_a_request_error(
    name, literal, fmt, flags, env, dbg, iters, shape
) -> None:
    if literal is not None:
        item = InputItem(name, literal=literal)
    elif shape is not None:
        item = InputItem(name, shape=tuple(shape))
    else:
        item = InputItem(name, blob_sha256=SHA, format=fmt)
    req = RunRequest(
        runner="load_and_run",
        model_sha256=SHA,
        inputs=(item,),
        extra_flags=tuple(flags),
        env=tuple(env.items()),
        megdnn_dbg=dbg,
        iter=iters,
    )
    runner = _runner(extra_flags_allow=("--enable-nchw44",), env_allow=("OMP_NUM_THREADS",))
    try:
        runner.validate(req)
    except RequestError as err:
        assert "\n" not in str(err)
        return
    # what passed is safe to hand to load_and_run: no item separator or name/spec split inside a name
    assert ";" not in name and ":" not in name and all(f == "--enable-nchw44" for f in flags)
    assert set(env) <= {"OMP_NUM_THREADS", "MGB_USE_MEGDNN_DBG"}


def test_token_file_open_to_others_warns(tmp_path, caplog) -> None:
    from agent.config import read_token_file

    tok = tmp_path / "token"
    tok.write_text("abc\n")
    tok.chmod(0o600)
    assert read_token_file(tok) == "abc" and "chmod 600" not in caplog.text
    tok.chmod(0o644)
    assert read_token_file(tok) == "abc" and "readable by other users: chmod 600 it" in caplog.text
    assert "abc" not in caplog.text
