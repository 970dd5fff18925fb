"""Property-based tests: whatever the bytes, CSV shape or -p value, only marketcast's own errors escape."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketcast.cli._common import parse_params
from marketcast.data import load_series, read_prices
from marketcast.errors import MarketcastError
from marketcast.models.registry import get_model, model_specs

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _load(path):
    """Read, then take the close as a series: both steps may refuse, neither may crash."""
    try:
        data = read_prices(path)
    except MarketcastError:
        return
    try:
        load_series(data)
    except MarketcastError:
        pass


@FAST
@given(st.binary(min_size=0, max_size=600))
def test_random_bytes(tmp_path, blob):
    path = tmp_path / "x.csv"
    path.write_bytes(blob)
    _load(path)


@FAST
@given(st.binary(max_size=200))
def test_random_bytes_after_a_valid_header(tmp_path, blob):
    path = tmp_path / "x.csv"
    path.write_bytes(b"Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,1.5,10\n" + blob)
    _load(path)


_cell = st.one_of(
    st.sampled_from(["", "nan", "N/A", "-", ".", "1e309", "-1", "0", "1,234.5", "1.234,5", "inf", "abc", '"', "'", "\t"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**6, 10**12).map(str),
    st.dates(min_value=pd.Timestamp("1900-01-01").date(), max_value=pd.Timestamp("2100-01-01").date()).map(
        lambda d: d.strftime(np.random.default_rng(d.toordinal()).choice(["%Y-%m-%d", "%m/%d/%Y", "%d-%b-%Y", "%Y%m%d"]))),
    st.text(alphabet=string.printable, max_size=12),
)
_header = st.lists(st.sampled_from(["Date", "date", "timestamp", "Close", "Adj Close", "Open", "High", "Low", "Volume",
                                    "Symbol", "split cf", "", "Unnamed: 0", "x"]), min_size=1, max_size=7)


@FAST
@given(_header, st.lists(st.lists(_cell, min_size=0, max_size=8), max_size=12), st.sampled_from([",", ";", "\t", "|"]),
       st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]), st.sampled_from(["\n", "\r\n"]))
def test_random_csv_shapes(tmp_path, header, rows, sep, encoding, newline):
    text = newline.join([sep.join(header)] + [sep.join(r) for r in rows]) + newline
    path = tmp_path / "x.csv"
    try:
        path.write_bytes(text.encode(encoding))
    except UnicodeEncodeError:
        return
    _load(path)


_PRICE_NAMES = sorted({s.name for s in model_specs("price")})
_value = st.one_of(
    st.text(max_size=10), st.integers(-10**12, 10**12).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["true", "null", "[1,2]", "{}", "1e400", "-0", "0.5", "[]", '"x"', "1,5,22", "NaN", "Infinity"]),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_PRICE_NAMES + ["dd-ewma", "garch", "gjr-garch"]), st.text(alphabet=string.ascii_lowercase + "_", max_size=20),
       _value)
def test_random_p_values(name, key, raw):
    target = "volatility" if name in ("dd-ewma", "garch", "gjr-garch") else "price"
    try:
        params = parse_params([f"{key}={raw}"], None, None)
        get_model(name, target, **params)
    except MarketcastError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_PRICE_NAMES), st.data())
def test_random_p_values_for_real_parameter_names(name, data):
    from marketcast.models.params import param_schema

    keys = [k for k in param_schema(get_model(name).__class__) if k not in ("members", "member_params")]
    if not keys:
        return
    key = data.draw(st.sampled_from(keys))
    raw = data.draw(_value)
    try:
        model = get_model(name, **parse_params([f"{key}={raw}"], None, None))
    except MarketcastError:
        return
    value = model.get_params()[key]
    if isinstance(value, float):  # what got through is a finite number
        assert np.isfinite(value)


def test_a_known_bad_value_is_refused_not_crashed():
    with pytest.raises(MarketcastError):
        get_model("sma", **parse_params(["window=[1,2]"], None, None))
