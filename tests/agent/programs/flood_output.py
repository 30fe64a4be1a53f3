"""A program that floods stdout (many lines and one huge line) to test bounded log capture."""

import sys

out = sys.stdout
for i in range(20000):  # arguments (the model and flags) are ignored
    out.write(f"line {i}\n")
out.write("x" * 100_000 + "\n")
out.write("last line\n")
out.flush()
