"""Parse a binary dump's title: the dumped var and its owner opr's inputs.

Grammar (formats spec §1.6)::

    [inp<K>: ]var=ITEM owner_opr_inputs=[ITEM | 0=ITEM 1=ITEM ...]
    ITEM := {id:N, layout:{d(s),... DType} | shape:{d,...}, DType, owner:OPR{TYPE},
             name:VAR, slot:N, CompNode("..." from "..."), s|d, N, N}

Opr and var names are free text (braces, commas, spaces, even ``id:``), so the
parser anchors on the fixed parts around them and backtracks over the few
places where a name could end, instead of splitting with regexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

from analysis.errors import TitleError

# Ids are size_t: at most 20 digits (also keeps int() clear of its digit limit).
_ITEM_HEAD = re.compile(r"\{id:(\d{1,20}), (layout|shape):")
_DTYPE = re.compile(r", ([A-Za-z][A-Za-z0-9_]*), owner:")
# The fixed tail of an item, after the var name. The comp node text is kept
# loose (one level of parentheses) so unusual locators still parse.
_TAIL = re.compile(r", slot:(\d{1,20}), (CompNode\((?:[^()]|\([^()]*\))*\)), ([sd]), (-?\d{1,20}), (-?\d{1,20})\}")
_NAME_SEP = "}, name:"
# C++ type names (``ConvolutionForward``, maybe namespaced or templated), or
# what a build without RTTI names prints.
_OPR_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_:<>]*|\(null\)")
_DIM = re.compile(r"(\d{1,20})\((-?\d{1,20})\)")
_PREFIX = re.compile(r"inp(\d{1,20}): ")
_COMP_NODE = re.compile(r'CompNode\("([^"]*)" from "([^"]*)"\)')
_VAR = "var="
_INPUTS = " owner_opr_inputs="


@dataclass(frozen=True)
class VarInfo:
    """One var as the title describes it (``cg::dump_var_info``)."""

    id: int
    layout_kind: str  # "layout" (device tensor valid) or "shape" (e.g. host-value inputs)
    shape: Tuple[int, ...]
    strides: Optional[Tuple[int, ...]]  # in elements; None for the "shape" form
    format: Optional[str]  # non-default tensor format after " @ ", else None
    dtype: str
    owner_opr: str
    owner_type: str
    name: str
    slot: int
    comp_node: str  # e.g. CompNode("cpu0:0" from "cpu0:0")
    storage: str  # "s" static, "d" dynamic
    infer_shape: int  # static-infer type flags of the shape
    infer_value: int  # and of the value

    @property
    def comp_node_physical(self) -> Optional[str]:
        """The physical locator (``cpu0:0`` in ``CompNode("cpu0:0" from "xpux:0")``)."""
        match = _COMP_NODE.fullmatch(self.comp_node)
        return match.group(1) if match else None

    @property
    def comp_node_logical(self) -> Optional[str]:
        """The logical locator the model asked for (``xpux:0`` above)."""
        match = _COMP_NODE.fullmatch(self.comp_node)
        return match.group(2) if match else None


@dataclass(frozen=True)
class Title:
    """A parsed title: the dumped var and the inputs of its owner opr, in order."""

    prefix_input: Optional[int]  # K of an "inpK: " title (MGB_DUMP_INPUT files)
    var: VarInfo
    inputs: Tuple[VarInfo, ...]

    @property
    def input_ids(self) -> Tuple[int, ...]:
        """Var ids of the owner opr's inputs, in input order."""
        return tuple(v.id for v in self.inputs)


