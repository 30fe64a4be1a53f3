"""lar-lite end to end on the real MegEngine Lite: dumps, options, printing and errors."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from analysis.dump_text import parse_text_dump
from analysis.graph import VarGraph
from tests.lar_lite.conftest import assert_one_error


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_both_dumps_in_one_invocation_are_the_fixtures_naive_run(run_model, megengine_fixtures, tmp_path):
    """Two networks in one process: bin and txt dumps each as load_and_run writes them alone."""
    bin_dir, txt, npz = _mkdir(tmp_path / "bin"), tmp_path / "io.txt", tmp_path / "out.npz"
    proc = run_model(
        "tiny_cnn",
        "--bin-io-dump",
        bin_dir,
        "--io-dump",
        txt,
        "--output-npz",
        npz,
        "--iter",
        "1",
        "--warmup-iter",
        "0",
        dbg=2,
    )
    assert proc.returncode == 0, proc.stderr
    want = megengine_fixtures / "runs" / "tiny_cnn" / "naive"
    for f in (want / "bin").iterdir():
        assert (bin_dir / f.name).read_bytes() == f.read_bytes(), f.name
    assert sorted(p.name for p in bin_dir.iterdir()) == sorted(p.name for p in (want / "bin").iterdir())
    # Naive kernels are deterministic, so even the 4-digit text matches byte for byte.
    assert txt.read_bytes() == (want / "io_dump.txt").read_bytes()
    text_graph = VarGraph.from_text_dump(txt)
    assert text_graph.agrees_with(VarGraph.from_text_dump(want / "io_dump.txt"))
    assert text_graph.agrees_with(VarGraph.from_dump_folder(bin_dir)), text_graph.diff(
        VarGraph.from_dump_folder(bin_dir)
    ).describe()
    got, ref = np.load(npz), np.load(want / "outputs.npz")
    assert list(got) == list(ref) == ["prob"]
    assert got["prob"].tobytes() == ref["prob"].tobytes()
    assert "lar-lite: warning" not in proc.stderr


@pytest.mark.parametrize("model", ["tiny_cnn", "mlp", "big_conv"])
def test_text_dump_parses_to_the_fixtures_graph(run_model, megengine_fixtures, tmp_path, model):
    txt = tmp_path / "io.txt"
    proc = run_model(model, "--io-dump", txt, "--iter", "1", "--warmup-iter", "0")
    assert proc.returncode == 0, proc.stderr
    dump = parse_text_dump(txt)
    assert len(dump.iterations) == 1
    ours = VarGraph.from_text_dump(dump)
    theirs = VarGraph.from_text_dump(megengine_fixtures / "runs" / model / "default" / "io_dump.txt")
    assert ours.agrees_with(theirs), ours.diff(theirs).describe()
    assert [v.id for v in dump.last] == [
        v.id for v in parse_text_dump(megengine_fixtures / "runs" / model / "default" / "io_dump.txt").last
    ]


def test_iterations_follow_load_and_run(run_model, megengine_fixtures, tmp_path):
    """--warmup-iter M untimed runs, then --iter N timed ones; the text dump appends each."""
    txt, npz = tmp_path / "io.txt", tmp_path / "out.npz"
    proc = run_model("mlp", "--io-dump", txt, "--iter", "2", "--warmup-iter", "1", "--output-npz", npz)
    assert proc.returncode == 0, proc.stderr
    assert len(parse_text_dump(txt).iterations) == 3
    out = proc.stdout
    assert "=== prepare: " in out and "; going to warmup" in out
    assert re.search(r"^warm up 0  \d+\.\d{3}ms$", out, re.M)
    assert re.findall(r"^iter (\d)/2: e2e=\d+\.\d{3} ms \(host=\d+\.\d{3} ms\)$", out, re.M) == ["0", "1"]
    assert re.search(
        r"^=== finished test #0: time=[\d.]+ ms avg_time=[\d.]+ ms standard_deviation=[\d.]+ ms "
        r"min=[\d.]+ ms max=[\d.]+ ms$",
        out,
        re.M,
    )
    assert re.search(r"^=== total time: [\d.]+ms$", out, re.M)
    # Four outputs, in the model's order, with Int32 argmax among them.
    names = re.findall(r"^output\[\d\] (\w+): shape=(\S+) dtype=(\w+) ", out, re.M)
    assert names == [
        ("logits", "{4,32}", "float32"),
        ("stats", "{12}", "float32"),
        ("pred", "{4}", "int32"),
        ("stats_half", "{12}", "float32"),
    ]
    got, ref = np.load(npz), np.load(megengine_fixtures / "runs" / "mlp" / "default" / "outputs.npz")
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-5, atol=1e-5, err_msg=name)
    assert got["pred"].tolist() == ref["pred"].tolist()


def test_defaults_are_one_warmup_and_ten_iterations(run_model, tmp_path):
    txt = tmp_path / "io.txt"
    proc = run_model("mlp", "--io-dump", txt)
    assert proc.returncode == 0, proc.stderr
    assert len(parse_text_dump(txt).iterations) == 11
    assert len(re.findall(r"^iter \d+/10: ", proc.stdout, re.M)) == 10


def test_model_info_prints_the_table_before_and_after(run_model):
    proc = run_model("mlp", "--model-info", "--iter", "1", "--warmup-iter", "0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("+Runtime Model Info") == 2
    assert "| INPUT  |    data    | {4,64} | float32 |" in proc.stdout
    assert "| OUTPUT |    pred    |  {4}   |  int32  |" in proc.stdout
    assert "| OUTPUT | stats_half |  {12}  | float32 |" in proc.stdout


@pytest.mark.parametrize(
    "flags,strategy",
    [
        ([], "HEURISTIC"),
        (["--reproducible"], "HEURISTIC REPRODUCIBLE"),
        (["--fast-run"], "PROFILE OPTIMIZED"),
        (["--fast-run", "--reproducible"], "PROFILE REPRODUCIBLE OPTIMIZED"),
    ],
)
def test_algo_policy_reaches_the_engine(run_model, flags, strategy):
    """--verbose shows MegEngine's own log: the strategy and the algorithm of each opr."""
    proc = run_model("mlp", "--verbose", "--iter", "1", "--warmup-iter", "0", *flags)
    assert proc.returncode == 0, proc.stderr
    assert set(re.findall(r"Use Stragegy :(.*?) *$", proc.stderr, re.M)) == {strategy}
    assert re.search(r"setup_algo@.*algo=\S+", proc.stderr)


