"""The HTML report in a real headless Chromium: it loads offline, every chart renders, no console errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketcast.cli import main

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (CI installs it: apt-get install chromium)")
    return playwright


@pytest.fixture
def report(tmp_path, vix_path):
    vol, bt, fc = tmp_path / "vol.csv", tmp_path / "bt.csv", tmp_path / "fc.csv"
    assert main(["--quiet", "volatility", str(vix_path), "--from", "2021-03-01", "--to", "2021-05-24", "--models",
                 "dd-ewma,garch", "--out", str(vol)]) == 0
    assert main(["--quiet", "backtest", str(vix_path), "--models", "sma,naive", "--window", "504", "--start", "2016-01-04",
                 "--step", "64", "--slices", "5", "--horizon", "21", "--out", str(bt)]) == 0
    assert main(["--quiet", "forecast", str(vix_path), "--model", "sma", "--levels", "0.9,0.95", "--horizon", "5",
                 "--out", str(fc)]) == 0
    out = tmp_path / "report.html"
    assert main(["--quiet", "report", str(vol), str(bt), str(fc), "--out", str(out)]) == 0
    return out


def test_report_renders_in_headless_chromium(report, tmp_path):
    sync_api = _browser()
    html = report.read_text()
    n_charts = html.count('class="plotly-graph-div"')
    assert n_charts >= 6
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda req: requests.append(req.url))
            page.goto(report.as_uri(), wait_until="load")
            page.wait_for_function(
                f"document.querySelectorAll('.plot-container .main-svg').length >= {n_charts}", timeout=30_000)
            rendered = page.evaluate("document.querySelectorAll('.plotly-graph-div .plot-container').length")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=False)
        finally:
            browser.close()
    assert rendered == n_charts
    assert errors == []
    assert all(url.startswith(("file:", "data:", "about:")) for url in requests), requests  # nothing from the network
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 10  # not a blank page
