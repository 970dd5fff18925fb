"""One neutral description of a chart, rendered twice: interactively (Plotly) and as a PNG (matplotlib).

A :class:`Chart` is a title, axis labels and a list of :class:`Layer` objects; each layer is a
``line``, a ``scatter`` (markers: actual prices, VaR breaches), a ``band`` (a filled area
between ``lower`` and ``upper``: nested bands make a fan) or a ``bar`` (grouped by ``x``).
The builders (:mod:`marketcast.report.chart_builders`: :func:`fan_chart`, :func:`var_chart`, ...)
are plain functions of result frames that return such descriptions; :func:`to_plotly` and
:func:`to_png` here are the only code that knows a plotting library, and both are imported lazily,
so building charts costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "Layer",
    "Chart",
    "Heatmap",
    "PALETTE",
    "to_plotly",
    "to_png",
]

LayerKind = Literal["line", "scatter", "band", "bar"]
Dash = Literal["solid", "dash", "dot"]

#: Tableau 10: distinguishable, colour-blind friendly enough; models take colours in order.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
ACTUAL = "#222222"
MUTED = "#9a9a9a"
BREACH = "#d62728"


def _as_x(values) -> np.ndarray:
    """Dates as naive ``datetime64[ns]``, anything else as a plain array."""
    if isinstance(values, pd.Series | pd.Index):
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            idx = pd.DatetimeIndex(values)
            return (idx.tz_localize(None) if idx.tz is not None else idx).to_numpy(dtype="datetime64[ns]")
        return values.to_numpy()
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]")
    if arr.dtype.kind == "O" and arr.size and all(isinstance(v, pd.Timestamp | np.datetime64) for v in arr.ravel()):
        return pd.DatetimeIndex(arr).to_numpy(dtype="datetime64[ns]")
    return arr


def _as_y(values) -> np.ndarray | None:
    if values is None:
        return None
    return np.asarray(values, dtype=np.float64)


@dataclass
class Layer:
    """One visual element of a chart.

    ``line`` and ``scatter`` use ``y``; ``band`` fills between ``lower`` and ``upper``; ``bar``
    draws one bar per ``x`` (several bar layers are grouped side by side). ``width`` is the line
    width, ``size`` the marker diameter in points.
    """

    kind: LayerKind
    name: str
    # Array-likes in, NumPy arrays after __post_init__ (Any: mypy cannot type the conversion).
    x: Any
    y: Any = None
    lower: Any = None
    upper: Any = None
    color: str = PALETTE[0]
    opacity: float = 1.0
    dash: Dash = "solid"
    width: float = 1.8
    size: float = 6.0
    show_legend: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("line", "scatter", "band", "bar"):
            raise ValueError(f"unknown layer kind {self.kind!r}")
        self.x = _as_x(self.x)
        self.y, self.lower, self.upper = _as_y(self.y), _as_y(self.lower), _as_y(self.upper)
        needed = ("lower", "upper") if self.kind == "band" else ("y",)
        for attr in needed:
            arr = getattr(self, attr)
            if arr is None:
                raise ValueError(f"{self.kind} layer '{self.name}' needs {attr}")
            if len(arr) != len(self.x):
                raise ValueError(f"layer '{self.name}': {len(arr)} {attr} values for {len(self.x)} x values")
        if not 0.0 <= self.opacity <= 1.0:
            raise ValueError(f"layer '{self.name}': opacity must lie in [0, 1]")

    @property
    def is_dates(self) -> bool:
        return self.x.dtype.kind == "M"


@dataclass
class Chart:
    """A title, axis labels and layers drawn in order (first at the bottom)."""

    title: str
    x_label: str
    y_label: str
    layers: list[Layer] = field(default_factory=list)
    y_log: bool = False

    def kinds(self) -> list[str]:
        return [layer.kind for layer in self.layers]

    def layer(self, name: str) -> Layer:
        """The layer called ``name`` (KeyError if none)."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)


@dataclass
class Heatmap:
    """A matrix of values over row labels ``y`` and columns ``x`` (e.g. breaches over assets and days).

    ``z`` has one row per ``y`` label and one column per ``x`` value; ``colors`` run from the
    lowest to the highest value; ``height`` is the interactive figure's height in pixels.
    """

    title: str
    x_label: str
    y_label: str
    x: Sequence | np.ndarray
    y: Sequence[str]
    z: np.ndarray
    z_label: str = ""
    colors: tuple[str, ...] = ("#ffffff", "#fdae61", "#d62728")
    height: int = 440

    def __post_init__(self) -> None:
        self.x = _as_x(self.x)
        self.y = [str(v) for v in self.y]
        self.z = np.asarray(self.z, dtype=np.float64)
        if self.z.shape != (len(self.y), len(self.x)):
            raise ValueError(
                f"heatmap '{self.title}': z has shape {self.z.shape}, expected ({len(self.y)}, {len(self.x)})"
            )

    def kinds(self) -> list[str]:
        return ["heatmap"]


