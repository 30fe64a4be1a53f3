"""Text dump (--io-dump) parsing on MegEngine 1.13's files and the forms of the formats spec §2."""

import math
from pathlib import Path

import pytest

from analysis.dump_bin import list_dump_folder
from analysis.dump_text import is_nan_negative, parse_text_dump, parse_text_dump_lines
from analysis.errors import AnalysisError, TextDumpError

# From MegEngine's own text-dump test (formats spec §2.2): host-value inputs, fewer than 5 values.
UPSTREAM = """\
var11 produced: name=var11 layout={1(3),3(1) Float32} owner_opr=opr10{Subtensor} opr10
 deps:
  [i0]var1: [2.352, 0.1114, -0.2721, 0.7569, -0.2438, ...] s
  [i1]var5:  <host value[s]> [0] s
  [i2]var7:  <host value[s]> [1] s
 val: [2.352, 0.1114, -0.2721]min=-0.272 max=2.35 mean=0.731 l2=1.37 sd=1.42 s
"""


def runs(root: Path):
    found = sorted(root.glob("runs/*/*/io_dump.txt"))
    assert len(found) == 18
    return found


def test_every_fixture_text_dump_parses_to_one_forward(megengine_fixtures):
    for path in runs(megengine_fixtures):
        dump = parse_text_dump(path)
        assert len(dump.iterations) == 1 and not dump.lazy
        ids = [v.id for v in dump.last]
        assert len(ids) == len(set(ids)), path
        for var in dump.last:
            assert var.stats is not None and var.storage == "s"
            assert var.shape is not None and var.dtype in {"Float32", "Float16", "Int32"}
        bin_dir = path.parent / "bin"
        if bin_dir.is_dir():  # the same vars the binary dump of that run holds
            assert sorted(ids) == [e.var_id for e in list_dump_folder(bin_dir).outputs], path


def test_record_fields(megengine_fixtures):
    dump = parse_text_dump(megengine_fixtures / "runs/tiny_cnn/default/io_dump.txt")
    var = dump.by_id()[16]
    assert (var.name, var.owner_opr, var.owner_type, var.opr_id) == (
        "relu1.RELU",
        "FUSE_ADD_RELU(conv[239],const{1,8,1,1}[252])[372]",
        "Elemwise",
        15,
    )
    assert var.layout == "{1(8192),8(1024),32(32),32(1) Float32}"
    assert var.shape == (1, 8, 32, 32) and var.dtype == "Float32"
    assert var.values == (0.05949, 0, 0, 0.3571, 0.02766) and var.values_truncated
    assert var.stats == {"min": 0.0, "max": 5.66, "mean": 0.21, "l2": 0.514, "sd": 0.469}
    assert [(d.input_index, d.var_id, d.kind) for d in var.deps] == [(0, 9, "value"), (1, 14, "value")]
    assert var.input_ids == (9, 14)
    lines = (megengine_fixtures / "runs/tiny_cnn/default/io_dump.txt").read_text().splitlines()
    assert lines[var.line - 1].startswith("var16 produced: ")


def test_host_value_dependency_with_two_spaces(megengine_fixtures):
    var = parse_text_dump(megengine_fixtures / "runs/tiny_cnn/default/io_dump.txt").by_id()[41]
    host = var.deps[1]
    assert (host.var_id, host.input_index, host.kind, host.preview, host.storage) == (
        39,
        1,
        "host_value",
        "[1, -1]",
        "s",
    )
    assert var.input_ids == (28, 39)


def test_single_value_has_no_sd_and_integers_stay_integers(megengine_fixtures):
    dump = parse_text_dump(megengine_fixtures / "runs/mlp/default/io_dump.txt").by_id()
    half = dump[83]
    assert half.values == (0.5,) and not half.values_truncated and half.stats["sd"] is None
    pred = dump[366]
    assert pred.dtype == "Int32" and all(isinstance(v, int) for v in pred.values)


def test_upstream_example():
    dump = parse_text_dump_lines(UPSTREAM.splitlines())
    var = dump.last[0]
    assert var.owner_type == "Subtensor" and var.input_ids == (1, 5, 7)
    assert [d.kind for d in var.deps] == ["value", "host_value", "host_value"]
    assert var.values == (2.352, 0.1114, -0.2721) and not var.values_truncated


