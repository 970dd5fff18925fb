"""The universe page's pieces: the heat map chart and the traffic-light counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketcast.report.charts import Heatmap, to_plotly, to_png
from marketcast.universe.report import zone_counts


def test_heatmap_renders_in_plotly_and_png(tmp_path):
    z = np.array([[0, 1, 2], [4, 0, 0]])
    chart = Heatmap("breaches", "date", "asset", ["2021-04-19", "2021-04-20", "2021-04-21"], ["AAPL", "KO"], z,
                    z_label="breaches", height=300)
    fig = to_plotly(chart)
    assert fig.data[0].type == "heatmap"
    assert list(fig.data[0].y) == ["AAPL", "KO"]
    assert np.array_equal(np.asarray(fig.data[0].z), z)
    assert fig.layout.height == 300
    png = to_png(chart, tmp_path / "h.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="expected \\(2, 2\\)"):
        Heatmap("bad", "x", "y", ["a", "b"], ["r1", "r2"], np.zeros((2, 3)))


def test_zone_counts_and_pass_counts():
    bt = pd.DataFrame({
        "asset": ["A", "B", "C", "A", "B", "C"],
        "model": ["dd-ewma"] * 3 + ["garch"] * 3,
        "tail": [0.01] * 6,
        "breaches": [1, 5, 12, 0, 2, 3],
        "expected": [2.5] * 6,
        "kupiec_p": [0.3, 0.04, 0.0001, 0.08, 0.7, 0.6],
        "christoffersen_cc_p": [0.5, 0.05, 0.001, 0.2, 0.01, 0.9],
        "es_p": [0.9, 0.2, 0.01, 1.0, 0.5, 0.3],
        "basel_zone": ["green", "yellow", "red", "green", "green", "green"],
    })
    c = zone_counts(bt).set_index("model")
    assert c.loc["dd-ewma", ["green", "yellow", "red"]].tolist() == [1, 1, 1]
    assert c.loc["garch", ["green", "yellow", "red"]].tolist() == [3, 0, 0]
    assert c.loc["dd-ewma", "kupiec_pass"] == 1  # p >= 0.05 passes
    assert c.loc["dd-ewma", "christoffersen_cc_pass"] == 2
    assert c.loc["garch", "es_z2_pass"] == 3
    assert c.loc["dd-ewma", "breaches"] == 18 and c.loc["dd-ewma", "tail"] == "1%"
