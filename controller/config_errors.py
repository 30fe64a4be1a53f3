"""Turn YAML and pydantic errors into `file:line: field: message`, using yaml node marks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Tuple, Type, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from controller.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def field_path(loc: Sequence[Any]) -> str:
    """`("devices", 1, "address")` -> `devices[1].address`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


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
    """Read a YAML file into (data, node tree); syntax errors become ConfigError with the line."""
    shown = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(shown, None, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(shown, None, "", f"cannot read: {exc}") from None
    try:
        loader = yaml.SafeLoader(text)  # refuses unprintable characters already
        try:
            # one parse gives both: the node tree (for line numbers) and the data built from it
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(shown, line, "", f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(shown, None, "", f"invalid YAML: {exc}") from None
    return data, node


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
