"""The on-device daemon: runs load_and_run (or lar-lite) and serves its dumps over gRPC.

Needs only Python (3.8 or later) and grpcio; never imports the controller or analysis.

agent/lar_lite is not part of the agent: it is a separate program (the `lar-lite` command:
load_and_run's command line on MegEngine Lite, needing numpy and the MegEngine Lite runtime)
that the agent starts as a subprocess like any load_and_run binary and never imports. It sits
under agent/ only because it is what the agent runs on a host; the agent zipapp for boards
leaves it out.
"""

import os as _os

# gRPC's fork handlers print "fork_posix.cc: Other threads are currently calling into gRPC,
# skipping fork() handlers" on stderr whenever a subprocess is forked (preexec_fn) while a call
# is in flight. Nothing here uses gRPC in a forked child (every fork execs at once), so the
# handlers are turned off; set before any submodule imports grpc, and a user's setting wins.
_os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

__version__ = "0.1.0"
