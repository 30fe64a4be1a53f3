"""Phones: moving a dump folder off a phone in one `adb exec-out tar` stream vs one `adb pull` per file.

Both go through the real adb client and server to the stand-in phone of
tests/support (adbd's protocol over loopback TCP), in the same run; the folder
is BENCH_ADB_MB (600 by default) in BENCH_ADB_FILES (300) dump files, the shape
of a mid-size model's --bin-io-dump. The stream is unpacked as the adb runner
does (agent.adb_run.extract_out); the pulls write their files directly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 1 << 20
TOTAL_MB = int(os.environ.get("BENCH_ADB_MB", "600"))
FILES = int(os.environ.get("BENCH_ADB_FILES", "300"))
RUN = "/data/local/tmp/larfarm/bench-run"


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    adb_path = shutil.which("adb")
    if adb_path is None:
        print("bench_adb: skipped: adb is not installed (apt-get install adb)", file=sys.stderr)
        return 0
    from agent.adb import command
    from agent.adb_run import extract_out
    from tests.support.adb_phone import Adb, Phone, free_port

    port = free_port()
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(port)
    adb = Adb(adb_path, port)
    adb("start-server", timeout=30)
    with tempfile.TemporaryDirectory(prefix="bench-adb-") as tmp:
        phone = Phone(Path(tmp) / "phone", programs={})
        try:
            adb.connect(phone)
            bin_dir = phone.path(f"{RUN}/out/bin")
            bin_dir.mkdir(parents=True)
            size = TOTAL_MB * MB // FILES
            block = os.urandom(size)  # incompressible, and nothing on the way compresses anyway
            names = [f"{i:06x}" for i in range(1, FILES + 1)]
            for name in names:
                (bin_dir / name).write_bytes(block)
            total = size * FILES

            dest = Path(tmp) / "stream"
            dest.mkdir()
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                [adb_path, "-s", phone.serial, "exec-out", command(["tar", "c", "-C", RUN, "out"])],
                stdout=subprocess.PIPE,
                env=adb.env(),
            )
            extract_out(proc.stdout, dest)
            proc.wait()
            stream_s = time.perf_counter() - t0
            got = sum(p.stat().st_size for p in (dest / "out" / "bin").iterdir())
            if got != total:
                raise SystemExit(f"bench_adb: the stream brought {got} bytes, expected {total}")
            shutil.rmtree(dest)

            dest = Path(tmp) / "pulls"
            dest.mkdir()
            t0 = time.perf_counter()
            for name in names:
                adb("-s", phone.serial, "pull", f"{RUN}/out/bin/{name}", str(dest / name))
            pulls_s = time.perf_counter() - t0
            got = sum(p.stat().st_size for p in dest.iterdir())
            if got != total:
                raise SystemExit(f"bench_adb: the pulls brought {got} bytes, expected {total}")
        finally:
            phone.stop()
            adb("kill-server", check=False, timeout=30)
    mb = total / MB
    print(f"# {mb:.0f} MB in {FILES} files off a stand-in phone (loopback adb, Python adbd); same run")
    print(f"BENCH adb_exec_out_tar_time {stream_s:.2f} s target >= 0")
    print(f"BENCH adb_exec_out_tar_throughput {mb / stream_s:.0f} MB/s target >= 0")
    print(f"BENCH adb_pull_per_file_time {pulls_s:.2f} s target >= 0")
    print(f"BENCH adb_pull_per_file_throughput {mb / pulls_s:.0f} MB/s target >= 0")
    print(f"BENCH adb_exec_out_tar_vs_pulls {pulls_s / stream_s:.2f} x target >= 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
