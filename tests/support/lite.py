"""pytest plugin: locate the MegEngine Lite runtime and the lar-lite program.

Filled in by the MegEngine Lite work (issue 4).
"""
