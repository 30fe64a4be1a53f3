"""The graph view of a comparison as one self-contained HTML page.

The page carries the comparison object of ``python -m analysis A B --json``
(``analysis.render.to_json_data``) and draws it in the browser: the var graph
top to bottom, coloured by error against the tolerance, roots and the first
var marked, a panel of every metric per var. CSS, the graph view's scripts and the
vendored dagre layout library are inlined, so the file needs no network.
controller/report/html.py embeds the same assets for report.html.
"""

from __future__ import annotations

import errno
import html
import json
import os
import stat
from pathlib import Path
from typing import Any, Mapping, Optional

from analysis.files import NotRegularFileError

_HERE = Path(__file__).resolve().parent
#: The vendored layout library (see README, "Graph report": version and how to refresh it).
DAGRE = _HERE / "vendor" / "dagre.min.js"
#: The graph view's script, in load order: model, layout (dagre), SVG view, panel and page.
_PARTS = ("model.js", "layout.js", "view.js", "panel.js")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """JSON for a ``<script type="application/json">`` block: strict, no ``<`` that could end it."""
    return json.dumps(data, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")


def head_assets() -> str:
    """The ``<style>`` and ``<script>`` blocks every page with a graph view needs."""
    return f"<style>{_read(_HERE / 'graph.css')}</style>\n<script>{_read(DAGRE)}</script>\n" + "".join(
        f"<script>{_read(_HERE / name)}</script>\n" for name in _PARTS
    )


def _run_name(folder: str) -> str:
    """``runs/tiny_cnn/naive/bin`` -> ``naive``: the run, not its dump sub-folder."""
    p = Path(folder)
    return (p.parent.name if p.name == "bin" and p.parent.name else p.name) or folder


def _summary(data: Mapping[str, Any]) -> str:
    s = data.get("stats") or {}
    first = data.get("first")
    roots = data.get("roots") or []
    th = data.get("threshold") or {}
    suggestion = th.get("suggested_tolerance")
    parts = [
        f"{s.get('compared', 0)} vars compared: {s.get('bitwise_equal', 0)} bitwise equal, "
        f"<b>{s.get('differing', 0)} over tolerance {data.get('tolerance')}</b>",
        "first var: " + ("none" if first is None else f"<a href='#' data-goto='{int(first)}'>var {int(first)}</a>"),
        "roots: "
        + (", ".join(f"<a href='#' data-goto='{int(r)}'>var {int(r)}</a>" for r in roots) if roots else "none"),
    ]
    if suggestion is not None:
        parts.append(f"suggested threshold {float(suggestion):.3g}")
    return "; ".join(parts)


def comparison_page(data: Mapping[str, Any], *, title: Optional[str] = None) -> str:
    """One comparison (``to_json_data`` of a RunDiff) as a complete HTML page."""
    a, b = str(data.get("a", "A")), str(data.get("b", "B"))
    title = title or f"larfarm: {_run_name(a)} vs {_run_name(b)}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>body{{font:14px system-ui,sans-serif;margin:1em 1.5em;color:#222}} h1{{font-size:1.3em;margin:.2em 0}}
.lg-meta{{color:#444;margin:.2em 0}}</style>
{head_assets()}</head>
<body>
<h1>{html.escape(title)}</h1>
<div class="lg-meta">A: {html.escape(a)}<br>B: {html.escape(b)}<br>
graph from {html.escape(str(data.get("graph_source", "")))}</div>
<p class="lg-meta" id="summary">{_summary(data)}</p>
<div id="graph"></div>
<script type="application/json" id="comparison-data">{script_json(data)}</script>
<script>{_read(_HERE / "page.js")}</script>
</body></html>
"""


def write_comparison_page(data: Mapping[str, Any], path: Path, *, title: Optional[str] = None) -> Path:
    """Write the page (UTF-8) to ``path``."""
    path = Path(path)
    page = comparison_page(data, title=title).encode("utf-8")
    try:
        # O_NONBLOCK: a FIFO nobody reads blocked open() for ever; a pipe with a reader is fine
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise NotRegularFileError(errno.ENXIO, "a FIFO that nothing reads", str(path)) from None
        raise
    with os.fdopen(fd, "wb") as f:
        os.set_blocking(fd, True)
        if stat.S_ISREG(os.fstat(fd).st_mode):
            f.truncate(0)
        f.write(page)
    return path
