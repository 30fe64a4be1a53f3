"""The `ssh:` block of a farm.yaml device: how to reach a board over SSH."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field


class JumpHost(BaseModel):
    """A bastion the board is reached through (ssh -J)."""

    model_config = ConfigDict(extra="forbid")

    host: str
    port: int = Field(22, ge=1, le=65535)
    user: Optional[str] = None
    key_file: Optional[str] = None


class SshTarget(BaseModel):
    """Where a board's sshd is and how to log in; the agent runs there."""

    model_config = ConfigDict(extra="forbid")

    host: str
    port: int = Field(22, ge=1, le=65535)
    user: Optional[str] = None
    key_file: Optional[str] = None  # None: the user's ssh-agent / default keys
    known_hosts: Optional[str] = None  # None: ~/.ssh/known_hosts
    host_key_policy: Literal["strict", "accept-new"] = "strict"
    jump: Optional[JumpHost] = None
    python: str = "python3"
    workdir: str = "~/.larfarm"
    agent_port: int = Field(50051, ge=1, le=65535)
