"""The universe page (report.html): what a risk manager reads at a glance.

Traffic-light counts per model and tail, the assets with the most breaches, a breach heat map
over assets and days, the portfolio's VaR band with its breaches, sector roll-ups, failures,
and the survivorship caveat. Built from :mod:`marketcast.report` (Plotly, one offline file).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from marketcast.report.charts import MUTED, PALETTE, Chart, Heatmap, Layer
from marketcast.report.html import Section, render_html

__all__ = ["write_report", "report_sections", "zone_counts"]

ZONE_COLORS = {"green": "#2ca02c", "yellow": "#e6b800", "red": "#d62728"}
#: p-values below this reject a backtest in the report's pass counts.
LEVEL = 0.05


def _pct(tail: float) -> str:
    return f"{tail * 100:g}%"


def zone_counts(backtests: pd.DataFrame) -> pd.DataFrame:
    """Per model and tail: assets in each Basel zone and assets passing Kupiec, Christoffersen and Z2 at 5%."""
    rows = []
    for (model, tail), g in backtests.groupby(["model", "tail"], sort=False):
        zones = g["basel_zone"].value_counts()
        rows.append(
            {
                "model": model,
                "tail": _pct(float(tail)),
                "assets": len(g),
                "green": int(zones.get("green", 0)),
                "yellow": int(zones.get("yellow", 0)),
                "red": int(zones.get("red", 0)),
                "kupiec_pass": int((g["kupiec_p"] >= LEVEL).sum()),
                "christoffersen_cc_pass": int((g["christoffersen_cc_p"] >= LEVEL).sum()),
                "es_z2_pass": int((g["es_p"] >= LEVEL).sum()),
                "breaches": int(g["breaches"].sum()),
                "expected": float(g["expected"].sum()),
            }
        )
    return pd.DataFrame(rows)


def _with_names(frame: pd.DataFrame, constituents: pd.DataFrame | None) -> pd.DataFrame:
    if constituents is None:
        return frame.assign(name="", sector="unknown")
    out = frame.merge(constituents[["asset", "name", "sector"]], on="asset", how="left")
    out["sector"] = out["sector"].fillna("unknown")
    out["name"] = out["name"].fillna("")
    return out


def _traffic_section(result) -> Section:
    counts = zone_counts(result.backtests)
    layers = []
    labels = [f"{m} {t}" for m, t in zip(counts["model"], counts["tail"])]
    for zone, color in ZONE_COLORS.items():
        layers.append(Layer("bar", zone, labels, counts[zone], color=color))
    chart = Chart("Basel traffic light: assets per zone", "model and tail", "assets", layers)
    n = len(result.backtests["asset"].unique()) if len(result.backtests) else 0
    text = (
        f"{result.summary}. Each asset's VaR is backtested over its last "
        f"{result.manifest['settings']['days']} days: Basel zone from the binomial probability of its "
        "breaches, Kupiec's proportion of failures, Christoffersen's conditional coverage and "
        f"Acerbi-Szekely's Z2 for the ES (pass: p >= {LEVEL:g}). {n} assets tested."
    )
    return Section(
        "Traffic lights", text, [chart], [("Assets per zone and backtests passed, per model and tail", counts)]
    )


def _most_breached(result, constituents, top: int = 20) -> Section:
    bt = _with_names(result.backtests, constituents)
    bt = bt.assign(excess=bt["breaches"] - bt["expected"])
    cols = [
        "asset",
        "name",
        "sector",
        "model",
        "tail",
        "breaches",
        "expected",
        "kupiec_p",
        "christoffersen_cc_p",
        "basel_zone",
        "es_p",
    ]
    tables = []
    for tail in sorted(bt["tail"].unique()):
        t = bt[bt["tail"] == tail].sort_values(["breaches", "kupiec_p"], ascending=[False, True], kind="stable")
        shown = t[cols].head(top).assign(tail=_pct(float(tail)))
        tables.append((f"The {top} asset-model pairs with the most breaches of the {_pct(tail)} VaR", shown))
    return Section("Most breached assets", "", [], tables)


def _heatmap_section(result) -> Section:
    a = result.assets[result.assets["return"].notna()]
    if a.empty:
        return Section("Breach heat map", "No realised days yet.")
    per = a.assign(b=a["breach"].astype(bool).astype(int)).groupby(["asset", "date"])["b"].sum().unstack("date")
    per = per.fillna(0)
    order = per.sum(axis=1).sort_values(ascending=False, kind="stable").index
    per = per.loc[order]
    combos = a.groupby(["model", "tail"]).ngroups
    height = int(min(4000, max(440, 12 * len(per) + 140)))
    chart = Heatmap(
        "VaR breaches per asset and day (models x tails breached)",
        "date",
        "asset",
        # dates as categories: no empty columns for weekends and holidays
        [d.date().isoformat() for d in pd.DatetimeIndex(per.columns)],
        list(per.index),
        per.to_numpy(),
        z_label="breaches",
        height=height,
    )
    text = (
        f"Each cell counts how many of the {combos} model-and-tail VaRs the asset's return broke that day "
        "(assets sorted by their total, most breached first). Clustered columns are market-wide shocks; "
        "a row that lights up often is an asset the models underestimate."
    )
    return Section("Breach heat map", text, [chart])


def _portfolio_section(result) -> Section:
    port = result.portfolio
    if port.empty:
        return Section("Portfolio", "No portfolio (no asset completed).")
    notional = float(result.manifest["settings"]["notional"])
    charts = []
    methods = list(dict.fromkeys(port["method"]))
    colors = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(methods)}
    for tail in sorted(port["tail"].unique()):
        p = port[port["tail"] == tail].copy()
        p["date"] = pd.to_datetime(p["date"])
        wide = p.pivot(index="date", columns="method", values="var")[methods] / notional
        dates = wide.index
        ret = p.drop_duplicates("date").set_index("date")["return"].reindex(dates)
        layers = [
            Layer(
                "band",
                "range of the methods' VaR",
                dates,
                lower=-wide.max(axis=1),
                upper=-wide.min(axis=1),
                color="#1f77b4",
                opacity=0.15,
            )
        ]
        known = ret.notna().to_numpy()
        layers.append(Layer("line", "portfolio return", dates[known], ret[known], color=MUTED, width=1.2))
        for m in methods:
            layers.append(Layer("line", f"{m} VaR", dates, -wide[m], color=colors[m], width=1.4))
        for m in methods:
            rows = p[(p["method"] == m) & p["breach"].fillna(False).astype(bool)]
            if len(rows):
                layers.append(
                    Layer(
                        "scatter", f"{m} breach", pd.to_datetime(rows["date"]), rows["return"], color=colors[m], size=9
                    )
                )
        n = p[p["breach"].fillna(False).astype(bool)].groupby("method").size().reindex(methods, fill_value=0)
        summary = ", ".join(f"{m} {k}" for m, k in n.items())
        charts.append(
            Chart(f"Portfolio {_pct(tail)} VaR by method; breaches: {summary}", "date", "daily log return", layers)
        )
    assets_in = port.groupby("date")["assets"].max()
    text = (
        "The portfolio's one-day VaR by each method, as a return threshold (the band spans the methods), the "
        f"realised portfolio return, and each method's breaches (markers, in the method's colour). Between "
        f"{int(assets_in.min())} and {int(assets_in.max())} assets were in the portfolio on a day (an asset "
        "without data on a day drops out of that day's weights)."
    )
    tests = result.portfolio_backtests.copy()
    if len(tests):
        tests["tail"] = tests["tail"].map(_pct)
    return Section("Portfolio", text, charts, [("Portfolio backtests per method and tail", tests)])


def _sector_section(result, constituents) -> Section:
    a = result.assets
    if a.empty:
        return Section("Sectors", "No asset completed.")
    bt = _with_names(result.backtests, constituents)
    rows = []
    for (sector, model, tail), g in bt.groupby(["sector", "model", "tail"]):
        rows.append(
            {
                "sector": sector,
                "model": model,
                "tail": _pct(float(tail)),
                "assets": len(g),
                "breaches": int(g["breaches"].sum()),
                "expected": float(g["expected"].sum()),
                "breach_rate": float(g["breaches"].sum() / max(g["days"].sum(), 1)),
                "red": int((g["basel_zone"] == "red").sum()),
                "yellow": int((g["basel_zone"] == "yellow").sum()),
                "kupiec_pass": int((g["kupiec_p"] >= LEVEL).sum()),
            }
        )
    roll = pd.DataFrame(rows)
    live = a[a["return"].isna()]
    live = _with_names(live[["asset", "model", "tail", "volatility", "var", "cvar"]], constituents)
    live_roll = (
        live.groupby(["sector", "model", "tail"])
        .agg(
            assets=("asset", "size"),
            mean_volatility=("volatility", "mean"),
            mean_var=("var", "mean"),
            mean_cvar=("cvar", "mean"),
        )
        .reset_index()
    )
    live_roll["tail"] = live_roll["tail"].map(_pct)
    first = roll[(roll["model"] == roll["model"].iloc[0]) & (roll["tail"] == roll["tail"].iloc[0])]
    others = roll[(roll["model"] != roll["model"].iloc[0]) | (roll["tail"] != roll["tail"].iloc[0])]
    layers = [
        Layer(
            "bar",
            f"{roll['model'].iloc[0]} {roll['tail'].iloc[0]}",
            first["sector"],
            first["breach_rate"],
            color=PALETTE[0],
        )
    ]
    for i, ((m, t), g) in enumerate(others.groupby(["model", "tail"], sort=False), start=1):
        layers.append(Layer("bar", f"{m} {t}", g["sector"], g["breach_rate"], color=PALETTE[i % len(PALETTE)]))
    chart = Chart("Breach rate per sector (share of asset-days with a VaR breach)", "sector", "breach rate", layers)
    where = (
        ""
        if constituents is not None
        else " No constituents.csv was found beside the universe, so every asset is in sector 'unknown'."
    )
    return Section(
        "Sectors",
        f"Backtests and tomorrow's risk rolled up by sector.{where}",
        [chart],
        [
            ("Backtests per sector, model and tail", roll),
            ("Tomorrow's (live day) mean volatility, VaR and ES per sector", live_roll),
        ],
    )


def _notes_section(result) -> Section:
    m = result.manifest
    s = m["settings"]
    text = (
        f"**Survivorship bias.** {m.get('survivorship_bias', '')}\n\n"
        f"Universe `{m.get('universe')}`; models {', '.join(s['models'])}; window {s['window']} returns; "
        f"{s['days']} days plus the live one up to {s.get('to') or 'the end of the data'}; tails "
        f"{', '.join(_pct(t) for t in s['tails'])}; notional {s['notional']:g}; refit every {s['refit_every']} "
        f"day(s). Each forecast uses only the returns before its day. Data checksums, settings and library "
        "versions are in `manifest.json`."
    )
    tables = []
    if len(result.failures):
        tables.append(("Assets that failed (their data could not be used)", result.failures))
    return Section("Data and caveats", text, [], tables)


def report_sections(result, constituents: pd.DataFrame | None) -> list[Section]:
    return [
        _traffic_section(result),
        _most_breached(result, constituents),
        _heatmap_section(result),
        _portfolio_section(result),
        _sector_section(result, constituents),
        _notes_section(result),
    ]


def write_report(path: str | Path, result, constituents: pd.DataFrame | None = None) -> Path:
    """Write the universe page to ``path`` (atomically)."""
    settings = result.manifest["settings"]
    title = (
        f"Universe risk: {result.manifest['assets']['universe']} assets, "
        f"{', '.join(settings['models'])}, last {settings['days']} days"
    )
    return render_html(title, report_sections(result, constituents), path)
