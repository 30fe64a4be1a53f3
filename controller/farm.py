"""farm.yaml: the devices of a farm, how to reach each one and which runner it uses."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from controller.adb import AdbTarget
from controller.campaign import Campaign, campaign_from
from controller.errors import ConfigError
from controller.graph_options import GraphOptions
from controller.ssh.config import SshTarget
from controller.yaml_loader import line_of, load_yaml, validate

DEVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def plain_json_problem(value: Any, where: str = "") -> Optional[str]:
    """Why `value` cannot go into report.json as it is (a date, a NaN, a non-text key), or None.

    Labels are free-form YAML, but the report writes them out: YAML's dates, binary and
    `.inf` / `.nan` have no JSON form, and would fail only after the whole campaign ran.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where or 'value'}: {value} is not a finite number"
    if isinstance(value, list):
        for i, item in enumerate(value):
            problem = plain_json_problem(item, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where or 'key'}: key {key!r} is not text"
            problem = plain_json_problem(item, f"{where}.{key}" if where else key)
            if problem:
                return problem
        return None
    return f"{where or 'value'}: a {type(value).__name__} is not plain text, number, true/false, list or mapping"


class TlsConfig(BaseModel):
    """TLS towards an agent: CA to verify it, optional client cert/key (mutual TLS)."""

    model_config = ConfigDict(extra="forbid")

    ca: Optional[str] = None
    cert: Optional[str] = None
    key: Optional[str] = None
    server_name: Optional[str] = None

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together")
        return self


class Device(BaseModel):
    """One device of the farm: exactly one of address, local or ssh says how to reach it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str
    address: Optional[str] = None
    token_file: Optional[str] = None
    tls: Optional[TlsConfig] = None
    local: bool = False
    ssh: Optional[SshTarget] = None
    adb: Optional[AdbTarget] = None  # an Android phone on this PC, run by a local agent's adb runner
    runner: Literal["lite", "load_and_run", "adb"] = "lite"
    # program the local agent runs for this runner (default: lar-lite beside this Python)
    program: Optional[str] = None
    labels: Dict[str, Any] = Field(default_factory=dict)
    # the device's deployed graph options: every run on it uses them (over the campaign's)
    options: GraphOptions = Field(default_factory=GraphOptions)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, value: str) -> str:
        if not DEVICE_NAME.match(value):
            raise ValueError("use letters, digits, '_', '.', '-' (it names folders and run ids)")
        return value

    @field_validator("labels")
    @classmethod
    def _labels_ok(cls, value: Dict[str, Any]) -> Dict[str, Any]:
        problem = plain_json_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("address")
    @classmethod
    def _address_ok(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected host:port")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> Device:
        ways = [
            w
            for w, on in (
                ("address", self.address is not None),
                ("local", self.local),
                ("ssh", self.ssh is not None),
                ("adb", self.adb is not None),
            )
            if on
        ]
        if len(ways) != 1:
            raise ValueError(
                "give exactly one of address, local: true, ssh, adb" + (f" (got {', '.join(ways)})" if ways else "")
            )
        if (self.adb is not None) != (self.runner == "adb"):
            if self.adb is None or "runner" in self.model_fields_set:
                raise ValueError("runner: adb goes with an adb: device, and an adb: device runs runner adb")
            self.runner = "adb"
        if self.address is None and (self.token_file is not None or self.tls is not None):
            raise ValueError("token_file and tls go with address")
        if self.program is not None and not self.local:
            raise ValueError("program is only for local: true devices")
        if self.runner == "load_and_run" and self.local and self.program is None:
            raise ValueError("a local load_and_run device needs program: (the load_and_run binary)")
        return self

    def where(self) -> str:
        """How the device is reached, for messages."""
        if self.address:
            return self.address
        if self.ssh is not None:
            return f"ssh:{self.ssh.host}:{self.ssh.port}"
        if self.adb is not None:
            return f"adb:{self.adb.serial}"
        return "local"


class Farm(BaseModel):
    """The farm: its devices and, optionally, an inline campaign."""

    model_config = ConfigDict(extra="forbid")

    devices: List[Device] = Field(min_length=1)
    campaign: Optional[Dict[str, Any]] = None
    # folder of farm.yaml: token files, TLS files and programs resolve from here
    base_dir: Optional[str] = Field(None, exclude=True)
    path: Optional[str] = Field(None, exclude=True)
    # farm.yaml's YAML node tree, for the lines of errors in the inline campaign; set by the loader
    _node: Any = PrivateAttr(None)

    @field_validator("devices")
    @classmethod
    def _unique(cls, value: List[Device]) -> List[Device]:
        seen = set()
        for device in value:
            if device.name in seen:
                raise ValueError(f"device name {device.name} is used twice")
            seen.add(device.name)
        return value

    def device(self, name: str) -> Device:
        """The device called `name`."""
        for dev in self.devices:
            if dev.name == name:
                return dev
        raise KeyError(name)

    def resolve(self, rel: str) -> Path:
        """A path from farm.yaml, relative to its folder."""
        p = Path(rel).expanduser()
        return p if p.is_absolute() else Path(self.base_dir or ".") / p

    def program_for(self, device: Device) -> Path:
        """The program a local agent runs for `device`."""
        if device.program is not None:
            return self.resolve(device.program)
        return Path(sys.executable).parent / "lar-lite"


def load_farm(path: Path) -> Farm:
    """Read and validate farm.yaml; errors name file, line and field (`farm.yaml:7: devices[1].address: ...`)."""
    path = Path(path)
    shown = str(path)
    data, node = load_yaml(path, shown)
    if not isinstance(data, dict):
        raise ConfigError(shown, 1, "", "expected a mapping with devices:")
    farm = validate(Farm, data, node, shown)
    farm.base_dir = str(path.parent)
    farm.path = shown
    farm._node = node
    for i, dev in enumerate(farm.devices):
        if dev.token_file is not None and not farm.resolve(dev.token_file).is_file():
            raise ConfigError(
                shown,
                line_of(node, ["devices", i, "token_file"]),
                f"devices[{i}].token_file",
                f"file not found: {dev.token_file}",
            )
        if dev.program is not None and not farm.resolve(dev.program).is_file():
            raise ConfigError(
                shown,
                line_of(node, ["devices", i, "program"]),
                f"devices[{i}].program",
                f"file not found: {dev.program}",
            )
        if dev.adb is not None and dev.adb.program_local and not farm.resolve(dev.adb.program_local).is_file():
            raise ConfigError(
                shown,
                line_of(node, ["devices", i, "adb", "program_local"]),
                f"devices[{i}].adb.program_local",
                f"file not found: {dev.adb.program_local}",
            )
        if dev.tls is not None:
            for key in ("ca", "cert", "key"):
                rel = getattr(dev.tls, key)
                if rel is not None and not farm.resolve(rel).is_file():
                    raise ConfigError(
                        shown,
                        line_of(node, ["devices", i, "tls", key]),
                        f"devices[{i}].tls.{key}",
                        f"file not found: {rel}",
                    )
    return farm


def inline_campaign(farm: Farm) -> Optional[Campaign]:
    """The campaign written inside farm.yaml, validated with farm.yaml's lines, or None."""
    if farm.campaign is None or farm.path is None:
        return None
    return campaign_from(farm.campaign, farm._node, farm.path, Path(farm.path).parent, prefix=("campaign",))
