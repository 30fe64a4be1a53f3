"""Compare speed and peak memory: our compare_binary_iodump vs MegEngine's own script.

Three cases, generated in the real dump format in a temporary folder (removed
at the end): 300 vars x 2 MB, and three 100 MB tensors, where run B is run A
with relative noise on two vars out of three (the rest bitwise equal); and
300 vars x 2 MB where every var of B differs slightly: every value under 1 in
magnitude is one float32 step off (an error under the tolerance, yet no chunk
is bitwise equal) and one element is over it at the very end, so every element goes through the float math
before the first index over tolerance is found. Compared at MegEngine's guide
tolerance (-e 1e-7); ``python -m bench.bench_compare NAME...`` runs only those cases. Both tools run as child processes
on the same files; wall time (best) and peak RSS (os.wait4) are taken over a few
alternating repeats. The full people/CI report (every metric, roots,
thresholds) is timed too, for information. MegEngine's script comes from the official megengine
1.13.0 wheel: the Lite runtime cache keeps it (``python -m
agent.lar_lite.runtime ensure``); failing that, the wheel is downloaded with
pip and the one file extracted into ``.bench/``. Its code is never committed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
TOOL = "megengine/tools/compare_binary_iodump.py"
TOLERANCE = "1e-7"
REPEATS = int(os.environ.get("BENCH_COMPARE_REPEATS", "2"))


def megengine_script() -> Path:
    """MegEngine 1.13.0's compare_binary_iodump.py, from the Lite runtime cache or the wheel."""
    # Ask in a child process so this one does not grow (see measure()).
    proc = subprocess.run(
        [sys.executable, "-c", "from agent.lar_lite import runtime; print(runtime.ensure())"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode == 0 and (Path(proc.stdout.strip()) / TOOL).is_file():
        return Path(proc.stdout.strip()) / TOOL
    print(f"bench_compare: Lite runtime cache has no {TOOL}; fetching the wheel", file=sys.stderr)
    cache = ROOT / ".bench" / "megengine-1.13.0"
    target = cache / TOOL
    if target.is_file():
        return target
    # The runtime's own download and sha256 check (stdlib only, so this process stays small).
    from agent.lar_lite import runtime
    from agent.lar_lite.errors import LarLiteError

    wheels = cache / "wheel"
    wheels.mkdir(parents=True, exist_ok=True)
    try:
        wheel = runtime.download_wheel(wheels)
        runtime.verify_wheel(wheel)
        with zipfile.ZipFile(wheel) as zf:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(TOOL))
    except (LarLiteError, OSError, KeyError, zipfile.BadZipFile) as exc:
        raise SystemExit(f"bench_compare: cannot get MegEngine's {TOOL}: {exc}") from None
    finally:
        shutil.rmtree(wheels, ignore_errors=True)
    return target


def _title(vid: int, shape: Sequence[int], prev: Optional[int]) -> str:
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    layout = ",".join(f"{d}({s})" for d, s in zip(shape, reversed(strides), strict=True))

    def info(i: int) -> str:
        return (
            f"{{id:{i}, layout:{{{layout} Float32}}, Float32, owner:conv{i}{{ConvolutionForward}}, "
            f'name:conv{i}, slot:0, CompNode("cpu0:0" from "cpu0:0"), s, 4, 8}}'
        )

    return f"var={info(vid)} owner_opr_inputs={'' if prev is None else info(prev)}"


def generate(folder: Path, n_vars: int, shape: Tuple[int, ...], mode: str = "third", seed: int = 0) -> None:
    """Folders A and B: B is A with 1e-6 relative noise on two vars out of three (``third``), or on
    every var its values under 1 one float32 step off and its last element off by 1e-5 (``slight``)."""
    import numpy as np

    from analysis.dump_bin import dump_name, write_dump

    rng = np.random.default_rng(seed)
    (folder / "A").mkdir(parents=True)
    (folder / "B").mkdir(parents=True)
    for k in range(n_vars):
        vid = 5 + 2 * k
        a = rng.standard_normal(shape, dtype=np.float32)
        title = _title(vid, shape, None if k == 0 else vid - 2)
        write_dump(folder / "A" / dump_name(vid), title, 0, shape, a)
        if mode == "slight":
            # one step is at most 6e-8 for |a| < 1, where MegEngine's error is |a - b|
            a = np.where(np.abs(a) < 1, np.nextafter(a, np.float32(np.inf)), a)
            a.reshape(-1)[-1] += np.float32(1e-5)
        elif k % 3:
            a *= 1 + np.float32(1e-6) * rng.standard_normal(shape, dtype=np.float32)
        write_dump(folder / "B" / dump_name(vid), title, 0, shape, a)
        del a


def measure(argv: List[str], cwd: Path) -> Tuple[float, float, int]:
    """(wall seconds, peak RSS in MiB, exit status) of one child process."""
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=devnull, env={**os.environ, "PYTHONPATH": str(ROOT)})
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024.0, proc.returncode


