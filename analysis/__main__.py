"""``python -m analysis A B``: see analysis.cli."""

import sys

try:
    from analysis.cli import main

    status = main()
except KeyboardInterrupt:
    # Ctrl-C: one line, no traceback; the pool's in-flight pairs end on their own (no read blocks:
    # analysis opens only regular files)
    print("analysis: interrupted", file=sys.stderr)
    status = 130
sys.exit(status)
