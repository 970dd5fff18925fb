"""The ``marketcast`` command line. Thin: parses options, calls the library, maps errors to exit codes.

Every :class:`~marketcast.errors.MarketcastError` becomes one line on stderr and exit status 2.
Nothing heavy is imported here: ``marketcast --version`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from marketcast.cli import backtest as _backtest  # noqa: F401  (registers the command)
from marketcast.cli import data as _data
from marketcast.cli import demo as _demo  # noqa: F401
from marketcast.cli import forecast as _forecast  # noqa: F401
from marketcast.cli import keys as _keys
from marketcast.cli import models as _models
from marketcast.cli import report as _report  # noqa: F401
from marketcast.cli import reproduce as _reproduce
from marketcast.cli import risk as _risk  # noqa: F401
from marketcast.cli import serve as _serve  # noqa: F401
from marketcast.cli import volatility as _volatility  # noqa: F401
from marketcast.cli._app import app
from marketcast.errors import MarketcastError

app.add_typer(_data.app, name="data")
app.add_typer(_keys.app, name="keys")
app.add_typer(_models.app, name="models")
app.add_typer(_reproduce.app, name="reproduce")

__all__ = ["app", "main"]

INTERRUPTED = 130  # the shells' status for a command ended by SIGINT


def hoist_global_flags(argv: list[str]) -> list[str]:
    """Move root flags written after the subcommand (``volatility F.csv -q``) in front of it.

    Only exact flag tokens move, and none after ``--``; no subcommand has an option of the
    same spelling, so the meaning of the line does not change.
    """
    from marketcast.cli._app import GLOBAL_FLAGS

    front: list[str] = []
    rest: list[str] = []
    for i, token in enumerate(argv):
        if token == "--":
            rest.extend(argv[i:])
            break
        (front if token in GLOBAL_FLAGS else rest).append(token)
    return front + rest


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    if argv is None:
        argv = sys.argv[1:]
    argv = hoist_global_flags(list(argv))
    import contextvars
    import logging
    import warnings

    # What the root options set (-q's warning filter, the log level, --daily-closes) holds for
    # this run only, not for a process that calls main() again (tests, a notebook).
    level = logging.getLogger().level
    try:
        with warnings.catch_warnings():
            return contextvars.copy_context().run(_run, argv)
    finally:
        logging.getLogger().setLevel(level)


def _run(argv: list[str]) -> int:
    try:
        result = app(args=argv, prog_name="marketcast", standalone_mode=False)
        if result == INTERRUPTED:  # Typer turns Ctrl-C into a silent return of 130; no command returns it
            typer.echo("marketcast: interrupted", err=True)
        return result if isinstance(result, int) else 0
    except MarketcastError as exc:
        typer.echo(f"marketcast: error: {exc}", err=True)
        return 2
    except typer.Exit as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("marketcast: interrupted", err=True)
        return INTERRUPTED
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            typer.echo(f"marketcast: error: {exc}", err=True)
        return int(getattr(exc, "exit_code", 2))
    except BrokenPipeError:
        return 0
    except OSError as exc:  # unreadable input, full disk, a folder that refuses writes
        where = exc.filename or "marketcast"
        typer.echo(f"marketcast: error: {where}: {exc.strerror or exc}", err=True)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
