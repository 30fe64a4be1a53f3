"""A fake load_and_run for scheduler tests and the benchmark: real-format dumps, no engine.

It writes a chain of `vars` float32 vars with MegEngine-style titles to
`--bin-io-dump DIR`, takes `sleep_s` like a phone computing off-host, perturbs
a `shake` fraction of the vars differently on every run (unless --reproducible,
like a non-reproducible algorithm), and can kill its parent agent once
(`kill_parent_once` marker file) to play an agent dying mid-run.
"""

from __future__ import annotations

import array
import os
import random
import signal
import struct
import sys
import time
from pathlib import Path
from typing import List

# Pure Python on purpose: the benchmark runs many of these at once on 2 cores, and
# importing numpy would cost more than the scheduler being measured.
FLOAT32 = 0
MAX_NDIM = 7


def write_dump(path: Path, title_text: str, values: array.array) -> None:
    """One binary dump file in MegEngine's layout (u32 name_len, dtype, max_ndim, shape[7]; title; data)."""
    name = title_text.encode("ascii")
    shape = [len(values)] + [0] * (MAX_NDIM - 1)
    header = struct.pack(f"<3I{MAX_NDIM}I", len(name), FLOAT32, MAX_NDIM, *shape)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(header + name + values.tobytes())
    os.replace(tmp, path)


def title(var: int, size: int) -> str:
    """A title in MegEngine's grammar: var K produced by opK{Elemwise} from var K-1."""

    def info(k: int) -> str:
        return (
            f"{{id:{k}, layout:{{{size}(1) Float32}}, Float32, owner:op{k}{{Elemwise}}, name:v{k}, "
            f'slot:0, CompNode("cpu0:0" from "cpu0:0"), s, 4, 8}}'
        )

    head = "var=" + info(var)
    if var == 1:
        return head + " owner_opr_inputs="
    return head + " owner_opr_inputs=" + info(var - 1)


def wrapper(path: Path, repo: Path, **settings: object) -> Path:
    """Write a runnable script calling main() with `settings` (the agent runs it as its program)."""
    args = ", ".join(f"{k}={v!r}" for k, v in settings.items())
    path.write_text(
        f"import sys\nsys.path.insert(0, {str(repo)!r})\n"
        f"from tests.controller.fake_lar import main\nsys.exit(main(sys.argv[1:], {args}))\n"
    )
    return path


def main(
    argv: List[str],
    vars: int = 50,
    size: int = 1024,
    sleep_s: float = 0.0,
    shake: float = 0.0,
    kill_parent_once: str = "",
    fail: bool = False,
    pid_file: str = "",
) -> int:
    bin_dir = None
    text = None
    reproducible = "--reproducible" in argv
    naive = os.environ.get("MGB_USE_MEGDNN_DBG") == "2"
    for i, a in enumerate(argv):
        if a == "--bin-io-dump":
            bin_dir = Path(argv[i + 1])
        if a == "--io-dump":
            text = Path(argv[i + 1])
    if kill_parent_once and not Path(kill_parent_once).exists():
        Path(kill_parent_once).write_text("killed")
        time.sleep(0.2)
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(5)
        return 3
    if pid_file:
        Path(pid_file).write_text(str(os.getpid()))
    if fail:
        print("fake_lar: failing as asked", file=sys.stderr)
        return 4
    time.sleep(sleep_s)
    if bin_dir is None:
        return 0
    bin_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1234)
    noise = random.Random()  # differs run to run: the "shake"
    every = int(round(1 / shake)) if shake > 0 else 0
    for k in range(1, vars + 1):
        data = array.array("f", (rng.gauss(0.0, 1.0) for _ in range(size)))
        if every and k % every == 0 and not reproducible:
            data = array.array("f", (v + noise.gauss(0.0, 1e-3) for v in data))
        if naive and k >= vars // 2:
            # naive kernels: a small drift from the middle on, amplified 1000x at three quarters
            scale = 1 + (1e-3 if k >= 3 * vars // 4 else 1e-6)
            data = array.array("f", (v * scale for v in data))
        write_dump(bin_dir / f"{k:06x}", title(k, size), data)
    if text is not None:
        text.parent.mkdir(parents=True, exist_ok=True)
        text.write_text("")
    print(f"fake_lar: wrote {vars} vars")
    return 0
