"""Property tests: random and mutated inputs make the readers succeed or raise AnalysisError, nothing else."""

import struct
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.dtypes import DTYPES
from analysis.dump_bin import encode_dump, read_header
from analysis.dump_text import parse_text_dump, parse_text_dump_lines
from analysis.errors import AnalysisError
from analysis.title import parse_title

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "megengine"
# A few small real files of each shape of title: no input, one input, several, host-value input.
REAL_BIN = [
    FIXTURES / "runs" / p
    for p in (
        "mlp/default/bin/000001",
        "mlp/default/bin/000012",
        "mlp/default/bin/00001a",
        "tiny_cnn/default/bin/000029",
        "mlp/default/bin/000053",
        "mlp/default/bin/00016e",
    )
]
REAL_TEXT = (FIXTURES / "runs/tiny_cnn/default/io_dump.txt").read_text().splitlines()

TITLE_ALPHABET = st.sampled_from(
    list("{}(),:= 0123456789abdFlo")
    + [
        "id:",
        "layout:",
        "shape:",
        "owner:",
        "name:",
        "slot:",
        " owner_opr_inputs=",
        "var=",
        'CompNode("cpu0:0" from "x")',
        " Float32",
        ", s, 4, 8}",
        "0=",
        " 1=",
    ]
)

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def read_everything(path: Path) -> None:
    """Run every reader on one file; only AnalysisError may escape."""
    for errors in ("strict", "replace"):
        try:
            header = read_header(path, errors=errors)
        except AnalysisError:
            continue
        arr = header.load()
        assert arr.shape == header.shape
        assert len(header.load_raw()) == header.data_nbytes
        try:
            header.title_info()
        except AnalysisError:
            pass


@FUZZ
@given(blob=st.binary(max_size=300))
def test_random_bytes(tmp_path, blob):
    path = tmp_path / "00000a"
    path.write_bytes(blob)
    read_everything(path)


@FUZZ
@given(
    title=st.lists(st.one_of(TITLE_ALPHABET, st.text(max_size=3)), max_size=12).map("".join),
    digits=st.integers(0, 30),
    name=st.sampled_from(["x.bin", "run1-var2", "00000a-inp3"]),
)
def test_titles_of_files_without_a_dump_name(tmp_path, title, digits, name):
    text = ("var={id:" + "7" * digits + "," + title) if digits else title
    path = tmp_path / name
    path.write_bytes(encode_dump(text.encode("utf-8", "surrogatepass"), 0, (1,), b"\0" * 4))
    read_everything(path)


@st.composite
def mutated_real_file(draw):
    blob = bytearray(draw(st.sampled_from(REAL_BIN)).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "u32", "cut", "append", "insert", "delete"]))
        if kind == "flip" and blob:
            i = draw(st.integers(0, len(blob) - 1))
            blob[i] ^= draw(st.integers(1, 255))
        elif kind == "u32" and len(blob) >= 40:
            slot = draw(st.integers(0, 9))
            value = draw(st.one_of(st.integers(0, 16), st.sampled_from(sorted(DTYPES)), st.integers(0, 2**32 - 1)))
            blob[4 * slot : 4 * slot + 4] = struct.pack("<I", value)
        elif kind == "cut":
            del blob[draw(st.integers(0, len(blob))) :]
        elif kind == "append":
            blob += draw(st.binary(min_size=1, max_size=8))
        elif kind == "insert":
            i = draw(st.integers(0, len(blob)))
            blob[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete" and blob:
            i = draw(st.integers(0, len(blob) - 1))
            del blob[i : i + draw(st.integers(1, 4))]
    return bytes(blob)


@FUZZ
@given(blob=mutated_real_file())
def test_mutated_real_files(tmp_path, blob):
    path = tmp_path / "00000a"
    path.write_bytes(blob)
    read_everything(path)


def parse_title_or_error(text: str) -> None:
    try:
        parsed = parse_title(text)
    except AnalysisError:
        return
    assert all(isinstance(v.id, int) for v in (parsed.var, *parsed.inputs))


@FUZZ
@given(parts=st.lists(TITLE_ALPHABET, max_size=60))
def test_random_titles(parts):
    parse_title_or_error("".join(parts))


@FUZZ
@given(data=st.data())
def test_mutated_real_titles(data):
    text = read_header(data.draw(st.sampled_from(REAL_BIN))).title
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 6)))
        text = text[:i] + data.draw(st.one_of(st.just(""), TITLE_ALPHABET, st.text(max_size=3))) + text[j:]
    parse_title_or_error(text)


