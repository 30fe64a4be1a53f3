"""Drop-in for MegEngine's ``compare_binary_iodump``: same arguments, same output.

``python -m analysis.compare_binary_iodump A B [-e MAX_ERR] [-s]`` prints, for
every var over the tolerance, exactly the record MegEngine 1.13's tool prints
under numpy 1.x (indices as plain ints), in the same order, so files written
by one are read by the other (e.g. ``accuracy_shake_var_tree``).

Where MegEngine's tool crashes we print one line on stderr instead and go on:
folders with different file sets (the common files are still compared), a
file that cannot be read, an empty folder. Exit status: 0 when every file was read and
compared, even if vars differ (as MegEngine); 1 after any such error or when
``-s`` stopped at the first difference; 2 for bad arguments.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    # Before numpy loads: OpenBLAS would start a spinning thread per core, and
    # this tool's only BLAS calls are dot products of one 128 KB chunk, which
    # OpenBLAS runs on one thread anyway; on 2 cores those threads only cost CPU.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import math
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from analysis.args import tolerance
from analysis.compare_tensors import DEFAULT_WORKERS, _as_float32, compare_dumps, ordered_map
from analysis.dump_bin import DumpFile, read_header
from analysis.errors import AnalysisError

PROG = "compare_binary_iodump"


@dataclass(frozen=True)
class Outcome:
    """What one pair gave: a MegEngine message (a difference), an error line, or neither."""

    message: Optional[str] = None
    error: Optional[str] = None


def record_name(path0: str, title0: str, title1: str) -> str:
    """The record head MegEngine builds: path, then both titles wrapped at 70 columns."""
    wrapped0 = "\n  ".join(textwrap.wrap(title0))
    # The two titles are nearly always the same var's: wrap once (textwrap is a visible share of the run).
    wrapped1 = wrapped0 if title1 == title0 else "\n  ".join(textwrap.wrap(title1))
    return f"{path0}: \n{wrapped0}\n{wrapped1}\n"


def _fmt(x: float) -> str:
    # MegEngine formats numpy float32 scalars with str.format, which widens
    # them to a Python float: repr of the double.
    return str(float(x))


def check_pair(path0: str, path1: str, max_err: float) -> Outcome:
    """Compare one pair of files the way MegEngine's ``check`` does, in its order.

    Order: not finite (float32 sums) -> shape mismatch -> not equal (first
    index in C order over ``max_err``, strictly).
    """
    try:
        h0 = read_header(path0)
        h1 = read_header(path1)
        metrics = compare_dumps(h0, h1, max_err, full=False)
        if metrics is None or metrics.maybe_not_finite:
            # Rare: print MegEngine's exact float32 sums (or confirm they are finite).
            finite_msg = _not_finite_message(h0, h1)
            if finite_msg is not None:
                return Outcome(message=record_name(path0, h0.title, h1.title) + finite_msg)
        if metrics is None:
            msg = f" shape mismatch: {tuple(h0.shape)} vs {tuple(h1.shape)}"
            return Outcome(message=record_name(path0, h0.title, h1.title) + msg)
    except AnalysisError as exc:
        return Outcome(error=str(exc))
    except MemoryError:
        return Outcome(error=f"{path0}: not enough memory to compare with {path1}")
    if metrics.first_index is None or metrics.first_values is None:  # both or neither are set
        return Outcome()
    shape = tuple(h0.shape)
    idx = tuple(int(i) for i in np.unravel_index(metrics.first_index, shape))
    v0, v1, err = metrics.first_values
    msg = f" not equal: shape={shape} nonequal_idx={idx} v0={_fmt(v0)} v1={_fmt(v1)} err={_fmt(err)}"
    return Outcome(message=record_name(path0, h0.title, h1.title) + msg)


def _not_finite_message(h0: DumpFile, h1: DumpFile) -> Optional[str]:
    # float32 as MegEngine casts; complex as its (real, imag) components, like the comparison.
    v0 = _as_float32(h0.load())
    v1 = _as_float32(h1.load())
    with np.errstate(over="ignore", invalid="ignore"):
        s0, s1 = v0.sum(), v1.sum()
    if math.isfinite(float(s0)) and math.isfinite(float(s1)):
        return None
    return f" not finite: sum={_fmt(s0)} vs sum={_fmt(s1)}"


def _pairs(input0: str, input1: str) -> Tuple[List[Tuple[str, str]], List[str]]:
    """The (path0, path1) pairs MegEngine would compare, and error lines."""
    missing = [p for p in (input0, input1) if not os.path.exists(p)]
    if missing:
        return [], [f"{p}: no such file or folder" for p in missing]
    if not os.path.isdir(input0):
        if os.path.isdir(input1):
            return [], [f"{input1}: is a folder but {input0} is not; give two folders or two files"]
        return [(input0, input1)], []
    if not os.path.isdir(input1):
        return [], [f"{input1}: is not a folder but {input0} is; give two folders or two files"]
    errors: List[str] = []
    names = []
    for folder in (input0, input1):
        try:
            names.append(set(os.listdir(folder)))
        except OSError as exc:
            return [], [f"{folder}: cannot list folder: {exc.strerror or exc}"]
    # MegEngine silently compares nothing here; an empty folder is almost
    # always a dump that never ran, so say so.
    errors.extend(f"{folder}: holds no dump files" for folder, n in zip((input0, input1), names, strict=True) if not n)
    only0, only1 = names[0] - names[1], names[1] - names[0]
    if only0 or only1:
        errors.append(
            "dir files mismatch (comparing the {} common files): only in {}: {}; only in {}: {}".format(
                len(names[0] & names[1]),
                input0,
                ", ".join(sorted(only0)) or "-",
                input1,
                ", ".join(sorted(only1)) or "-",
            )
        )
    common = sorted(names[0] & names[1], key=lambda n: str(Path(input0) / n))
    return [(str(Path(input0) / n), str(Path(input1) / n)) for n in common], errors


def run(
    input0: str,
    input1: str,
    max_err: float = 1e-3,
    stop_on_error: bool = False,
    *,
    out=None,
    err=None,
    workers: int = DEFAULT_WORKERS,
) -> int:
    """Compare and print like MegEngine's tool; returns the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    pairs, errors = _pairs(input0, input1)
    status = 0
    for line in errors:
        print(f"{PROG}: error: {line}", file=err)
        status = 1
    results = ordered_map(lambda p: check_pair(p[0], p[1], max_err), pairs, workers)
    try:
        for outcome in results:
            if outcome.error is not None:
                print(f"{PROG}: error: {outcome.error}", file=err)
                status = 1
            if outcome.message is not None:
                print(outcome.message, file=out)
            if stop_on_error and (outcome.message is not None or outcome.error is not None):
                print(f"{PROG}: stopped at the first difference (-s)", file=err)
                return 1
    finally:
        close = getattr(results, "close", None)  # a generator: stops what is queued
        if close is not None:
            close()
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m analysis.{PROG}",
        description=(
            "compare tensor dumps generated BinaryOprIODump plugin, "
            "it can compare two dirs or two single files (output identical to MegEngine's tool)"
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("input0", help="dirname or filename")
    parser.add_argument("input1", help="dirname or filename")
    parser.add_argument("-e", "--max-err", type=tolerance, default=1e-3, help="max allowed error")
    parser.add_argument(
        "-s", "--stop-on-error", action="store_true", help="stop at the first differing var (exit status 1)"
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args.input0, args.input1, args.max_err, args.stop_on_error)
    except BrokenPipeError:
        # Output piped into e.g. `head`: stop quietly like a unix tool.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1
    except OSError as exc:  # stdout on a full disk: one line, and no second failure at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"{PROG}: error: cannot write to stdout: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
