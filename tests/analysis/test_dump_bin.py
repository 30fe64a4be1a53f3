"""Binary dump reader/writer against MegEngine 1.13's real files and the bad inputs of issue §6."""

import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from analysis import dump_bin
from analysis.dtypes import DTYPES, dtype_by_code
from analysis.dump_bin import (
    DumpFolder,
    encode_dump,
    list_dump_folder,
    read_header,
    write_dump,
)
from analysis.errors import AnalysisError, DumpFolderError, DumpFormatError, UnknownDTypeError

TITLE = (
    "var={id:10, layout:{2(3),3(1) Float32}, Float32, owner:mul{Elemwise}, name:mul, slot:0, "
    'CompNode("cpu0:0" from "cpu0:0"), s, 4, 8} owner_opr_inputs='
)


def all_fixture_files(root: Path):
    files = sorted(root.glob("runs/*/*/bin/*"))
    assert len(files) > 300  # all three models, big_conv's three bin runs included
    return files


# -- real files ------------------------------------------------------------------------------


def test_round_trip_is_byte_identical_for_every_fixture_file(megengine_fixtures, tmp_path):
    for path in all_fixture_files(megengine_fixtures):
        original = path.read_bytes()
        header = read_header(path)
        assert header.file_size == len(original)
        # through the decoded array ...
        assert (
            encode_dump(header.title_bytes, header.dtype.code, header.shape, header.load(), header.max_ndim) == original
        ), path
        # ... and through the writer, from the decoded title string and the raw payload
        out = write_dump(tmp_path / path.name, header.title, header.dtype.code, header.shape, header.load_raw())
        assert out.read_bytes() == original, path


def test_header_fields_of_the_readme_example(megengine_fixtures):
    header = read_header(megengine_fixtures / "runs/tiny_cnn/default/bin/000001")
    assert header.var_id == 1 and header.input_index is None
    assert header.dtype.name == "Float32" and header.max_ndim == 7
    assert header.shape_slots == (10, 0, 0, 0, 0, 0, 0) and header.shape == (10,)
    assert len(header.title_bytes) == 158 and header.title.startswith("var={id:1, ")
    assert (header.data_offset, header.data_nbytes, header.file_size) == (198, 40, 238)


def test_loaded_values_match_megengines_own_outputs_and_inputs(megengine_fixtures):
    root = megengine_fixtures
    prob = read_header(root / "runs/tiny_cnn/default/bin/000032").load()
    np.testing.assert_array_equal(prob, np.load(root / "runs/tiny_cnn/default/outputs.npz")["prob"])
    data = read_header(root / "runs/tiny_cnn/default/bin/000005").load()
    np.testing.assert_array_equal(data, np.load(root / "inputs/tiny_cnn__data.npy"))
    outputs = np.load(root / "runs/mlp/default/outputs.npz")
    for name, var in (("logits", "00016c"), ("stats", "00004c"), ("pred", "000171")):
        got = read_header(root / "runs/mlp/default/bin" / var).load()
        assert got.dtype == outputs[name].dtype
        np.testing.assert_array_equal(got, outputs[name].reshape(got.shape))


def test_float16_vars_load_as_float16(megengine_fixtures):
    header = read_header(megengine_fixtures / "runs/mlp/default/bin/000055")
    assert header.dtype.code == 9
    arr = header.load()
    assert arr.dtype == np.float16 and arr.shape == (12,)


def test_header_read_does_not_touch_the_payload(tmp_path, monkeypatch):
    path = tmp_path / "00000a"
    path.write_bytes(encode_dump(TITLE, 0, (1024, 256), np.zeros((1024, 256), np.float32)))
    read_sizes = []
    real_open = dump_bin.open_regular

    class CountingFile:
        def __init__(self, f):
            self._f = f

        def read(self, n=-1):
            assert n >= 0, "header reader must never read to EOF"
            data = self._f.read(n)
            read_sizes.append(len(data))
            return data

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    monkeypatch.setattr(dump_bin, "open_regular", lambda *a, **k: CountingFile(real_open(*a, **k)))
    header = read_header(path)
    assert sum(read_sizes) == 40 + len(TITLE)
    assert header.data_nbytes == 1024 * 256 * 4


