"""Load farm.yaml and campaign.yaml safely and validate them; every error is `file:line: field: message`.

The file must be a regular file of bounded size (controller.files); YAML aliases may not expand the
document beyond a bound (a "billion laughs" file is a few lines); a key written twice in one mapping
is refused rather than silently last-wins. Line numbers come from the YAML node tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Set, Tuple, Type, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from controller.errors import ConfigError
from controller.files import CONFIG_LIMIT, FileRefused, read_regular_file

#: nodes of a document with every alias expanded in place: far above any real farm or campaign,
#: far below what makes the report (which writes labels out in full) run out of memory
MAX_EXPANDED_NODES = 100_000

M = TypeVar("M", bound=BaseModel)


def field_path(loc: Sequence[Any]) -> str:
    """`("devices", 1, "address")` -> `devices[1].address`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + printable(str(part))
    return out


def printable(text: str) -> str:
    """`text`, or its repr when it holds a newline or another control character (a message stays one line)."""
    return text if text.isprintable() else repr(text)


def line_of(node: Optional[yaml.Node], loc: Sequence[Any]) -> Optional[int]:
    """The 1-based line of the deepest YAML node on `loc` (the parent's line for a missing key)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child = value
                    # a scalar on the key's own line reads best at the key
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                child = node.value[part]
        if child is None:
            return line
        node = child
        line = node.start_mark.line + 1
    return line


def load_yaml(path: Path, display: Optional[str] = None) -> Tuple[Any, Optional[yaml.Node]]:
    """Read a YAML file into (data, node tree); every problem becomes ConfigError with the line."""
    shown = display or str(path)
    try:
        text = read_regular_file(path, CONFIG_LIMIT).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(shown, None, "", "file not found") from None
    except FileRefused as exc:
        raise ConfigError(shown, None, "", str(exc)) from None
    except OSError as exc:
        raise ConfigError(shown, None, "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(shown, None, "", f"cannot read: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        loader = yaml.SafeLoader(text)  # refuses unprintable characters already
        try:
            # one parse gives both: the node tree (for line numbers) and the data built from it
            node = loader.get_single_node()
            if node is not None:
                check_node_tree(node, shown)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(shown, line, "", f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(shown, None, "", f"invalid YAML: {exc}") from None
    except RecursionError:  # thousands of nested brackets: the composer recurses per level
        raise ConfigError(shown, None, "", "invalid YAML: nested too deeply") from None
    return data, node


def check_node_tree(root: yaml.Node, shown: str) -> None:
    """Refuse a key written twice in a mapping, an alias that refers to itself, and alias bombs."""
    sizes: Dict[int, int] = {}  # id(node) -> nodes in its expansion
    active: Set[int] = set()  # nodes being counted: meeting one again is a cycle

    def expanded(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(shown, node.start_mark.line + 1, "", "a YAML alias refers to its own anchor")
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            _no_duplicate_keys(node, shown)
            for k, v in node.value:
                total += expanded(k) + expanded(v)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += expanded(item)
        active.discard(key)
        sizes[key] = total
        if total > MAX_EXPANDED_NODES:
            raise ConfigError(
                shown,
                node.start_mark.line + 1,
                "",
                f"YAML aliases expand this document past {MAX_EXPANDED_NODES} values; write it out without aliases",
            )
        return total

    expanded(root)


def _no_duplicate_keys(node: yaml.MappingNode, shown: str) -> None:
    seen: Dict[str, int] = {}
    for k, _ in node.value:
        if not isinstance(k, yaml.ScalarNode) or k.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *base` may be overridden by the keys beside it, as YAML intends
        line = k.start_mark.line + 1
        if k.value in seen:
            raise ConfigError(
                shown, line, printable(str(k.value)), f"key written twice (first on line {seen[k.value]})"
            )
        seen[k.value] = line


def validate(
    model: Type[M],
    data: Any,
    node: Optional[yaml.Node],
    shown: str,
    prefix: Sequence[Any] = (),
    context: Optional[dict] = None,
) -> M:
    """Validate `data` as `model`; the first error becomes one ConfigError naming line and field."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [p for p in first.get("loc", ()) if not _is_union_tag(p)]
        full = list(prefix) + loc
        msg = first.get("msg", "invalid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if first.get("type") == "extra_forbidden":
            msg = "unknown field"
        raise ConfigError(shown, line_of(node, full), field_path(full), msg) from None


def _is_union_tag(part: Any) -> bool:
    """pydantic inserts the member's name into loc for unions (`str`, `RandomInput`, ...)."""
    return isinstance(part, str) and (part in ("str", "int", "float", "bool") or part.startswith("function-"))