def test_several_forwards_split_and_the_last_is_default(megengine_fixtures, tmp_path):
    text = (megengine_fixtures / "runs/mlp/default/io_dump.txt").read_text()
    changed = text.replace("var11 produced: name=fc1.MatrixMul", "var11 produced: name=second")
    path = tmp_path / "io.txt"
    path.write_text(text + text + changed)
    dump = parse_text_dump(path)
    assert len(dump.iterations) == 3
    assert [len(i) for i in dump.iterations] == [39, 39, 39]
    assert dump.by_id()[11].name == "second" and dump.by_id(0)[11].name == "fc1.MatrixMul"
    assert dump.last is dump.iterations[-1]


def test_invalid_layout_head_without_deps_then_more_records():
    lines = [
        "var3 produced: name=x layout=<invalid> owner_opr=x{Host2DeviceCopy} opr2",
        "var5 produced: name=y layout={2(1) Float32} owner_opr=y{Elemwise} opr4",
        " deps:",
        "  [i0]var3: <invalid> s",
        " val: [-nan, nan]min=-nan max=nan mean=-nan l2=nan sd=-nan d",
    ]
    dump = parse_text_dump_lines(lines)
    head, var = dump.last
    assert head.layout == "<invalid>" and head.shape is None and head.dtype is None
    assert head.deps == () and head.stats is None and head.values == ()
    assert var.deps[0].kind == "invalid" and var.storage == "d"
    assert all(math.isnan(v) for v in var.values)
    assert is_nan_negative(var.values[0]) and not is_nan_negative(var.values[1])
    assert math.isnan(var.stats["sd"])


def test_non_input_deps_come_first_without_index():
    lines = [
        "var9 produced: name=z layout={1(1) Int32} owner_opr=z{Reshape} opr8",
        " deps:",
        "  var2:  <dev comp order> s",
        "  var4:  <shape dep[s]> {2,3} s",
        "  [i0]var6: [1, 2, 3, 4, 5, ...] s",
        "  [i1]var7:  <shape dep[d]> {4} d",
        " val: [7]min=7 max=7 mean=7 l2=7 sd=N/A s",
    ]
    var = parse_text_dump_lines(lines).last[0]
    assert [(d.var_id, d.input_index, d.kind, d.preview) for d in var.deps] == [
        (2, None, "comp_order", ""),
        (4, None, "shape", "{2,3}"),
        (6, 0, "value", "[1, 2, 3, 4, 5, ...]"),
        (7, 1, "shape", "{4}"),
    ]
    assert var.input_ids == (6, 7) and var.values == (7,)


def test_names_with_spaces_braces_and_layout_words():
    # A name may hold " layout=" and " owner_opr=" too; only a real layout ends it.
    line = (
        "var4 produced: name=a layout={b} owner_opr=x{y} c layout={2(1) Float32} "
        "owner_opr=conv(a, b){1,2}[3]{ConvolutionForward} opr3"
    )
    var = parse_text_dump_lines([line]).last[0]
    assert var.name == "a layout={b} owner_opr=x{y} c"
    assert var.owner_opr == "conv(a, b){1,2}[3]" and var.owner_type == "ConvolutionForward"
    assert var.shape == (2,)


def test_lazy_record_form():
    lines = [
        "==== begin lazy value recording",
        "var3 produced: name=a layout={2(1) Float32} owner_opr=a{Host2DeviceCopy} opr2",
        " deps:",
        " val: <see lazy value below>",
        "var5 produced: name=b b layout={2(1) Float32} owner_opr=b{Elemwise} opr4",
        " deps:",
        "  [i0]var3: <see lazy value below>",
        "  [i1]var1:  <host value[s]> [2] s",
        " val: <see lazy value below>",
        "==== recorded values",
        "#0: opr2 a{Host2DeviceCopy}",
        "  var3: name=a [1, 2]min=1 max=2 mean=1.5 l2=1.58 sd=0.707",
        "#1: opr4 b b{Elemwise}",
        "  var5: name=b b [2, 4]min=2 max=4 mean=3 l2=3.16 sd=1.41",
    ]
    dump = parse_text_dump_lines(lines)
    assert dump.lazy and len(dump.iterations) == 1
    a, b = dump.last
    assert a.values == (1, 2) and a.stats["mean"] == 1.5
    assert b.values == (2, 4) and b.stats["sd"] == 1.41 and b.name == "b b"
    assert [d.kind for d in b.deps] == ["lazy", "host_value"] and b.input_ids == (3, 1)
    assert dump.oprs == {2: ("a", "Host2DeviceCopy"), 4: ("b b", "Elemwise")}


