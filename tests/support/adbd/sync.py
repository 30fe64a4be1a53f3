"""The `sync:` service (AOSP adb/SYNC.TXT, file_sync_protocol.h): STAT/STA2/LST2, LIST/LIS2, SEND/SND2, RECV/RCV2, QUIT.

Each request is an 8-byte header (4-letter id, little-endian u32 length) and a path;
SEND's file follows as DATA chunks ending with DONE(mtime), answered OKAY or FAIL.
"""

from __future__ import annotations

import os
import stat
import struct

from tests.support.adbd.storage import Storage
from tests.support.adbd.wire import Stream

SYNC_DATA_MAX = 64 * 1024
_HDR = struct.Struct("<4sI")
_STAT_V1 = struct.Struct("<4sIII")  # id, mode, size, mtime
_STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")  # id, error, dev, ino, mode, nlink, uid, gid, size, atime, mtime, ctime
_DENT_V1 = struct.Struct("<4sIIII")  # id, mode, size, mtime, namelen
_DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")  # stat v2 + namelen


def _fail(stream: Stream, message: str) -> None:
    data = message.encode()
    stream.send(_HDR.pack(b"FAIL", len(data)) + data)


def _stat_v2(ident: bytes, st, error: int = 0) -> bytes:
    if st is None:
        return _STAT_V2.pack(ident, error, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return _STAT_V2.pack(
        ident,
        0,
        st.st_dev,
        st.st_ino,
        st.st_mode,
        st.st_nlink,
        2000,  # shell
        2000,
        st.st_size,
        int(st.st_atime),
        int(st.st_mtime),
        int(st.st_ctime),
    )


def serve_sync(stream: Stream, storage: Storage) -> None:
    """Answer sync requests until QUIT or the stream closes."""
    while True:
        ident, length = _HDR.unpack(stream.recv_exact(_HDR.size))
        if ident == b"QUIT":
            return
        if length > 1024:
            _fail(stream, "path too long")
            return
        path = stream.recv_exact(length).decode("utf-8", "replace")
        if ident in (b"STAT", b"STA2", b"LST2"):
            _do_stat(stream, storage, ident, path)
        elif ident in (b"LIST", b"LIS2"):
            _do_list(stream, storage, ident, path)
        elif ident == b"SEND":
            spec, comma, mode = path.rpartition(",")
            if not comma:
                spec, mode = path, ""
            _do_send(stream, storage, spec, int(mode) if mode.isdigit() else 0o644)
        elif ident == b"SND2":
            sid, mode, flags = struct.unpack("<4sII", stream.recv_exact(12))
            if sid != b"SND2" or flags:
                _fail(stream, "compressed transfers are not supported")
                return
            _do_send(stream, storage, path, mode)
        elif ident in (b"RECV", b"RCV2"):
            if ident == b"RCV2":
                struct.unpack("<4sI", stream.recv_exact(8))  # id, flags (no compression offered)
            _do_recv(stream, storage, path)
        else:
            _fail(stream, f"unknown sync request {ident!r}")
            return


def _do_stat(stream: Stream, storage: Storage, ident: bytes, path: str) -> None:
    try:
        host = storage.host(path)
        st = os.lstat(host) if ident == b"LST2" else os.stat(host)
    except OSError as err:
        st, error = None, err.errno or 2
    else:
        error = 0
    if ident == b"STAT":
        stream.send(_STAT_V1.pack(b"STAT", *((st.st_mode, st.st_size, int(st.st_mtime)) if st else (0, 0, 0))))
    else:
        stream.send(_stat_v2(ident, st, error))


def _do_list(stream: Stream, storage: Storage, ident: bytes, path: str) -> None:
    out = []
    try:
        host = storage.host(path)
        names = sorted(os.listdir(host))
    except OSError:
        names = []
        host = None
    for name in [".", ".."] + names:
        try:
            st = os.lstat(os.path.join(host, name)) if host else None
        except OSError:
            continue
        if st is None:
            continue
        raw = name.encode()
        if ident == b"LIST":
            out.append(_DENT_V1.pack(b"DENT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(raw)) + raw)
        else:
            out.append(_stat_v2(b"DNT2", st)[: _STAT_V2.size] + struct.pack("<I", len(raw)) + raw)
    done = _DENT_V1.pack(b"DONE", 0, 0, 0, 0) if ident == b"LIST" else _DENT_V2.pack(b"DONE", *([0] * 12))
    stream.send(b"".join(out) + done)


def _do_send(stream: Stream, storage: Storage, path: str, mode: int) -> None:
    """Receive DATA... DONE into path (parents made, as with fixed_push_mkdir); OKAY or FAIL after DONE."""
    error = None
    try:
        host = storage.host(path)
        host.parent.mkdir(parents=True, exist_ok=True)
        tmp = host.with_name(f".{host.name}.adb-push")
        f = open(tmp, "wb")  # noqa: SIM115 (stays open across the DATA loop)
    except OSError as err:
        error, f = f"{path}: {err.strerror or err}", None
    mtime = 0
    while True:
        ident, length = _HDR.unpack(stream.recv_exact(_HDR.size))
        if ident == b"DATA":
            data = stream.recv_exact(length)
            if f is not None:
                f.write(data)
        elif ident == b"DONE":
            mtime = length
            break
        else:
            error = f"unexpected {ident!r} during SEND"
            break
    if f is not None:
        f.close()
        if error is None:
            os.chmod(tmp, stat.S_IMODE(mode) or 0o644)
            os.replace(tmp, host)
            if mtime:
                os.utime(host, (mtime, mtime))
        else:
            os.unlink(tmp)
    if error:
        _fail(stream, error)
    else:
        stream.send(_HDR.pack(b"OKAY", 0))


def _do_recv(stream: Stream, storage: Storage, path: str) -> None:
    try:
        f = open(storage.host(path), "rb")  # noqa: SIM115 (closed by the with below)
    except OSError as err:
        _fail(stream, f"{path}: {err.strerror or err}")
        return
    with f:
        batch = []
        while True:
            block = f.read(SYNC_DATA_MAX)
            if block:
                batch.append(_HDR.pack(b"DATA", len(block)) + block)
            if batch and (not block or len(batch) * SYNC_DATA_MAX >= stream.transport.max_payload):
                stream.send(b"".join(batch))  # whole WRTEs, not one round trip per 64 KiB chunk
                batch = []
            if not block:
                break
    stream.send(_HDR.pack(b"DONE", 0))
