"""The Typer application object, shared by the command modules (kept free of heavy imports)."""

from __future__ import annotations

import logging

import typer

from marketcast._version import __version__

app = typer.Typer(
    name="marketcast",
    help="Forecast prices, price intervals, volatility and risk (VaR, CVaR, MAD) of daily financial series.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"marketcast {__version__}")
        raise typer.Exit()


#: The root options of the command being run (set by :func:`root`, read by the commands' helpers).
SETTINGS: dict = {}

#: Flags of the root command that may also be written after the subcommand (`marketcast volatility F -q`).
GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose", "--daily-closes")


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress, notes or warnings, for scripts (also after the command)."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Log what happens (to stderr; also after the command)."
    ),
    daily_closes: bool = typer.Option(
        False,
        "--daily-closes",
        help="Intraday data (minute bars): take each day's last row as its close (also after the command).",
    ),
) -> None:
    """marketcast: fast, honest forecasts of financial time series."""
    level = logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)  # also when a handler existed (basicConfig then does nothing)
    for noisy in ("cmdstanpy", "prophet"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.ERROR)
    if quiet:
        import warnings

        warnings.simplefilter("ignore")
    ctx.obj = {"quiet": quiet, "verbose": verbose, "intraday": "close" if daily_closes else "refuse"}
    SETTINGS.clear()
    SETTINGS.update(ctx.obj)
    from marketcast._context import INTRADAY

    INTRADAY.set(ctx.obj["intraday"])
