"""The command line as a Click command, for the generated CLI reference (docs/reference/cli.md)."""

from __future__ import annotations

import typer

from marketcast.cli import app

#: What ``mkdocs-click`` documents: the Typer application as Click sees it.
command = typer.main.get_command(app)
