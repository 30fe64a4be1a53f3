"""``python -m analysis A B``: compare two dump folders for people and CI.

Prints the differing vars in execution order (opr type, name, error,
amplification), the first var, the roots and a threshold suggestion; or the
same as JSON with ``--json``. Exit status: 0 nothing over tolerance, 1
differences found (vars over tolerance, or files on one side only), 2 bad
usage or input (missing folder, unreadable file, bad text dump).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from typing import Optional, Sequence

from analysis import args as args_mod
from analysis import render, thresholds
from analysis.compare import DEFAULT_WORKERS, compare_folders
from analysis.compare_matched import choose_matching, compare_graph_matched
from analysis.errors import AnalysisError, GraphError
from analysis.stored_run import check_dump_folder

PROG = "python -m analysis"
EXIT_OK, EXIT_DIFF, EXIT_BAD = 0, 1, 2

log = logging.getLogger(__name__)


def _threshold(text: str) -> Optional[float]:
    return None if text == "auto" else args_mod.tolerance(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Compare two --bin-io-dump folders: differing vars, first var, roots, threshold.",
        epilog="exit status: 0 within tolerance, 1 differences found, 2 bad usage or input",
    )
    p.add_argument("a", help="dump folder of the reference run (A)")
    p.add_argument("b", help="dump folder of the other run (B)")
    p.add_argument("--txt-a", metavar="FILE", help="text dump (--io-dump) of run A: graph and execution order")
    p.add_argument("--txt-b", metavar="FILE", help="text dump of run B (checked against A's graph)")
    p.add_argument(
        "-e",
        "--tolerance",
        type=args_mod.tolerance,
        default=1e-3,
        help="max allowed error |a-b|/max(|a|,|b|,1), strict (default: 1e-3, as MegEngine)",
    )
    p.add_argument(
        "--threshold",
        type=_threshold,
        default=None,
        metavar="auto|VALUE",
        help="cut for the second roots search: the suggested one (auto, default) or VALUE",
    )
    p.add_argument(
        "--match",
        choices=("auto", "id", "graph"),
        default="auto",
        help="pair vars by id, or by graph across differently optimised runs (auto: graph when the titles differ)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--html", metavar="FILE", help="also write the graph view of the comparison to FILE (one HTML file)")
    p.add_argument("--limit", type=args_mod.count, default=None, help="print at most N differing vars (text)")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    p.add_argument("--workers", type=args_mod.workers, default=DEFAULT_WORKERS, help="threads comparing pairs")
    return p


def _graph(args: argparse.Namespace):
    """(inputs_of, order, source, graph) from the text dumps, or Nones to use the titles."""
    if not (args.txt_a or args.txt_b):
        return None, None, None, None
    from analysis.graph import VarGraph

    graph = VarGraph.from_text_dump(args.txt_a or args.txt_b)
    source = f"text dump {args.txt_a or args.txt_b}"
    if args.txt_a and args.txt_b:
        other = VarGraph.from_text_dump(args.txt_b)
        for line in graph.diff(other).describe():
            print(f"analysis: warning: text dumps disagree: {line}", file=sys.stderr)
    inputs_of = {vid: node.inputs for vid, node in graph.nodes.items()}
    return inputs_of, graph.execution_order(), source, graph


def _check_text_graph(graph, run, path: str, folder: str) -> None:
    """Refuse a text dump that does not describe the dumped vars (empty, another model).

    Its graph replaces the titles' one for roots and order, so a wrong file
    would silently make every differing var a root.
    """
    from analysis.graph import VarNode, inputs_agree

    missing, differ = [], []
    for v in run.vars:
        if v.input_index is not None or not v.opr_type:
            continue  # an -inpK file, or a title that did not parse
        node = graph.nodes.get(v.var_id)
        if node is None:
            missing.append(v.var_id)
        elif not inputs_agree(
            node,
            VarNode(
                id=v.var_id,
                name=v.var_name,
                opr=v.opr_name,
                opr_type=v.opr_type,
                inputs=v.inputs,
                shape=None,
                dtype=None,
            ),
        ):
            differ.append(v.var_id)
    if missing or differ:
        what = [f"{len(missing)} dumped vars are not in it (first: var {min(missing)})"] if missing else []
        what += [f"{len(differ)} have other inputs (first: var {min(differ)})"] if differ else []
        raise GraphError(f"{path}: text dump does not describe the dumps in {folder}: {'; '.join(what)}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.html is not None and not args.html.strip():
        print("analysis: error: --html needs a file name", file=sys.stderr)
        return EXIT_BAD
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="analysis: %(message)s")
    text_error: Optional[AnalysisError] = None  # a bad text dump: compare with the titles' graph, then say so
    try:
        for folder in (args.a, args.b):
            check_dump_folder(folder)  # a digest-first store's run would read as one-sided vars
        if choose_matching(args.a, args.b, args.match) == "graph":
            # Ids name other vars in B: the graph is A's titles (a text dump of B cannot stand for it).
            # The text dumps are not even read: two differently optimised graphs always "disagree".
            run = compare_graph_matched(args.a, args.b, args.tolerance, workers=max(1, args.workers))
            if args.txt_a or args.txt_b:
                print(
                    "analysis: note: --txt-a/--txt-b not used: the graphs differ, so vars are paired and ordered "
                    "from the binary titles, which carry the same var names, oprs and inputs",
                    file=sys.stderr,
                )
        else:
            try:
                inputs_of, order, source, graph = _graph(args)
            except AnalysisError as exc:
                text_error, inputs_of, order, source, graph = exc, None, None, None, None
            compare = functools.partial(compare_folders, args.a, args.b, args.tolerance, workers=max(1, args.workers))
            run = compare(inputs_of=inputs_of, order=order, graph_source=source)
            if graph is not None:
                try:
                    _check_text_graph(graph, run, args.txt_a or args.txt_b, args.a if args.txt_a else args.b)
                except GraphError as exc:
                    text_error, run = exc, compare()
        report = thresholds.analyse(run, args.threshold)
    except AnalysisError as exc:
        if args.debug:
            raise
        print(f"analysis: error: {exc}", file=sys.stderr)
        return EXIT_BAD
    if args.html:
        from analysis.html import write_comparison_page

        try:
            write_comparison_page(render.to_json_data(run, report), args.html)
        except OSError as exc:
            print(f"analysis: error: cannot write {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_BAD
    try:
        if args.json:
            sys.stdout.write(render.render_json(run, report))
        else:
            sys.stdout.write(render.render_text(run, report, limit=args.limit))
        sys.stdout.flush()
    except BrokenPipeError:
        return EXIT_DIFF if not run.clean else EXIT_OK
    except OSError as exc:  # a full disk, a closed terminal: one line, and no second failure at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"analysis: error: cannot write the report to stdout: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD
    for v in run.errors():
        print(f"analysis: error: {v.error}", file=sys.stderr)
    if text_error is not None:
        print(f"analysis: error: {text_error} (compared with the titles' graph instead)", file=sys.stderr)
    if run.errors() or text_error is not None:
        return EXIT_BAD
    return EXIT_OK if run.clean else EXIT_DIFF
