"""A program that plants symlinks in its dump folder (one to a file outside the workspace)
next to one real dump file, to check that the agent never lists or serves a link."""

import os
import sys

bin_dir = sys.argv[sys.argv.index("--bin-io-dump") + 1]
os.symlink("/etc/passwd", os.path.join(bin_dir, "000001"))
os.symlink("..", os.path.join(bin_dir, "up"))
with open(os.path.join(bin_dir, "000002"), "wb") as f:
    f.write(b"\0" * 64)
