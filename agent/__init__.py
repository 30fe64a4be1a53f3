"""The on-device daemon: runs load_and_run (or lar-lite) and serves its dumps over gRPC.

Needs only Python and grpcio; never imports the controller.
"""

__version__ = "0.1.0"
