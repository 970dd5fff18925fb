"""``marketcast data``: check files, fetch series from online sources, list the local store."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="Check price files, fetch series from online sources, list the local store.",
                  no_args_is_help=True)


@app.command("check")
def check(
    data: str = typer.Argument(..., help="Price file (CSV, TXT or Parquet)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    strict: bool = typer.Option(False, "--strict", help="Exit with status 1 when the report lists problems."),
) -> None:
    """Data quality report: rows, date range, gaps, missing values, non-positive prices, suspected splits."""
    from marketcast.data import check_quality, read_prices

    report = check_quality(read_prices(data))
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
    summary.add_row("gaps over 5 days", str(len(report.gaps)) + "".join(
        f"\n  {a} -> {b} ({n} days)" for a, b, n in report.gaps[:5]) + ("\n  ..." if len(report.gaps) > 5 else ""))
    summary.add_row("missing values", ", ".join(f"{c}: {n}" for c, n in report.missing.items()) or "none")
    if report.empty_columns:
        summary.add_row("empty columns", ", ".join(report.empty_columns))
    nonpos = "; ".join(f"{c}: {len(h)} (first {h[0][0]}, line {h[0][1]})" for c, h in report.non_positive.items())
    summary.add_row("non-positive prices", nonpos or "none")
    summary.add_row("inconsistent bars", str(len(report.inconsistent_bars)) + (
        f" (first {report.inconsistent_bars[0][0]}, line {report.inconsistent_bars[0][1]})" if report.inconsistent_bars else ""))
    events = [f"{s.date.date()}  {s.label}" for s in report.reported + report.splits]
    summary.add_row("splits / bonus issues", "\n".join(events) or "none suspected")
    console.print(summary)
    if report.problems:
        console.print("[bold yellow]Problems:[/]")
        for p in report.problems:
            console.print(f"  - {p}")
    else:
        console.print("[green]No problems found.[/]")
