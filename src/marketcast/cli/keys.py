"""``marketcast keys``: API keys of the service, stored only as hashes."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Manage the service's API keys (stored as hashes).", no_args_is_help=True)

FileOption = typer.Option(None, "--file", "-f", help="Keys file (default: $MARKETCAST_API_KEYS).")


def _keys_file(path: Path | None) -> Path:
    import os

    from marketcast.errors import MarketcastError
    from marketcast.service.settings import KEYS_ENV

    if path is not None:
        return path
    env = os.environ.get(KEYS_ENV, "").strip()
    if not env:
        raise MarketcastError(f"give --file KEYS or set {KEYS_ENV}")
    return Path(env).expanduser()


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Who or what the key is for (unique in the file)."),
    scope: str = typer.Option("read", "--scope", help="read (queries, forecasts, backtests) or write (also training, risk)."),
    file: Path | None = FileOption,
) -> None:
    """Make a new key: its hash goes into the file, the key itself is printed once, alone on the last line."""
    from marketcast.service.keys import add_key

    path = _keys_file(file)
    key = add_key(path, name, scope)
    typer.echo(f"added {scope} key '{name}' to {path}; it is shown only now:", err=True)
    typer.echo(key)


@app.command("list")
def list_keys(file: Path | None = FileOption) -> None:
    """Names and scopes of the keys in the file (never the keys: the file has only their hashes)."""
    from marketcast.service.keys import read_keys

    for key in read_keys(_keys_file(file)):
        typer.echo(f"{key.name}\t{key.scope}")
