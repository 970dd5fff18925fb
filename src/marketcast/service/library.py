"""The service's one adapter to the library: each function takes a request's plain settings and
returns plain JSON-ready data. They run in the worker processes, never in the event loop.

Library errors (:class:`~marketcast.errors.MarketcastError`) become a :class:`ServiceError` that
names the request field at fault. The service holds no model logic: these functions only call
the library's front door (:mod:`marketcast.api`), the model registry and
:mod:`marketcast.persistence`.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from marketcast.service.saved import ServiceError, saved_model_dir

__all__ = ["volatility", "forecast", "backtest", "train", "describe_model", "list_models", "ServiceError"]

_FLAG = re.compile(r"^--([a-z-]+)")
_FLAG_FIELDS = {"from": "start", "to": "end", "split": "splits"}


def _field_of(message: str, default: str | None, rows: str = "start") -> str | None:
    """The request field a library message is about: its CLI flag where it names one."""
    m = _FLAG.match(message)
    if m:
        flag = m.group(1)
        return _FLAG_FIELDS.get(flag, flag.replace("-", "_"))
    if "no trading days between" in message or "no rows between" in message:
        return rows
    return default


def _clean_message(message: str) -> str:
    return _FLAG.sub(lambda m: _FLAG_FIELDS.get(m.group(1), m.group(1).replace("-", "_")), message)


@contextlib.contextmanager
def blame(field: str | None, *, params: dict | None = None, rows: str = "start") -> Iterator[None]:
    """Turn library errors raised inside into a :class:`ServiceError` naming ``field``.

    With user-given hyper-parameters a ``TypeError``/``ValueError`` from a model is also the
    request's fault (``epochs: "ten"`` fails inside the model): 422 naming ``params``.
    """
    from marketcast.errors import MarketcastError

    try:
        yield
    except ServiceError:
        raise
    except MarketcastError as exc:
        message = str(exc)
        raise ServiceError(exc.http_status, _field_of(message, field, rows), _clean_message(message)) from None
    except (TypeError, ValueError, OverflowError) as exc:
        if not params:
            raise
        raise ServiceError(422, "params", f"bad hyper-parameter value ({exc})") from None


def _series_field(message: str) -> str:
    if "price" in message:
        return "series.prices"
    if "date" in message:
        return "series.dates"
    return "series"


def prices_of(body: dict, store: str | None):
    """The request's price series, checked by the library's loaders."""
    import numpy as np
    import pandas as pd

    from marketcast.data import as_series, series_from_data
    from marketcast.data.resolve import STORE_SPEC
    from marketcast.errors import MarketcastError

    if body.get("symbol") is not None:
        match = STORE_SPEC.match(body["symbol"])
        if match is None:
            raise ServiceError(
                422,
                "symbol",
                "expected SOURCE:SYMBOL with SOURCE one of alphavantage, "
                f"alphavantage-adjusted, yahoo, cboe; got '{body['symbol']}'",
            )
        from marketcast.data.store import PriceStore

        try:
            data = PriceStore(store).read_price_data(match.group(2), match.group(1).lower())
        except MarketcastError as exc:
            status = 404 if "not in the store" in str(exc) or "fetch" in str(exc) else exc.http_status
            raise ServiceError(status, "symbol", str(exc)) from None
        adjust = list(body.get("splits") or []) or bool(body.get("adjust_splits"))
        field = "splits" if body.get("splits") else "adjust_splits" if body.get("adjust_splits") else "column"
        with blame(field):
            return series_from_data(data, body.get("column"), adjust_splits=adjust)
    for field in ("splits", "adjust_splits"):
        if body.get(field):
            raise ServiceError(
                422, field, f"{field} applies to a stored series ('symbol'); adjust a series before sending it"
            )
    raw = body["series"]
    series = pd.Series(
        np.asarray(raw["prices"], dtype=np.float64),
        index=pd.DatetimeIndex(np.asarray(raw["dates"], dtype="datetime64[D]"), name="date"),
    )
    series.attrs["source"] = "series"
    try:
        return as_series(series)
    except MarketcastError as exc:
        raise ServiceError(exc.http_status, _series_field(str(exc)), str(exc)) from None


def _value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if hasattr(v, "item"):  # numpy scalars
        return _value(v.item())
    if hasattr(v, "isoformat"):
        return v.isoformat()[:10] if hasattr(v, "hour") and not (v.hour or v.minute or v.second) else v.isoformat()
    return v


def records(frame) -> list[dict]:
    """Rows of a frame as JSON-ready dicts: dates as ISO days, NaN and infinities as null."""
    import numpy as np

    # One array per column without building a Series each (pandas' private accessor where it has it).
    column = getattr(frame, "_get_column_array", None) or (lambda i: frame.iloc[:, i].to_numpy())
    cols = {}
    for i, col in enumerate(frame.columns):
        arr = column(i)
        kind = arr.dtype.kind
        if kind == "M":
            text = np.datetime_as_string(arr, unit="D").tolist()
            cols[col] = [None if t == "NaT" else t for t in text]
        elif kind == "f":
            values = arr.tolist()
            if not np.isfinite(arr).all():
                values = [v if math.isfinite(v) else None for v in values]
            cols[col] = values
        elif kind in "iub":
            cols[col] = arr.tolist()
        else:
            cols[col] = [_value(x) for x in arr.tolist()]
    names = list(cols)
    return [dict(zip(names, row)) for row in zip(*cols.values())]


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, allow_nan=False, separators=(",", ":"), default=_value).encode()


def _params(body: dict, epochs: bool = False) -> dict:
    params = dict(body.get("params") or {})
    if body.get("seed") is not None:
        params["seed"] = body["seed"]
    if epochs and body.get("epochs") is not None:
        params["epochs"] = body["epochs"]
    return params


def _check_names(names: list[str], target: str, field: str) -> None:
    from marketcast.models.registry import get_model

    for name in names:
        with blame(field):
            get_model(name, target)  # type: ignore[arg-type]


def volatility(body: dict, store: str | None = None) -> bytes:
    """``POST /v1/volatility``: the rows of ``marketcast volatility`` as JSON."""
    from marketcast import api
    from marketcast.models.registry import configured_models

    names = list(body["models"])
    _check_names(names, "volatility", "models")
    params = dict(body.get("params") or {})
    with blame("params", params=params):
        configured_models(
            names, "volatility", {**params, **({"seed": body["seed"]} if body.get("seed") is not None else {})}
        )
    prices = prices_of(body, store)
    with blame("series", params=params):
        frame = api.volatility(
            prices,
            models=names,
            window=body["window"],
            start=body.get("start"),
            end=body.get("end"),
            tail=body["tail"],
            notional=body["notional"],
            jobs=1,
            seed=body.get("seed"),
            params=params,
        )
    return dumps({"rows": records(frame)})


def _price_model_check(body: dict, levels) -> dict:
    """The model's name and hyper-parameters, checked as ``forecast``/``train`` will build it."""
    from marketcast.fitting import price_model

    _check_names([body["model"]], "price", "model")
    params = _params(body, epochs=True)
    with blame("params", params=params):
        price_model(
            body["model"],
            params,
            levels=levels,
            calibration_windows=body["calibration_windows"],
            horizon=body["horizon"],
        )
    return params


