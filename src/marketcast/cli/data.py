"""``marketcast data``: check files, fetch series from online sources, list the local store."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from marketcast.cli._common import ColumnOption, OutOption, check_out, print_frame

app = typer.Typer(
    help="Check price files, fetch series from online sources, list the local store.", no_args_is_help=True
)


@app.command("check")
def check(
    data: str = typer.Argument(..., help="Price file (CSV, TXT or Parquet)."),
    column: str | None = ColumnOption,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    strict: bool = typer.Option(False, "--strict", help="Exit with status 1 when the report lists problems."),
) -> None:
    """Data quality report: rows, date range, gaps, missing values, non-positive prices, suspected splits."""
    from marketcast import api
    from marketcast.cli._common import global_option, notes

    with notes(bool(global_option("quiet", False))):
        report = api.check_data(data, column=column)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
    if strict and report.problems:
        raise typer.Exit(1)


def _print_report(report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    summary = Table(title=f"Data check: {report.file}", show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("format", report.format)
    summary.add_row("rows", f"{report.rows:,}")
    summary.add_row("dates", f"{report.first.date()} .. {report.last.date()}")
    summary.add_row("columns", ", ".join(report.columns))
    summary.add_row("duplicate rows dropped", str(report.duplicates_dropped))
    summary.add_row(
        "gaps over 5 days",
        str(len(report.gaps))
        + "".join(f"\n  {a} -> {b} ({n} days)" for a, b, n in report.gaps[:5])
        + ("\n  ..." if len(report.gaps) > 5 else ""),
    )
    summary.add_row(
        "missing values",
        ", ".join(
            f"{c}: {n}"
            + (
                f" (first {report.missing_rows[c][0][0]}, line {report.missing_rows[c][0][1]})"
                if c in report.missing_rows
                else ""
            )
            for c, n in report.missing.items()
        )
        or "none",
    )
    if report.empty_columns:
        summary.add_row("empty columns", ", ".join(report.empty_columns))
    nonpos = "; ".join(f"{c}: {len(h)} (first {h[0][0]}, line {h[0][1]})" for c, h in report.non_positive.items())
    summary.add_row("non-positive prices", nonpos or "none")
    summary.add_row(
        "inconsistent bars",
        str(len(report.inconsistent_bars))
        + (
            f" (first {report.inconsistent_bars[0][0]}, line {report.inconsistent_bars[0][1]})"
            if report.inconsistent_bars
            else ""
        ),
    )
    events = [f"{s.date.date()}  {s.label}" for s in report.reported + report.splits]
    summary.add_row("splits / bonus issues", "\n".join(events) or "none suspected")
    console.print(summary)
    if report.problems:
        console.print("[bold yellow]Problems:[/]")
        for p in report.problems:
            console.print(f"  - {p}")
    else:
        console.print("[green]No problems found.[/]")


StoreOption = typer.Option(
    None,
    "--store",
    help="Store file (default: $MARKETCAST_STORE, else marketcast.duckdb in the user data folder).",
)


@app.command("fetch")
def fetch(
    symbol: str = typer.Argument(
        ..., help="Symbol as the source spells it: IBM, RELIANCE.BSE (alphavantage); AAPL, ^VIX (yahoo); VIX (cboe)."
    ),
    source: str = typer.Option(..., "--source", "-s", help="Online source: alphavantage, yahoo or cboe."),
    adjusted: bool = typer.Option(
        False,
        "--adjusted",
        help="alphavantage only: TIME_SERIES_DAILY_ADJUSTED (premium key), stored apart from the unadjusted series.",
    ),
    full: bool = typer.Option(False, "--full", help="Re-fetch the whole history instead of only the new days."),
    store: Path | None = StoreOption,
    out: Path | None = OutOption,
) -> None:
    """Fetch a daily series into the local store (only the new days when it is stored already).

    Alpha Vantage needs a free key in ALPHAVANTAGE_API_KEY. Use the series later as DATA,
    e.g. `marketcast backtest alphavantage:IBM`.
    """
    out = check_out(out)  # before any request: a bad --out must not cost an API call
    from marketcast.data.fetch import update
    from marketcast.data.store import PriceStore

    price_store = PriceStore(store)
    result = update(source, symbol, store=price_store, full=full, adjusted=adjusted)
    typer.echo(_fetch_summary(result))
    if out is not None:
        from marketcast.io import write_table

        frame = price_store.read(result.source, result.symbol)
        write_table(frame.reset_index(), out)
        typer.echo(f"wrote {len(frame):,} rows to {out}", err=True)


def _fetch_summary(result) -> str:
    span = f"{result.first} .. {result.last}" if result.first else "no rows"
    if result.replaced:
        why = f" ({result.reason})" if result.reason else ""
        what = f"re-fetched the full history{why}, {result.rows_added:,} new rows"
    elif result.rows_added:
        what = f"added {result.rows_added:,} rows"
    else:
        what = "up to date, no new rows"
    kind = " [adjusted]" if result.source == "alphavantage-adjusted" else ""
    return f"{result.spec}{kind}: {what}; {result.rows:,} rows {span} in {result.store_path}"


@app.command("list")
def list_series(store: Path | None = StoreOption) -> None:
    """List the series in the local store: rows, date range, last fetch."""
    from marketcast.data.store import PriceStore

    price_store = PriceStore(store)
    frame = price_store.list()
    if frame.empty:
        typer.echo(f"no series in {price_store.path}; fetch one with `marketcast data fetch SYMBOL --source yahoo`")
        return
    shown = frame.copy()
    shown["last_fetched"] = shown["last_fetched"].dt.strftime("%Y-%m-%d %H:%M UTC")
    print_frame(shown, title=f"Series in {price_store.path}")