def test_quiet_without_verbose(run_model):
    proc = run_model("mlp", "--iter", "1", "--warmup-iter", "0")
    assert proc.returncode == 0
    assert "setup_algo" not in proc.stderr


def test_fast_run_algo_policy_cache_is_written_then_used(run_model, tmp_path):
    cache = tmp_path / "algo.cache"
    proc = run_model("tiny_cnn", "--fast-run", "--fast-run-algo-policy", cache, "--iter", "1", "--warmup-iter", "0")
    assert proc.returncode == 0, proc.stderr
    assert cache.stat().st_size > 0
    written = cache.read_bytes()
    # Reading it back: no profiling needed, the file is left as it was.
    proc = run_model("tiny_cnn", "--fast-run-algo-policy", cache, "--iter", "1", "--warmup-iter", "0", "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert "profile@" not in proc.stderr
    assert cache.read_bytes() == written


def test_algo_policy_file_needs_fast_run_to_be_created(run_model, tmp_path):
    proc = run_model("tiny_cnn", "--fast-run-algo-policy", tmp_path / "none.cache")
    assert_one_error(proc, r"--fast-run-algo-policy: .*none.cache does not exist; --fast-run is needed", code=2)


@pytest.mark.parametrize(
    "flags,comp_node",
    [
        (["--multithread", "2"], "multithread2:0"),
        (["--cpu-default"], "cpu:default"),
        (["--cpu"], "cpu0:0"),
    ],
)
def test_device_flags_change_the_comp_node_not_the_values(run_model, megengine_fixtures, tmp_path, flags, comp_node):
    from tests.lar_lite.test_dumps import read_bin

    out = _mkdir(tmp_path / "bin")
    proc = run_model("tiny_cnn", "--bin-io-dump", out, "--iter", "1", "--warmup-iter", "0", *flags)
    assert proc.returncode == 0, proc.stderr
    want = megengine_fixtures / "runs" / "tiny_cnn" / "default" / "bin"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in want.iterdir())
    for f in want.iterdir():
        g_head, g_title, g_val = read_bin(out / f.name)
        w_head, w_title, w_val = read_bin(f)
        assert f'CompNode("{comp_node}" from "{comp_node}")'.encode() in g_title
        assert g_head[4:] == w_head[4:]  # same dtype and shape (the title length may differ)
        np.testing.assert_allclose(g_val, w_val, rtol=1e-5, atol=1e-5, err_msg=f.name)