def _levels(body: dict):
    from marketcast.models.base import check_levels

    if not body.get("levels"):
        return None
    with blame("levels"):
        return check_levels(body["levels"])


def forecast(body: dict, models_dir: str, store: str | None = None) -> bytes:
    """``POST /v1/forecast``: fit (or load) a model and forecast, as ``marketcast forecast``."""
    import warnings

    from marketcast import api
    from marketcast.errors import MarketcastWarning

    levels = _levels(body)
    load = None
    if body.get("saved_model") is not None:
        if body.get("params") or body.get("seed") is not None or body.get("epochs") is not None:
            raise ServiceError(422, "saved_model", "a saved model is used as it is: drop params, seed and epochs")
        path = saved_model_dir(models_dir, body["saved_model"], field="saved_model")
        with blame("saved_model"):
            load = api.load_model(path)
        if levels and not load.has_native_intervals:
            raise ServiceError(
                422,
                "levels",
                f"{load.name}: this saved model has no prediction intervals; "
                "train it with levels to calibrate conformal intervals",
            )
    else:
        params = _price_model_check(body, levels)
    prices = prices_of(body, store)
    with warnings.catch_warnings(record=True) as caught, blame("series", params=body.get("params"), rows="train_from"):
        warnings.simplefilter("always", MarketcastWarning)
        if load is not None:
            frame = api.forecast(
                prices,
                load=load,
                horizon=body["horizon"],
                levels=levels,
                train_from=body.get("train_from"),
                train_to=body.get("train_to"),
            )
        else:
            frame = api.forecast(
                prices,
                model=body["model"],
                horizon=body["horizon"],
                levels=levels,
                train_from=body.get("train_from"),
                train_to=body.get("train_to"),
                params=params,
                calibration_windows=body["calibration_windows"],
            )
    notes = [str(w.message) for w in caught if issubclass(w.category, MarketcastWarning)]
    return dumps({"rows": records(frame), **({"notes": notes} if notes else {})})