@FUZZ
@given(data=st.data())
def test_mutated_real_text_dumps(tmp_path, data):
    lines = list(REAL_TEXT[: data.draw(st.integers(0, len(REAL_TEXT)))])
    for _ in range(data.draw(st.integers(0, 4))):
        if not lines:
            break
        k = data.draw(st.integers(0, len(lines) - 1))
        line = lines[k]
        i = data.draw(st.integers(0, len(line)))
        action = data.draw(st.sampled_from(["edit", "drop", "dup"]))
        if action == "edit":
            lines[k] = line[:i] + data.draw(st.text(max_size=4)) + line[i + data.draw(st.integers(0, 4)) :]
        elif action == "drop":
            del lines[k]
        else:
            lines.insert(k, line)
    path = tmp_path / "io.txt"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        parse_text_dump(path)
    except AnalysisError:
        pass


@FUZZ
@given(lines=st.lists(st.text(max_size=40), max_size=8))
def test_random_text_lines(lines):
    try:
        parse_text_dump_lines(lines)
    except AnalysisError:
        pass


@FUZZ
@given(
    code=st.sampled_from(sorted(DTYPES)),
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=7),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_written_dump_reads_back_byte_for_byte(tmp_path, code, shape, seed):
    info = DTYPES[code]
    n = int(np.prod(shape))
    raw = np.random.default_rng(seed).integers(0, 256, info.payload_nbytes(n), dtype=np.uint8).tobytes()
    if info.packed and (n * info.bits) % 8:  # padding bits of the last byte are written as 0
        keep = (n * info.bits) % 8
        raw = raw[:-1] + bytes([raw[-1] & ((1 << keep) - 1)])
    if info.name == "Bool":
        raw = bytes(b & 1 for b in raw)  # MegEngine writes 0/1
    path = tmp_path / "00002a"
    blob = encode_dump("var=t", code, shape, raw)
    path.write_bytes(blob)
    header = read_header(path)
    assert header.shape == tuple(shape) and header.load_raw() == raw
    assert encode_dump(header.title, code, header.shape, header.load()) == blob


NAME_TEXT = st.text(alphabet=st.sampled_from(list("abZ09{}()[],:= <>.-_@") + ["中"]), max_size=12)
TRICKY = st.sampled_from(
    ["id:", "}, name:", "{Elemwise}, name:", ", slot:0, ", " owner_opr_inputs=", " 1={id:", "), s, 4, 8}", "0={id:1, "]
)
NAMES = st.one_of(NAME_TEXT, st.lists(st.one_of(NAME_TEXT, TRICKY), max_size=4).map("".join))


@st.composite
def var_infos(draw):
    from analysis.title import VarInfo

    ndim = draw(st.integers(0, 4))
    shape = tuple(draw(st.lists(st.integers(0, 99), min_size=ndim, max_size=ndim)))
    kind = draw(st.sampled_from(["layout", "shape"]))
    dtype = draw(st.sampled_from(["Float32", "Int32", "QuantizedS8", "Bool"]))
    return VarInfo(
        id=draw(st.integers(0, 2**40)),
        layout_kind=kind,
        shape=shape,
        strides=None if kind == "shape" else tuple(draw(st.lists(st.integers(-9, 99), min_size=ndim, max_size=ndim))),
        format=None if kind == "shape" else draw(st.one_of(st.none(), st.sampled_from(["Image2DPack4TensorFormat"]))),
        dtype=dtype,
        owner_opr=draw(NAMES),
        owner_type=draw(st.sampled_from(["Elemwise", "ConvolutionForward"])),
        name=draw(NAMES),
        slot=draw(st.integers(0, 3)),
        comp_node=draw(st.sampled_from(['CompNode("cpu0:0" from "cpu0:0")', 'CompNode("gpu1:2" from "xpux:0")'])),
        storage=draw(st.sampled_from("sd")),
        infer_shape=draw(st.sampled_from([1, 2, 4, 8])),
        infer_value=draw(st.sampled_from([1, 2, 4, 8])),
    )


@FUZZ
@given(var=var_infos(), inputs=st.lists(var_infos(), max_size=4), prefix=st.one_of(st.none(), st.integers(0, 9)))
def test_formatted_titles_parse_back(var, inputs, prefix):
    from analysis.title import Title, format_title

    original = Title(prefix_input=prefix, var=var, inputs=tuple(inputs))
    text = format_title(original)
    parsed = parse_title(text)  # any title MegEngine can print parses ...
    assert format_title(parsed) == text  # ... into a reading of exactly that text
    names = [n for v in (var, *inputs) for n in (v.name, v.owner_opr)]
    if not any(tok in n for n in names for tok in ("}, name:", ", slot:", "={id:", "{id:", " owner_opr_inputs=")):
        assert parsed == original  # and is unambiguous unless a name mimics the grammar


