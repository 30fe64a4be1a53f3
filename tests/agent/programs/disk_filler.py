"""A program that writes dump files as fast as it can and ignores SIGTERM (for quota tests).

Own options (from the agent config's `args`): --file-bytes B --total B, then load_and_run's.
With --one-file it appends to a single file instead (a text dump that never ends).
"""

import argparse
import os
import signal
import sys


def main() -> int:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only SIGKILL stops it
    p = argparse.ArgumentParser()
    p.add_argument("--file-bytes", type=int, default=1 << 20)
    p.add_argument("--total", type=int, default=1 << 30)
    p.add_argument("--one-file", action="store_true")
    p.add_argument("model")
    p.add_argument("--bin-io-dump")
    args, _ = p.parse_known_args()
    block = os.urandom(args.file_bytes)
    written = 0
    if args.one_file:
        with open(os.path.join(args.bin_io_dump, "..", "io.txt"), "wb", buffering=0) as f:
            while written < args.total:
                f.write(block)
                written += len(block)
        return 0
    i = 0
    while written < args.total:
        with open(os.path.join(args.bin_io_dump, "%06x" % (5 + 4 * i)), "wb") as f:
            f.write(block)
        written += len(block)
        i += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
