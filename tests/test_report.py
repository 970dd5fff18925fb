"""Charts, HTML and results recognition of marketcast.report, on small synthetic frames.

Expected layers, breaches and counts are computed independently in the tests. The headless-browser
check is tests/test_report_browser.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketcast.errors import DataError
from marketcast.report import (
    Layer,
    Section,
    backtest_forecasts,
    fan_chart,
    load_results,
    predicted_vs_actual,
    render_html,
    sections_for,
    slice_errors,
    to_plotly,
    to_png,
    training_curves,
    var_chart,
    volatility_chart,
)
from marketcast.report.html import format_cell, markdown_html, table_html

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- synthetic result frames


def vol_frame(models=("dd-ewma", "garch"), n=40, seed=1) -> pd.DataFrame:
    """A volatility frame with VOLATILITY_COLUMNS; the last day is a live forecast (no return)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-03-01", periods=n)
    r = rng.normal(0.0, 0.05, n)
    r[-1] = np.nan
    rows = []
    for k, m in enumerate(models):
        sigma = 0.045 + 0.005 * k + 0.002 * rng.standard_normal(n)
        var = 1000.0 * 1.645 * sigma
        rows.append(pd.DataFrame({
            "date": dates, "model": m, "volatility": sigma, "var": var, "cvar": var * 1.25, "mad": 0.8 * sigma,
            "rho": 0.78, "dof": 6.0, "distribution": "t", "abs_return": np.abs(r), "return": r, "tail": 0.05,
            "notional": 1000.0, "window_start": dates - pd.Timedelta(days=700), "window_end": dates - pd.Timedelta(days=1),
        }))
    return pd.concat(rows, ignore_index=True)


def forecast_frame(levels=("90", "95", "99", "99_5"), n=6) -> pd.DataFrame:
    dates = pd.bdate_range("2021-05-24", periods=n)
    point = np.linspace(20.0, 21.0, n)
    frame = pd.DataFrame({"date": dates, "model": "sma", "point": point})
    for i, tag in enumerate(levels):  # wider with the level
        half = 1.0 + i + 0.1 * np.arange(n)
        frame[f"lower_{tag}"] = point - half
        frame[f"upper_{tag}"] = point + half
    actual = point + 0.5
    actual[-2:] = np.nan  # the data ends before the horizon does
    frame["actual"] = actual
    return frame


def scores_frame() -> pd.DataFrame:
    rows = []
    for s in (1, 2, 3):
        for m, base in (("sma", 1.0), ("naive", 2.0)):
            rows.append({"slice": s, "start": f"2020-0{s}-01", "end": f"2021-0{s}-01", "model": m, "horizon": 21,
                         "rmse": base + s, "mae": base + s / 2})
    frame = pd.DataFrame(rows)
    frame[["start", "end"]] = frame[["start", "end"]].apply(pd.to_datetime)
    return frame


def bt_forecasts_frame() -> pd.DataFrame:
    rows = []
    for s in (1, 2, 3, 4, 5, 6):
        dates = pd.bdate_range(f"2020-0{s}-01", periods=5)
        for m in ("sma", "naive"):
            for step, d in enumerate(dates, start=1):
                rows.append({"slice": s, "model": m, "step": step, "date": d, "actual": 10.0 + step,
                             "forecast": 10.0 + (0.5 if m == "sma" else 1.0) * step})
    return pd.DataFrame(rows)


HISTORY = {"loss": [1.0, 0.4, 0.2, 0.15], "mae": [0.8, 0.5, 0.35, 0.3],
           "val_loss": [1.2, 0.5, 0.3, 0.32], "val_mae": [0.9, 0.6, 0.45, 0.46]}


def fake_saved_model(directory: Path, state: dict, name: str = "lstm") -> Path:
    """A saved model's directory as persistence writes it (the report reads only model.json)."""
    directory.mkdir()
    manifest = {"format": "marketcast-model/1", "marketcast_version": "0", "model": name, "params": {},
                "state": state, "training": {}, "metrics": {}, "files": {}}
    (directory / "model.json").write_text(json.dumps(manifest), encoding="utf-8")
    return directory


