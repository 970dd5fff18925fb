"""One self-contained HTML report: inline CSS, plotly.js inlined once, one div per chart, tables.

The file opens offline: nothing is loaded from a URL (no CDN, web fonts or MathJax). With
``png_dir`` every chart is also drawn by matplotlib as ``<slug>.png`` from the same description.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from marketcast.errors import DataError
from marketcast.report.charts import Chart, Heatmap

__all__ = [
    "Section",
    "render_html",
    "check_report_path",
    "check_png_dir",
    "markdown_html",
    "table_html",
    "format_cell",
    "slugify",
]

#: Rows shown per table; longer tables show their first rows and say how many there are.
MAX_TABLE_ROWS = 250


@dataclass
class Section:
    """A heading, some text (plain or simple Markdown), charts and ``(caption, frame)`` tables."""

    heading: str
    text: str = ""
    charts: Sequence[Chart | Heatmap] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)


def check_report_path(path: str | Path) -> Path:
    """Validate the report's path before any work: ``.html`` suffix, existing folder."""
    from marketcast.io import check_output_path

    return check_output_path(path, (".html",))


def check_png_dir(path: str | Path | None) -> Path | None:
    """The PNG folder, if given: it may not exist yet (it is created), but may not be a file."""
    if path is None:
        return None
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise DataError(f"{p}: --png-dir exists and is not a directory")
    return p


def slugify(text: str, taken: set[str] | None = None) -> str:
    """A file-name and id-safe slug of ``text``, unique within ``taken`` (which it joins)."""
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-") or "chart"
    slug, n = base, 2
    while taken is not None and slug in taken:
        slug, n = f"{base}-{n}", n + 1
    if taken is not None:
        taken.add(slug)
    return slug


# --------------------------------------------------------------------------- text


def _inline(text: str) -> str:
    """Escape, then `code` and **bold** (no bold inside code)."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        else:
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(part)))
    return "".join(out)


_BULLET = re.compile(r"^\s*[-*]\s+")


def markdown_html(text: str) -> str:
    """Paragraphs (blank-line separated), ``- `` bullet lists, ``**bold**`` and ```code``` as HTML."""
    blocks = re.split(r"\n\s*\n", text.strip()) if text.strip() else []
    out = []
    for block in blocks:
        lines = [ln for ln in block.splitlines() if ln.strip()]
        if lines and all(_BULLET.match(ln) or ln.startswith("  ") for ln in lines) and _BULLET.match(lines[0]):
            items: list[str] = []
            for ln in lines:
                if _BULLET.match(ln):
                    items.append(_BULLET.sub("", ln))
                else:  # continuation of the previous item
                    items[-1] += " " + ln.strip()
            out.append("<ul>" + "".join(f"<li>{_inline(it)}</li>" for it in items) + "</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(ln.strip() for ln in lines))}</p>")
    return "\n".join(out)


# --------------------------------------------------------------------------- tables


def format_cell(value) -> str:
    """A table cell's text (not escaped): blank for missing values, dates as ISO dates, floats to 4 places."""
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp | _dt.datetime | np.datetime64):
        ts = pd.Timestamp(value)
        if pd.isna(ts):
            return ""
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat(sep=" ")
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if v == 0:
            return "0"
        a = abs(v)
        if a >= 1e6:
            return f"{v:.4g}"
        if a >= 1000:
            return f"{v:,.2f}"
        if a >= 1e-3:
            return f"{v:.4f}"
        return f"{v:.3e}"
    return str(value)


def table_html(caption: str, frame: pd.DataFrame, *, max_rows: int = MAX_TABLE_ROWS) -> str:
    """``frame`` as an HTML table (numbers right-aligned, NaN blank); long frames are cut."""
    shown = frame.iloc[:max_rows]
    note = f" (first {max_rows} of {len(frame)} rows)" if len(frame) > max_rows else ""
    numeric = [frame[c].dtype.kind in "fiuc" for c in frame.columns]
    head = "".join(
        f'<th class="{"num" if n else "txt"}">{html.escape(str(c))}</th>' for c, n in zip(frame.columns, numeric)
    )
    rows = []
    for row in shown.itertuples(index=False):
        cells = "".join(
            f'<td class="{"num" if n else "txt"}">{html.escape(format_cell(v))}</td>' for v, n in zip(row, numeric)
        )
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="table-wrap"><p class="caption">{_inline(caption)}{html.escape(note)}</p>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


