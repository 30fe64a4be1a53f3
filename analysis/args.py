"""Command-line value types shared by analysis's programs, so each number is refused by one rule."""

from __future__ import annotations

import argparse
import math

#: More threads than this only queue on the GIL and memory (and a huge count overflowed the work queue).
MAX_WORKERS = 256


def tolerance(text: str) -> float:
    """A finite tolerance >= 0: with NaN nothing ever compares as over it, so every run looked equal."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def count(text: str) -> int:
    """A whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def workers(text: str) -> int:
    """A thread count from 0 (one) to MAX_WORKERS."""
    value = count(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"at most {MAX_WORKERS}, got {text!r}")
    return value
