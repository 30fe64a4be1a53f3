"""Read and write MegEngine ``--bin-io-dump`` files, one var per file.

Layout (little-endian, see the formats spec §1.3): u32 name_len, u32 dtype,
u32 max_ndim, u32 shape[max_ndim], the title (name_len bytes) and the raw,
contiguous payload. Headers are read without touching payloads, so a folder of
large tensors can be indexed cheaply; ``DumpFile.load()`` reads one payload.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from analysis.dtypes import DTypeInfo, dtype_by_code
from analysis.dump_names import dump_name, parse_dump_name, parse_out_dump_name  # noqa: F401 (re-exported)
from analysis.dump_payload import bfloat16_to_float32, payload_bytes, unpack_lowbit
from analysis.errors import DumpFolderError, DumpFormatError, PathLike, TitleError
from analysis.files import open_regular
from analysis.title import Title, parse_title

log = logging.getLogger(__name__)

#: Bytes of the fixed part of the header: name_len, dtype, max_ndim.
FIXED_HEADER = 12
#: TensorShape::MAX_NDIM, the number of shape slots MegEngine writes.
DEFAULT_MAX_NDIM = 7
#: Header size MegEngine writes (12 + 4 * 7).
HEADER_SIZE = FIXED_HEADER + 4 * DEFAULT_MAX_NDIM
# A stored max_ndim is honoured, but a value this large can only be garbage.
_MAX_PLAUSIBLE_NDIM = 64

_TITLE_ID = re.compile(r"(?:inp(\d{1,20}): )?var=\{id:(\d{1,20}),")


@dataclass(frozen=True)
class DumpFile:
    """Header of one binary dump file; the payload stays on disk until ``load()``."""

    path: Path
    var_id: int
    input_index: Optional[int]
    dtype: DTypeInfo
    max_ndim: int
    shape_slots: Tuple[int, ...]
    shape: Tuple[int, ...]
    title: str
    title_bytes: bytes
    data_offset: int
    data_nbytes: int

    @property
    def n_elems(self) -> int:
        """Number of elements of the tensor."""
        return _prod(self.shape)

    @property
    def file_size(self) -> int:
        """Size the file must have: header + title + payload."""
        return self.data_offset + self.data_nbytes

    def load_raw(self) -> bytes:
        """The payload bytes exactly as MegEngine wrote them."""
        try:
            with open_regular(self.path, "rb") as f:
                f.seek(self.data_offset)
                raw = f.read(self.data_nbytes)
        except OSError as exc:
            raise DumpFormatError(self.path, None, f"cannot read: {_os_reason(exc)}") from None
        if len(raw) != self.data_nbytes:
            raise DumpFormatError(
                self.path,
                self.data_offset + len(raw),
                f"file shrank while reading: payload needs {self.data_nbytes} bytes, got {len(raw)}",
            )
        return raw

    def load(self) -> np.ndarray:
        """The tensor as a numpy array of ``shape``.

        Float and integer types come back as stored; 4-bit (and 1/2-bit) packed
        types are unpacked one element per byte (sign-extended when signed);
        bfloat16 is widened to float32; Bool is np.bool_; quantised types are
        their raw integers (the header has no scale).
        """
        info = self.dtype
        if info.packed:
            return unpack_lowbit(self.load_raw(), info, self.n_elems).reshape(self.shape)
        count = self.n_elems
        try:
            with open_regular(self.path, "rb") as f:
                arr = np.fromfile(f, dtype=info.storage, count=count, offset=self.data_offset)
        except OSError as exc:
            raise DumpFormatError(self.path, None, f"cannot read: {_os_reason(exc)}") from None
        if arr.size != count:
            raise DumpFormatError(
                self.path,
                self.data_offset,
                f"file shrank while reading: payload needs {count} elements, got {arr.size}",
            )
        if info.name == "BFloat16":
            arr = bfloat16_to_float32(arr)
        elif info.name == "Bool":
            arr = arr != 0
        return arr.reshape(self.shape)

    def title_info(self) -> Title:
        """The parsed title; raises TitleError naming this file."""
        try:
            return parse_title(self.title)
        except TitleError as exc:
            raise exc.with_path(self.path) from None


def _prod(dims: Sequence[int]) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _os_reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


def _shape_from_slots(
    path: Path, slots: Tuple[int, ...], info: DTypeInfo, payload: int, data_offset: int, title: str
) -> Tuple[int, ...]:
    """Recover ndim from the zero-padded slots, checked against the payload size.

    MegEngine stores no ndim: unused slots are 0, so an empty tensor (a dim of
    0) cannot be told from the slots alone. It is accepted only when the
    payload is empty and the title's own layout gives exactly those slots.
    """
    try:
        return _checked_shape(path, slots, info, payload, data_offset)
    except DumpFormatError:
        if payload == 0:
            shape = _empty_shape_from_title(title, slots)
            if shape is not None:
                return shape
        raise


def _checked_shape(
    path: Path, slots: Tuple[int, ...], info: DTypeInfo, payload: int, data_offset: int
) -> Tuple[int, ...]:
    ndim = 0
    while ndim < len(slots) and slots[ndim] != 0:
        ndim += 1
    for i in range(ndim, len(slots)):
        if slots[i] != 0:
            raise DumpFormatError(
                path,
                FIXED_HEADER + 4 * i,
                f"shape slot {i} is {slots[i]} after an unused (zero) slot {ndim}; shape slots are {list(slots)}",
            )
    if not ndim:
        raise DumpFormatError(
            path, FIXED_HEADER, f"all {len(slots)} shape slots are zero but the payload has {payload} bytes"
        )
    shape = tuple(slots[:ndim])
    expected = info.payload_nbytes(_prod(shape))
    if expected != payload:
        raise DumpFormatError(
            path,
            data_offset,
            f"payload is {payload} bytes but shape {_fmt_shape(shape)} x {info.name} needs {expected}",
        )
    return shape


def _empty_shape_from_title(title: str, slots: Tuple[int, ...]) -> Optional[Tuple[int, ...]]:
    try:
        shape = parse_title(title).var.shape
    except TitleError:
        return None
    if 0 < len(shape) <= len(slots) and 0 in shape and tuple(shape) + (0,) * (len(slots) - len(shape)) == slots:
        return tuple(shape)
    return None


def _fmt_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def read_header(path: PathLike, *, errors: str = "strict") -> DumpFile:
    """Read and validate one dump file's header and title, without its payload.

    The title is ASCII in MegEngine's own reader; a non-ASCII title raises
    DumpFormatError unless ``errors="replace"`` (undecodable bytes become U+FFFD;
    ``title_bytes`` always keeps the exact bytes).
    """
    path = Path(path)
    try:
        codecs.lookup_error(errors)
    except LookupError:
        raise ValueError(f"unknown decoding error handler {errors!r}") from None
    try:
        with open_regular(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            fixed = f.read(FIXED_HEADER)
            if len(fixed) < FIXED_HEADER:
                raise DumpFormatError(
                    path, len(fixed), f"truncated header: file has {size} bytes, a header needs at least {HEADER_SIZE}"
                )
            name_len, code, max_ndim = struct.unpack("<III", fixed)
            if max_ndim == 0 or max_ndim > _MAX_PLAUSIBLE_NDIM:
                raise DumpFormatError(path, 8, f"max_ndim is {max_ndim}, expected {DEFAULT_MAX_NDIM}")
            header_size = FIXED_HEADER + 4 * max_ndim
            if size < header_size:
                raise DumpFormatError(
                    path, size, f"truncated header: file has {size} bytes, the header needs {header_size}"
                )
            slots = struct.unpack(f"<{max_ndim}I", f.read(4 * max_ndim))
            if header_size + name_len > size:
                raise DumpFormatError(
                    path, header_size, f"name length {name_len} runs past the end of the file ({size} bytes)"
                )
            title_bytes = f.read(name_len)
    except IsADirectoryError:
        raise DumpFormatError(path, None, "is a folder, expected a dump file") from None
    except DumpFormatError:
        raise
    except OSError as exc:
        raise DumpFormatError(path, None, f"cannot read: {_os_reason(exc)}") from None
    if len(title_bytes) != name_len:
        raise DumpFormatError(path, header_size, "file shrank while reading the title")
    info = dtype_by_code(code, path=path, offset=4)
    data_offset = header_size + name_len
    payload = size - data_offset
    title = _decode_title(path, title_bytes, header_size, errors)
    shape = _shape_from_slots(path, slots, info, payload, data_offset, title)
    var_id, input_index = _ids(path, title)
    return DumpFile(
        path=path,
        var_id=var_id,
        input_index=input_index,
        dtype=info,
        max_ndim=max_ndim,
        shape_slots=tuple(slots),
        shape=shape,
        title=title,
        title_bytes=title_bytes,
        data_offset=data_offset,
        data_nbytes=payload,
    )


def _decode_title(path: Path, raw: bytes, offset: int, errors: str) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as exc:
        if errors == "strict":
            raise DumpFormatError(
                path,
                offset + exc.start,
                f"title is not ASCII (byte 0x{raw[exc.start]:02x} at title position {exc.start}); "
                "MegEngine's tools cannot read it",
            ) from None
        return raw.decode("utf-8", errors=errors)


def _ids(path: Path, title: str) -> Tuple[int, Optional[int]]:
    parsed = parse_dump_name(path.name)
    if parsed is not None:
        return parsed
    out = parse_out_dump_name(path.name)
    if out is not None:
        return out[1], None
    match = _TITLE_ID.match(title)
    if match is None:
        raise DumpFormatError(
            path, None, "file name is not a var id (%06x) and the title does not start with var={id:N,"
        )
    inp = match.group(1)
    return int(match.group(2)), (None if inp is None else int(inp))


def encode_dump(
    title: Union[str, bytes],
    dtype_code: int,
    shape: Sequence[int],
    data: Union[bytes, bytearray, memoryview, np.ndarray],
    max_ndim: int = DEFAULT_MAX_NDIM,
) -> bytes:
    """The bytes of one dump file, laid out exactly as MegEngine writes them."""
    info = dtype_by_code(dtype_code)
    shape = tuple(int(d) for d in shape)
    if len(shape) > max_ndim:
        raise ValueError(f"shape {shape} has more than max_ndim={max_ndim} dims")
    for d in shape:
        if not 0 <= d < 2**32:
            raise ValueError(f"shape {shape}: each dim must fit in a u32")
    title_bytes = title.encode("ascii") if isinstance(title, str) else bytes(title)
    payload = payload_bytes(data, info)
    expected = info.payload_nbytes(_prod(shape))
    if len(payload) != expected:
        raise ValueError(f"data has {len(payload)} bytes but shape {shape} x {info.name} needs {expected}")
    slots = list(shape) + [0] * (max_ndim - len(shape))
    header = struct.pack(f"<III{max_ndim}I", len(title_bytes), dtype_code, max_ndim, *slots)
    return header + title_bytes + payload


def write_dump(
    path: PathLike,
    title: Union[str, bytes],
    dtype_code: int,
    shape: Sequence[int],
    data: Union[bytes, bytearray, memoryview, np.ndarray],
    max_ndim: int = DEFAULT_MAX_NDIM,
) -> Path:
    """Write one dump file atomically (temp file + rename): a reader never sees half a file."""
    import tempfile  # here: only writers need it, and it costs the readers' start-up ~5 ms

    path = Path(path)
    blob = encode_dump(title, dtype_code, shape, data, max_ndim)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


@dataclass(frozen=True)
class DumpEntry:
    """A file in a dump folder whose name is a dump name."""

    name: str
    path: Path
    var_id: int
    input_index: Optional[int]


@dataclass(frozen=True)
class DumpFolder:
    """The dump files of a folder sorted by (var id, input index), and the other names.

    Stray names (not ``%06x`` / ``%06x-inpK``, sub-folders end in ``/``) are
    reported, not fatal: MegEngine never removes old files, so folders collect them.
    """

    path: Path
    entries: Tuple[DumpEntry, ...]
    stray: Tuple[str, ...] = field(default=())

    @property
    def outputs(self) -> Tuple[DumpEntry, ...]:
        """The opr output dumps (no ``-inpK`` input dumps)."""
        return tuple(e for e in self.entries if e.input_index is None)

    def names(self) -> Tuple[str, ...]:
        """File names of the dump files, in (var id, input index) order."""
        return tuple(e.name for e in self.entries)

    def read_headers(self, *, errors: str = "strict") -> Tuple[List[DumpFile], List[DumpFormatError]]:
        """Headers of every dump file; a bad file goes to the error list, the rest are still read."""
        good: List[DumpFile] = []
        bad: List[DumpFormatError] = []
        for entry in self.entries:
            try:
                good.append(read_header(entry.path, errors=errors))
            except DumpFormatError as exc:
                log.debug("skipping %s", exc)
                bad.append(exc)
        return good, bad


def dump_entry_key(entry: DumpEntry) -> Tuple[int, int]:
    """Sort key of dump files: by var id, the var's own dump before its ``-inpK`` ones."""
    return entry.var_id, -1 if entry.input_index is None else entry.input_index


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """Whether an entry is a folder (after symlinks); a symlink loop or a dangling link is not.

    Such an entry stays in the listing: named like a dump it gets its own one-line error
    when read (as in compare_binary_iodump), and the rest of the folder is still compared.
    """
    try:
        return entry.is_dir()
    except OSError:
        return False


