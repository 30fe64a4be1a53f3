"""Parse MegEngine ``--io-dump`` text files into per-iteration var records.

Each record (formats spec §2.2) is a HEAD line ``varN produced: name=...
layout=... owner_opr=OPR{TYPE} oprM``, then `` deps:`` with one line per
dependency and `` val: [preview]min=.. max=.. mean=.. l2=.. sd=.. s``.
Several forwards append records with no separator (§2.5): a new iteration
starts when a var of the current one comes round again. Under a layout option
the weight chains folded at load time are written once, before the first
forward (``fuse():...@N`` names var N of such a chain): they are kept apart as
``load_time``. The lazy (record) form (§2.4, ``--record-comp-seq``) and NHWCD4
layouts (``{... @ I2D{2,1} Float32}``) are read too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

from analysis.errors import PathLike, TextDumpError
from analysis.files import open_regular
from analysis.title import parse_layout

# Ids are size_t (at most 20 digits; also keeps int() clear of its digit limit).
_HEAD = re.compile(r"var(\d{1,20}) produced: name=")
_HEAD_TAIL = re.compile(r"\{([^{}]*)\} opr(\d{1,20})$")
_DEP = re.compile(r"  (?:\[i(\d{1,20})\])?var(\d{1,20}): (.*)$")
_STATS = re.compile(r"min=(\S+) max=(\S+) mean=(\S+) l2=(\S+) sd=(\S+)(?: ([sd]))?(?:  <[^>]*>)?$")
_LAZY_OPR = re.compile(r"#(\d{1,20}): opr(\d{1,20}) (.*)\{([^{}]*)\}$")
_LAZY_VAR = re.compile(r"  var(\d{1,20}): name=(.*)$")
# the format after " @ " may carry its own braces: "@ I2D{2,1}" (NHWCD4)
_LAYOUT = re.compile(
    r"\{(?:\d{1,20}\(-?\d{1,20}\)(?:,\d{1,20}\(-?\d{1,20}\))*)?(?: @ [^{}]*(?:\{[^{}]*\})?)? [A-Za-z][A-Za-z0-9_]*\}"
)
#: "@N" at the end of a folded constant's name: the var whose value was folded at load time
_FOLDED_FROM = re.compile(r"@(\d{1,20})$")
_LAZY = "<see lazy value below>"
_BEGIN_LAZY = "==== begin lazy value recording"
_RECORDED = "==== recorded values"

Number = Union[int, float]


@dataclass(frozen=True)
class TextDep:
    """One dependency line of a record: an input (``[iK]``) or another dependency."""

    var_id: int
    input_index: Optional[int]  # None: not an input (printed first, index -1)
    kind: str  # "value" | "shape" | "host_value" | "comp_order" | "invalid" | "lazy"
    preview: str  # the printed text after the kind marker
    storage: Optional[str] = None  # "s" / "d" suffix, when printed


@dataclass(frozen=True)
class TextVar:
    """One ``varN produced:`` record."""

    id: int
    name: str
    layout: str  # as printed, e.g. "{1(8192),8(1024) Float32}" or "<invalid>"
    shape: Optional[Tuple[int, ...]]
    dtype: Optional[str]
    owner_opr: str
    owner_type: str
    opr_id: int
    deps: Tuple[TextDep, ...]
    values: Tuple[Number, ...]  # the preview (at most 5 values in load_and_run)
    stats: Optional[Dict[str, Optional[float]]]  # min, max, mean, l2, sd (None: N/A)
    storage: Optional[str]
    values_truncated: bool = False  # the preview ends in "..."
    line: int = 0  # 1-based line of the HEAD
    layout_format: Optional[str] = None  # what follows " @ " in the layout, e.g. "I2D{2,1}" (NHWCD4)

    @property
    def input_ids(self) -> Tuple[int, ...]:
        """Ids of the ``[iK]`` deps in K order.

        MegEngine prints one line per var, with the var's last input index, so
        an opr that takes one var twice (``x * x``) lists it once: see
        ``input_slots`` for the K of each id.
        """
        return tuple(d.var_id for d in self._input_deps())

    @property
    def input_slots(self) -> Tuple[int, ...]:
        """The input index K of each id in ``input_ids``."""
        return tuple(d.input_index for d in self._input_deps() if d.input_index is not None)

    def _input_deps(self) -> List[TextDep]:
        return sorted((d for d in self.deps if d.input_index is not None), key=lambda d: d.input_index or 0)


@dataclass
class TextDump:
    """A parsed text dump: records split into iterations (forwards)."""

    path: Optional[Path]
    iterations: List[List[TextVar]]
    lazy: bool = False
    #: set when ``partial=True`` dropped an unfinished last record (a dump still being written)
    cut_at_line: Optional[int] = None
    oprs: Dict[int, Tuple[str, str]] = field(default_factory=dict)  # lazy form: opr id -> (name, type)
    #: records written once while loading (folded weight chains), before the first forward
    load_time: List[TextVar] = field(default_factory=list)

    def dumped(self) -> List[TextVar]:
        """What a binary dump of the same run holds: the load-time records and the last forward."""
        return self.load_time + self.last

    @property
    def last(self) -> List[TextVar]:
        """Records of the last forward (what the binary dump of the same run holds)."""
        return self.iterations[-1] if self.iterations else []

    def by_id(self, iteration: int = -1) -> Dict[int, TextVar]:
        """Records of one iteration keyed by var id."""
        if not self.iterations:
            return {}
        return {v.id: v for v in self.iterations[iteration]}


def parse_text_dump(path: PathLike, *, partial: bool = False) -> TextDump:
    """Read and parse a text dump file; TextDumpError names the file and line.

    With ``partial=True`` an unfinished last record (a file still being
    written, or cut by a crash) is dropped and noted in ``cut_at_line``
    instead of failing the whole file.
    """
    path = Path(path)
    try:
        with open_regular(path, "r", encoding="utf-8", errors="replace", newline=None) as f:
            text = f.read()
    except IsADirectoryError:
        raise TextDumpError(path, None, "is a folder, expected a text dump file") from None
    except OSError as exc:
        raise TextDumpError(path, None, f"cannot read: {exc.strerror or exc.__class__.__name__}") from None
    # split on "\n" only: names may hold other characters str.splitlines() breaks on
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return parse_text_dump_lines(lines, path, partial=partial)


def parse_text_dump_lines(lines: Iterable[str], path: Optional[PathLike] = None, *, partial: bool = False) -> TextDump:
    """Parse the lines of a text dump (without newlines); see parse_text_dump."""
    return _Parser(None if path is None else Path(path), partial).run(list(lines))


class _Parser:
    def __init__(self, path: Optional[Path], partial: bool = False) -> None:
        self.path = path
        self.partial = partial
        self.cut_at_line: Optional[int] = None
        self.records: List[TextVar] = []
        self.lazy = False
        self.oprs: Dict[int, Tuple[str, str]] = {}
        self.lazy_values: Dict[int, Tuple[Tuple[Number, ...], bool, Dict[str, Optional[float]]]] = {}

    def error(self, lineno: int, reason: str) -> TextDumpError:
        return TextDumpError(self.path, lineno, reason)

    def run(self, lines: List[str]) -> TextDump:
        i = 0
        n = len(lines)
        while i < n:
            line = lines[i]
            if line == "":
                i += 1
            elif line == _BEGIN_LAZY:
                self.lazy = True
                i += 1
            elif line == _RECORDED:
                i = self.recorded_values(lines, i + 1)
            elif line.startswith("var"):
                try:
                    i = self.record(lines, i)
                except TextDumpError:
                    if not (self.partial and _is_last_record(lines, i)):
                        raise
                    self.cut_at_line = i + 1
                    break
            else:
                raise self.error(i + 1, f"expected 'varN produced:' here, got {_clip(line)!r}")
        load_time, forwards = _split_iterations(self.records)
        iterations = self.apply_lazy([load_time, *forwards])
        return TextDump(
            path=self.path,
            iterations=iterations[1:],
            lazy=self.lazy,
            oprs=self.oprs,
            cut_at_line=self.cut_at_line,
            load_time=iterations[0],
        )

    def record(self, lines: List[str], i: int) -> int:
        head = self.head(lines[i], i + 1)
        i += 1
        deps: List[TextDep] = []
        values: Tuple[Number, ...] = ()
        truncated = False
        stats = None
        storage = None
        if i < len(lines) and lines[i] == " deps:":
            i += 1
            while i < len(lines) and lines[i].startswith("  "):
                deps.append(self.dep(lines[i], i + 1))
                i += 1
            if i >= len(lines) or not lines[i].startswith(" val: "):
                raise self.error(i + 1, f"var{head['id']}: expected ' val: ' after the deps")
            val = lines[i][len(" val: ") :]
            if val.startswith(_LAZY):  # "<see lazy value below> s": the value comes later
                storage = val[len(_LAZY) :].strip() or None
            else:
                values, truncated, stats, storage = self.val(val, i + 1)
            i += 1
        self.records.append(
            TextVar(deps=tuple(deps), values=values, stats=stats, storage=storage, values_truncated=truncated, **head)
        )
        return i

    def head(self, line: str, lineno: int) -> dict:
        match = _HEAD.match(line)
        if match is None:
            raise self.error(lineno, f"expected 'varN produced: name=', got {_clip(line)!r}")
        tail = _HEAD_TAIL.search(line)
        if tail is None:
            raise self.error(lineno, "expected the record to end in '{OprType} oprN'")
        body = line[match.end() : tail.start()]
        split = _split_head(body)
        if split is None:
            raise self.error(lineno, "cannot find ' layout=...' and ' owner_opr=' in the record head")
        name, layout, owner = split
        shape, dtype, fmt = _layout_shape(layout)
        return dict(
            id=int(match.group(1)),
            name=name,
            layout=layout,
            shape=shape,
            dtype=dtype,
            owner_opr=owner,
            owner_type=tail.group(1),
            opr_id=int(tail.group(2)),
            line=lineno,
            layout_format=fmt,
        )

    def dep(self, line: str, lineno: int) -> TextDep:
        match = _DEP.match(line)
        if match is None:
            raise self.error(lineno, f"expected a dependency '  [iK]varN: ...', got {_clip(line)!r}")
        index = None if match.group(1) is None else int(match.group(1))
        var_id = int(match.group(2))
        rest = match.group(3)
        storage = None
        if rest.endswith((" s", " d")):
            rest, storage = rest[:-2], rest[-1]
        kind, preview = _dep_kind(rest)
        if kind is None:
            raise self.error(lineno, f"var{var_id}: unknown dependency value {_clip(rest)!r}")
        return TextDep(var_id=var_id, input_index=index, kind=kind, preview=preview, storage=storage)

    def val(self, text: str, lineno: int):
        if not text.startswith("["):
            raise self.error(lineno, f"expected ' val: [...]', got {_clip(text)!r}")
        close = text.find("]")
        if close < 0:
            raise self.error(lineno, "value preview has no closing ']'")
        values, truncated = _values(text[1:close], lambda r: self.error(lineno, r))
        stats_match = _STATS.match(text, close + 1)
        if stats_match is None:
            raise self.error(
                lineno,
                f"expected 'min=.. max=.. mean=.. l2=.. sd=..' after the values, got {_clip(text[close + 1 :])!r}",
            )
        stats = _stats(stats_match, lambda r: self.error(lineno, r))
        return values, truncated, stats, stats_match.group(6)

    def recorded_values(self, lines: List[str], i: int) -> int:
        while i < len(lines):
            line = lines[i]
            opr = _LAZY_OPR.match(line)
            if opr:
                self.oprs[int(opr.group(2))] = (opr.group(3), opr.group(4))
                i += 1
                continue
            var = _LAZY_VAR.match(line)
            if not var:
                break
            rest = var.group(2)
            close = rest.rfind("]min=")
            open_ = rest.rfind(" [", 0, close + 1) if close >= 0 else -1
            if open_ < 0:
                raise self.error(i + 1, "recorded value line has no '[values]min=' part")
            values, truncated = _values(rest[open_ + 2 : close], lambda r, at=i + 1: self.error(at, r))
            stats_match = _STATS.match(rest, close + 1)
            if stats_match is None:
                raise self.error(i + 1, "recorded value line has no statistics")
            stats = _stats(stats_match, lambda r, at=i + 1: self.error(at, r))
            self.lazy_values[int(var.group(1))] = (values, truncated, stats)
            i += 1
        return i

    def apply_lazy(self, iterations: List[List[TextVar]]) -> List[List[TextVar]]:
        if not self.lazy_values:
            return iterations
        out = []
        for records in iterations:
            filled = []
            for rec in records:
                got = self.lazy_values.get(rec.id)
                if got is not None and rec.stats is None:
                    rec = replace(rec, values=got[0], values_truncated=got[1], stats=got[2])
                filled.append(rec)
            out.append(filled)
        return out


def _is_last_record(lines: List[str], start: int) -> bool:
    """True when no record head or section marker follows the record starting at ``start``."""
    for line in lines[start + 1 :]:
        if _HEAD.match(line) or line in (_BEGIN_LAZY, _RECORDED):
            return False
    return True


def _split_iterations(records: List[TextVar]) -> Tuple[List[TextVar], List[List[TextVar]]]:
    """(load-time records, forwards): a forward ends where one of its var ids comes round again.

    The load-time records lead the first chunk: those before the second
    forward's first var, or, with one forward, the leading records that a
    folded constant's ``@N`` reaches through its inputs.
    """
    chunks: List[List[TextVar]] = []
    current: List[TextVar] = []
    seen: set = set()
    for rec in records:
        if rec.id in seen:
            chunks.append(current)
            current, seen = [], set()
        current.append(rec)
        seen.add(rec.id)
    if current:
        chunks.append(current)
    if not chunks:
        return [], []
    first = chunks[0]
    if len(chunks) > 1:
        ids = [r.id for r in first]
        lead = ids.index(chunks[1][0].id) if chunks[1][0].id in ids else 0
    else:
        folded = _folded_chains(first)
        lead = 0
        while lead < len(first) - 1 and first[lead].id in folded:
            lead += 1
    return first[:lead], [first[lead:], *chunks[1:]]


def _folded_chains(records: List[TextVar]) -> set:
    """Ids of the recorded vars whose values were folded into ``fuse():...@N`` constants, and their inputs."""
    by_id = {r.id: r for r in records}
    todo = [int(m.group(1)) for r in records for m in [_FOLDED_FROM.search(r.name)] if m]
    out: set = set()
    while todo:
        vid = todo.pop()
        if vid in out or vid not in by_id:
            continue
        out.add(vid)
        todo.extend(by_id[vid].input_ids)
    return out


def _split_head(body: str) -> Optional[Tuple[str, str, str]]:
    """``NAME layout=LAYOUT owner_opr=OPR`` -> parts; names may hold ' layout=' too."""
    start = 0
    while True:
        idx = body.find(" layout=", start)
        if idx < 0:
            return None
        lay_start = idx + len(" layout=")
        lay_end = None
        if body.startswith("<invalid>", lay_start):
            lay_end = lay_start + len("<invalid>")
        elif body.startswith("{", lay_start):
            lay_end = _brace_end(body, lay_start)
        if (
            lay_end is not None
            and body.startswith(" owner_opr=", lay_end)
            and (lay_end - lay_start == len("<invalid>") or _LAYOUT.fullmatch(body, lay_start, lay_end))
        ):
            return body[:idx], body[lay_start:lay_end], body[lay_end + len(" owner_opr=") :]
        start = idx + 1


def _brace_end(text: str, pos: int) -> Optional[int]:
    depth = 0
    for i in range(pos, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _layout_shape(layout: str) -> Tuple[Optional[Tuple[int, ...]], Optional[str], Optional[str]]:
    """Shape, dtype and format of a printed layout ``{1(8192),8(1024) Float32}``; Nones for <invalid>.

    The caller has already matched the layout against _LAYOUT, so it parses.
    """
    if not layout.startswith("{"):
        return None, None, None
    shape, _, fmt, dtype = parse_layout(layout, "layout", 0)
    return shape, dtype, fmt


def _dep_kind(rest: str) -> Tuple[Optional[str], str]:
    if rest.startswith("["):
        return "value", rest
    if rest.startswith(" <host value["):
        return "host_value", rest.split("> ", 1)[1] if "> " in rest else ""
    if rest.startswith(" <shape dep["):
        return "shape", rest.split("> ", 1)[1] if "> " in rest else ""
    if rest.startswith(" <dev comp order>"):
        return "comp_order", ""
    if rest.startswith("<invalid>"):
        return "invalid", ""
    if rest.startswith(_LAZY):
        return "lazy", ""
    return None, rest


def _values(inner: str, error) -> Tuple[Tuple[Number, ...], bool]:
    if not inner.strip():
        return (), False
    parts = inner.split(", ")
    truncated = parts[-1] == "..."
    if truncated:
        parts = parts[:-1]
    return tuple(_number(p, error) for p in parts), truncated


def _number(text: str, error) -> Number:
    if len(text) <= 40:  # int() refuses very long digit strings with ValueError anyway
        try:
            return int(text)
        except ValueError:
            pass
    try:
        return float(text)  # handles nan, -nan, inf, -inf and %g exponents
    except ValueError:
        raise error(f"value {text!r} is not a number") from None


def _stats(match: re.Match[str], error) -> Dict[str, Optional[float]]:
    out: Dict[str, Optional[float]] = {}
    for key, text in zip(("min", "max", "mean", "l2", "sd"), match.groups()[:5], strict=False):
        out[key] = None if text == "N/A" else float(_number(text, error))
    return out


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def is_nan_negative(value: float) -> bool:
    """True for the ``-nan`` glibc prints (sign bit set on a NaN)."""
    return math.isnan(value) and math.copysign(1.0, value) < 0


def other_graph(dump: TextDump, dumped: Mapping[int, Tuple[str, Optional[Tuple[int, ...]]]]) -> Optional[str]:
    """Why ``dump`` describes another graph than a binary dump of the same run, or None when it does not.

    ``dumped`` maps each binary dump file's var id to its title's (name, shape);
    it may be a subset (files not fetched). lar-lite writes the two dumps from
    two networks in one process; under the global layout transform each picks
    layouts by timing, so the two can describe different graphs, and merging
    them would pair unrelated vars.
    """
    text = {r.id: r for r in dump.dumped()}
    missing = sorted(v for v in dumped if v not in text)
    differ = sorted(
        v
        for v, (name, shape) in dumped.items()
        if v in text
        and (
            text[v].name != name or (shape is not None and text[v].shape is not None and text[v].shape != tuple(shape))
        )
    )
    if not missing and not differ:
        return None
    parts = (
        [f"{len(missing)} of the {len(dumped)} dumped vars are not in it (first: var {missing[0]})"] if missing else []
    )
    if differ:
        v = differ[0]
        parts.append(
            f"{len(differ)} have another name or shape (first: var {v}, {dumped[v][0]!r} in the binary dump, "
            f"{text[v].name!r} in the text)"
        )
    return (
        f"the text dump describes another graph than the binary dump: {'; '.join(parts)}; its forward has "
        f"{len(dump.last)} vars (as when lar-lite's two networks pick different layouts under the global "
        "layout transform)"
    )
