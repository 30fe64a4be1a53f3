"""load_and_run's ``--input`` forms, read into numpy arrays exactly as load_and_run reads them.

Items are joined by ``;``; in each, the text before the first ``:`` is the input
name (``data`` when there is none) and the rest is chosen by suffix:
``.ppm``/``.pgm`` (binary Netpbm, uint8 NHWC), ``.json`` (names are its keys),
``.npy`` (f4, i1, i2, i4, u1, u2), else a literal: ``{1,3,224,224}`` (shape only,
every byte 0x01, the model input's dtype) or nested lists ``[[1,2],[3,4]]``
(float32 if the text has a ``.``, else int32). Byte-level quirks of
load_and_run are kept on purpose, so a run here feeds the same bytes as a run of
load_and_run on a board: see :func:`read_netpbm` and :func:`read_npy`.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from agent.lar_lite.errors import InputSpecError


@dataclass(frozen=True)
class ShapeOnly:
    """``name:{d0,d1,...}``: a tensor of this shape in the model input's dtype, all bytes 0x01."""

    shape: Tuple[int, ...]

    def materialise(self, dtype: np.dtype) -> np.ndarray:
        """The array load_and_run makes for this shape: every byte set to 0x01."""
        count = int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1
        raw = np.full(count * np.dtype(dtype).itemsize, 1, dtype=np.uint8)
        return raw.view(dtype).reshape(self.shape)


InputValue = Union[np.ndarray, ShapeOnly]


def split_items(value: str) -> List[Tuple[str, str]]:
    """Split an ``--input`` value into (name, spec) pairs; empty items are skipped."""
    items = []
    for raw in value.split(";"):
        if not raw.strip():
            continue
        name, sep, spec = raw.partition(":")
        if not sep:
            name, spec = "data", raw
        if not spec:
            raise InputSpecError(f"--input: item '{raw}' has a name but no value")
        items.append((name, spec))
    return items


def parse_inputs(value: str) -> Dict[str, InputValue]:
    """Read every item of an ``--input`` value; later items replace earlier ones of the same name."""
    items = split_items(value)
    if not items:
        # Otherwise the model would run on whatever its input tensors hold.
        raise InputSpecError(f"--input: no items in {value!r} (expected name:value, several joined by ';')")
    result: Dict[str, InputValue] = {}
    for name, spec in items:
        result.update(read_item(name, spec))
    return result


def read_item(name: str, spec: str) -> Dict[str, InputValue]:
    """Read one item, chosen by suffix as load_and_run does."""
    if spec.endswith((".ppm", ".pgm")):
        return {name: read_netpbm(spec)}
    if spec.endswith(".json"):
        return read_json(spec)
    if spec.endswith(".npy"):
        return {name: read_npy(spec)}
    return {name: read_literal(spec)}


