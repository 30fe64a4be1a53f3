"""campaign.yaml: the model, inputs, run options and checks of a campaign, validated with pydantic."""

from __future__ import annotations

import hashlib
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Tuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from controller.errors import ConfigError
from controller.graph_options import GraphOptions
from controller.yaml_loader import field_path, line_of, load_yaml, validate

CHECKS = ("naive", "shake", "cross", "thresholds", "options")
CheckName = Literal["naive", "shake", "cross", "thresholds", "options"]
#: options: only devices with graph options take part (their deployed configuration vs none).
ALL_CHECKS: Tuple[CheckName, ...] = ("naive", "shake", "cross", "thresholds", "options")
INPUT_SUFFIXES = (".npy", ".ppm", ".pgm", ".json")
DTYPES = ("float32", "float16", "int32", "int8", "uint8", "int16")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Fixtures show MegEngine's naive-vs-default errors at 1e-7..1e-6 with the metric of
# record, so 1e-7 (the guide's `-e 1e-7`) makes the naive check see real kernel drift.
DEFAULT_TOLERANCE = 1e-7
#: seeded random inputs are generated in memory on the host (as float64 first): 2**28 elements
#: is 2 GiB there and far beyond any network input a campaign needs
MAX_RANDOM_INPUT_ELEMENTS = 2**28
#: a run's timeout: a week is beyond any real run; larger values overflow the cancel timer
MAX_TIMEOUT_S = 7 * 24 * 3600.0
#: how load_and_run tells a MegEngine model from other files (MGE:lite/load_and_run/src/models/model.cpp):
#: these magics at offset 0, or "mgv2" (the flatbuffers identifier of format v2) at offset 8;
#: Lite's packed models start with "packed_model" (MGE:lite/src/parse_model/model_parser.cpp)
MODEL_MAGICS = (b"mgb0001", b"mgb0000a", b"MGBS", b"MGBC", b"mgbtest0", b"packed_model")
MODEL_V2_IDENTIFIER = (8, b"mgv2")


def model_file_problem(path: Path) -> Optional[str]:
    """Why `path` cannot be a MegEngine model (missing, not a regular file, no known header), or None."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        with open(path, "rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        return "file not found"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    offset, ident = MODEL_V2_IDENTIFIER
    if head[offset : offset + len(ident)] == ident or head.startswith(MODEL_MAGICS):
        return None
    return (
        f"not a MegEngine model (first bytes {head[:12]!r}; expected a dumped graph: "
        f"'mgv2' at offset 8, or {', '.join(m.decode() for m in MODEL_MAGICS)} at the start)"
    )


class InputSpec(BaseModel):
    """One network input: a file on the host, or seeded random data of a shape and dtype."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    file: Optional[str] = None
    shape: Optional[List[int]] = None
    dtype: str = "float32"
    seed: int = Field(0, ge=0, lt=2**64)  # numpy's generator refuses a negative seed

    @model_validator(mode="before")
    @classmethod
    def _from_path(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"file": value}
        return value

    @model_validator(mode="after")
    def _one_source(self) -> InputSpec:
        if (self.file is None) == (self.shape is None):
            raise ValueError("give either a file path or {shape, dtype, seed}")
        if self.file is not None and not self.file.lower().endswith(INPUT_SUFFIXES):
            raise ValueError(f"input file must end with one of {', '.join(INPUT_SUFFIXES)}")
        if self.shape is not None and (not self.shape or any(d <= 0 for d in self.shape)):
            raise ValueError("shape must be a non-empty list of positive sizes")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}")
        if self.shape is not None:
            count = math.prod(self.shape)
            if count > MAX_RANDOM_INPUT_ELEMENTS:  # else numpy fails with a MemoryError traceback
                raise ValueError(
                    f"shape {self.shape} has {count} elements; seeded random data is "
                    f"limited to {MAX_RANDOM_INPUT_ELEMENTS} (use an input file)"
                )
        return self