# --------------------------------------------------------------------------- chart descriptions


def test_layer_checks_its_arrays():
    with pytest.raises(ValueError, match="needs lower"):
        Layer("band", "b", [1, 2], upper=[1, 2])
    with pytest.raises(ValueError, match="3 y values for 2 x values"):
        Layer("line", "l", [1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="unknown layer kind"):
        Layer("pie", "p", [1], [1])  # type: ignore[arg-type]
    layer = Layer("line", "l", pd.bdate_range("2021-01-04", periods=2), [1, 2])
    assert layer.is_dates and layer.x.dtype == np.dtype("datetime64[ns]")


def test_fan_chart_bands_widest_first_with_actuals_and_history():
    frame = forecast_frame()
    history = pd.Series(np.arange(300.0), index=pd.bdate_range(end="2021-05-21", periods=300))
    chart = fan_chart(frame, history)
    kinds = chart.kinds()
    assert kinds == ["line", "band", "band", "band", "band", "line", "scatter"]
    bands = [layer for layer in chart.layers if layer.kind == "band"]
    widths = [float(np.mean(b.upper - b.lower)) for b in bands]
    assert widths == sorted(widths, reverse=True)
    assert [b.name for b in bands] == ["99.5% interval", "99% interval", "95% interval", "90% interval"]
    assert [b.opacity for b in bands] == sorted(b.opacity for b in bands)  # widest lightest
    np.testing.assert_allclose(bands[-1].lower, frame["lower_90"])
    actual = chart.layer("actual")
    assert len(actual.x) == 4 and np.isfinite(actual.y).all()  # only the known actual prices
    hist = chart.layer("history")
    assert len(hist.x) == 120 and hist.x[-1] < actual.x[0]
    assert "90%, 95%, 99%, 99.5%" in chart.title


def test_fan_chart_without_intervals_and_with_several_models():
    frame = pd.DataFrame({"date": pd.bdate_range("2021-01-04", periods=3), "model": "naive", "point": [1.0, 1, 1]})
    assert fan_chart(frame).kinds() == ["line"]
    two = pd.concat([forecast_frame(), forecast_frame().assign(model="lstm")])
    with pytest.raises(DataError, match="2 models"):
        fan_chart(two)
    assert fan_chart(two, model="lstm").title.startswith("lstm")


def test_var_chart_marks_exactly_the_breaches():
    vol = vol_frame()
    # force two breaches and one loss exactly at the VaR (not a breach: the inequality is strict)
    rows = vol["model"] == "garch"
    idx = vol.index[rows]
    vol.loc[idx[3], "return"] = -vol.loc[idx[3], "var"] / 1000.0 - 0.01
    vol.loc[idx[7], "return"] = -vol.loc[idx[7], "var"] / 1000.0 - 0.02
    vol.loc[idx[9], "return"] = -0.05
    vol.loc[idx[9], "var"] = 50.0
    g = vol[rows]
    expected = [(d, r) for d, r, v in zip(g["date"], g["return"], g["var"]) if r == r and -1000.0 * r > v]
    chart = var_chart(vol, "garch")
    breaches = chart.layer("breach")
    assert breaches.kind == "scatter" and breaches.color == "#d62728"
    assert list(pd.to_datetime(breaches.x)) == [d for d, _ in expected]
    np.testing.assert_allclose(breaches.y, [r for _, r in expected])
    assert f"{len(expected)} breach" in chart.title and "in 39 days" in chart.title  # the live day is not scored
    var_line = chart.layer("95% VaR threshold")
    np.testing.assert_allclose(var_line.y, -g["var"] / 1000.0)
    assert (var_line.y < 0).all()
    with pytest.raises(DataError, match="no rows for model 'ewma'"):
        var_chart(vol, "ewma")


def test_volatility_chart_one_line_per_model_and_the_realised_returns():
    vol = vol_frame()
    chart = volatility_chart(vol)
    assert chart.kinds() == ["scatter", "line", "line"]
    assert len(chart.layers[0].x) == 39  # one |return| per day, the live day has none
    assert [layer.name for layer in chart.layers[1:]] == ["dd-ewma volatility", "garch volatility"]


def test_slice_errors_bars_per_model():
    scores = scores_frame()
    chart = slice_errors(scores, "rmse")
    assert chart.kinds() == ["bar", "bar"]
    np.testing.assert_allclose(chart.layer("naive").y, [3.0, 4.0, 5.0])
    assert slice_errors(scores, "mae").y_label == "MAE"


def test_backtest_forecasts_and_predicted_vs_actual():
    fc = bt_forecasts_frame()
    chart = backtest_forecasts(fc, 2)
    assert [layer.name for layer in chart.layers] == ["actual", "sma", "naive"]
    np.testing.assert_allclose(chart.layer("actual").y, [11, 12, 13, 14, 15])
    with pytest.raises(DataError, match="no slice 9"):
        backtest_forecasts(fc, 9)
    pva = predicted_vs_actual(pd.bdate_range("2021-01-04", periods=3), [1, 2, 3], [1.1, 2.1, 2.9], "Fig. 8")
    assert pva.kinds() == ["line", "line"] and pva.title == "Fig. 8"


def test_training_curves_loss_and_validation():
    chart = training_curves(HISTORY, "loss")
    assert [layer.name for layer in chart.layers] == ["training loss", "validation loss"]
    np.testing.assert_allclose(chart.layers[0].x, [1, 2, 3, 4])
    assert chart.layers[1].dash == "dash" and not chart.y_log
    steep = training_curves({"loss": [100.0, 1.0, 0.1]})  # three decades: log scale
    assert steep.y_log and steep.kinds() == ["line"]


def test_plotly_traces_follow_the_layers():
    chart = fan_chart(forecast_frame(levels=("90", "95")))
    fig = to_plotly(chart)
    # a band is two traces (its lower edge, then the upper edge filled down to it)
    assert len(fig.data) == 2 * 2 + 1 + 1
    assert [t.fill for t in fig.data[:4]] == [None, "tonexty", None, "tonexty"]
    bars = to_plotly(slice_errors(scores_frame()))
    assert [t.type for t in bars.data] == ["bar", "bar"] and bars.layout.xaxis.type == "category"


def test_png_is_a_real_picture(tmp_path):
    path = to_png(var_chart(vol_frame(), "dd-ewma"), tmp_path / "var.png")
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 20_000
    from PIL import Image

    image = Image.open(path)
    assert image.size[0] > 800 and np.asarray(image.convert("L"), dtype=float).std() > 10
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


# --------------------------------------------------------------------------- HTML


def test_markdown_and_tables():
    html = markdown_html("A **bold** `x < 1` <script>\n\n- one\n- two `c`")
    assert "<strong>bold</strong>" in html and "<code>x &lt; 1</code>" in html and "&lt;script&gt;" in html
    assert "<ul><li>one</li><li>two <code>c</code></li></ul>" in html
    assert format_cell(float("nan")) == "" and format_cell(pd.NaT) == "" and format_cell(None) == ""
    assert format_cell(0.123456) == "0.1235" and format_cell(1234.5) == "1,234.50" and format_cell(2e-5) == "2.000e-05"
    assert format_cell(pd.Timestamp("2021-05-24")) == "2021-05-24" and format_cell(7) == "7"
    table = table_html("cap", pd.DataFrame({"m": ["a<b"], "x": [np.nan], "y": [1.5]}))
    assert "a&lt;b" in table and '<td class="num"></td>' in table and "1.5000" in table


def _charts_for_html():
    vol = vol_frame()
    return [volatility_chart(vol), var_chart(vol, "dd-ewma"), var_chart(vol, "garch"), fan_chart(forecast_frame()),
            slice_errors(scores_frame()), training_curves(HISTORY)]


def test_html_is_self_contained_with_one_plotly_and_one_div_per_chart(tmp_path, no_network):
    from plotly.offline import get_plotlyjs

    charts = _charts_for_html()
    sections = [Section("Risk", "Text with **bold**.", charts[:3], [("table", scores_frame())]),
                Section("Other", "- a\n- b", charts[3:])]
    path = render_html("Test <report>", sections, tmp_path / "r.html", png_dir=tmp_path / "png")
    html = path.read_text(encoding="utf-8")
    assert "<title>Test &lt;report&gt;</title>" in html
    # no external reference: no script src, no stylesheet link, and URLs only inside plotly.js's own source
    assert "<script src" not in html.lower() and "<link" not in html.lower()
    js = get_plotlyjs()
    assert html.count(js[:200]) == 1  # plotly.js inlined exactly once
    outside = html.replace(js, "")
    assert not re.search(r"https?://", outside), re.findall(r"https?://\S{0,40}", outside)
    assert "mathjax" not in outside.lower()
    ids = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', html)
    assert len(ids) == len(charts) == len(set(ids))
    assert html.count("Plotly.newPlot(") == len(charts)
    assert '"displaylogo": false' in html or '"displaylogo":false' in html
    pngs = sorted((tmp_path / "png").glob("*.png"))
    assert len(pngs) == len(charts)
    assert {p.stem for p in pngs} == {i.removeprefix("chart-") for i in ids}
    for p in pngs:
        data = p.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000


def test_render_html_checks_the_path_first(tmp_path):
    with pytest.raises(DataError, match="unsupported output format"):
        render_html("t", [], tmp_path / "r.txt")
    with pytest.raises(DataError, match="does not exist"):
        render_html("t", [], tmp_path / "missing" / "r.html")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        render_html("t", [], tmp_path / "r.html", png_dir=tmp_path / "file")


# --------------------------------------------------------------------------- results files


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_load_results_recognises_every_kind(tmp_path, suffix):
    from marketcast.io import write_table

    frames = {"volatility": vol_frame(), "forecast": forecast_frame(), "backtest-scores": scores_frame(),
              "backtest-forecasts": bt_forecasts_frame(),
              "history": pd.DataFrame({"epoch": [1, 2, 3, 4], **HISTORY})}
    for kind, frame in frames.items():
        path = write_table(frame, tmp_path / f"{kind}{suffix}")
        got, loaded = load_results(path)
        assert got == kind
        assert len(loaded) == len(frame) and loaded.attrs["source"] == str(path)
        if "date" in loaded:
            assert pd.api.types.is_datetime64_any_dtype(loaded["date"])


def test_parquet_results_store_dates_as_dates(tmp_path):
    import pyarrow.parquet as pq

    from marketcast.io import write_table

    path = write_table(forecast_frame(), tmp_path / "f.parquet")
    assert str(pq.read_schema(path).field("date").type) == "date32[day]"
    csv = write_table(forecast_frame(), tmp_path / "f.csv")
    assert csv.read_text().splitlines()[1].startswith(forecast_frame()["date"].iloc[0].strftime("%Y-%m-%d"))


def test_load_results_errors_name_the_file_and_the_columns(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"bad\.csv: unrecognised results layout.*volatility: date, model, volatility"):
        load_results(bad)
    partial = tmp_path / "partial.csv"
    vol_frame().drop(columns=["return", "notional"]).to_csv(partial, index=False)
    with pytest.raises(DataError, match=r"partial\.csv: looks like volatility results but lacks column\(s\) return, notional"):
        load_results(partial)
    with pytest.raises(DataError, match="no such file"):
        load_results(tmp_path / "none.csv")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match="unsupported results format '.txt'"):
        load_results(tmp_path / "x.txt")
    (tmp_path / "empty.csv").write_text("date,model,point\n")
    with pytest.raises(DataError, match="no rows"):
        load_results(tmp_path / "empty.csv")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"broken\.parquet: cannot read"):
        load_results(tmp_path / "broken.parquet")
    text = tmp_path / "text.csv"
    text.write_text("date,model,point\n2021-01-04,sma,abc\n")
    with pytest.raises(DataError, match="column 'point' holds values that are not numbers"):
        load_results(text)


