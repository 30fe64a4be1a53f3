"""`controller run` (and friends): campaigns over a farm."""

import typer


def register(app: typer.Typer) -> None:
    """Add this group's commands to the controller app."""
