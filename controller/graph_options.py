"""A device's graph options (its deployed configuration) as farm.yaml and campaign.yaml give them.

Keys are load_and_run's flag names with underscores (``enable_nchw88``,
``workspace_limit``); they become the run spec's typed ``GraphOptions`` fields.
A campaign's ``options:`` apply to every device; a device's own ``options:``
win over them key by key.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

OptionValue = Union[bool, int, str]

#: The one-at-a-time layout options (load_and_run refuses two).
LAYOUTS = (
    "enable_nchw4",
    "enable_chwn4",
    "enable_nchw44",
    "enable_nchw44_dot",
    "enable_nchw88",
    "enable_nchw32",
    "enable_nchw64",
    "enable_nhwcd4",
)


class GraphOptions(BaseModel):
    """load_and_run's graph options; every field's default means "not given"."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    enable_nchw4: bool = False
    enable_chwn4: bool = False
    enable_nchw44: bool = False
    enable_nchw44_dot: bool = False
    enable_nchw88: bool = False
    enable_nchw32: bool = False
    enable_nchw64: bool = False
    enable_nhwcd4: bool = False
    enable_fuse_preprocess: bool = False
    weight_preprocess: bool = False
    enable_fuse_conv_bias_nonlinearity: bool = False
    enable_fuse_conv_bias_with_z: bool = False
    const_shape: bool = False
    fake_first: bool = False
    no_sanity_check: bool = False
    record_comp_seq: bool = False
    record_comp_seq2: bool = False
    disable_mem_opt: bool = False
    workspace_limit: int | None = Field(default=None, ge=0, le=(1 << 64) - 1)  # default= keyword: type checkers see it
    layout_transform: Literal["", "cpu", "cuda"] = ""
    enable_jit: bool = False

    @model_validator(mode="after")
    def _combination(self) -> GraphOptions:
        layouts = [name for name in LAYOUTS if getattr(self, name)]
        if len(layouts) > 1:
            raise ValueError(f"choose one layout option, not {' and '.join(layouts)}")
        if self.record_comp_seq2 and not self.no_sanity_check:
            raise ValueError("record_comp_seq2 needs no_sanity_check: true (load_and_run asserts it)")
        if self.record_comp_seq and self.record_comp_seq2:
            raise ValueError("choose one of record_comp_seq and record_comp_seq2")
        return self

    def given(self) -> dict[str, OptionValue]:
        """The options that are on, by name, in declaration order (what run.json and report.json record)."""
        out: dict[str, OptionValue] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if not (value is False or value is None or value == ""):  # 0 is a workspace limit, not "off"
                out[name] = value
        return out

    def over(self, base: GraphOptions) -> GraphOptions:
        """These options over ``base``: every key written here wins, even ``false``.

        The layouts are one choice, and so are the two record levels: a device that
        names one replaces the campaign's, rather than adding a second.
        """
        mine = self.model_fields_set
        merged: dict[str, Any] = {}
        for name in base.model_fields_set:
            if not any(name in group and mine & set(group) for group in _CHOICES):
                merged[name] = getattr(base, name)
        merged.update({name: getattr(self, name) for name in mine})
        return GraphOptions(**merged)

    def to_proto_fields(self) -> dict[str, Any]:
        """Keyword arguments for the protobuf GraphOptions (an unset workspace_limit is left out)."""
        values = self.model_dump()
        if values["workspace_limit"] is None:
            del values["workspace_limit"]
        return values


#: Options of which one at most is on: naming one replaces the others.
_CHOICES = (LAYOUTS, ("record_comp_seq", "record_comp_seq2"))