def test_saved_model_directory_gives_its_training_history(tmp_path):
    directory = fake_saved_model(tmp_path / "m", {"loc": 1.0, "scale": 2.0, "history": HISTORY})
    kind, hist = load_results(directory)
    assert kind == "history" and list(hist["epoch"]) == [1, 2, 3, 4] and set(hist["model"]) == {"lstm"}
    np.testing.assert_allclose(hist["val_loss"], HISTORY["val_loss"])
    assert load_results(directory / "model.json")[0] == "history"
    # a wrapped (conformal) or two-network model: the nested histories, one label per network
    two = fake_saved_model(tmp_path / "two", {"price": {"history": HISTORY}, "vol": {"history": HISTORY}}, "two-lstm")
    _, hist2 = load_results(two)
    assert sorted(set(hist2["model"])) == ["two-lstm price", "two-lstm vol"]
    averaged = fake_saved_model(tmp_path / "avg", {"price": [{"history": HISTORY}] * 2, "vol": [{"history": HISTORY}] * 2},
                                "two-lstm")
    assert sorted(set(load_results(averaged)[1]["model"])) == [
        "two-lstm price.0", "two-lstm price.1", "two-lstm vol.0", "two-lstm vol.1"]
    none = fake_saved_model(tmp_path / "sma", {}, "sma")
    with pytest.raises(DataError, match="'sma' has no training history"):
        load_results(none)
    (tmp_path / "plain").mkdir()
    with pytest.raises(DataError, match="not a saved marketcast model"):
        load_results(tmp_path / "plain")


