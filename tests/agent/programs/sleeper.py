"""A program that never ends on its own: starts a child in its process group, writes both
pids to the file named by its first argument, then sleeps (for cancel and timeout tests)."""

import os
import subprocess
import sys
import time

pid_file = sys.argv[1]
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open(pid_file + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {child.pid}\n")
os.replace(pid_file + ".tmp", pid_file)
print("sleeping", flush=True)
time.sleep(600)
