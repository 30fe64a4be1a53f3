"""The phone's tar stream is unpacked into out/ only: files and folders, never links, never outside."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from agent.adb_run import UnsafeTar, extract_out


def stream(*members: tuple[str, bytes, bytes]) -> io.BytesIO:
    """A tar of (name, type, data or link target) members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.linkname = data.decode()
                tar.addfile(info)
    buf.seek(0)
    return buf


def test_files_land_in_out(tmp_path: Path) -> None:
    got = extract_out(
        stream(("out", tarfile.DIRTYPE, b""), ("out/bin/00000a", tarfile.REGTYPE, b"abc"), ("out/io.txt", b"0", b"t")),
        tmp_path,
    )
    assert got == 4
    assert (tmp_path / "out" / "bin" / "00000a").read_bytes() == b"abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no partial file left beside it


@pytest.mark.parametrize(
    "member",
    [
        ("../evil", tarfile.REGTYPE, b"x"),
        ("out/../../evil", tarfile.REGTYPE, b"x"),
        ("/tmp/evil", tarfile.REGTYPE, b"x"),
        ("in/model.mge", tarfile.REGTYPE, b"x"),
        ("out/bin/link", tarfile.SYMTYPE, b"/etc/passwd"),
        ("out/bin/hard", tarfile.LNKTYPE, b"out/bin/00000a"),
        ("out/dev", tarfile.CHRTYPE, b""),
    ],
)
def test_anything_else_is_refused(tmp_path: Path, member: tuple[str, bytes, bytes]) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(UnsafeTar):
        extract_out(stream(("out/bin/00000a", tarfile.REGTYPE, b"abc"), member), tmp_path / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert not (tmp_path / "run" / "out" / "bin" / "link").exists()


def test_a_link_planted_in_out_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "run" / "out").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "run" / "out" / "bin").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeTar):
        extract_out(stream(("out/bin/00000a", tarfile.REGTYPE, b"abc")), tmp_path / "run")
    assert list((tmp_path / "elsewhere").iterdir()) == []