# -- every dtype ------------------------------------------------------------------------------


def sample(code: int, n: int, rng: np.random.Generator) -> np.ndarray:
    info = dtype_by_code(code)
    if info.packed:
        lo, hi = (-(1 << (info.bits - 1)), 1 << (info.bits - 1)) if info.signed_lowbit else (0, 1 << info.bits)
        return rng.integers(lo, hi, n).astype(info.value)
    if info.name == "Bool":
        return rng.integers(0, 2, n).astype(bool)
    if info.name == "BFloat16":
        return (rng.standard_normal(n).astype(np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)
    if info.value.kind == "f":
        return rng.standard_normal(n).astype(info.value)
    if info.value.kind == "c":
        return (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(info.value)
    lim = np.iinfo(info.value)
    return rng.integers(lim.min, lim.max, n, endpoint=True).astype(info.value)


@pytest.mark.parametrize("code", sorted(DTYPES))
@pytest.mark.parametrize("shape", [(5,), (2, 3, 3), (1, 1, 1, 1, 1, 1, 7)])
def test_every_dtype_round_trips(tmp_path, code, shape):
    rng = np.random.default_rng(code)
    values = sample(code, int(np.prod(shape)), rng).reshape(shape)
    path = write_dump(tmp_path / "00002a", TITLE, code, shape, values)
    header = read_header(path)
    assert header.dtype.code == code and header.shape == shape
    assert header.data_nbytes == dtype_by_code(code).payload_nbytes(values.size)
    loaded = header.load()
    assert loaded.dtype == dtype_by_code(code).value and loaded.shape == shape
    np.testing.assert_array_equal(loaded, values)
    # writing what was read gives the same bytes
    assert encode_dump(header.title, code, shape, loaded) == path.read_bytes()


def test_signed_4bit_packs_even_index_in_the_low_nibble_sign_extended(tmp_path):
    raw = bytes([0xE1, 0x87, 0x03])  # 1, -2 | 7, -8 | 3, (pad)
    path = tmp_path / "000001"
    path.write_bytes(encode_dump(TITLE, 100004, (5,), raw))
    arr = read_header(path).load()
    assert arr.dtype == np.int8
    assert arr.tolist() == [1, -2, 7, -8, 3]
    assert encode_dump(TITLE, 100004, (5,), arr)[-3:] == raw


def test_unsigned_4bit_and_bit_types_unpack_lsb_first(tmp_path):
    path = tmp_path / "000001"
    path.write_bytes(encode_dump(TITLE, 100003, (3,), bytes([0xE1, 0x07])))
    assert read_header(path).load().tolist() == [1, 14, 7]
    path.write_bytes(encode_dump(TITLE, 5, (10,), bytes([0b10100101, 0b01])))
    assert read_header(path).load().tolist() == [1, 0, 1, 0, 0, 1, 0, 1, 1, 0]


def test_bfloat16_is_widened_to_float32_and_rounded_to_nearest_even_on_write(tmp_path):
    path = tmp_path / "000001"
    path.write_bytes(encode_dump(TITLE, 11, (3,), np.array([0x3F80, 0xC000, 0x7FC0], np.uint16)))
    arr = read_header(path).load()
    assert arr.dtype == np.float32
    assert arr[:2].tolist() == [1.0, -2.0] and np.isnan(arr[2])
    # 1 + 2**-8 is exactly half-way between two bfloat16 values: ties go to the even one (1.0)
    blob = encode_dump(TITLE, 11, (2,), np.array([1 + 2**-8, 1 + 3 * 2**-8], np.float32))
    assert np.frombuffer(blob[-4:], np.uint16).tolist() == [0x3F80, 0x3F82]


def test_bool_payload_reads_as_numpy_bool(tmp_path):
    path = tmp_path / "000001"
    path.write_bytes(encode_dump(TITLE, 12, (4,), bytes([0, 1, 2, 0])))
    arr = read_header(path).load()
    assert arr.dtype == np.bool_ and arr.tolist() == [False, True, True, False]


def test_quantized_values_are_raw_integers(tmp_path):
    path = tmp_path / "000001"
    path.write_bytes(encode_dump(TITLE, 100002, (3,), np.array([-128, 0, 127], np.int8)))
    header = read_header(path)
    assert header.dtype.quantized and not header.dtype.scale_known
    assert header.load().tolist() == [-128, 0, 127]


@pytest.mark.parametrize("shape", [(4, 0), (0,), (2, 0, 3)])
def test_empty_tensor_shape_comes_from_the_title(tmp_path, shape):
    dims = ",".join(f"{d}(1)" for d in shape)
    title = TITLE.replace("{2(3),3(1) Float32}", f"{{{dims} Float32}}")
    path = tmp_path / "000001"
    path.write_bytes(encode_dump(title, 0, shape, b""))
    header = read_header(path)
    assert header.shape == shape and header.load().shape == shape
    assert encode_dump(title, 0, header.shape, header.load()) == path.read_bytes()


def test_empty_payload_without_a_matching_title_is_a_cut_file(tmp_path):
    path = tmp_path / "000001"
    path.write_bytes(encode_dump(TITLE, 0, (4, 0), b""))  # the title says 2x3
    with pytest.raises(DumpFormatError, match=r"payload is 0 bytes but shape \(4\) x Float32 needs 16"):
        read_header(path)


def test_a_stored_max_ndim_other_than_7_is_honoured(tmp_path):
    path = tmp_path / "000001"
    path.write_bytes(encode_dump(TITLE, 4, (2, 2), np.arange(4, dtype=np.int32), max_ndim=4))
    header = read_header(path)
    assert header.max_ndim == 4 and header.data_offset == 12 + 16 + len(TITLE)
    assert header.load().tolist() == [[0, 1], [2, 3]]


def test_writer_refuses_data_that_does_not_fit_the_shape(tmp_path):
    with pytest.raises(ValueError, match="needs 24"):
        encode_dump(TITLE, 0, (2, 3), b"\0" * 20)
    with pytest.raises(ValueError, match="max_ndim"):
        encode_dump(TITLE, 0, (1,) * 8, b"\0" * 4)
    with pytest.raises(UnknownDTypeError):
        encode_dump(TITLE, 77, (1,), b"\0")


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "000001"
    target.write_bytes(b"old")
    with pytest.raises(ValueError):
        write_dump(target, TITLE, 0, (2,), b"\0")  # refused before anything is written
    assert target.read_bytes() == b"old"
    write_dump(target, TITLE, 0, (2,), b"\0" * 8)
    assert [p.name for p in tmp_path.iterdir()] == ["000001"]


# -- names and folders ------------------------------------------------------------------------


def test_bin_out_dump_file_reads_with_its_own_naming(tmp_path):
    # --bin-out-dump writes "owner_opr_inputs= " with a space and names files run<N>-var<ID>
    path = tmp_path / "run3-var21"
    path.write_bytes(encode_dump(TITLE.replace("{id:10,", "{id:21,") + " ", 0, (2, 3), b"\0" * 24))
    header = read_header(path)
    assert (header.var_id, header.input_index) == (21, None)
    assert header.title_info().var.id == 21 and header.title_info().inputs == ()
    assert list_dump_folder(tmp_path, allow_empty=True).stray == ("run3-var21",)


def make_folder(root: Path, names):
    root.mkdir()
    for name in names:
        (root / name).write_bytes(encode_dump(TITLE, 0, (2, 3), b"\0" * 24))
    return root


def test_folder_listing_sorts_by_var_id_and_input_and_reports_strays(tmp_path):
    folder = make_folder(
        tmp_path / "bin", ["000010", "00000a-inp1", "00000a", "00000a-inp0", "1000000", "fffffe", "notes.txt", "00000A"]
    )
    (folder / "sub").mkdir()
    listing = list_dump_folder(folder)
    assert isinstance(listing, DumpFolder)
    assert listing.names() == ("00000a", "00000a-inp0", "00000a-inp1", "000010", "fffffe", "1000000")
    assert [e.var_id for e in listing.outputs] == [10, 16, 0xFFFFFE, 0x1000000]
    assert listing.stray == ("00000A", "notes.txt", "sub/")
    assert list_dump_folder(listing) is listing


def test_folder_headers_skip_bad_files_and_keep_the_rest(tmp_path):
    folder = make_folder(tmp_path / "bin", ["000001", "000002", "000003"])
    (folder / "000002").write_bytes(b"\x01\x00")
    good, bad = list_dump_folder(folder).read_headers()
    assert [h.var_id for h in good] == [1, 3]
    assert len(bad) == 1 and bad[0].path == folder / "000002"


def test_missing_folder(tmp_path):
    with pytest.raises(DumpFolderError, match="no such folder") as info:
        list_dump_folder(tmp_path / "nope")
    assert str(info.value) == f"{tmp_path / 'nope'}: no such folder"


def test_file_where_a_folder_is_expected(tmp_path):
    path = tmp_path / "000001"
    path.write_bytes(b"")
    with pytest.raises(DumpFolderError, match="is a file, expected a dump folder"):
        list_dump_folder(path)


def test_empty_folder(tmp_path):
    (tmp_path / "bin").mkdir()
    with pytest.raises(DumpFolderError, match="holds no dump files$"):
        list_dump_folder(tmp_path / "bin")
    assert list_dump_folder(tmp_path / "bin", allow_empty=True).entries == ()
    (tmp_path / "bin" / "readme").write_text("x")
    with pytest.raises(DumpFolderError, match="only 1 other entries, e.g. 'readme'"):
        list_dump_folder(tmp_path / "bin")


# -- bad files (issue §6) -----------------------------------------------------------------------


@pytest.fixture
def real_file(megengine_fixtures, tmp_path) -> Path:
    """A copy of a real 238-byte dump (40 header + 158 title + 10 floats)."""
    path = tmp_path / "000001"
    path.write_bytes((megengine_fixtures / "runs/tiny_cnn/default/bin/000001").read_bytes())
    return path


def one_line(err: Exception) -> str:
    text = str(err)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("keep", [0, 5, 12, 39])
def test_truncated_header(real_file, keep):
    real_file.write_bytes(real_file.read_bytes()[:keep])
    with pytest.raises(DumpFormatError, match="truncated header") as info:
        read_header(real_file)
    assert one_line(info.value).startswith(f"{real_file}: offset ")
    assert f"file has {keep} bytes" in str(info.value)


def test_name_length_past_the_end(real_file):
    blob = bytearray(real_file.read_bytes())
    blob[0:4] = struct.pack("<I", 5000)
    real_file.write_bytes(bytes(blob))
    with pytest.raises(DumpFormatError) as info:
        read_header(real_file)
    assert one_line(info.value) == f"{real_file}: offset 40: name length 5000 runs past the end of the file (238 bytes)"


def test_unknown_dtype_code(real_file):
    blob = bytearray(real_file.read_bytes())
    blob[4:8] = struct.pack("<I", 77)
    real_file.write_bytes(bytes(blob))
    with pytest.raises(UnknownDTypeError) as info:
        read_header(real_file)
    assert one_line(info.value) == f"{real_file}: offset 4: unknown dtype code 77"


@pytest.mark.parametrize("delta", [-1, 1, -40])
def test_payload_size_not_matching_shape(real_file, delta):
    blob = real_file.read_bytes()
    real_file.write_bytes(blob[:delta] if delta < 0 else blob + b"\0" * delta)
    with pytest.raises(DumpFormatError) as info:
        read_header(real_file)
    assert one_line(info.value) == (
        f"{real_file}: offset 198: payload is {40 + delta} bytes but shape (10) x Float32 needs 40"
    )


def test_payload_size_for_a_dtype_change(real_file):
    blob = bytearray(real_file.read_bytes())
    blob[4:8] = struct.pack("<I", 9)  # Float16: 10 elements need 20 bytes, not 40
    real_file.write_bytes(bytes(blob))
    with pytest.raises(DumpFormatError, match=r"payload is 40 bytes but shape \(10\) x Float16 needs 20"):
        read_header(real_file)


def test_non_zero_shape_slot_after_a_zero(real_file):
    blob = bytearray(real_file.read_bytes())
    blob[20:24] = struct.pack("<I", 3)  # slot 2, after the unused slot 1
    real_file.write_bytes(bytes(blob))
    with pytest.raises(DumpFormatError) as info:
        read_header(real_file)
    assert one_line(info.value).startswith(f"{real_file}: offset 20: shape slot 2 is 3 after an unused (zero) slot 1")


def test_all_zero_shape_with_a_payload(real_file):
    blob = bytearray(real_file.read_bytes())
    blob[12:16] = b"\0\0\0\0"
    real_file.write_bytes(bytes(blob))
    with pytest.raises(DumpFormatError, match="all 7 shape slots are zero but the payload has 40 bytes"):
        read_header(real_file)


@pytest.mark.parametrize("max_ndim", [0, 1000])
def test_implausible_max_ndim(real_file, max_ndim):
    blob = bytearray(real_file.read_bytes())
    blob[8:12] = struct.pack("<I", max_ndim)
    real_file.write_bytes(bytes(blob))
    with pytest.raises(DumpFormatError, match=f"offset 8: max_ndim is {max_ndim}, expected 7"):
        read_header(real_file)


def test_non_ascii_title_is_reported_unless_asked_to_replace(tmp_path):
    title = (
        "var={id:1, layout:{2(1) Float32}, Float32, owner:x{Y}, name:\u6743\u91cd, slot:0, "
        'CompNode("cpu0:0" from "cpu0:0"), s, 2, 2} owner_opr_inputs='
    )
    path = tmp_path / "000001"
    path.write_bytes(encode_dump(title.encode("utf-8"), 0, (2,), b"\0" * 8))
    at = title.index("\u6743")
    with pytest.raises(DumpFormatError) as info:
        read_header(path)
    assert one_line(info.value) == (
        f"{path}: offset {40 + at}: title is not ASCII (byte 0xe6 at title position {at}); "
        "MegEngine's tools cannot read it"
    )
    header = read_header(path, errors="replace")
    assert "name:\u6743\u91cd," in header.title  # valid UTF-8 decodes as such
    assert header.title_bytes == title.encode("utf-8")
    assert header.title_info().var.name == "\u6743\u91cd"
    path.write_bytes(encode_dump(b"var=\xff", 0, (2,), b"\0" * 8))
    assert read_header(path, errors="replace").title == "var=\ufffd"


def test_unknown_error_handler_is_a_programming_error(real_file):
    with pytest.raises(ValueError, match="unknown decoding error handler 'nope'"):
        read_header(real_file, errors="nope")


def test_a_folder_given_as_a_file(tmp_path):
    with pytest.raises(DumpFormatError, match="is a folder, expected a dump file"):
        read_header(tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(DumpFormatError) as info:
        read_header(tmp_path / "000001")
    assert one_line(info.value) == f"{tmp_path / '000001'}: cannot read: No such file or directory"


def error_line(call) -> str:
    """The AnalysisError line ``call()`` raises; as root, from a child that dropped to nobody.

    Root reads any file whatever its mode, so the unreadable cases need an
    unprivileged reader to be real.
    """
    if os.geteuid() != 0:
        with pytest.raises(AnalysisError) as info:
            call()
        return str(info.value)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop to nobody, report the error line, exit without pytest's cleanup
        os.close(rfd)
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            call()
            msg = "no error"
        except AnalysisError as exc:
            msg = str(exc)
        except BaseException as exc:  # pragma: no cover - reported to the parent
            msg = f"unexpected {exc!r}"
        os.write(wfd, msg.encode())
        os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as f:
        msg = f.read().decode()
    os.waitpid(pid, 0)
    return msg


@pytest.fixture
def world_reachable_dir():
    """A folder an unprivileged reader can reach (pytest's tmp_path is private to its user)."""
    folder = Path(tempfile.mkdtemp(prefix="larfarm-unreadable-"))
    folder.chmod(0o711)
    yield folder
    for p in [folder, *folder.rglob("*")]:
        p.chmod(0o755)
    shutil.rmtree(folder)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork to read as an unprivileged user")
def test_unreadable_file(world_reachable_dir):
    path = world_reachable_dir / "000001"
    path.write_bytes(encode_dump(TITLE, 0, (2, 3), b"\0" * 24))
    path.chmod(0)
    assert error_line(lambda: read_header(path)) == f"{path}: cannot read: Permission denied"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork to read as an unprivileged user")
def test_unreadable_folder(world_reachable_dir):
    folder = world_reachable_dir / "bin"
    folder.mkdir()
    (folder / "000001").write_bytes(encode_dump(TITLE, 0, (2, 3), b"\0" * 24))
    folder.chmod(0o311)  # can enter, cannot list
    assert error_line(lambda: list_dump_folder(folder)) == f"{folder}: cannot list folder: Permission denied"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /proc/self/mem")
def test_unreadable_file_even_for_root():
    # Reading /proc/self/mem at offset 0 fails with EIO for every user, root included.
    with pytest.raises(DumpFormatError, match=r"^/proc/self/mem: cannot read: Input/output error$"):
        read_header("/proc/self/mem")


def test_file_that_shrinks_after_its_header_was_read(real_file):
    header = read_header(real_file)
    real_file.write_bytes(real_file.read_bytes()[:-4])
    for load in (header.load, header.load_raw):
        with pytest.raises(DumpFormatError, match="file shrank while reading"):
            load()


def test_unnamed_file_takes_its_id_from_the_title(tmp_path, real_file):
    other = tmp_path / "copy.bin"
    other.write_bytes(real_file.read_bytes())
    assert (read_header(other).var_id, read_header(other).input_index) == (1, None)
    other.write_bytes(encode_dump("inp2: " + TITLE, 0, (2, 3), b"\0" * 24))
    assert (read_header(other).var_id, read_header(other).input_index) == (10, 2)
    for bad in ("garbage", "var={id:" + "9" * 5000 + ",", "inp" + "1" * 5000 + ": var={id:1,"):
        other.write_bytes(encode_dump(bad, 0, (2, 3), b"\0" * 24))
        with pytest.raises(DumpFormatError, match="file name is not a var id"):
            read_header(other)


def test_errors_pickle_for_worker_processes(real_file):
    import pickle

    for err in (
        DumpFormatError(real_file, 4, "x"),
        UnknownDTypeError(9, real_file, 4),
        DumpFolderError(real_file, "y"),
    ):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)
    assert issubclass(DumpFolderError, AnalysisError)


def test_a_run_folder_points_at_its_bin(tmp_path):
    """A larfarm run folder (or load_and_run's output folder) given where its bin/ belongs: say where the dumps are."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "000001").write_bytes(b"")
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(DumpFolderError, match=r"its dumps are probably in .*/bin$"):
        list_dump_folder(tmp_path)
