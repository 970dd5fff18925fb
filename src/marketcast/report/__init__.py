"""Reports: chart descriptions rendered as interactive Plotly and static PNG, and self-contained HTML.

* :mod:`marketcast.report.charts`: :class:`Chart` and :class:`Layer`, and the two renderers
  :func:`to_plotly`, :func:`to_png`.
* :mod:`marketcast.report.chart_builders`: charts of result frames (:func:`fan_chart`,
  :func:`var_chart`, ...).
* :mod:`marketcast.report.html`: :class:`Section` and :func:`render_html` (one offline HTML file).
* :mod:`marketcast.report.results`: :func:`load_results` recognises a results file,
  :func:`sections_for` turns it into sections, :func:`build_report` does both for many files.

Plotly and matplotlib are imported only when a chart is rendered.
"""

from marketcast.report.chart_builders import (
    backtest_forecasts,
    fan_chart,
    predicted_vs_actual,
    slice_errors,
    training_curves,
    var_chart,
    volatility_chart,
)
from marketcast.report.charts import Chart, Layer, to_plotly, to_png
from marketcast.report.html import Section, render_html
from marketcast.report.results import build_report, load_results, sections_for

__all__ = [
    "Chart",
    "Layer",
    "Section",
    "backtest_forecasts",
    "build_report",
    "fan_chart",
    "load_results",
    "predicted_vs_actual",
    "render_html",
    "sections_for",
    "slice_errors",
    "to_plotly",
    "to_png",
    "training_curves",
    "var_chart",
    "volatility_chart",
]
