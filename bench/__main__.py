"""Run every bench/bench_*.py in its own process and pass its BENCH lines through.

Each benchmark measures its own baseline in the same run, so figures are
ratios that survive a noisy machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    wanted = set(argv)
    failed = []
    for script in sorted(here.glob("bench_*.py")):
        if wanted and script.stem not in wanted and script.stem[len("bench_") :] not in wanted:
            continue
        print(f"== {script.stem}", flush=True)
        rc = subprocess.call([sys.executable, "-m", f"bench.{script.stem}"], cwd=here.parent)
        if rc != 0:
            failed.append(script.stem)
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
