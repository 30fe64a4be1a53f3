"""One place owning the consoles: stdout for data, stderr for progress and errors; human or JSON."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Dict, Optional

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn
from rich.text import Text

from controller import events as ev


class Output:
    """stdout carries the summary (or one JSON document); stderr carries progress and errors."""

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.out = Console(soft_wrap=False)
        if not self.out.is_terminal:
            self.out = Console(soft_wrap=False, width=140)  # files and pipes: no 80-column squeeze
        self.err = Console(stderr=True)

    def error(self, message: str, hint: Optional[str] = None) -> None:
        """One clear line on stderr, its hint (if any) at the end of the same line."""
        # Plain text, never markup (paths and YAML values hold '[...]'), and never wrapped:
        # a line is one line whatever the terminal's width, so tools can grep it.
        line = Text.assemble(("error:", "bold red"), f" {message}")
        if hint:
            line.append(f" (hint: {hint})")
        self.err.print(line, soft_wrap=True, highlight=False)

    def data(self, payload: Dict[str, Any]) -> None:
        """The JSON document on stdout (JSON mode)."""
        sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        sys.stdout.flush()

    def progress(self) -> DeviceProgress:
        return DeviceProgress(self.err, enabled=not self.json_mode)


class DeviceProgress:
    """Rich progress, one line per device: phase, runs, bytes and rate of the current transfer.

    Not on a terminal (logs, pipes, --json), it prints one plain line per phase change instead.
    """

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.live = enabled and console.is_terminal
        self.console = console
        self._tasks: Dict[str, TaskID] = {}
        self._last: Dict[str, str] = {}
        self._progress = Progress(
            TextColumn("{task.fields[device]:<14}"),
            TextColumn("{task.fields[phase]:<10}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[detail]}"),
            console=console,
            transient=False,
        )

    def __enter__(self) -> DeviceProgress:
        if self.live:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self._progress.stop()

    def __call__(self, event: ev.DeviceEvent) -> None:
        if not self.live:
            self._plain(event)
            return
        task = self._tasks.get(event.device)
        if task is None:
            task = self._tasks[event.device] = self._progress.add_task(
                "", total=None, device=event.device, phase=event.phase, detail=event.detail
            )
        runs = f"[{event.runs_done}/{event.runs_total}] " if event.runs_total else ""
        self._progress.update(
            task,
            phase=event.phase,
            detail=f"{runs}{event.detail}"[:60],
            completed=event.bytes_done,
            total=event.bytes_total or None,
        )

    def _plain(self, event: ev.DeviceEvent) -> None:
        # running/fetching details change per file: only a new phase (or a new failure) gets a line
        key = event.phase + (event.detail if event.phase in (ev.RETRY, ev.UNHEALTHY) else "")
        if event.phase == ev.RUNNING:
            key += event.detail.split(":", 1)[0]
        if self._last.get(event.device) == key:
            return
        self._last[event.device] = key
        detail = f" {event.detail}" if event.detail else ""
        if event.phase == ev.RUNNING:
            detail = f" {event.detail.split(':', 1)[0]}"
        self.console.print(
            f"{time.strftime('%H:%M:%S')} {event.device}: {event.phase}{detail}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