def _factory(progress: Callable[[int, int], None] | None):
    """A :data:`marketcast.api.ProgressFactory` that reports ``(done, total)`` to ``progress``."""

    @contextlib.contextmanager
    def factory(_description: str, total: int):
        done = [0]

        def tick(k: int = 1) -> None:
            done[0] += k
            if progress is not None and total:
                progress(min(done[0], total), total)

        yield tick

    return factory


def backtest(body: dict, store: str | None = None, progress: Callable[[int, int], None] | None = None) -> dict:
    """A backtest job: per-slice scores and their mean and SD, as ``marketcast backtest --out``."""
    from marketcast import api
    from marketcast.models.registry import configured_models

    names = list(body["models"])
    _check_names(names, "price", "models")
    params = _params(body)
    with blame("params", params=params):
        configured_models(names, "price", params)
    prices = prices_of(body, store)
    settings: dict[str, Any] = {k: body.get(k) for k in ("window", "horizon", "start", "step", "slices")}
    with blame("series", params=body.get("params")):
        scores = api.backtest(
            prices,
            models=names,
            seed=body.get("seed"),
            params=body.get("params"),
            progress=_factory(progress),
            **settings,
        )
        summary = api.backtest_summary(scores)
    return {"scores": records(scores), "summary": records(summary)}