def format_record(var_id, name, layout, opr, opr_type, opr_id, deps, values, truncated, stats):
    """One non-lazy text record as TextOprIODump prints it (formats spec §2.2)."""
    lines = [f"var{var_id} produced: name={name} layout={layout} owner_opr={opr}{{{opr_type}}} opr{opr_id}"]
    if layout == "<invalid>":
        return lines
    lines.append(" deps:")
    for dep_id, index, kind in deps:
        prefix = "" if index is None else f"[i{index}]"
        body = {
            "value": "[1, 2] s",
            "host_value": " <host value[s]> [1, -1] s",
            "shape": " <shape dep[s]> {2} s",
            "comp_order": " <dev comp order> s",
        }[kind]
        lines.append(f"  {prefix}var{dep_id}: {body}")
    shown = ", ".join(values) + (", ..." if truncated else "")
    lines.append(f" val: [{shown}]min={stats[0]} max={stats[1]} mean={stats[2]} l2={stats[3]} sd={stats[4]} s")
    return lines


TEXT_NAME = st.lists(
    st.sampled_from(list("ab09{}()[],:=<>.-_ @") + [" layout=", " owner_opr=", " opr"]), max_size=12
).map("".join)
NUMBER = st.sampled_from(["0", "-1", "29", "0.5", "-3.18", "1e-05", "7.15e-05", "nan", "-nan", "inf", "-inf"])


@st.composite
def text_records(draw):
    count = draw(st.integers(1, 5))
    records = []
    for k in range(count):
        var_id = 10 * (k + 1)
        shape = draw(st.lists(st.integers(1, 9), min_size=1, max_size=4))
        layout = draw(st.sampled_from([None, "<invalid>"])) or (
            "{" + ",".join(f"{d}(1)" for d in shape) + " " + draw(st.sampled_from(["Float32", "Int32"])) + "}"
        )
        index_deps = [
            (draw(st.integers(0, 99)), i, draw(st.sampled_from(["value", "host_value", "shape"])))
            for i in range(draw(st.integers(0, 3)))
        ]
        other_deps = [
            (draw(st.integers(0, 99)), None, draw(st.sampled_from(["comp_order", "shape"])))
            for _ in range(draw(st.integers(0, 2)))
        ]
        records.append(
            dict(
                var_id=var_id,
                name=draw(TEXT_NAME),
                layout=layout,
                opr=draw(TEXT_NAME),
                opr_type=draw(st.sampled_from(["Elemwise", "ConvolutionForward"])),
                opr_id=var_id - 1,
                deps=other_deps + index_deps,
                values=draw(st.lists(NUMBER, min_size=1, max_size=5)),
                truncated=draw(st.booleans()),
                stats=draw(st.lists(NUMBER, min_size=4, max_size=4)) + [draw(st.sampled_from(["N/A", "0.1"]))],
            )
        )
    return records


@FUZZ
@given(records=text_records(), repeat=st.integers(1, 3))
def test_formatted_text_dumps_parse_back(records, repeat):
    lines = [line for rec in records for line in format_record(**rec)] * repeat
    dump = parse_text_dump_lines(lines)
    assert len(dump.iterations) == repeat
    names_are_plain = all(" layout=" not in r["name"] and " owner_opr=" not in r["opr"] for r in records)
    for rec, got in zip(records, dump.last, strict=True):  # every record comes back
        assert got.id == rec["var_id"] and got.opr_id == rec["opr_id"] and got.owner_type == rec["opr_type"]
        assert (
            got.name + " layout=" + got.layout + " owner_opr=" + got.owner_opr
            == rec["name"] + " layout=" + rec["layout"] + " owner_opr=" + rec["opr"]
        )
        if names_are_plain:
            assert (got.name, got.layout, got.owner_opr) == (rec["name"], rec["layout"], rec["opr"])
        if rec["layout"] == "<invalid>":
            assert got.deps == () and got.stats is None
            continue
        assert [(d.var_id, d.input_index, d.kind) for d in got.deps] == rec["deps"]
        assert got.input_ids == tuple(d[0] for d in rec["deps"] if d[1] is not None)
        assert len(got.values) == len(rec["values"]) and got.values_truncated == rec["truncated"]
        assert (got.stats["sd"] is None) == (rec["stats"][4] == "N/A")
