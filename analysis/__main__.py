"""``python -m analysis A B``: see analysis.cli."""

import os
import sys

# Before numpy loads: OpenBLAS would start a spinning thread per core, and analysis's only BLAS
# calls are dot products of one 128 KB chunk, which OpenBLAS runs on one thread anyway.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

try:
    from analysis.cli import main

    status = main()
except KeyboardInterrupt:
    # Ctrl-C: one line, no traceback; the pool's in-flight pairs end on their own (no read blocks:
    # analysis opens only regular files)
    print("analysis: interrupted", file=sys.stderr)
    status = 130
sys.exit(status)
