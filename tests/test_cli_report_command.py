"""`marketcast report`: reports from the real commands' outputs; bad inputs are one line and exit 2."""

from __future__ import annotations

from marketcast.cli import main


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


def test_bad_inputs(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    rc = main(["report", str(bad), "--out", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert rc == 2 and "bad.csv: unrecognised results layout" in err and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()
    rc = main(["report", str(bad), "--out", str(tmp_path / "r.txt")])
    assert rc == 2 and "r.txt" in capsys.readouterr().err
    rc = main(["report", str(tmp_path / "none.csv"), "--out", str(tmp_path / "r.html")])
    assert rc == 2 and "none.csv" in capsys.readouterr().err