def _refuse_special(path: str) -> None:
    """A FIFO or device given as an input would block open() or read for ever: refuse it up front."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # the read reports what is wrong with the path itself
    if not stat.S_ISREG(mode):
        raise InputSpecError(f"--input: {path}: not a regular file")


def _read_bytes(path: str) -> bytes:
    _refuse_special(path)
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputSpecError(f"--input: no such file: {path}") from None
    except OSError as exc:
        raise InputSpecError(f"--input: cannot read {path}: {exc.strerror or exc}") from None


def read_netpbm(path: str) -> np.ndarray:
    """Binary PGM (P5, 1 channel) or PPM (P6, 3 channels) as uint8 ``{1,h,w,c}``.

    Like load_and_run: after the magic line, ``#`` lines are skipped, the next
    line gives ``w h``, and the pixels are read straight after it. The maxval
    line is *not* skipped, so its bytes (``255\\n``) are read as pixels and the
    last ones dropped; load_and_run on a board does the same.
    """
    data = _read_bytes(path)
    lines = data.split(b"\n")
    if not lines or len(lines[0]) < 2 or lines[0][1:2] not in (b"5", b"6"):
        raise InputSpecError(f"--input: {path}: not a binary ppm/pgm (magic P5 or P6)")
    channels = 1 if lines[0][1:2] == b"5" else 3
    offset = len(lines[0]) + 1
    size_line = b""
    for line in lines[1:]:
        offset += len(line) + 1
        if line.startswith(b"#"):
            continue
        size_line = line
        break
    try:
        width, height = (int(v) for v in size_line.split()[:2])
    except ValueError:
        raise InputSpecError(f"--input: {path}: bad size line {size_line[:40]!r}") from None
    if width <= 0 or height <= 0:
        raise InputSpecError(f"--input: {path}: bad size {width}x{height}")
    count = width * height * channels
    pixels = np.frombuffer(data[offset : offset + count], dtype=np.uint8)
    if pixels.size < count:
        raise InputSpecError(
            f"--input: {path}: {pixels.size} bytes of pixels, {count} needed for {width}x{height}x{channels}"
        )
    return pixels.reshape(1, height, width, channels).copy()


#: load_and_run matches ``descr`` by substring in this (std::map) order.
_NPY_TYPES = (
    ("f4", np.float32),
    ("i1", np.int8),
    ("i2", np.int16),
    ("i4", np.int32),
    ("u1", np.uint8),
    ("u2", np.uint16),
)


def read_npy(path: str) -> np.ndarray:
    """An .npy file as load_and_run reads it: raw bytes, little-endian, C order.

    load_and_run ignores byte order and ``fortran_order`` and supports only
    f4, i1, i2, i4, u1 and u2; anything else is an error here.
    """
    _refuse_special(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputSpecError(f"--input: no such file: {path}") from None
    except (OSError, ValueError) as exc:
        raise InputSpecError(f"--input: {path}: not a readable .npy file ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise InputSpecError(f"--input: {path}: not a single array")
    descr = arr.dtype.str
    for code, np_type in _NPY_TYPES:
        if code in descr:
            # The file's bytes in file order ('A' keeps Fortran order as stored).
            raw = arr.tobytes(order="A")
            return np.frombuffer(raw, dtype=np.dtype(np_type).newbyteorder("<")).reshape(arr.shape).copy()
    raise InputSpecError(
        f"--input: {path}: dtype {arr.dtype} ({descr}) is not one load_and_run reads "
        f"(float32, int8, int16, int32, uint8, uint16)"
    )


_JSON_TYPES = {
    "float32": np.float32,
    "float": np.float32,
    "int32": np.int32,
    "int": np.int32,
    "int8": np.int8,
    "uint8": np.uint8,
}


def read_json(path: str) -> Dict[str, InputValue]:
    """``{"name": {"shape": [...], "type": "float32|int32|int8|uint8|...", "raw": [...]}}``."""
    text = _read_bytes(path)
    try:
        root = json.loads(text)
    except ValueError as exc:
        raise InputSpecError(f"--input: {path}: bad JSON ({exc})") from None
    if not isinstance(root, dict) or not root:
        raise InputSpecError(f"--input: {path}: expected an object of named inputs")
    result: Dict[str, InputValue] = {}
    for name, item in root.items():
        where = f"--input: {path}: input '{name}'"
        if not isinstance(item, dict):
            raise InputSpecError(f"{where}: expected an object with shape, type and raw")
        shape, type_name, raw = item.get("shape"), item.get("type"), item.get("raw")
        if not isinstance(shape, list) or not all(
            isinstance(d, (int, float)) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise InputSpecError(f"{where}: 'shape' must be a list of non-negative numbers")
        if type_name not in _JSON_TYPES:
            raise InputSpecError(f"{where}: unknown type {type_name!r} (one of {', '.join(_JSON_TYPES)})")
        if not isinstance(raw, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
            raise InputSpecError(f"{where}: 'raw' must be a list of numbers")
        dims = tuple(int(round(d)) for d in shape)
        count = math.prod(dims)
        if len(raw) != count:
            raise InputSpecError(f"{where}: {len(raw)} values in 'raw' for shape {list(dims)} ({count})")
        result[name] = _to_array(raw, _JSON_TYPES[type_name], dims, where)
    return result


def _to_array(values: list, np_type: type, dims: Tuple[int, ...], where: str) -> np.ndarray:
    """Convert numbers the way load_and_run does: round for ints, wrap 8-bit values."""
    vals = np.asarray(values, dtype=np.float64)
    if np_type is np.float32:
        out = vals.astype(np.float32)
    else:
        if not np.all(np.isfinite(vals)):
            raise InputSpecError(f"{where}: non-finite value for an integer type")
        # std::round (half away from zero), then the C cast; 8-bit values wrap.
        rounded = np.sign(vals) * np.floor(np.abs(vals) + 0.5)
        out = rounded.astype(np.int64).astype(np_type)
    return out.reshape(dims)


def read_literal(spec: str) -> InputValue:
    """``{d0,d1,...}`` (shape only) or a nested list of numbers such as ``[[1,2],[3,4]]``."""
    text = spec.strip()
    if text.startswith("{"):
        return _read_shape(text)
    is_float = "." in text
    try:
        nested = json.loads(text if text.startswith("[") else f"[{text}]")
    except ValueError:
        raise InputSpecError(
            f"--input: cannot parse {spec!r} as a file name (.npy, .json, .ppm, .pgm) "
            f"or a literal such as [[1,2],[3,4]] or {{1,3,224,224}}"
        ) from None
    try:
        arr = np.array(nested, dtype=np.float64)
    except (ValueError, TypeError):
        raise InputSpecError(f"--input: {spec!r}: rows of different lengths or non-numbers") from None
    if arr.size == 0:
        raise InputSpecError(f"--input: {spec!r}: no values")
    return _to_array(arr.ravel().tolist(), np.float32 if is_float else np.int32, arr.shape, f"--input: {spec!r}")


def _read_shape(text: str) -> ShapeOnly:
    if not text.endswith("}"):
        raise InputSpecError(f"--input: shape {text!r} must look like {{d0,d1,...,dn}}")
    body = text[1:-1].replace(" ", "")
    try:
        dims = tuple(int(d) for d in body.split(","))
    except ValueError:
        raise InputSpecError(f"--input: shape {text!r} must look like {{d0,d1,...,dn}}") from None
    if not dims or any(d <= 0 for d in dims):
        raise InputSpecError(f"--input: shape {text!r} needs positive dims")
    return ShapeOnly(dims)


def fit_to_model(
    name: str, value: InputValue, model_dtype: np.dtype, model_inputs: Optional[List[str]] = None
) -> np.ndarray:
    """The array to feed input ``name``: checks its dtype against the model's input dtype.

    load_and_run's Lite path would silently reinterpret the bytes; for accuracy
    work a dtype mismatch is always a mistake, so it is refused here.
    """
    if model_inputs is not None and name not in model_inputs:
        raise InputSpecError(f"--input: the model has no input named '{name}' (its inputs: {', '.join(model_inputs)})")
    if isinstance(value, ShapeOnly):
        try:
            return value.materialise(model_dtype)
        except (MemoryError, ValueError):
            # ValueError: numpy refuses sizes past the address space outright.
            raise InputSpecError(
                f"--input: input '{name}': shape {{{','.join(map(str, value.shape))}}} is too large to allocate"
            ) from None
    if value.dtype != model_dtype:
        hint = " (write 1.0, not 1, for float literals)" if value.dtype == np.int32 else ""
        raise InputSpecError(
            f"--input: input '{name}' is {np.dtype(model_dtype).name} in the model, "
            f"but the data given is {value.dtype.name}{hint}"
        )
    return np.ascontiguousarray(value)