class Campaign(BaseModel):
    """What to run on every device and which checks to make of the runs."""

    # every float finite: `.inf` / `.nan` are refused with the field's line, as `analysis` refuses them
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str
    model: str
    inputs: Dict[str, InputSpec] = Field(default_factory=dict)
    checks: List[CheckName] = Field(default_factory=lambda: list(ALL_CHECKS))
    tolerance: float = Field(DEFAULT_TOLERANCE, ge=0)  # as `python -m analysis --tolerance`: finite, >= 0
    repeats: int = Field(3, ge=2, le=100)
    baseline: Optional[str] = None
    # load_and_run options applied to every run of the campaign
    reproducible: bool = False
    fast_run: bool = False
    multithread: Optional[int] = Field(None, ge=1, le=256)
    extra_flags: List[str] = Field(default_factory=list)
    env: Dict[str, str] = Field(default_factory=dict)
    # graph options for every device; a device's own farm.yaml options win, key by key
    options: GraphOptions = Field(default_factory=GraphOptions)
    # scheduling policy
    timeout_s: float = Field(600.0, gt=0, le=MAX_TIMEOUT_S)
    retries: int = Field(2, ge=0, le=20)
    fetch: Literal["needed", "all"] = "needed"
    # where relative paths resolve (the campaign file's folder); set by the loader
    base_dir: Optional[str] = Field(None, exclude=True)
    # (file, line, field) of `baseline`, for errors found once the farm is known; set by the loader
    _baseline_at: Optional[Tuple[str, Optional[int], str]] = PrivateAttr(None)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("use letters, digits, '_', '.', '-' (it names a folder)")
        return value

    @field_validator("checks")
    @classmethod
    def _checks_ok(cls, value: List[str]) -> List[str]:
        if not value:
            raise ValueError("name at least one check")
        if len(set(value)) != len(value):
            raise ValueError("a check is listed twice")
        return value

    @field_validator("env")
    @classmethod
    def _env_ok(cls, value: Dict[str, str]) -> Dict[str, str]:
        if "MGB_USE_MEGDNN_DBG" in value:
            raise ValueError("MGB_USE_MEGDNN_DBG is set by the naive check; leave it out")
        return value

    @field_validator("model")
    @classmethod
    def _model_exists(cls, value: str, info: ValidationInfo) -> str:
        base = (info.context or {}).get("base_dir")
        if base is not None:
            problem = model_file_problem(Path(base) / value)
            if problem == "file not found":
                raise ValueError(f"model file not found: {value}")
            if problem is not None:
                # found here, not on every device after its retries
                raise ValueError(f"{value}: {problem}")
        return value

    @field_validator("inputs")
    @classmethod
    def _inputs_exist(cls, value: Dict[str, InputSpec], info: ValidationInfo) -> Dict[str, InputSpec]:
        base = (info.context or {}).get("base_dir")
        for name, spec in value.items():
            if spec.file is not None and base is not None and not (Path(base) / spec.file).is_file():
                raise ValueError(f"input {name}: file not found: {spec.file}")
        return value

    def model_path(self) -> Path:
        """The model file on the host."""
        return Path(self.base_dir or ".") / self.model

    def options_digest(self) -> str:
        """A short digest of everything that changes a run's result, to detect edits on --resume."""
        payload = self.model_dump_json(
            exclude={"checks", "timeout_s", "retries", "tolerance", "baseline", "base_dir", "fetch"}
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_campaign(path: Path) -> Campaign:
    """Read and validate campaign.yaml; errors name file, line and field."""
    shown = str(path)
    data, node = load_yaml(path, shown)
    if not isinstance(data, dict):
        raise ConfigError(shown, 1, "", "expected a mapping with name, model, inputs, checks")
    return campaign_from(data, node, shown, path.parent, prefix=())


def campaign_from(data: Any, node: Any, shown: str, base_dir: Path, prefix: tuple) -> Campaign:
    """Validate a campaign mapping (from its own file or inline in farm.yaml)."""
    campaign = validate(Campaign, data, node, shown, prefix=prefix, context={"base_dir": str(base_dir)})
    campaign.base_dir = str(base_dir)
    # baseline is checked against the farm later: its error must still point here
    loc = (*prefix, "baseline")
    campaign._baseline_at = (shown, line_of(node, loc), field_path(loc))
    return campaign


def materialize_inputs(campaign: Campaign, dest: Path) -> Dict[str, Path]:
    """Resolve every input to a host file; seeded random inputs are written once as .npy.

    Writing the random data on the host (not on each device) is what gives every
    device the very same bytes.
    """
    out: Dict[str, Path] = {}
    for name, spec in campaign.inputs.items():
        if spec.file is not None:
            out[name] = Path(campaign.base_dir or ".") / spec.file
            continue
        rng = np.random.default_rng(spec.seed)
        shape = tuple(spec.shape or ())
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            arr = rng.standard_normal(shape).astype(dtype)
        else:
            info = np.iinfo(dtype)
            arr = rng.integers(max(info.min, -128), min(info.max, 127) + 1, size=shape).astype(dtype)
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / f"{name}.npy"
        tmp = target.with_suffix(".npy.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, arr)
        tmp.replace(target)
        out[name] = target
    return out