def _heatmap_plotly(chart: Heatmap):
    import plotly.graph_objects as go

    n = len(chart.colors)
    scale = (
        [[i / (n - 1), c] for i, c in enumerate(chart.colors)]
        if n > 1
        else [[0, chart.colors[0]], [1, chart.colors[0]]]
    )
    fig = go.Figure(
        go.Heatmap(
            z=chart.z,
            x=chart.x,
            y=chart.y,
            colorscale=scale,
            xgap=0,
            ygap=0,
            colorbar={"title": {"text": chart.z_label}},
            hovertemplate="%{y} %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": chart.title, "x": 0.01, "xanchor": "left", "font": {"size": 16}},
        template="plotly_white",
        height=chart.height,
        margin={"l": 96, "r": 24, "t": 56, "b": 64},
        font={"family": "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif", "size": 11},
    )
    fig.update_xaxes(title_text=chart.x_label)
    fig.update_yaxes(title_text=chart.y_label, autorange="reversed", type="category")
    return fig


def _heatmap_png(chart: Heatmap, path: str | Path, dpi: int) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.figure import Figure

    from marketcast.io import _atomic_replace

    fig = Figure(figsize=(9.0, max(3.0, min(24.0, 0.12 * len(chart.y) + 1.5))), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = LinearSegmentedColormap.from_list("heat", list(chart.colors))
    im = ax.imshow(chart.z, aspect="auto", cmap=cmap, interpolation="nearest")
    step = max(1, len(chart.y) // 60)
    ax.set_yticks(range(0, len(chart.y), step), chart.y[::step], fontsize=6)
    xs = max(1, len(chart.x) // 8)
    labels = [str(v)[:10] for v in chart.x]
    ax.set_xticks(range(0, len(labels), xs), labels[::xs], fontsize=8)
    fig.colorbar(im, ax=ax, label=chart.z_label)
    ax.set_title(chart.title, loc="left", fontsize=12)
    ax.set_xlabel(chart.x_label)
    ax.set_ylabel(chart.y_label)
    target = Path(path)
    _atomic_replace(target, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, facecolor="white"))
    return target


# --------------------------------------------------------------------------- renderers


def _rgba(color: str, opacity: float) -> str:
    c = color.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    r, g, b = (int(c[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{opacity:g})"


def _bar_categories(chart: Chart) -> list:
    cats: dict = {}
    for layer in chart.layers:
        if layer.kind == "bar":
            for v in layer.x.tolist():
                cats.setdefault(v, None)
    return list(cats)


def to_plotly(chart: Chart | Heatmap):
    """The chart as an interactive :class:`plotly.graph_objects.Figure`."""
    import plotly.graph_objects as go

    if isinstance(chart, Heatmap):
        return _heatmap_plotly(chart)

    fig = go.Figure()
    for i, layer in enumerate(chart.layers):
        fig.add_traces(_plotly_traces(go, layer, group=f"g{i}"))
    has_bars = any(layer.kind == "bar" for layer in chart.layers)
    fig.update_layout(
        title={"text": chart.title, "x": 0.01, "xanchor": "left", "font": {"size": 16}},
        template="plotly_white",
        height=440,
        margin={"l": 64, "r": 24, "t": 56, "b": 96},
        hovermode="x unified" if not has_bars else "closest",
        barmode="group",
        # below everything, in the figure's own bottom margin: never over the axis title
        legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0.0, "xanchor": "left", "x": 0.0},
        font={"family": "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif", "size": 12},
    )
    _plotly_axes(fig, chart, has_bars)
    return fig


def _plotly_traces(go, layer, group: str) -> list:
    """The plotly traces of one layer (a band is two: its lower edge, then the upper filled down to it)."""
    if layer.kind in ("line", "scatter"):
        style = (
            {"mode": "lines", "line": {"color": layer.color, "width": layer.width, "dash": layer.dash}}
            if layer.kind == "line"
            else {"mode": "markers", "marker": {"color": layer.color, "size": layer.size}}
        )
        common = {"opacity": layer.opacity, "showlegend": layer.show_legend, "legendgroup": group}
        return [go.Scatter(x=layer.x, y=layer.y, name=layer.name, **style, **common)]
    if layer.kind == "band":
        edge = {"mode": "lines", "line": {"width": 0, "color": layer.color}, "legendgroup": group}
        lower = go.Scatter(
            x=layer.x,
            y=layer.lower,
            name=f"{layer.name} lower",
            showlegend=False,
            hovertemplate=f"{layer.name} lower: %{{y:.4g}}<extra></extra>",
            **edge,
        )
        upper = go.Scatter(
            x=layer.x,
            y=layer.upper,
            name=layer.name,
            fill="tonexty",
            fillcolor=_rgba(layer.color, layer.opacity),
            showlegend=layer.show_legend,
            hovertemplate=f"{layer.name} upper: %{{y:.4g}}<extra></extra>",
            **edge,
        )
        return [lower, upper]
    x = layer.x if layer.is_dates else [str(v) for v in layer.x.tolist()]
    return [
        go.Bar(
            x=x,
            y=layer.y,
            name=layer.name,
            marker={"color": layer.color},
            opacity=layer.opacity,
            showlegend=layer.show_legend,
        )
    ]


def _plotly_axes(fig, chart: Chart, has_bars: bool) -> None:
    """Axis titles and scales; whole-number ticks for counts, day ticks for a few weeks of dates."""
    fig.update_xaxes(title_text=chart.x_label, automargin=True)
    fig.update_yaxes(title_text=chart.y_label, automargin=True, type="log" if chart.y_log else "linear")
    if has_bars:
        fig.update_xaxes(type="category")
    counted = [layer.x for layer in chart.layers if layer.x.dtype.kind in "iu" and len(layer.x)]
    if counted and not has_bars:  # epochs, steps: whole-number ticks only
        span = max(int(x.max()) for x in counted) - min(int(x.min()) for x in counted)
        fig.update_xaxes(tickformat="d", tick0=0, dtick=max(1, math.ceil(span / 10)))
    dated = [layer.x for layer in chart.layers if layer.is_dates and len(layer.x)]
    if dated:
        lo = min(x.min() for x in dated)
        hi = max(x.max() for x in dated)
        days = (hi - lo) / np.timedelta64(1, "D")
        if days <= 62:  # daily data over a few weeks: dates, not hours
            fig.update_xaxes(tickformat="%b %-d<br>%Y", **({"dtick": 86_400_000} if days <= 14 else {}))


_MPL_DASH = {"solid": "-", "dash": "--", "dot": ":"}


def to_png(chart: Chart | Heatmap, path: str | Path, *, dpi: int = 120) -> Path:
    """Draw the chart with matplotlib (Agg canvas, no pyplot) and write it atomically as a PNG.

    The figure is built on :class:`matplotlib.figure.Figure` with an explicit Agg canvas, so no
    global backend or pyplot state is touched: safe in notebooks, servers and threads.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from marketcast.io import _atomic_replace

    if isinstance(chart, Heatmap):
        return _heatmap_png(chart, path, dpi)
    fig = Figure(figsize=(9.0, 4.6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cats = _bar_categories(chart)
    bar_layers = [layer for layer in chart.layers if layer.kind == "bar"]
    n_bars = len(bar_layers)
    dates = False
    for layer in chart.layers:
        label = layer.name if layer.show_legend else "_nolegend_"
        dates = dates or layer.is_dates
        if layer.kind == "line":
            ax.plot(
                layer.x,
                layer.y,
                color=layer.color,
                lw=layer.width,
                ls=_MPL_DASH[layer.dash],
                alpha=layer.opacity,
                label=label,
            )
        elif layer.kind == "scatter":
            ax.scatter(
                layer.x,
                layer.y,
                color=layer.color,
                s=layer.size**2,
                alpha=layer.opacity,
                label=label,
                zorder=3,
                linewidths=0,
            )
        elif layer.kind == "band":
            ax.fill_between(
                layer.x, layer.lower, layer.upper, color=layer.color, alpha=layer.opacity, lw=0, label=label
            )
        else:
            k = bar_layers.index(layer)
            width = 0.8 / n_bars
            pos = np.array([cats.index(v) for v in layer.x.tolist()], dtype=float) - 0.4 + width * (k + 0.5)
            ax.bar(pos, layer.y, width=width, color=layer.color, alpha=layer.opacity, label=label)
    if n_bars:
        ax.set_xticks(range(len(cats)), [str(c) for c in cats])
        if len(cats) > 24:  # thin the labels of long category axes
            step = math.ceil(len(cats) / 24)
            for i, tick in enumerate(ax.get_xticklabels()):
                tick.set_visible(i % step == 0)
    if not n_bars and any(layer.x.dtype.kind in "iu" for layer in chart.layers):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if dates:
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator(minticks=3, maxticks=9)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if chart.y_log:
        ax.set_yscale("log")
    ax.set_title(chart.title, loc="left", fontsize=12)
    ax.set_xlabel(chart.x_label)
    ax.set_ylabel(chart.y_label)
    ax.grid(True, axis="y" if n_bars else "both", color="#e5e5e5", lw=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(handles), 5), frameon=False, fontsize=9)
    target = Path(path)
    _atomic_replace(target, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, facecolor="white"))
    return target
