"""Universe resolution and asset loading (marketcast.universe.sources)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import data_file
from marketcast.errors import DataError
from marketcast.universe.sources import (AssetSpec, asset_rows, load_asset, load_constituents, resolve_universe,
                                         symbol_from_path)

SP = "sp500/daily_adjusted"


def sp_file(symbol: str) -> Path:
    return data_file(f"{SP}/DA-{symbol}-T-2021-04-21.csv")


@pytest.mark.parametrize("name, symbol", [
    ("DA-AAPL-T-2021-04-21.csv", "AAPL"), ("DA-BF.B-T-2021-04-21.csv", "BF.B"), ("aapl.us.txt", "AAPL"),
    ("IBM_alphavantage_daily.csv", "IBM_alphavantage_daily"), ("prices.parquet", "prices"),
])
def test_symbol_from_file_name(name, symbol):
    assert symbol_from_path(name) == symbol


@pytest.fixture
def folder(tmp_path):
    """A folder of three S&P files (links to the real data, not copies) and the bad one."""
    d = tmp_path / "u"
    d.mkdir()
    for s in ("AAPL", "KO", "XOM", "BF.B"):
        (d / sp_file(s).name).symlink_to(sp_file(s))
    (d / "notes.md").write_text("not a price file")
    return d


def test_folder_glob_and_list_give_the_same_assets(folder, tmp_path):
    by_folder = resolve_universe(folder)
    assert [s.asset for s in by_folder] == ["AAPL", "BF.B", "KO", "XOM"]
    assert all(s.kind == "file" for s in by_folder)
    by_glob = resolve_universe(str(folder / "DA-*.csv"))
    assert by_glob == by_folder
    listing = tmp_path / "assets.txt"
    listing.write_text("# my book\n" + "\n".join(f"u/{p.name}" for p in sorted(folder.glob("DA-*"))) + "\n")
    assert [s.asset for s in resolve_universe(listing)] == ["AAPL", "BF.B", "KO", "XOM"]


def test_list_file_with_store_entries_and_a_bad_line(tmp_path):
    listing = tmp_path / "book.txt"
    listing.write_text("yahoo:AAPL\nalphavantage:IBM\n")
    specs = resolve_universe(listing)
    assert [(s.asset, s.kind, s.location) for s in specs] == [("AAPL", "store", "yahoo:AAPL"),
                                                              ("IBM", "store", "alphavantage:IBM")]
    listing.write_text("nothing/here.csv\n")
    with pytest.raises(DataError, match=r"book.txt: line 1: 'nothing/here.csv' is neither a file nor SOURCE:SYMBOL"):
        resolve_universe(listing)


def test_the_split_adjusted_close_is_the_price_used():
    spec = AssetSpec("AAPL", "file", str(sp_file("AAPL")))
    prices = load_asset(spec)
    raw = pd.read_csv(sp_file("AAPL"), parse_dates=["timestamp"]).set_index("timestamp").sort_index()
    np.testing.assert_array_equal(prices.to_numpy(), raw["adjusted_close"].to_numpy())
    # AAPL's 4-for-1 split of 2020-08-31 is in the raw close, not in the adjusted one
    assert raw["close"].loc["2020-08-28"] / raw["close"].loc["2020-08-31"] > 3.5
    assert prices.loc["2020-08-28"] / prices.loc["2020-08-31"] < 1.1
    assert asset_rows(spec) >= len(prices)


def test_the_bad_file_fails_with_the_loaders_one_line_reason():
    with pytest.raises(DataError) as err:
        load_asset(AssetSpec("BF.B", "file", str(sp_file("BF.B"))))
    assert str(err.value).startswith("DA-BF.B-T-2021-04-21.csv: ")
    assert "\n" not in str(err.value)


def test_panel_file(tmp_path):
    frames = []
    for s in ("AAPL", "KO"):
        prices = load_asset(AssetSpec(s, "file", str(sp_file(s))))
        frames.append(pd.DataFrame({"symbol": s, "date": prices.index.strftime("%Y-%m-%d"), "price": prices.to_numpy()}))
    panel = pd.concat(frames).sample(frac=1.0, random_state=0)  # any row order
    path = tmp_path / "panel.csv"
    panel.to_csv(path, index=False)
    specs = resolve_universe(path)
    assert [(s.asset, s.kind, s.symbol) for s in specs] == [("AAPL", "panel", "AAPL"), ("KO", "panel", "KO")]
    ko = load_asset(specs[1])
    expected = load_asset(AssetSpec("KO", "file", str(sp_file("KO"))))
    np.testing.assert_allclose(ko.to_numpy(), expected.to_numpy(), rtol=1e-15)
    assert (ko.index == expected.index).all()
    parquet = tmp_path / "panel.parquet"
    panel.to_parquet(parquet, index=False)
    assert [s.asset for s in resolve_universe(parquet)] == ["AAPL", "KO"]


def test_constituents_beside_the_folder():
    folder = data_file(SP)
    table = load_constituents(folder)
    assert table is not None and len(table) > 500
    assert table.set_index("asset").loc["AAPL", "sector"] == "Information Technology"


def test_missing_universe():
    with pytest.raises(DataError, match="no such file or folder"):
        resolve_universe("/nonexistent/universe")
    with pytest.raises(DataError, match="no files match"):
        resolve_universe("/nonexistent/*.csv")
