"""lar-lite's gflags-style command line (no engine needed)."""

from __future__ import annotations

from dataclasses import fields

import pytest

from agent.graph_options import GraphOptions
from agent.lar_lite.errors import UsageError
from agent.lar_lite.flags import FLAGS, LarOptions, parse_args, usage
from agent.lar_lite.run import HEURISTIC, OPTIMIZED, PROFILE, REPRODUCIBLE, algo_policy


def test_defaults_are_load_and_runs():
    opts = parse_args(["m.mge"])
    assert opts.model == "m.mge"
    assert (opts.iter, opts.warmup_iter, opts.multithread) == (10, 1, -1)
    assert not (opts.fast_run or opts.reproducible or opts.verbose or opts.model_info)
    assert opts.input == opts.io_dump == opts.bin_io_dump == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["m.mge", "--iter", "3", "--warmup-iter", "0", "--bin-io-dump", "d"],
        ["m.mge", "--iter=3", "--warmup_iter=0", "--bin_io_dump=d"],
        ["--iter", "3", "-warmup-iter", "0", "-bin-io-dump", "d", "m.mge"],
        ["--iter=3", "--warmup-iter=0", "--bin-io-dump", "d", "--", "m.mge"],
    ],
)
def test_spellings_all_mean_the_same(argv):
    opts = parse_args(argv)
    assert (opts.model, opts.iter, opts.warmup_iter, opts.bin_io_dump) == ("m.mge", 3, 0, "d")


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--fast-run"], True),
        (["--fast_run=true"], True),
        (["--fast-run=1"], True),
        (["--fast-run", "--nofast-run"], False),
        (["--fast-run=false"], False),
        (["--fast-run=no"], False),
    ],
)
def test_bool_forms(argv, expected):
    assert parse_args(["m.mge", *argv]).fast_run is expected


def test_bool_flag_does_not_swallow_the_model():
    opts = parse_args(["--verbose", "m.mge", "--model-info"])
    assert opts.model == "m.mge" and opts.verbose and opts.model_info


def test_input_value_keeps_colons_and_semicolons():
    value = "data:a.npy;mask:[[1,2],[3,4]];x:{1,3,2,2}"
    assert parse_args(["m.mge", "--input", value]).input == value
    assert parse_args(["m.mge", f"--input={value}"]).input == value


@pytest.mark.parametrize(
    "argv,message",
    [
        (["m.mge", "--bogus"], "unknown command line flag 'bogus'"),
        (["m.mge", "--nobogus"], "unknown command line flag 'nobogus'"),
        (["m.mge", "--noiter"], "unknown command line flag 'noiter'"),
        (["m.mge", "--iter", "x"], "--iter: invalid value 'x'"),
        (["m.mge", "--iter=1.5"], "--iter: invalid value '1.5'"),
        (["m.mge", "--iter"], "--iter: missing value"),
        (["m.mge", "--iter", "-1"], "--iter: must be >= 0"),
        (["m.mge", "--warmup-iter=-2"], "--warmup-iter: must be >= 0"),
        (["m.mge", "--multithread", "0"], "--multithread: must be >= 1"),
        (["m.mge", "--iter", "99999999999999999999"], "--iter: must be at most 2147483647"),  # ran for ever
        (["m.mge", "--warmup-iter", "2147483648"], "--warmup-iter: must be at most 2147483647"),
        (["m.mge", "--multithread", "4294967297"], "--multithread: must be at most 2147483647"),
        (["m.mge", "--cpu-default", "--multithread", "2"], "exclude each other"),
        (["m.mge", "--cuda"], "--cuda: lar-lite runs MegEngine Lite on the CPU only"),
        (["m.mge", "--verbose=maybe"], "--verbose: invalid value 'maybe'"),
        (["m.mge", "--nofast-run=1"], "takes no value"),
        (["m.mge", "--input="], "--input: empty value"),
        (["m.mge", "--bin-io-dump="], "--bin-io-dump: empty value"),
        (["m.mge", "--output-npz", "o.npz", "--iter", "0", "--warmup-iter", "0"], "no execution to save"),
        ([], "no model given"),
        (["a.mge", "b.mge"], "more than one model"),
    ],
)
def test_bad_command_lines_say_what(argv, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_args(argv)


def test_help_needs_no_model_and_lists_every_flag():
    assert parse_args(["--help"]).help
    text = usage()
    for name in FLAGS:
        assert "--" + name.replace("_", "-") in text


def test_flag_table_and_options_have_the_same_flags_and_defaults():
    """FLAGS (help, parsing) and LarOptions (defaults when a flag is absent) are two copies; keep them equal."""
    graph = {f.name for f in fields(GraphOptions)}
    assert set(FLAGS) == ({f.name for f in fields(LarOptions)} | graph) - {"model", "given", "graph"}
    opts = LarOptions()
    for name, (_, default, _) in FLAGS.items():
        if name not in graph:  # graph options live, typed, in opts.graph (tests/lar_lite/test_options.py)
            assert getattr(opts, name) == default, name


@pytest.mark.parametrize(
    "flags,policy",
    [
        ([], HEURISTIC),
        (["--reproducible"], HEURISTIC | REPRODUCIBLE),
        (["--fast-run"], PROFILE | OPTIMIZED),
        (["--fast-run", "--reproducible"], PROFILE | OPTIMIZED | REPRODUCIBLE),
    ],
)
def test_algo_policy(flags, policy):
    assert algo_policy(parse_args(["m.mge", *flags])) == policy
