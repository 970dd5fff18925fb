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


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or notes, for scripts."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens (to stderr)."),
) -> None:
    """marketcast: fast, honest forecasts of financial time series."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("cmdstanpy", "prophet"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.ERROR)
    ctx.obj = {"quiet": quiet}
