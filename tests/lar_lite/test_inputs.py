"""load_and_run's ``--input`` forms, byte for byte (no engine needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agent.lar_lite.errors import InputSpecError
from agent.lar_lite.inputs import (
    ShapeOnly,
    fit_to_model,
    parse_inputs,
    read_literal,
    split_items,
)


def test_split_items_names_default_to_data():
    assert split_items("a.npy") == [("data", "a.npy")]
    assert split_items("x:a.npy;y:[[1,2]];;") == [("x", "a.npy"), ("y", "[[1,2]]")]
    # Only the first colon separates the name: the rest is the value.
    assert split_items("x:dir:with:colons.npy") == [("x", "dir:with:colons.npy")]


def test_split_items_rejects_a_name_without_value():
    with pytest.raises(InputSpecError, match="has a name but no value"):
        split_items("data:")


# -- .npy -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["<f4", "<i4", "<i2", "<u2", "|i1", "|u1"])
def test_npy_supported_dtypes_round_trip(tmp_path, dtype):
    arr = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    np.save(tmp_path / "a.npy", arr)
    got = parse_inputs(f"data:{tmp_path / 'a.npy'}")["data"]
    assert got.dtype == np.dtype(dtype).newbyteorder("<") and got.shape == (2, 3, 4)
    assert got.tobytes() == arr.tobytes()


@pytest.mark.parametrize("dtype", ["<f8", "<f2", "<i8", "|b1"])
def test_npy_dtypes_load_and_run_cannot_read_are_refused(tmp_path, dtype):
    np.save(tmp_path / "a.npy", np.zeros(3, dtype=dtype))
    with pytest.raises(InputSpecError, match="is not one load_and_run reads"):
        parse_inputs(f"{tmp_path / 'a.npy'}")


def test_npy_fortran_order_is_ignored_like_load_and_run(tmp_path):
    arr = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.save(tmp_path / "f.npy", arr)
    got = parse_inputs(f"data:{tmp_path / 'f.npy'}")["data"]
    # The stored (column-major) bytes, read in C order with the same shape.
    assert got.shape == (2, 3)
    assert got.ravel().tolist() == [0, 3, 1, 4, 2, 5]


def test_npy_byte_order_is_ignored_like_load_and_run(tmp_path):
    np.save(tmp_path / "b.npy", np.array([1], dtype=">i4"))
    got = parse_inputs(f"data:{tmp_path / 'b.npy'}")["data"]
    assert got.dtype == np.dtype("<i4") and got[0] == 1 << 24


def test_npy_errors_name_the_file(tmp_path):
    with pytest.raises(InputSpecError, match="no such file: .*missing.npy"):
        parse_inputs(f"data:{tmp_path / 'missing.npy'}")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(InputSpecError, match="junk.npy: not a readable .npy file"):
        parse_inputs(f"data:{tmp_path / 'junk.npy'}")


# -- .json ------------------------------------------------------------------


def test_json_inputs_are_named_by_their_keys(tmp_path):
    doc = {
        "data": {"shape": [2, 2], "type": "float32", "raw": [0.5, 1, 2, 3]},
        "idx": {"shape": [3], "type": "int32", "raw": [1.5, -1.5, 2.4]},
        "u": {"shape": [2], "type": "uint8", "raw": [200, -1]},
        "s": {"shape": [1], "type": "int8", "raw": [-3]},
    }
    (tmp_path / "in.json").write_text(json.dumps(doc))
    # The name before ':' is ignored for JSON, as in load_and_run.
    got = parse_inputs(f"ignored:{tmp_path / 'in.json'}")
    assert set(got) == {"data", "idx", "u", "s"}
    assert got["data"].dtype == np.float32 and got["data"].tolist() == [[0.5, 1], [2, 3]]
    # std::round rounds halves away from zero.
    assert got["idx"].dtype == np.int32 and got["idx"].tolist() == [2, -2, 2]
    assert got["u"].dtype == np.uint8 and got["u"].tolist() == [200, 255]
    assert got["s"].dtype == np.int8 and got["s"].tolist() == [-3]


@pytest.mark.parametrize(
    "doc,message",
    [
        ({"data": {"shape": [2], "type": "float64", "raw": [1, 2]}}, "unknown type 'float64'"),
        ({"data": {"shape": [3], "type": "float32", "raw": [1, 2]}}, "2 values in 'raw' for shape \\[3\\]"),
        ({"data": {"shape": "3", "type": "float32", "raw": [1, 2, 3]}}, "'shape' must be a list"),
        ({"data": {"shape": [1], "type": "int32", "raw": ["x"]}}, "'raw' must be a list of numbers"),
        ({"data": [1, 2]}, "expected an object with shape, type and raw"),
        ([1, 2], "expected an object of named inputs"),
    ],
)
def test_json_errors_say_which_input(tmp_path, doc, message):
    (tmp_path / "in.json").write_text(json.dumps(doc))
    with pytest.raises(InputSpecError, match=message):
        parse_inputs(f"{tmp_path / 'in.json'}")


def test_json_syntax_error(tmp_path):
    (tmp_path / "in.json").write_text("{not json")
    with pytest.raises(InputSpecError, match="in.json: bad JSON"):
        parse_inputs(f"{tmp_path / 'in.json'}")


# -- .ppm / .pgm --------------------------------------------------------------


def test_ppm_is_nhwc_uint8_and_keeps_load_and_runs_maxval_quirk(tmp_path):
    pixels = bytes(range(2 * 3 * 3))
    (tmp_path / "a.ppm").write_bytes(b"P6\n# a comment\n3 2\n255\n" + pixels)
    got = parse_inputs(f"img:{tmp_path / 'a.ppm'}")["img"]
    assert got.dtype == np.uint8 and got.shape == (1, 2, 3, 3)
    # load_and_run reads the pixels right after the size line: "255\n" first.
    assert got.tobytes() == (b"255\n" + pixels)[:18]


def test_pgm_has_one_channel(tmp_path):
    (tmp_path / "a.pgm").write_bytes(b"P5\n2 2\n255\n" + bytes([1, 2, 3, 4]))
    got = parse_inputs(f"{tmp_path / 'a.pgm'}")["data"]
    assert got.shape == (1, 2, 2, 1)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"P3\n1 1\n255\n1 2 3\n", "not a binary ppm/pgm"),
        (b"P6\nx y\n255\n", "bad size line"),
        (b"P6\n0 2\n255\n", "bad size 0x2"),
        (b"P6\n4 4\n255\n\x00\x01", "bytes of pixels, 48 needed"),
    ],
)
def test_netpbm_errors(tmp_path, content, message):
    (tmp_path / "a.ppm").write_bytes(content)
    with pytest.raises(InputSpecError, match=message):
        parse_inputs(f"{tmp_path / 'a.ppm'}")


# -- literals ---------------------------------------------------------------


def test_literal_int_unless_there_is_a_dot():
    ints = read_literal("[[1,2],[3,4]]")
    assert ints.dtype == np.int32 and ints.shape == (2, 2) and ints.tolist() == [[1, 2], [3, 4]]
    floats = read_literal("[[1.5,2],[3,4]]")
    assert floats.dtype == np.float32 and floats.tolist() == [[1.5, 2], [3, 4]]
    flat = read_literal("1,2,3")
    assert flat.shape == (3,) and flat.dtype == np.int32


@pytest.mark.parametrize(
    "text,message",
    [
        ("[[1,2],[3]]", "rows of different lengths"),
        ("[[1,2]", "cannot parse"),
        ("[]", "no values"),
        ("[a,b]", "cannot parse"),
        ("{1,a}", "must look like"),
        ("{1,3", "must look like"),
        ("{0,3}", "positive dims"),
    ],
)
def test_literal_errors(text, message):
    with pytest.raises(InputSpecError, match=message):
        read_literal(text)


def test_shape_only_fills_every_byte_with_one():
    spec = read_literal("{1, 2,3}")
    assert spec == ShapeOnly((1, 2, 3))
    f32 = spec.materialise(np.dtype(np.float32))
    assert f32.shape == (1, 2, 3) and f32.tobytes() == b"\x01" * 24
    assert spec.materialise(np.dtype(np.int32)).ravel()[0] == 16843009


# -- fitting to the model -------------------------------------------------------


def test_fit_refuses_another_dtype_with_a_hint():
    with pytest.raises(InputSpecError, match=r"float32 in the model, but the data given is int32 \(write 1.0"):
        fit_to_model("data", np.zeros(3, np.int32), np.dtype(np.float32))
    with pytest.raises(InputSpecError, match="no input named 'x' \\(its inputs: data\\)"):
        fit_to_model("x", np.zeros(3, np.float32), np.dtype(np.float32), ["data"])


def test_fit_materialises_shapes_in_the_models_dtype():
    arr = fit_to_model("data", ShapeOnly((2, 2)), np.dtype(np.int32))
    assert arr.dtype == np.int32 and arr.shape == (2, 2)


def test_later_items_replace_earlier_ones(tmp_path):
    got = parse_inputs("data:[1,2];data:[3.0]")
    assert got["data"].tolist() == [3.0]


def test_shape_too_large_to_allocate_is_one_line():
    with pytest.raises(InputSpecError, match=r"^--input: input 'data': shape \{100000,100000,1000000\} is too large"):
        fit_to_model("data", ShapeOnly((100000, 100000, 1000000)), np.dtype(np.float32))


@pytest.mark.parametrize("value", [";", " ; ;", " "])
def test_input_with_only_separators_is_refused(value):
    with pytest.raises(InputSpecError, match=r"^--input: no items in "):
        parse_inputs(value)