def test_sections_for_each_kind():
    vol = vol_frame()
    vol.attrs["source"] = "vol.csv"
    secs = sections_for("volatility", vol)
    assert sum(len(s.charts) for s in secs) == 1 + 2  # one volatility chart, one VaR chart per model
    caption, table = secs[0].tables[0]
    assert "VaR" in caption
    for m in ("dd-ewma", "garch"):
        g = vol[vol["model"] == m]
        known = g["return"].notna()
        breaches = int(((-1000.0 * g["return"] > g["var"]) & known).sum())
        row = table[table["model"] == m].iloc[0]
        assert row["breaches"] == breaches and row["days"] == known.sum()
        assert row["breach rate"] == pytest.approx(breaches / known.sum())
    scores = sections_for("backtest-scores", scores_frame(), source="s.csv")
    assert [c.y_label for c in scores[0].charts] == ["RMSE", "MAE"]
    summary = scores[0].tables[0][1]
    sma = summary[summary["model"] == "sma"].iloc[0]
    assert sma["mean RMSE"] == pytest.approx(3.0) and sma["SD RMSE"] == pytest.approx(1.0)  # 2, 3, 4
    fc = sections_for("forecast", forecast_frame(), source="f.csv")
    assert len(fc) == 1 and fc[0].charts[0].kinds().count("band") == 4
    cov = fc[0].tables[0][1]
    assert list(cov["coverage"]) == [1.0] * 4 and list(cov["days with actual"]) == [4] * 4
    bt = sections_for("backtest-forecasts", bt_forecasts_frame(), source="b.csv")
    assert len(bt[0].charts) == 4  # six slices, four charts spread over them
    hist = sections_for("history", pd.DataFrame({"epoch": [1, 2, 3, 4], **HISTORY}), source="h.csv")
    assert [c.y_label for c in hist[0].charts] == ["loss (MSE)", "MAE"]
    assert hist[0].tables[0][1].iloc[0]["best epoch"] == 3
    with pytest.raises(DataError, match="unknown results kind"):
        sections_for("pie", vol)
