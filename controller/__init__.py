"""The host side: farm and campaign files, scheduler, result store, reports."""

import os as _os

# gRPC's fork handlers print "fork_posix.cc: Other threads are currently calling into gRPC,
# skipping fork() handlers" on stderr whenever a subprocess is forked (preexec_fn) while a call
# is in flight. Nothing here uses gRPC in a forked child (every fork execs at once), so the
# handlers are turned off; set before any submodule imports grpc, and a user's setting wins.
_os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