def train(
    body: dict,
    models_dir: str,
    model_id: str,
    store: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """A train job: fit a model and save it into the model folder under ``model_id``."""
    from marketcast import api
    from marketcast.fitting import training_metrics

    levels = _levels(body)
    target = saved_model_dir(models_dir, model_id, must_exist=False, field="id")
    if target.exists() and not body.get("overwrite"):
        raise ServiceError(409, "id", f"saved model '{model_id}' exists already (set overwrite)")
    params = _price_model_check(body, levels)
    prices = prices_of(body, store)
    with blame("series", params=body.get("params"), rows="train_from"):
        fitted = api.train(
            prices,
            model=body["model"],
            save=target,
            levels=levels,
            horizon=body["horizon"],
            train_from=body.get("train_from"),
            train_to=body.get("train_to"),
            params=params,
            calibration_windows=body["calibration_windows"],
            progress=_factory(progress),
        )
    metrics = training_metrics(fitted)
    return {
        "saved_model": model_id,
        "model": fitted.name,
        "rows": int(fitted.n_obs_),
        "first": fitted.first_date_.strftime("%Y-%m-%d"),
        "last": fitted.last_date_.strftime("%Y-%m-%d"),
        "metrics": {k: _value(v) for k, v in metrics.items()},
    }


def risk_function():
    """``marketcast.universe.risk`` when the universe job is installed, else None."""
    try:
        from marketcast.universe import risk
    except ImportError:
        return None
    return risk


def inside(root: str | Path, name: str, field: str) -> Path:
    """``name`` (a relative path or glob) under ``root``; 422 naming ``field`` where it would leave it.

    Symbolic links are followed before the check, so a link out of the folder is refused too.
    """
    if not name or name.startswith(("/", "~")) or "\\" in name or "\x00" in name:
        raise ServiceError(422, field, "must be a path relative to the service's universes folder")
    base = Path(root).resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        raise ServiceError(422, field, "must name a file or folder inside the service's universes folder")
    return path


def risk_inputs(body: dict, universes_dir: str | Path, store: str | None) -> tuple[str, str | None]:
    """The universe and weights a risk request names, as the library takes them.

    A universe is ``store:`` (every series of the service's store) or a folder, glob, panel or
    list file inside ``universes_dir``; weights, a CSV inside it. Nothing else on the server is
    reachable through a request.
    """
    universe = str(body["universe"]).strip()
    if universe.lower().startswith("store:"):
        if universe[len("store:") :].strip():
            raise ServiceError(422, "universe", "'store:' takes no path here: it means the service's own store")
        universe = "store:" + (store or "")
    else:
        path = inside(universes_dir, universe, "universe")
        if not any(c in universe for c in "*?[") and not path.exists():
            raise ServiceError(422, "universe", f"no universe '{universe}' in the service's universes folder")
        universe = str(path)
    weights = body.get("weights")
    if weights is not None:
        path = inside(universes_dir, str(weights), "weights")
        if not path.is_file():
            raise ServiceError(422, "weights", f"no weights file '{weights}' in the universes folder")
        weights = str(path)
    return universe, weights


def risk(
    body: dict,
    out_dir: str,
    universes_dir: str | Path,
    scheduler: str | None = None,
    store: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """A risk job: the universe job of ``marketcast risk``, its tables in the job's result folder.

    Runs on the Dask scheduler when the service has one, else in the job's own process (the job
    is already a process of its own; a cluster inside it would compete with the requests).
    """
    fn = risk_function()
    if fn is None:
        raise ServiceError(501, None, "risk jobs need the universe job (marketcast.universe), not installed here")
    universe, weights = risk_inputs(body, universes_dir, store)
    Path(out_dir).parent.mkdir(parents=True, exist_ok=True)  # the service's results folder
    total = [0]
    done = [0]

    def advance(n: int = 1) -> None:  # the library counts assets one by one; the job reports a share
        done[0] += n
        if progress is not None and total[0]:
            progress(min(done[0], total[0]), total[0])

    with blame("universe"):
        from marketcast.universe.sources import resolve_universe

        total[0] = len(resolve_universe(universe))
    settings = {
        k: body[k] for k in ("models", "window", "days", "tails", "refit_every", "notional", "seed") if k in body
    }
    with blame(None):
        result = fn(
            universe,
            **settings,
            to=body.get("to"),
            weights=weights,
            out=out_dir,
            **({"scheduler": scheduler} if scheduler else {"local": True}),
            progress=advance,
        )
    assets = result.manifest.get("assets", {})
    files = sorted(p.name for p in Path(out_dir).iterdir() if p.is_file() and not p.name.startswith("."))
    return {
        "assets": {k: int(v) for k, v in assets.items()},
        "failures": records(result.failures),
        "survivorship_bias": result.manifest.get("survivorship_bias"),
        "files": files,
    }


def list_models() -> list[dict]:
    from marketcast.models.registry import model_specs

    return [{"name": s.name, "target": s.target, "summary": s.summary} for s in model_specs()]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    return _value(value) if hasattr(value, "item") or hasattr(value, "isoformat") else repr(value)


def describe_model(name: str, target: str) -> dict:
    """What ``marketcast models describe NAME`` shows, as a dict."""
    from marketcast.models.registry import get_model, spec_of

    with blame("name"):
        spec = spec_of(name.split("(")[0], target)  # type: ignore[arg-type]
        model = get_model(name, target)  # type: ignore[arg-type]
    out: dict[str, Any] = {
        "name": spec.name,
        "target": spec.target,
        "summary": spec.summary,
        "class_path": spec.path.replace(":", "."),
        "doc": (type(model).__doc__ or "").strip().split("\n\n")[0],
        "defaults": _jsonable(model.get_params()),
    }
    if hasattr(model, "member_models"):
        out["members"] = [
            {"name": m.name, **({"trainable_parameters": int(m.n_parameters())} if hasattr(m, "n_parameters") else {})}
            for m in model.member_models()
        ]
    if hasattr(model, "n_parameters"):
        out["trainable_parameters"] = int(model.n_parameters())
        out["network"] = str(model.describe_network())
    return out


def saved_models(models_dir: str) -> list[dict]:
    from marketcast.service.saved import list_saved

    return _jsonable(list_saved(models_dir))


def saved_model(models_dir: str, model_id: str) -> dict:
    from marketcast.persistence import read_manifest
    from marketcast.service.saved import summary

    path = saved_model_dir(models_dir, model_id)
    with blame("id"):
        return _jsonable(summary(model_id, read_manifest(Path(path))))
