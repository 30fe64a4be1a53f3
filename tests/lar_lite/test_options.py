"""lar-lite's graph options (load_and_run's spellings) against the real MegEngine Lite 1.13 engine.

Each option must print load_and_run's log line and change the graph the way
the engine does (counted in the binary dump). On some VMs the optimised x86
NCHW88 kernels (MKL-DNN) die in MegEngine itself ("bad err=45 in
Xbyak::Error", SIGFPE); the graph tests for NCHW88 and the global layout
transform use fallback kernels (``MGB_USE_MEGDNN_DBG=1``), which run the same
rewritten graph.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.graph_options import LITE_REFUSED, OPTIONS, GraphOptions, flag, to_flags
from agent.lar_lite.errors import UsageError
from agent.lar_lite.flags import parse_args, usage
from analysis.dump_bin import read_header
from tests.lar_lite.conftest import assert_one_error

ONE_FORWARD = ("--iter", "1", "--warmup-iter", "0")


def titles(folder: Path) -> dict:
    return {p.name: read_header(p).title_bytes for p in sorted(folder.iterdir())}


# --- the command line (no engine)


@pytest.mark.parametrize("name", [n for n, (kind, _) in OPTIONS.items() if kind == "bool" and n not in LITE_REFUSED])
def test_each_bool_option_parses_into_its_field(name):
    extra = ["--no-sanity-check"] if name == "record_comp_seq2" else []
    opts = parse_args(["m.mge", flag(name), *extra])
    assert getattr(opts.graph, name) is True
    assert to_flags(opts.graph) == sorted({flag(name), *extra}, key=list(map(flag, OPTIONS)).index)


def test_valued_options_and_their_spellings():
    opts = parse_args(["m.mge", "--workspace-limit", "67108864", "--layout_transform=cpu"])
    assert opts.graph == GraphOptions(workspace_limit=67108864, layout_transform="cpu")
    assert to_flags(opts.graph) == ["--workspace-limit=67108864", "--layout-transform=cpu"]
    assert parse_args(["m.mge", "--workspace-limit=0"]).graph.workspace_limit == 0
    assert parse_args(["m.mge"]).graph == GraphOptions()


def test_help_lists_every_option():
    text = usage()
    for name in OPTIONS:
        assert flag(name) in text


@pytest.mark.parametrize(
    "argv,pattern",
    [
        (["--enable-nchw44", "--enable-nchw88"], r"choose one layout option, not --enable-nchw44 and --enable-nchw88"),
        (["--record-comp-seq2"], r"--record-comp-seq2 needs --no-sanity-check"),
        (["--layout-transform=gpu"], r"unsupported target 'gpu'"),
        (["--layout-transform=cuda"], r"CPU only"),
        (["--workspace-limit=-1"], r"--workspace-limit: must be >= 0"),
        (["--workspace-limit=lots"], r"expected an integer"),
        (["--enable-nchw88=maybe"], r"expected true or false"),
    ],
)
def test_bad_combinations_and_values_are_one_line(argv, pattern):
    with pytest.raises(UsageError, match=pattern):
        parse_args(["m.mge", *argv])


@pytest.mark.parametrize("name", sorted(LITE_REFUSED))
def test_what_load_and_run_refuses_for_lite_models_is_refused_the_same_way(run_model, name):
    proc = run_model("tiny_cnn", flag(name), *ONE_FORWARD)
    line = assert_one_error(proc, flag(name), code=2)
    assert LITE_REFUSED[name] in line


# --- the real engine


def test_jit_is_one_clear_error_not_a_crash(run_model):
    proc = run_model("tiny_cnn", "--enable-jit", *ONE_FORWARD)
    assert "enable JIT (level 1)" in proc.stdout
    assert_one_error(proc, r"No compiler support for cpu", code=1)


@pytest.mark.parametrize(
    "flags,dbg,line,count",
    [
        # counts are binary dump files (vars) of tiny_cnn; the default graph has 17
        (["--enable-nchw44"], None, "enable nchw44 optimization", 22),
        (["--enable-nchw44-dot"], None, "enable nchw44_dot optimization", 22),
        (["--enable-nchw88"], 1, "enable nchw88 optimization", 22),
        (["--enable-nhwcd4"], None, "enable nhwcd4 optimization", 25),
        (["--enable-nchw4"], None, "enable nchw4 optimization", 15),
        (["--enable-nchw32"], None, "enable nchw32 optimization", 15),
        (["--enable-nchw64"], None, "enable nchw64 optimization", 15),
        # layouts chosen by timing, so the var count depends on the machine's load (15, 22 and 27 seen):
        # only that the graph was rewritten (its convs fused into ConvBias) is fixed
        (["--layout-transform=cpu"], 1, "using global layout transform optimization", None),
    ],
)
def test_layout_options_log_and_rewrite_the_graph(run_model, tmp_path, flags, dbg, line, count):
    out = tmp_path / "bin"
    out.mkdir()
    proc = run_model("tiny_cnn", *flags, "--bin-io-dump", out, *ONE_FORWARD, dbg=dbg)
    assert proc.returncode == 0, proc.stderr
    assert line in proc.stdout.splitlines()
    if count is None:
        assert any(b"ConvBias" in t for t in titles(out).values())
    else:
        assert len(list(out.iterdir())) == count


def test_const_shape_keeps_the_vars_but_shifts_ids(run_model, tmp_path):
    plain, const = tmp_path / "plain", tmp_path / "const"
    plain.mkdir()
    const.mkdir()
    assert run_model("tiny_cnn", "--bin-io-dump", plain, *ONE_FORWARD).returncode == 0
    proc = run_model("tiny_cnn", "--const-shape", "--bin-io-dump", const, *ONE_FORWARD)
    assert proc.returncode == 0, proc.stderr
    assert "enable const var shape" in proc.stdout.splitlines()
    a, b = titles(plain), titles(const)
    assert len(a) == len(b) == 17
    assert set(a) != set(b)


@pytest.mark.parametrize(
    "flags,lines",
    [
        (
            ["--weight-preprocess", "--enable-fuse-preprocess", "--no-sanity-check", "--record-comp-seq2"],
            [
                "enable weight-preprocess optimization",
                "enable fuse-preprocess optimization",
                "disable var sanity check optimization",
                "set record_comp_seq_level to 2",
            ],
        ),
        (["--workspace-limit", "67108864"], ["set workspace limit to 67108864"]),
        (["--record-comp-seq"], ["set record_comp_seq_level to 1"]),
    ],
)
def test_graph_preserving_options_log_and_keep_every_title(run_model, tmp_path, flags, lines):
    plain, opt = tmp_path / "plain", tmp_path / "opt"
    plain.mkdir()
    opt.mkdir()
    assert run_model("tiny_cnn", "--bin-io-dump", plain, *ONE_FORWARD).returncode == 0
    proc = run_model("tiny_cnn", *flags, "--bin-io-dump", opt, *ONE_FORWARD)
    assert proc.returncode == 0, proc.stderr
    said = proc.stdout.splitlines()
    for line in lines:
        assert line in said
    assert titles(opt) == titles(plain)


def test_a_workspace_limit_the_engine_cannot_set_any_more_is_one_line(run_model):
    # record level 2 (like a layout option) compiles the graph at load; Lite sets the limit after.
    flags = ["--no-sanity-check", "--record-comp-seq2", "--workspace-limit=0"]
    proc = run_model("tiny_cnn", *flags, *ONE_FORWARD)
    assert_one_error(proc, r"--workspace-limit: .*ExecutionPolicy.*compiled the graph at load", code=1)


def test_fake_first_dumps_the_execution_after_the_fake_one(run_model, tmp_path):
    lone, after = tmp_path / "lone", tmp_path / "after"
    lone.mkdir()
    after.mkdir()
    proc = run_model("tiny_cnn", "--fake-first", "--bin-io-dump", lone, *ONE_FORWARD)
    assert proc.returncode == 0, proc.stderr
    assert "enable fake-first optimization" in proc.stdout.splitlines()
    assert "the only execution is the fake one" in proc.stderr
    assert list(lone.iterdir()) == []  # MegEngine computed nothing
    proc = run_model("tiny_cnn", "--fake-first", "--bin-io-dump", after, "--iter", "1", "--warmup-iter", "1")
    assert proc.returncode == 0 and "fake one" not in proc.stderr
    assert len(list(after.iterdir())) == 17


def test_the_two_networks_of_a_layout_transform_run_are_told_apart(megengine_fixtures):
    from agent.lar_lite.run import two_graphs

    options = megengine_fixtures / "options"
    two = options / "text" / "big_conv__layout_transform__two_networks"
    why = two_graphs(str(two / "io.txt"), str(two / "bin"))
    assert "the two networks chose different layouts" in why and "holds 7" in why
    for config in ("layout_transform", "nchw88", "nhwcd4"):
        same = options / "runs" / "tiny_cnn" / config
        assert two_graphs(str(same / "io.txt"), str(same / "bin")) == "", config


def test_engine_exit_inside_the_forward_ends_the_run_at_once(run_model, tmp_path):
    """Where MegEngine's optimised NCHW88 kernels fail ("bad err=45 in Xbyak::Error"), MegEngine calls
    exit() in its worker thread and its own exit handler waits for that thread: without lar-lite's
    guard the process hung until killed. Either the forward works, or the run ends in seconds with
    one line naming the options."""
    dump = tmp_path / "bin"
    dump.mkdir()
    proc = run_model("tiny_cnn", *ONE_FORWARD, "--bin-io-dump", dump, "--enable-nchw88", timeout=60)
    if proc.returncode != 0:
        # MegEngine's own message ("bad err=45 in Xbyak::Error") comes first, unprefixed
        lines = proc.stderr.splitlines()
        assert "Traceback" not in proc.stderr and [x for x in lines if "lar-lite: error" in x] == lines[-1:]
        assert re.fullmatch(
            r"lar-lite: error: MegEngine called exit\(\d+\) inside the forward \(a fatal engine error; its own "
            r"message precedes this line on stderr\) with --enable-nchw88",
            lines[-1],
        ), proc.stderr
    else:
        assert "lar-lite: error" not in proc.stderr
    # a normal run still writes and closes every dump (the guard's exit flushes C's buffers)
    text = tmp_path / "dump.txt"
    ok = run_model("tiny_cnn", *ONE_FORWARD, "--io-dump", text, "--enable-nchw44", dbg=1)
    assert ok.returncode == 0, ok.stderr
    assert text.read_text().count("var") > 5
