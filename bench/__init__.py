"""Benchmarks run by `make bench`; each prints `BENCH <name> <value> <unit> target <op> <value>`."""
