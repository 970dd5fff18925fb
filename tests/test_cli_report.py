"""`marketcast report` on files written by the real commands (volatility, backtest, forecast) on the VIX data."""

from __future__ import annotations

import subprocess
import sys

import pytest

from marketcast.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(tmp_path_factory, vix_path):
    d = tmp_path_factory.mktemp("results")
    vol, scores, fc = d / "vol.csv", d / "scores.parquet", d / "fc.json"
    assert main(["--quiet", "volatility", str(vix_path), "--window", "252", "--from", "2021-03-01", "--to", "2021-05-24",
                 "--models", "dd-ewma", "--out", str(vol)]) == 0
    assert main(["--quiet", "backtest", str(vix_path), "--models", "sma,naive", "--window", "252", "--start", "2016-01-04",
                 "--step", "63", "--slices", "4", "--horizon", "21", "--out", str(scores)]) == 0
    assert main(["--quiet", "forecast", str(vix_path), "--model", "sma", "--levels", "0.9,0.95", "--horizon", "5",
                 "--train-to", "2021-05-14", "--out", str(fc)]) == 0
    return {"volatility": vol, "scores": scores, "forecast": fc}


def test_report_of_the_commands_outputs(results, tmp_path, capsys):
    out, pngs = tmp_path / "report.html", tmp_path / "png"
    argv = ["report", str(results["volatility"]), str(results["scores"]), str(results["forecast"]),
            "--out", str(out), "--png-dir", str(pngs), "--title", "VIX report"]
    assert main(argv) == 0
    assert "wrote" in capsys.readouterr().err
    html = out.read_text(encoding="utf-8")
    # volatility (one model): volatility chart + VaR chart; backtest: RMSE and MAE by slice; forecast: one fan
    assert html.count('class="plotly-graph-div"') == 2 + 2 + 1
    assert "<title>VIX report</title>" in html and "<script src" not in html and "<link" not in html
    files = sorted(pngs.glob("*.png"))
    assert len(files) == 5 and all(f.read_bytes()[:8] == PNG_MAGIC and f.stat().st_size > 10_000 for f in files)
    # the forecast's actual VIX closes are in the chart (the model was trained up to 2021-05-14)
    assert "actual" in html and "sma forecast with 90%, 95% intervals" in html


def test_report_from_command_outputs_and_a_saved_model(capsys, tmp_path, vix_path):
    vol, fc, model = tmp_path / "vol.parquet", tmp_path / "fc.json", tmp_path / "m"
    assert main(["--quiet", "volatility", str(vix_path), "--from", "2021-05-03", "--to", "2021-05-24", "--out", str(vol)]) == 0
    assert main(["--quiet", "forecast", str(vix_path), "--model", "sma", "--levels", "0.9", "--horizon", "3", "--out", str(fc)]) == 0
    assert main(["--quiet", "train", str(vix_path), "--model", "lstm", "--epochs", "2", "-p", "units=8", "-p", "dense_units=4",
                 "-p", "validation=0.2", "--save", str(model)]) == 0
    out = tmp_path / "r.html"
    rc = main(["report", str(vol), str(fc), str(model), "--out", str(out), "--png-dir", str(tmp_path / "png"), "--title", "T"])
    assert rc == 0 and "wrote" in capsys.readouterr().err
    html = out.read_text()
    # volatility: 1 volatility + 1 VaR chart; forecast: 1 fan; model: loss and MAE curves
    assert html.count('class="plotly-graph-div"') == 5 and "<title>T</title>" in html
    assert len(list((tmp_path / "png").glob("*.png"))) == 5


def test_a_bad_results_file_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("when,price\n2021-01-04,1\n")
    out = tmp_path / "r.html"
    assert main(["report", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("marketcast: error: ")
    assert "bad.csv" in err and "expected one of" in err and "date, model, point" in err
    assert not out.exists()


def test_the_output_path_is_checked_before_any_work(tmp_path, capsys):
    # the results file does not exist: the error is still about the output, so nothing was read
    assert main(["report", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "report.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "report.txt" in err and "missing.csv" not in err
    assert main(["report", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "no" / "r.html")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "r.html")]) == 2
    assert "missing.csv: no such file" in capsys.readouterr().err


def test_importing_the_cli_loads_no_plotting_library():
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import marketcast.cli"],
                          capture_output=True, text=True, check=True)
    modules = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert "plotly" not in modules and "matplotlib" not in modules