def parse_title(text: str) -> Title:
    """Parse one title string; raises TitleError naming the position and what was expected."""
    pos = 0
    prefix_input = None
    match = _PREFIX.match(text)
    if match:
        prefix_input = int(match.group(1))
        pos = match.end()
    if not text.startswith(_VAR, pos):
        raise TitleError("expected 'var={id:' at the start", pos)
    pos += len(_VAR)
    # Several readings may fail. The first one that found " owner_opr_inputs="
    # is the natural reading of the var, so its error explains the problem best.
    errors: List[TitleError] = []
    input_errors: List[TitleError] = []
    for var, end in _items_at(text, pos):
        if not text.startswith(_INPUTS, end):
            errors.append(TitleError("expected ' owner_opr_inputs=' after the var", end))
            continue
        start = end + len(_INPUTS)
        if text.startswith(" ", start):
            start += 1  # --bin-out-dump writes "owner_opr_inputs= " (spec §1.9)
        try:
            inputs = _parse_inputs(text, start)
        except TitleError as exc:
            input_errors.append(exc)
            continue
        return Title(prefix_input=prefix_input, var=var, inputs=inputs)
    if input_errors or errors:
        raise (input_errors or errors)[0]
    raise TitleError("cannot find the end of the var description", pos)


def _parse_inputs(text: str, pos: int) -> Tuple[VarInfo, ...]:
    rest = text[pos:]
    if rest == "" or rest == " ":
        return ()
    if rest.startswith("{"):
        for item, end in _items_at(text, pos):
            if end == len(text):
                return (item,)
        raise TitleError("the single input does not end the title", pos)
    if rest.startswith("0="):
        items = _numbered_items(text, pos)
        if items is not None:
            return tuple(items)
        raise TitleError("cannot split the numbered inputs 0={...} 1={...}", pos)
    raise TitleError("expected nothing, '{id:' or '0={id:' after 'owner_opr_inputs='", pos)


def _numbered_items(text: str, pos: int) -> Optional[List[VarInfo]]:
    """Parse ``0={..} 1={..} ...`` (at least two items) to the end of text.

    Depth-first over where each name may end, with an explicit stack: a
    Concat can have more inputs than Python's recursion limit.
    """
    stack = [_labelled_items(text, pos, 0)]
    chosen: List[VarInfo] = []
    while stack:
        try:
            item, end = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        del chosen[len(stack) - 1 :]
        chosen.append(item)
        if end == len(text) and len(chosen) > 1:  # MegEngine numbers inputs only when there are several
            return chosen
        if text.startswith(" ", end):
            stack.append(_labelled_items(text, end + 1, len(stack)))
    return None


def _labelled_items(text: str, pos: int, k: int) -> Iterator[Tuple[VarInfo, int]]:
    """The readings of ``k={...}`` at ``pos``; none if the label or item does not fit."""
    label = f"{k}="
    if not text.startswith(label, pos):
        return
    try:
        yield from _items_at(text, pos + len(label))
    except TitleError:
        return  # "k=" was part of a name; the caller tries a longer name


def _items_at(text: str, pos: int) -> Iterator[Tuple[VarInfo, int]]:
    """Every way to read one ITEM at ``pos``, shortest first, as (info, end position)."""
    head = _ITEM_HEAD.match(text, pos)
    if head is None:
        raise TitleError("expected '{id:N, layout:' or '{id:N, shape:'", pos)
    var_id = int(head.group(1))
    kind = head.group(2)
    layout_start = head.end()
    layout_end = _balanced_end(text, layout_start)
    shape, strides, fmt, layout_dtype = parse_layout(text[layout_start:layout_end], kind, layout_start)
    dt = _DTYPE.match(text, layout_end)
    if dt is None:
        raise TitleError("expected ', <DType>, owner:' after the layout", layout_end)
    dtype = dt.group(1)
    if layout_dtype is not None and layout_dtype != dtype:
        raise TitleError(f"layout dtype {layout_dtype} differs from dtype {dtype}", dt.start(1))
    body_start = dt.end()
    found = False
    for tail in _TAIL.finditer(text, body_start):
        split = _split_owner_and_name(text[body_start : tail.start()])
        if split is None:
            continue
        owner_opr, owner_type, name = split
        found = True
        yield (
            VarInfo(
                id=var_id,
                layout_kind=kind,
                shape=shape,
                strides=strides,
                format=fmt,
                dtype=dtype,
                owner_opr=owner_opr,
                owner_type=owner_type,
                name=name,
                slot=int(tail.group(1)),
                comp_node=tail.group(2),
                storage=tail.group(3),
                infer_shape=int(tail.group(4)),
                infer_value=int(tail.group(5)),
            ),
            tail.end(),
        )
    if not found:
        raise TitleError(
            f"var {var_id}: expected 'owner:OPR{{TYPE}}, name:VAR, slot:N, CompNode(...), s, N, N}}'", body_start
        )


