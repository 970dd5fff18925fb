"""Read the VIX paper's printed tables straight from its text (../shared/seeds), for the tests.

Independent of the package's own transcription in ``marketcast.reproduce``: the tests compare
our numbers with the paper's text itself.
"""

from __future__ import annotations

import re


def _rows_after(text: str, marker: str, width: int, stop: str) -> list[list[str]]:
    start = text.index(marker)
    end = text.index(stop, start + len(marker))
    rows = []
    for line in text[start:end].splitlines():
        cells = line.strip().split("\t")
        if len(cells) == width and re.fullmatch(r"\d+|FE mean|FE SD", cells[0]):
            rows.append(cells)
    return rows


def table_v(text: str) -> list[dict]:
    """Table V: day, DDVF, RMSE, time, NVF, RMSE, time, PVF, RMSE, time, ENVF."""
    keys = ["day", "ddvf", "dd_rmse", "dd_time", "nvf", "nn_rmse", "nn_time", "pvf", "pp_rmse", "pp_time", "envf"]
    rows = _rows_after(text, "TABLE V One-day-ahead", 11, "There is strong evidence")
    return [dict(zip(keys, [int(r[0])] + [float(x) for x in r[1:]])) for r in rows]


def table_vi(text: str) -> list[dict]:
    """Table VI: day, then VaR and CVaR for DD-EWMA, NN, Prophet, ensemble."""
    keys = ["day", "dd_var", "dd_cvar", "nn_var", "nn_cvar", "pp_var", "pp_cvar", "en_var", "en_cvar"]
    rows = _rows_after(text, "TABLE VI NE-DAY-AHEAD", 9, "TABLE VII")
    return [dict(zip(keys, [int(r[0])] + [float(x) for x in r[1:]])) for r in rows]


def table_vii(text: str) -> list[dict]:
    keys = ["day", "dd_mad", "nn_mad", "pp_mad", "en_mad"]
    rows = _rows_after(text, "TABLE VII ONE-DAY-AHEAD", 5, "IV. CONCLUSIONS")
    return [dict(zip(keys, [int(r[0])] + [float(x) for x in r[1:]])) for r in rows]


def table_ii_iii(text: str, which: str) -> dict:
    """Tables II (21-day) and III (5-day): per-slice RMSE/MAE of SMA, LSTM, Prophet, ensemble.

    Returns ``{"slices": [14 rows], "mean": row, "sd": row}``; each row a dict with keys
    ``sma_rmse, sma_mae, lstm_rmse, ...``. Table II prints a stray second "14" row (a copy of
    Table III's slice 14); only the first is kept.
    """
    marker, stop = {"II": ("CROSS VALIDATION FOR 21-DAY", "TABLE III"),
                    "III": ("CROSS VALIDATION FOR 5-DAY", "The results for the 21-day")}[which]
    keys = ["sma_rmse", "sma_mae", "lstm_rmse", "lstm_mae", "prophet_rmse", "prophet_mae", "ensemble_rmse", "ensemble_mae"]
    rows = _rows_after(text, marker, 9, stop)
    out, seen = {"slices": []}, set()
    for r in rows:
        vals = dict(zip(keys, [float(x) for x in r[1:]]))
        if r[0] == "FE mean":
            out["mean"] = vals
        elif r[0] == "FE SD":
            out["sd"] = vals
        elif r[0] not in seen:
            seen.add(r[0])
            out["slices"].append(vals)
    return out