def test_empty_file_has_no_iterations(tmp_path):
    path = tmp_path / "io.txt"
    path.write_text("")
    dump = parse_text_dump(path)
    assert dump.iterations == [] and dump.last == [] and dump.by_id() == {}


@pytest.mark.parametrize(
    "lines,line,reason",
    [
        (["hello"], 1, "expected 'varN produced:' here"),
        (["var1 produced: name=x layout={1(1) Float32} owner_opr=x{Y}"], 1, "expected the record to end in"),
        (["var1 produced: name=x layout=[1] owner_opr=x{Y} opr0"], 1, "cannot find ' layout=...'"),
        (
            ["var1 produced: name=x layout={1(1) Float32} owner_opr=x{Y} opr0", " deps:"],
            3,
            "var1: expected ' val: ' after the deps",
        ),
        (
            ["var1 produced: name=x layout={1(1) Float32} owner_opr=x{Y} opr0", " deps:", "  [i0]var: [1] s"],
            3,
            "expected a dependency",
        ),
        (
            ["var1 produced: name=x layout={1(1) Float32} owner_opr=x{Y} opr0", " deps:", "  [i0]var2: ?? s"],
            3,
            "var2: unknown dependency value",
        ),
        (
            ["var1 produced: name=x layout={1(1) Float32} owner_opr=x{Y} opr0", " deps:", " val: 1 2"],
            3,
            "expected ' val: [...]'",
        ),
        (
            ["var1 produced: name=x layout={1(1) Float32} owner_opr=x{Y} opr0", " deps:", " val: [1, 2"],
            3,
            "no closing ']'",
        ),
        (
            ["var1 produced: name=x layout={1(1) Float32} owner_opr=x{Y} opr0", " deps:", " val: [1]min=1 max=1"],
            3,
            "expected 'min=.. max=.. mean=.. l2=.. sd=..'",
        ),
        (
            [
                "var1 produced: name=x layout={1(1) Float32} owner_opr=x{Y} opr0",
                " deps:",
                " val: [x]min=1 max=1 mean=1 l2=1 sd=N/A s",
            ],
            3,
            "value 'x' is not a number",
        ),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, lines, line, reason):
    path = tmp_path / "io.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TextDumpError) as info:
        parse_text_dump(path)
    err = info.value
    assert isinstance(err, AnalysisError) and err.line == line
    assert str(err).startswith(f"{path}:{line}: ") and reason in str(err)
    assert "\n" not in str(err)


def test_missing_and_folder_paths(tmp_path):
    with pytest.raises(TextDumpError, match="cannot read: No such file or directory"):
        parse_text_dump(tmp_path / "nope.txt")
    with pytest.raises(TextDumpError, match="is a folder, expected a text dump file"):
        parse_text_dump(tmp_path)


def test_crlf_line_ends_are_accepted(tmp_path):
    path = tmp_path / "io.txt"
    path.write_bytes(UPSTREAM.replace("\n", "\r\n").encode())
    assert parse_text_dump(path).last[0].input_ids == (1, 5, 7)


def test_partial_last_record_is_dropped_only_when_asked(megengine_fixtures, tmp_path):
    text = (megengine_fixtures / "runs/tiny_cnn/default/io_dump.txt").read_text()
    cut = text[: text.index("var50 produced:") + 60]  # the last record, cut inside its head line
    path = tmp_path / "io.txt"
    path.write_text(cut)
    with pytest.raises(TextDumpError):
        parse_text_dump(path)
    dump = parse_text_dump(path, partial=True)
    assert [v.id for v in dump.last][-1] == 48 and len(dump.last) == 16
    assert dump.cut_at_line == cut.count("\n") + 1
    assert parse_text_dump(megengine_fixtures / "runs/tiny_cnn/default/io_dump.txt", partial=True).cut_at_line is None
    # a bad record with records after it is still an error, partial or not
    broken = text.replace(" val: [0.07343", " val: [oops", 1)
    path.write_text(broken)
    with pytest.raises(TextDumpError, match="value 'oops' is not a number"):
        parse_text_dump(path, partial=True)


def test_names_may_hold_characters_splitlines_would_break_on(tmp_path):
    path = tmp_path / "io.txt"
    path.write_text(UPSTREAM.replace("name=var11", "name=a\x0cb\u2028c"))
    assert parse_text_dump(path).last[0].name == "a\x0cb\u2028c"