# --------------------------------------------------------------------------- page

_CSS = """
:root { --fg: #1d1d1f; --muted: #5f6368; --line: #e3e3e3; --accent: #1f77b4; --bg-alt: #f7f7f8; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 64px; }
header h1 { font-size: 26px; margin: 8px 0 4px; }
header .meta { color: var(--muted); font-size: 13px; margin: 0 0 12px; }
nav.toc { border: 1px solid var(--line); border-radius: 6px; padding: 8px 16px; margin: 12px 0 8px; background: var(--bg-alt); }
nav.toc ol { margin: 4px 0; padding-left: 20px; }
nav.toc a { color: var(--accent); text-decoration: none; }
section { border-top: 1px solid var(--line); margin-top: 28px; padding-top: 8px; }
section h2 { font-size: 20px; margin: 12px 0 8px; }
code { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--bg-alt);
       padding: 1px 4px; border-radius: 3px; }
figure.chart { margin: 16px 0 24px; border: 1px solid var(--line); border-radius: 6px; padding: 6px; }
figure.chart .plot { width: 100%; height: 440px; }
.table-wrap { overflow-x: auto; margin: 12px 0 20px; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
p.caption { font-weight: 600; font-size: 13px; margin: 0 0 6px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { background: var(--bg-alt); font-weight: 600; white-space: normal; max-width: 9em; vertical-align: bottom; }
tbody tr:nth-child(even) td { background: #fbfbfc; }
.num { text-align: right; } .txt { text-align: left; }
footer { color: var(--muted); font-size: 12px; margin-top: 40px; }
"""


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    # A literal "</script" inside the inlined source would end the element early.
    return get_plotlyjs().replace("</script", "<\\/script")


def render_html(title: str, sections: Sequence[Section], path: str | Path, png_dir: str | Path | None = None) -> Path:
    """Write the report to ``path`` (atomically) and, with ``png_dir``, each chart as ``<slug>.png``.

    Returns the report's path. Chart ``i`` gets the div id ``chart-<slug>``.
    """
    from marketcast._version import __version__
    from marketcast.io import atomic_write_text
    from marketcast.report.charts import to_plotly, to_png

    target = check_report_path(path)
    pngs = check_png_dir(png_dir)
    if pngs is not None:
        pngs.mkdir(parents=True, exist_ok=True)
    slugs: set[str] = set()
    section_ids: set[str] = set()
    body, toc = [], []
    n_charts = 0
    for section in sections:
        sid = "s-" + slugify(section.heading, section_ids)
        toc.append(f'<li><a href="#{sid}">{html.escape(section.heading)}</a></li>')
        parts = [f'<section id="{sid}"><h2>{html.escape(section.heading)}</h2>']
        if section.text:
            parts.append(markdown_html(section.text))
        for caption, frame in section.tables:
            parts.append(table_html(caption, frame))
        for chart in section.charts:
            slug = slugify(chart.title, slugs)
            fig = to_plotly(chart)
            div = fig.to_html(
                full_html=False,
                include_plotlyjs=False,
                include_mathjax=False,
                div_id=f"chart-{slug}",
                config={"displaylogo": False, "responsive": True},
                default_height="440px",
            )
            parts.append(f'<figure class="chart" data-chart="{slug}">{div}</figure>')
            if pngs is not None:
                to_png(chart, pngs / f"{slug}.png")
            n_charts += 1
        parts.append("</section>")
        body.append("\n".join(parts))
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = f'<nav class="toc"><strong>Contents</strong><ol>{"".join(toc)}</ol></nav>' if len(toc) > 1 else ""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="marketcast {html.escape(__version__)}">
<title>{html.escape(title)}</title>
<style>{_CSS}</style>
<script type="text/javascript">{_plotly_js()}</script>
</head>
<body>
<main>
<header><h1>{html.escape(title)}</h1>
<p class="meta">marketcast {html.escape(__version__)} · {now} · {len(body)} section{"s" if len(body) != 1 else ""}, {n_charts} chart{"s" if n_charts != 1 else ""} · interactive: hover, zoom (drag), reset (double-click), hide a series (click its legend entry)</p>
</header>
{nav}
{chr(10).join(body)}
<footer>Self-contained report: it opens offline and loads nothing from the network.</footer>
</main>
</body>
</html>
"""
    return atomic_write_text(target, page)