def test_float16_outputs_can_be_read(lite_runtime, tmp_path):
    """The binding lacks LITE_HALF in its ctype map; the shim adds it (checked in a fresh process)."""
    import subprocess
    import sys

    code = (
        "from agent.lar_lite.engine import load_lite\n"
        "lite = load_lite()\n"
        "t = lite.LiteTensor(lite.LiteLayout([2, 3], lite.LiteDataType.LITE_HALF))\n"
        "t.fill_zero()\n"
        "a = t.to_numpy()\n"
        "print(a.dtype, a.shape, a.tolist())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "float16 (2, 3) [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]"


# -- errors: one clear line, non-zero exit ----------------------------------------


def test_missing_model(lar_lite_argv, tmp_path):
    from tests.support.lite import run_lar_lite

    assert_one_error(
        run_lar_lite(lar_lite_argv, [tmp_path / "absent.mge"]), r"model file .*absent.mge does not exist$", code=2
    )
    assert_one_error(run_lar_lite(lar_lite_argv, [tmp_path]), r"is a directory$", code=2)
    os.mkfifo(tmp_path / "fifo.mge")  # it exists: "does not exist" sent the user looking for a typo
    assert_one_error(run_lar_lite(lar_lite_argv, [tmp_path / "fifo.mge"]), r"fifo.mge is not a regular file$", code=2)


def test_file_that_is_not_a_model(lar_lite_argv, megengine_fixtures):
    from tests.support.lite import run_lar_lite

    proc = run_lar_lite(lar_lite_argv, [megengine_fixtures / "models" / "models.json"])
    assert_one_error(proc, r"loading model .*models.json: Error: invalid model format", code=1)


def test_missing_bin_dump_folder(run_model, tmp_path):
    proc = run_model("mlp", "--bin-io-dump", tmp_path / "nope")
    assert_one_error(proc, r"--bin-io-dump: directory .*nope does not exist", code=2)


def test_text_dump_in_missing_folder(run_model, tmp_path):
    proc = run_model("mlp", "--io-dump", tmp_path / "nope" / "io.txt")
    assert_one_error(proc, r"--io-dump: directory .*nope of .* does not exist", code=2)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where nobody can create files")
@pytest.mark.parametrize(
    "flag,path,pattern",
    [
        # MegEngine's text dump plugin segfaulted on a file it could not open.
        ("--io-dump", "/proc/io.txt", r"--io-dump: cannot write /proc/io.txt: "),
        ("--bin-io-dump", "/proc/self", r"--bin-io-dump: cannot write in /proc/self: "),
    ],
)
def test_dump_that_cannot_be_written(run_model, flag, path, pattern):
    assert_one_error(run_model("mlp", flag, path, "--iter", "1", "--warmup-iter", "0"), pattern, code=2)


def test_text_dump_over_an_existing_file_runs(run_model, tmp_path):
    target = tmp_path / "io.txt"
    target.write_text("old\n")
    proc = run_model("mlp", "--io-dump", target, "--iter", "1", "--warmup-iter", "0")
    assert proc.returncode == 0, proc.stderr
    assert target.read_text().startswith("var")


@pytest.mark.parametrize(
    "value,pattern",
    [
        ("data:/no/such/file.npy", r"--input: no such file: /no/such/file.npy$"),
        ("data:[[1,2]", r"--input: cannot parse '\[\[1,2\]'"),
        ("data:[[1,2],[3,4]]", r"input 'data' is float32 in the model, but the data given is int32"),
        ("feat:[1.0]", r"the model has no input named 'feat' \(its inputs: data\)"),
        (
            "data:[[1.0,2.0]]",
            r"forward: assertion .* failed at \w+\.cpp:\d+ \(inputs given: data \{1,2\} float32; "
            r"the model declares: data \{4,64\} float32\)",
        ),
    ],
)
def test_bad_input(run_model, value, pattern):
    assert_one_error(run_model("mlp", "--input", value, with_input=False), pattern, code=1)


def test_shape_only_input_runs(run_model):
    proc = run_model("mlp", "--input", "data:{4,64}", "--iter", "1", "--warmup-iter", "0", with_input=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "flags,pattern",
    [
        (["--bogus"], r"unknown command line flag 'bogus'"),
        (["--iter", "many"], r"--iter: invalid value 'many'"),
    ],
)
def test_bad_flags(run_model, flags, pattern):
    assert_one_error(run_model("mlp", *flags), pattern, code=2)


def test_bad_megdnn_debug_level(run_model):
    assert_one_error(run_model("mlp", dbg=3), r"MGB_USE_MEGDNN_DBG must be 0, 1 or 2, got '3'", code=2)


def test_help(lar_lite_argv):
    from tests.support.lite import run_lar_lite

    proc = run_lar_lite(lar_lite_argv, ["--help"])
    assert proc.returncode == 0 and "--bin-io-dump" in proc.stdout


@pytest.mark.parametrize("damage", ["random bytes", "first 20 bytes", "first 30000 bytes"])
def test_damaged_model(lar_lite_argv, megengine_fixtures, tmp_path, damage):
    from tests.support.lite import run_lar_lite

    good = (megengine_fixtures / "models" / "mlp.mge").read_bytes()
    bad = {"random bytes": bytes(range(256)) * 12, "first 20 bytes": good[:20], "first 30000 bytes": good[:30000]}[
        damage
    ]
    (tmp_path / "bad.mge").write_bytes(bad)
    assert_one_error(run_lar_lite(lar_lite_argv, [tmp_path / "bad.mge"]), r"loading model .*bad.mge: ", code=1)


def test_damaged_algo_cache(run_model, tmp_path):
    (tmp_path / "algo.cache").write_bytes(b"not an algorithm cache")
    proc = run_model("mlp", "--fast-run-algo-policy", tmp_path / "algo.cache")
    assert_one_error(proc, r"--fast-run-algo-policy .*algo.cache: cannot load the algorithm cache", code=1)


def test_stdout_closed_early_is_not_a_crash(lar_lite_argv, megengine_fixtures):
    import subprocess

    proc = subprocess.Popen(
        [
            *lar_lite_argv,
            megengine_fixtures / "models" / "mlp.mge",
            "--input",
            "data:{4,64}",
            "--iter",
            "2000",
            "--warmup-iter",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        proc.stdout.readline()
        proc.stdout.close()  # like `lar-lite ... | head -1`
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # a hung lar-lite must not outlive the test
            proc.kill()
            proc.wait()
    assert proc.returncode == 141
    assert b"Traceback" not in err


def test_input_forms_feed_the_same_data(lar_lite_argv, megengine_fixtures, tmp_path):
    """The same values as .npy, .json and a literal give bitwise the same outputs."""
    import json

    from tests.support.lite import run_lar_lite

    x = np.load(megengine_fixtures / "inputs" / "mlp__data.npy")
    # float32 values printed with repr round-trip exactly through JSON and the literal.
    values = [float(v) for v in x.ravel()]
    (tmp_path / "in.json").write_text(json.dumps({"data": {"shape": list(x.shape), "type": "float32", "raw": values}}))
    literal = json.dumps(x.astype(np.float64).tolist()).replace(" ", "")
    assert "." in literal
    forms = {
        "npy": f"data:{megengine_fixtures / 'inputs' / 'mlp__data.npy'}",
        "json": str(tmp_path / "in.json"),
        "literal": f"data:{literal}",
    }
    outputs = {}
    for form, value in forms.items():
        npz = tmp_path / f"{form}.npz"
        proc = run_lar_lite(
            lar_lite_argv,
            [
                megengine_fixtures / "models" / "mlp.mge",
                "--input",
                value,
                "--iter",
                "1",
                "--warmup-iter",
                "0",
                "--output-npz",
                npz,
            ],
        )
        assert proc.returncode == 0, (form, proc.stderr)
        outputs[form] = {k: v.tobytes() for k, v in np.load(npz).items()}
    assert outputs["npy"] == outputs["json"] == outputs["literal"]
