"""lar-lite: MegEngine's load_and_run command line on the MegEngine Lite host runtime.

The official megengine 1.13.0 wheel carries MegEngine Lite (``megenginelite``),
whose io-dump plugins are the ones load_and_run uses. ``runtime`` fetches and
caches just that part of the wheel; ``cli`` is the ``lar-lite`` program.
Importing this package loads nothing heavy (no numpy, no MegEngine).
"""
