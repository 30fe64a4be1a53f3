"""A program that dies of a signal (SIGSEGV, as a crashing kernel would) after a line on stderr."""

import os
import signal
import sys

print("about to crash", file=sys.stderr, flush=True)
os.kill(os.getpid(), signal.SIGSEGV)