def _split_owner_and_name(body: str) -> Optional[Tuple[str, str, str]]:
    """Split ``OPR{TYPE}, name:VAR``: the type is the last ``{...}`` before ``}, name:``."""
    start = 0
    while True:
        idx = body.find(_NAME_SEP, start)
        if idx < 0:
            return None
        brace = body.rfind("{", 0, idx)
        if brace >= 0 and _OPR_TYPE.fullmatch(body[brace + 1 : idx]):
            return body[:brace], body[brace + 1 : idx], body[idx + len(_NAME_SEP) :]
        start = idx + 1


def _balanced_end(text: str, pos: int) -> int:
    """Index just past the ``{...}`` group that starts at ``pos``."""
    if not text.startswith("{", pos):
        raise TitleError("expected '{' to open the layout or shape", pos)
    depth = 0
    for i in range(pos, len(text)):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    raise TitleError("unbalanced '{' in the layout or shape", pos)


def parse_layout(group: str, kind: str, pos: int):
    """``{1(8192),8(1024) Float32}`` or ``{2,3}`` -> (shape, strides, format, dtype).

    Also used by the text dump reader: both print ``TensorLayout::to_string``.
    """
    inner = group[1:-1]
    if kind == "shape":
        dims = _int_list(inner, pos)
        return dims, None, None, None
    head, sep, dtype = inner.rpartition(" ")
    if not sep:
        raise TitleError("layout has no dtype", pos)
    fmt = None
    if " @ " in head:
        head, _, fmt = head.partition(" @ ")
    shape: List[int] = []
    strides: List[int] = []
    if head:
        for part in head.split(","):
            dim = _DIM.fullmatch(part)
            if dim is None:
                raise TitleError(f"layout dim {part!r} is not size(stride)", pos)
            shape.append(int(dim.group(1)))
            strides.append(int(dim.group(2)))
    return tuple(shape), tuple(strides), fmt, dtype


def _int_list(inner: str, pos: int) -> Tuple[int, ...]:
    if not inner:
        return ()
    try:
        parts = inner.split(",")
        if any(len(p.strip().lstrip("-")) > 20 for p in parts):
            raise ValueError
        return tuple(int(p) for p in parts)
    except ValueError:
        raise TitleError(f"shape {{{inner}}} is not a list of integers", pos) from None


def format_var_info(info: VarInfo) -> str:
    """The ``{id:..., ...}`` text MegEngine prints for a var (inverse of the parser)."""
    if info.layout_kind == "shape":
        layout = "{" + ",".join(str(d) for d in info.shape) + "}"
    else:
        strides = info.strides if info.strides is not None else (0,) * len(info.shape)
        dims = ",".join(f"{d}({s})" for d, s in zip(info.shape, strides, strict=True))
        fmt = f" @ {info.format}" if info.format is not None else ""
        layout = "{" + dims + fmt + " " + info.dtype + "}"
    return (
        f"{{id:{info.id}, {info.layout_kind}:{layout}, {info.dtype}, owner:{info.owner_opr}{{{info.owner_type}}}, "
        f"name:{info.name}, slot:{info.slot}, {info.comp_node}, {info.storage}, {info.infer_shape}, "
        f"{info.infer_value}}}"
    )


def format_title(title: Title) -> str:
    """The title string MegEngine writes for ``title`` (``parse_title(format_title(t)) == t``)."""
    prefix = "" if title.prefix_input is None else f"inp{title.prefix_input}: "
    items = [format_var_info(v) for v in title.inputs]
    if len(items) > 1:
        items = [f"{k}={text}" for k, text in enumerate(items)]
    return f"{prefix}var={format_var_info(title.var)}{_INPUTS}{' '.join(items)}"
