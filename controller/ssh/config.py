"""The `ssh:` block of a farm.yaml device: how to reach a board over SSH."""

from __future__ import annotations

import posixpath
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator


class JumpHost(BaseModel):
    """A bastion the board is reached through (ssh -J); its host key is checked
    against the same known_hosts file and policy as the board's."""

    # finite numbers only: `.inf` seconds would reach socket.settimeout() and overflow there
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    host: str = Field(min_length=1)
    port: int = Field(22, ge=1, le=65535)
    user: Optional[str] = None
    key_file: Optional[str] = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


class SshTarget(BaseModel):
    """Where a board's sshd is and how to log in; the agent runs there.

    The agent listens on 127.0.0.1:<agent_port> on the board and is reached only
    through an SSH port-forward, so the board needs no open port but sshd's.
    """

    # finite numbers only: `.inf` seconds would reach socket.settimeout() and overflow there
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    host: str = Field(min_length=1)
    port: int = Field(22, ge=1, le=65535)
    user: Optional[str] = None
    key_file: Optional[str] = None  # None: the user's ssh-agent / default keys
    known_hosts: Optional[str] = None  # None: ~/.ssh/known_hosts
    host_key_policy: Literal["strict", "accept-new"] = "strict"
    jump: Optional[JumpHost] = None
    python: str = "python3"
    workdir: str = "~/.larfarm"
    agent_port: int = Field(50051, ge=1, le=65535)
    # How the agent is kept running: a systemd --user unit when the board has a
    # user manager ("auto" checks), else a setsid'd process with a pid file.
    agent_service: Literal["auto", "systemd", "setsid"] = "auto"
    # Where the controller keeps this board's agent token; relative paths are
    # relative to the farm file's folder. None: .larfarm/tokens/<device>.token.
    token_file: Optional[str] = None
    # A local agent config (YAML or JSON) pushed to the board as JSON, so the
    # board needs no PyYAML; listen address, token and workspace are set by deploy.
    agent_config: Optional[str] = None
    connect_timeout: float = Field(10.0, gt=0, le=3600)
    # Seconds of silence after which a dead link (cable pulled, board hung) drops
    # the SSH connection and its forwarded agent calls, instead of TCP's ~15 minutes.
    link_timeout: float = Field(10.0, ge=1, le=3600)

    @field_validator("python", "workdir")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("workdir")
    @classmethod
    def _workdir_shape(cls, value: str) -> str:
        # The workdir is a POSIX path on the board; '~' is expanded there.
        if not (value.startswith("/") or value == "~" or value.startswith("~/")):
            raise ValueError("must be absolute or start with ~/ (a path on the board)")
        return posixpath.normpath(value) if value.startswith("/") else value

    @property
    def where(self) -> str:
        """host:port as shown in every message about this board."""
        return f"{self.host}:{self.port}"
