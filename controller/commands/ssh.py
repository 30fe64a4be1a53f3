"""`controller deploy|status|stop`: agents on boards reached over SSH."""

import typer


def register(app: typer.Typer) -> None:
    """Add this group's commands to the controller app."""