def list_dump_folder(folder: Union[PathLike, DumpFolder], *, allow_empty: bool = False) -> DumpFolder:
    """List a ``--bin-io-dump`` folder (names only; no file is opened).

    Raises DumpFolderError for a missing folder, a file given as folder, an
    unreadable folder, and (unless ``allow_empty``) a folder with no dump file.
    """
    if isinstance(folder, DumpFolder):
        return folder
    path = Path(folder)
    try:
        with os.scandir(path) as it:
            items = [(e.name, _is_dir(e)) for e in it]
    except FileNotFoundError:
        raise DumpFolderError(path, "no such folder") from None
    except NotADirectoryError:
        raise DumpFolderError(path, "is a file, expected a dump folder") from None
    except OSError as exc:
        raise DumpFolderError(path, f"cannot list folder: {_os_reason(exc)}") from None
    entries = []
    stray = []
    for name, is_dir in items:
        parsed = None if is_dir else parse_dump_name(name)
        if parsed is None:
            stray.append(name + "/" if is_dir else name)
        else:
            entries.append(DumpEntry(name=name, path=path / name, var_id=parsed[0], input_index=parsed[1]))
    entries.sort(key=dump_entry_key)
    if not entries and not allow_empty:
        extra = f" (only {len(stray)} other entries, e.g. {sorted(stray)[0]!r})" if stray else ""
        if "bin/" in stray:  # a larfarm run folder or load_and_run's output folder: the dumps sit one level down
            extra += f"; its dumps are probably in {path / 'bin'}"
        raise DumpFolderError(path, "holds no dump files" + extra)
    return DumpFolder(path=path, entries=tuple(entries), stray=tuple(sorted(stray)))
