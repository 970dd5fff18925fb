"""What UNIVERSE names: the assets of a universe, and how one asset's prices are loaded.

A universe is a folder (or glob) of per-asset price files, a long-format panel file (``symbol,
date, price``), a text file listing paths or ``SOURCE:SYMBOL`` entries, or ``store:`` (every
series in the DuckDB store; ``store:PATH`` for another store file). Resolving a universe only
lists its assets (:class:`AssetSpec`, a few strings each): workers load their own prices with
:func:`load_asset`, so no price data travels through the scheduler.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from marketcast.errors import DataError

__all__ = [
    "AssetSpec",
    "resolve_universe",
    "load_asset",
    "symbol_from_path",
    "asset_rows",
    "load_constituents",
    "PRICE_SUFFIXES",
]

PRICE_SUFFIXES = (".csv", ".txt", ".parquet", ".pq", ".tsv")
_PANEL_SYMBOL = ("symbol", "ticker", "asset")
# A split-adjusted close is preferred where a panel has one, as for single files.
_PANEL_PRICE = ("adj_close", "adjusted_close", "adj close", "price", "close")
_ALPHAVANTAGE_NAME = re.compile(r"^DA-(.+)-T-\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class AssetSpec:
    """One asset of a universe: its name and where its prices are.

    ``kind`` is ``file`` (``location`` a price file), ``store`` (``location`` ``SOURCE:SYMBOL``,
    ``store`` the store file or ``None`` for the default one) or ``panel`` (``location`` the
    panel file, ``symbol`` the panel's symbol).
    """

    asset: str
    kind: str
    location: str
    symbol: str | None = None
    store: str | None = None

    @property
    def source(self) -> str:
        """How the outputs name where the asset came from."""
        if self.kind == "panel":
            return f"{self.location}#{self.symbol}"
        return self.location

    def key(self) -> str:
        """The asset's identity in part names: kind, place and symbol."""
        return "|".join([self.kind, self.location, self.symbol or "", self.store or ""])


def symbol_from_path(path: str | Path) -> str:
    """The symbol a file name gives: ``DA-AAPL-T-2021-04-21.csv`` -> ``AAPL``, ``aapl.us.txt`` -> ``AAPL``."""
    stem = Path(path).name
    for suffix in PRICE_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    m = _ALPHAVANTAGE_NAME.match(stem)
    if m:
        return m.group(1)
    if stem.lower().endswith(".us"):  # Kaggle's Huge Stock Market Dataset
        return stem[:-3].upper()
    return stem


def _file_specs(paths: list[Path], what: str) -> list[AssetSpec]:
    files = sorted(
        {
            p.resolve()
            for p in paths
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in PRICE_SUFFIXES
        }
    )
    if not files:
        raise DataError(f"{what}: no price files ({', '.join(PRICE_SUFFIXES)}) found")
    names = [symbol_from_path(p) for p in files]
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    # Two files giving one symbol keep their full file names apart.
    names = [n if seen[n] == 1 else Path(p).stem for n, p in zip(names, files)]
    return [AssetSpec(n, "file", str(p)) for n, p in zip(names, files)]


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _read_header(path: Path) -> list[str]:
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            return [str(c) for c in pq.read_schema(path).names]
        except Exception:  # noqa: BLE001 - pyarrow raises several types; not a panel then
            return []
    with path.open("rb") as fh:
        head = fh.read(4096).decode("utf-8", errors="ignore").lstrip("\ufeff")
    first = next((ln for ln in head.splitlines() if ln.strip()), "")
    sep = max([",", ";", "\t", "|"], key=first.count)
    return [c.strip().strip('"') for c in first.split(sep)] if first.count(sep) else [first.strip()]


def _canon(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def _panel_columns(header: list[str]) -> tuple[str, str, str] | None:
    canon = {_canon(c): c for c in header}
    sym = next((canon[c] for c in _PANEL_SYMBOL if c in canon), None)
    date = next((canon[c] for c in ("date", "timestamp", "day") if c in canon), None)
    price = next((canon[_canon(c)] for c in _PANEL_PRICE if _canon(c) in canon), None)
    if sym and date and price:
        return sym, date, price
    return None


def _list_specs(path: Path) -> list[AssetSpec]:
    from marketcast.data.resolve import STORE_SPEC

    specs: list[AssetSpec] = []
    files: list[Path] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        target = Path(entry) if Path(entry).is_absolute() else path.parent / entry
        m = STORE_SPEC.match(entry)
        if m and not target.exists():
            specs.append(AssetSpec(m.group(2).upper(), "store", f"{m.group(1).lower()}:{m.group(2)}"))
        elif target.is_file():
            files.append(target)
        else:
            raise DataError(f"{path.name}: line {n}: '{entry}' is neither a file nor SOURCE:SYMBOL")
    out = specs + (_file_specs(files, path.name) if files else [])
    if not out:
        raise DataError(f"{path.name}: lists no assets")
    return out


def _store_specs(text: str) -> list[AssetSpec]:
    from marketcast.data.store import PriceStore

    store_path = text[len("store:") :].strip() or None
    listing = PriceStore(store_path).list()
    if listing.empty:
        raise DataError(f"{text}: the store holds no series (fetch some with `marketcast data fetch`)")
    counts = listing["symbol"].value_counts()
    specs = []
    for source, symbol in zip(listing["source"], listing["symbol"]):
        name = symbol if counts[symbol] == 1 else f"{source}:{symbol}"
        specs.append(AssetSpec(name, "store", f"{source}:{symbol}", store=store_path))
    return specs


def _panel_specs(path: Path, columns: tuple[str, str, str]) -> list[AssetSpec]:
    frame = _read_panel(str(path), os.path.getmtime(path))
    symbols = sorted(frame["symbol"].unique())
    return [AssetSpec(str(s), "panel", str(path.resolve()), symbol=str(s)) for s in symbols]


def resolve_universe(universe: str | Path) -> list[AssetSpec]:
    """The assets UNIVERSE names, sorted by name (see the module's docstring for the forms)."""
    text = str(universe).strip()
    if text.lower().startswith("store:"):
        specs = _store_specs(text)
    elif _is_glob(text) and not Path(text).exists():
        matches = [Path(p) for p in glob.glob(text)]
        if not matches:
            raise DataError(f"{text}: no files match")
        specs = _file_specs(matches, text)
    else:
        p = Path(text)
        if not p.exists():
            raise DataError(f"{text}: no such file or folder")
        if p.is_dir():
            specs = _file_specs(list(p.iterdir()), text)
        else:
            header = _read_header(p)
            cols = _panel_columns(header)
            if cols is not None:
                specs = _panel_specs(p, cols)
            elif len(header) == 1:
                specs = _list_specs(p)
            else:
                specs = _file_specs([p], text)
    return sorted(specs, key=lambda s: s.asset)


# --------------------------------------------------------------------------- loading one asset


@functools.lru_cache(maxsize=1)
def _read_panel(path: str, mtime: float) -> pd.DataFrame:
    """The panel as ``symbol, date, price`` (cached per process: each worker reads it once)."""
    p = Path(path)
    header = _read_header(p)
    cols = _panel_columns(header)
    if cols is None:
        raise DataError(f"{p.name}: not a panel (needs columns symbol, date and price)")
    sym, date, price = cols
    if p.suffix.lower() in (".parquet", ".pq"):
        raw = pd.read_parquet(p, columns=[sym, date, price])
    else:
        raw = pd.read_csv(p, usecols=[sym, date, price], dtype={sym: str}, sep=None, engine="python")
    out = pd.DataFrame(
        {
            "symbol": raw[sym].astype(str).str.strip(),
            "date": pd.to_datetime(raw[date], errors="coerce"),
            "price": pd.to_numeric(raw[price], errors="coerce"),
        }
    )
    return out


def _panel_series(spec: AssetSpec) -> pd.Series:
    from marketcast.data.series import as_series

    panel = _read_panel(spec.location, os.path.getmtime(spec.location))
    rows = panel[panel["symbol"] == spec.symbol]
    name = f"{Path(spec.location).name} [{spec.symbol}]"
    if rows.empty:
        raise DataError(f"{name}: no rows")
    if rows["date"].isna().any():
        raise DataError(f"{name}: a date that is not a date")
    rows = rows.dropna(subset=["price"]).sort_values("date", kind="stable")
    if rows["date"].duplicated().any():
        day = rows.loc[rows["date"].duplicated(), "date"].iloc[0].date()
        raise DataError(f"{name}: two rows for {day}")
    s = pd.Series(rows["price"].to_numpy(np.float64), index=pd.DatetimeIndex(rows["date"], name="date").normalize())
    s.attrs = {"source": name}
    return as_series(s, name=name)


def load_asset(spec: AssetSpec, column: str | None = None) -> pd.Series:
    """One asset's daily prices, with the loaders of :mod:`marketcast.data`.

    Where the data has a split-adjusted close (Alpha Vantage's ``adjusted_close``, Yahoo's
    ``Adj Close``) that is the price used, unless ``column`` names another; otherwise the close.
    """
    from marketcast.data.files import read_prices
    from marketcast.data.series import series_from_data

    if spec.kind == "panel":
        return _panel_series(spec)
    if spec.kind == "store":
        from marketcast.data.store import PriceStore

        source, _, symbol = spec.location.partition(":")
        data = PriceStore(spec.store).read_price_data(symbol, source)
    else:
        data = read_prices(spec.location)
    if column is None and "adj_close" in data.frame.columns:
        column = "adj_close"
    return series_from_data(data, column)


def checksum(spec: AssetSpec, prices: pd.Series | None = None) -> str:
    """SHA-256 of the asset's file (of its stored rows for a store series) for the manifest."""
    h = hashlib.sha256()
    if spec.kind == "file" or (spec.kind == "panel" and prices is None):
        with open(spec.location, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    else:
        h.update(pd.util.hash_pandas_object(prices, index=True).to_numpy().tobytes())
    return h.hexdigest()


def asset_rows(spec: AssetSpec) -> int:
    """An upper bound on the asset's price rows, cheap to get (for the window check before any work)."""
    try:
        if spec.kind == "file":
            p = Path(spec.location)
            if p.suffix.lower() in (".parquet", ".pq"):
                import pyarrow.parquet as pq

                return int(pq.ParquetFile(p).metadata.num_rows)
            with p.open("rb") as fh:
                return sum(1 for ln in fh if ln.strip()) - 1
        if spec.kind == "panel":
            panel = _read_panel(spec.location, os.path.getmtime(spec.location))
            return int((panel["symbol"] == spec.symbol).sum())
        from marketcast.data.store import PriceStore

        source, _, symbol = spec.location.partition(":")
        info = PriceStore(spec.store).info(source, symbol)
        return 0 if info is None else int(info[0])
    except (OSError, DataError):
        return 0


def load_constituents(universe: str | Path, specs: list[AssetSpec] | None = None) -> pd.DataFrame | None:
    """``constituents.csv`` (``Symbol, Name, Sector``) in the universe's folder or the one above it
    (or beside the files themselves, where the universe links to them)."""
    text = str(universe)
    if text.lower().startswith("store:"):
        return None
    folders = [Path(s.location).parent for s in (specs or [])[:1] if s.kind != "store"]
    if Path(text).is_dir():
        folder = Path(text)
    elif _is_glob(text):
        matches = glob.glob(text)
        if not matches:
            return None
        folder = Path(matches[0]).parent
    else:
        folder = Path(text).parent
    candidates = [f / "constituents.csv" for d in [folder, *folders] for f in (d, d.parent)]
    for candidate in candidates:
        if candidate.is_file():
            try:
                frame = pd.read_csv(candidate, dtype=str)
            except (OSError, ValueError):
                return None
            canon = {_canon(c): c for c in frame.columns}
            if "symbol" not in canon:
                return None
            out = pd.DataFrame({"asset": frame[canon["symbol"]].str.strip()})
            out["name"] = frame[canon["name"]] if "name" in canon else ""
            out["sector"] = frame[canon["sector"]] if "sector" in canon else "unknown"
            out.attrs["path"] = str(candidate)
            return out.drop_duplicates("asset")
    return None
