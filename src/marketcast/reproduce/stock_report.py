"""The Stock-X reproduction as a self-contained HTML report with PNG figures (Figures 6-9)."""

from __future__ import annotations

from pathlib import Path

from marketcast.report import Section, predicted_vs_actual, render_html, training_curves
from marketcast.reproduce.stock_paper import StockPaperResult, summary_markdown

__all__ = ["write_stock_report"]


def write_stock_report(result: StockPaperResult, folder: Path) -> Path:
    """``report.html`` and ``figures/*.png`` in ``folder``."""
    t = result.tables
    sections = [Section("Summary", summary_markdown(result).split("\n", 2)[2])]
    curves = []
    for key, history in result.histories.items():
        dataset, protocol, model = key.split("/")
        if model == "cnn-lstm" and protocol == "chronological":
            curves += [training_curves(history, "loss"), training_curves(history, "mae")]
            curves[-2].title = f"Fig. 6: CNN-LSTM loss per epoch, {dataset} (chronological)"
            curves[-1].title = f"Fig. 7: CNN-LSTM MAE per epoch, {dataset} (chronological)"
    sections.append(
        Section("Training curves (Fig. 6-7)", "Training and validation loss (MSE) and MAE per epoch.", curves)
    )
    figures = []
    for key, frame in result.predictions.items():
        dataset, protocol = key.split("/")
        figures.append(
            predicted_vs_actual(
                frame.date,
                frame.actual,
                frame.predicted,
                f"CNN-LSTM next-day close vs real, {dataset}, {protocol} test windows",
            )
        )
    sections.append(
        Section(
            "Predicted vs real prices (Fig. 8-9)",
            "Test windows in date order. Under the shuffled protocol the test days are scattered through "
            "the history and their neighbours were trained on.",
            figures,
        )
    )
    sections.append(
        Section(
            "Tables",
            "",
            [],
            [
                ("Table II: all models and metrics", t["table2"]),
                ("Table III: CNN-LSTM MSE per dataset", t["table3"]),
                ("Table IV: mean MSE by model", t["table4"]),
                ("Save, reload, train again", t["finetune"]),
            ],
        )
    )
    return render_html(
        "marketcast: reproduction of the Stock-X paper", sections, folder / "report.html", png_dir=folder / "figures"
    )