def run_case(name: str, folder: Path, script: Path) -> None:
    commands = {
        "megengine": ([sys.executable, str(script), "A", "B", "-e", TOLERANCE], (0,)),
        # the drop-in: same output as MegEngine's script
        "ours": ([sys.executable, "-m", "analysis.compare_binary_iodump", "A", "B", "-e", TOLERANCE], (0,)),
        # the people/CI CLI: every metric, roots and thresholds (exit 1: differences found)
        "full": ([sys.executable, "-m", "analysis", "A", "B", "-e", TOLERANCE, "--json"], (1,)),
    }
    best = {label: (float("inf"), 0.0) for label in commands}
    for _ in range(REPEATS):
        for label, (argv, ok) in commands.items():
            wall, rss, rc = measure(argv, folder)
            if rc not in ok:
                raise SystemExit(f"bench_compare: {label} exited {rc} on {name}")
            best[label] = (min(best[label][0], wall), max(best[label][1], rss))
    (w_ours, r_ours), (w_me, r_me), (w_full, r_full) = best["ours"], best["megengine"], best["full"]
    print(
        f"# {name}: ours {w_ours:.2f} s {r_ours:.0f} MiB, full report {w_full:.2f} s {r_full:.0f} MiB, "
        f"megengine {w_me:.2f} s {r_me:.0f} MiB",
        flush=True,
    )
    print(f"BENCH compare_speedup_vs_megengine_{name} {w_me / w_ours:.2f} x target >= 5", flush=True)
    print(f"BENCH compare_peak_rss_ratio_vs_megengine_{name} {r_ours / r_me:.3f} x target <= 1", flush=True)
    print(f"BENCH compare_full_report_speedup_vs_megengine_{name} {w_me / w_full:.2f} x target >= 1", flush=True)


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--generate"]:
        generate(Path(argv[1]), int(argv[2]), tuple(int(d) for d in argv[3].split(",")), argv[4])
        return 0
    cases = [
        ("300x2MB", 300, (1, 128, 64, 64), "third"),
        ("3x100MB", 3, (1, 100, 500, 500), "third"),
        ("300x2MB_all_differ", 300, (1, 128, 64, 64), "slight"),
    ]
    unknown = set(argv) - {c[0] for c in cases}
    if unknown:
        raise SystemExit(
            f"bench_compare: no case named {', '.join(sorted(unknown))} (have: {', '.join(c[0] for c in cases)})"
        )
    script = megengine_script()
    for name, n_vars, shape, mode in cases:
        if argv and name not in argv:
            continue
        tmp = Path(tempfile.mkdtemp(prefix="bench_compare_"))
        try:
            # Generate in a child: a child's peak RSS counts its parent's RSS at
            # fork time, so the measuring process must stay small.
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.bench_compare",
                    "--generate",
                    str(tmp),
                    str(n_vars),
                    ",".join(map(str, shape)),
                    mode,
                ],
                cwd=ROOT,
                check=True,
            )
            run_case(name, tmp, script)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
