"""Offline analysis of MegEngine io-dumps: formats, var graph, comparison, root cause.

Imports numpy only, so it runs anywhere the dumps are.
"""
