"""Report charts and the self-contained HTML: layers from result frames, no external references, PNGs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketcast.report import Section, fan_chart, render_html, slice_errors, training_curves, var_chart
from marketcast.report.charts import var_breaches


@pytest.fixture
def vol():
    dates = pd.bdate_range("2021-01-04", periods=30)
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.05, 30)
    var = np.full(30, 60.0)  # 6% of a notional of 1000
    return pd.DataFrame({"date": dates, "model": "dd-ewma", "volatility": 0.05, "var": var, "cvar": var * 1.5,
                         "mad": 0.04, "rho": 0.7, "dof": 4.0, "distribution": "t", "abs_return": np.abs(r),
                         "return": r, "tail": 0.05, "notional": 1000.0})


def test_var_chart_marks_exactly_the_breaches(vol):
    expected = (-1000 * vol["return"] > vol["var"]).to_numpy()
    assert (var_breaches(vol) == expected).all()
    chart = var_chart(vol, "dd-ewma")
    breach_layers = [layer for layer in chart.layers if layer.kind == "scatter"]
    assert len(breach_layers) == 1 and len(breach_layers[0].x) == expected.sum()
    assert f"{expected.sum()} breaches in 30 days" in chart.title


def test_fan_chart_draws_the_widest_band_first():
    dates = pd.bdate_range("2021-04-19", periods=3)
    frame = pd.DataFrame({"date": dates, "model": "m", "point": [1.0, 2.0, 3.0], "lower_90": [0.5] * 3, "upper_90": [3.5] * 3,
                          "lower_99": [0.0] * 3, "upper_99": [4.0] * 3, "lower_95": [0.2] * 3, "upper_95": [3.8] * 3})
    bands = [layer for layer in fan_chart(frame).layers if layer.kind == "band"]
    widths = [float(np.mean(np.asarray(b.upper) - np.asarray(b.lower))) for b in bands]
    assert widths == sorted(widths, reverse=True) and len(bands) == 3


def test_self_contained_html_and_pngs(tmp_path, vol):
    scores = pd.DataFrame({"slice": [1, 1, 2, 2], "start": "2020-01-01", "end": "2021-01-01", "model": ["a", "b"] * 2,
                           "horizon": 5, "rmse": [1.0, 2.0, 1.5, 0.5], "mae": [0.8, 1.5, 1.2, 0.4]})
    history = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.6, 0.5], "mae": [0.9, 0.6, 0.4], "val_mae": [1.0, 0.7, 0.6]}
    charts = [var_chart(vol, "dd-ewma"), slice_errors(scores), training_curves(history)]
    path = render_html("test report", [Section("One", "Some **bold** text.", charts, [("scores", scores)])],
                       tmp_path / "r.html", png_dir=tmp_path / "png")
    html = path.read_text()
    assert "<script src=" not in html and "<link" not in html and "cdn.plot.ly" not in html.split("<body")[-1]
    assert html.count("plotly-graph-div") == 3 and html.count("Plotly.newPlot") >= 3
    pngs = sorted((tmp_path / "png").glob("*.png"))
    assert len(pngs) == 3
    for p in pngs:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
