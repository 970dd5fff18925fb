"""Request and response bodies (pydantic). They fix types and ranges; the data checks are the
library's own (:func:`marketcast.data.as_series`, the model registry), run in the workers."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Float = float  # finite: JSON has no NaN, and pydantic refuses 'NaN'/'Infinity' strings (allow_inf_nan=False)

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
_ROWS = ConfigDict(extra="allow", allow_inf_nan=True)

MAX_ROWS = 200_000
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class Series(BaseModel):
    """A daily price series: dates (ISO, strictly increasing) and positive prices, in two columns."""

    model_config = _STRICT
    dates: list[dt.date] = Field(min_length=1, max_length=MAX_ROWS)
    prices: list[Float] = Field(min_length=1, max_length=MAX_ROWS)

    @model_validator(mode="after")
    def _same_length(self):
        if len(self.dates) != len(self.prices):
            raise ValueError(f"dates has {len(self.dates)} values but prices has {len(self.prices)}")
        return self


class SeriesInput(BaseModel):
    """Either ``series`` (the data in the body) or ``symbol`` (``SOURCE:SYMBOL`` in the store)."""

    model_config = _STRICT
    series: Series | None = None
    symbol: str | None = Field(None, max_length=128, examples=["cboe:VIX"])
    column: str | None = Field(None, max_length=64, description="Price column of a stored series (default: close).")
    adjust_splits: bool = Field(
        False, description="Adjust a stored series for the splits its source reports (never on suspicion alone)."
    )
    splits: list[str] = Field(
        [], max_length=64, description="Splits you have checked, DATE:RATIO (2014-11-20:10), with the reported ones."
    )

    @model_validator(mode="after")
    def _one_source(self):
        if (self.series is None) == (self.symbol is None):
            raise ValueError("give exactly one of 'series' and 'symbol'")
        return self


Params = dict[str, Any]


class VolatilityRequest(SeriesInput):
    models: list[str] = Field(default_factory=lambda: ["dd-ewma"], min_length=1, max_length=16)
    window: int = Field(504, ge=1, le=100_000, description="Log returns per forecast window.")
    start: dt.date | None = Field(None, description="First day to forecast (default: the next business day only).")
    end: dt.date | None = None
    tail: Float = Field(0.05, gt=0, lt=1)
    notional: Float = Field(1000.0, gt=0)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    params: Params = Field(default_factory=dict, description="Model hyper-parameters, as `-p KEY=VALUE`.")


class ForecastRequest(SeriesInput):
    model: str | None = Field(None, max_length=200, description="Model name; or give saved_model.")
    saved_model: str | None = Field(None, max_length=128, description="Id of a model saved by a train job.")
    horizon: int = Field(5, ge=1, le=2520)
    levels: list[Float] | None = Field(None, max_length=16, description="Central interval levels in (0, 1).")
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    epochs: int | None = Field(None, ge=1, le=100_000)
    train_from: dt.date | None = None
    train_to: dt.date | None = None
    calibration_windows: int = Field(20, ge=1, le=10_000)
    params: Params = Field(default_factory=dict)

    @model_validator(mode="after")
    def _model_or_saved(self):
        if self.model is not None and self.saved_model is not None:
            raise ValueError("give 'model' or 'saved_model', not both")
        if self.model is None and self.saved_model is None:
            raise ValueError("give 'model' (a name) or 'saved_model' (an id)")
        return self


class BacktestJobRequest(SeriesInput):
    models: list[str] = Field(default_factory=lambda: ["sma", "naive"], min_length=1, max_length=16)
    window: int = Field(504, ge=2, le=100_000)
    horizon: int = Field(21, ge=1, le=2520)
    start: dt.date | None = None
    step: int | None = Field(None, ge=1, le=100_000)
    slices: int | None = Field(None, ge=1, le=10_000)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    params: Params = Field(default_factory=dict)


class TrainJobRequest(SeriesInput):
    model: str = Field(max_length=200)
    id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        description="Id to save the model under (default: MODEL-JOBID).",
    )
    overwrite: bool = False
    levels: list[Float] | None = Field(None, max_length=16)
    horizon: int = Field(21, ge=1, le=2520, description="Longest horizon conformal intervals are calibrated for.")
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    epochs: int | None = Field(None, ge=1, le=100_000)
    train_from: dt.date | None = None
    train_to: dt.date | None = None
    calibration_windows: int = Field(20, ge=1, le=10_000)
    params: Params = Field(default_factory=dict)


class RiskJobRequest(BaseModel):
    """The universe risk job's settings: those of ``marketcast risk`` (``marketcast.risk``)."""

    model_config = _STRICT
    universe: str = Field(
        max_length=256,
        description="`store:` (every series of the service's store), or a folder, glob, panel or list file "
        "inside the service's universes folder, by its path relative to it.",
    )
    models: list[str] = Field(default_factory=lambda: ["dd-ewma", "garch"], min_length=1, max_length=8)
    window: int = Field(504, ge=10, le=100_000, description="Returns before each day that its forecast uses.")
    days: int = Field(250, ge=1, le=100_000, description="Backtest days before the live day.")
    tails: list[Float] = Field(default_factory=lambda: [0.01, 0.05], min_length=1, max_length=16)
    to: dt.date | None = Field(None, description="Last backtest day (default: the data's last day).")
    weights: str | None = Field(
        None, max_length=256, description="A CSV of symbol and weight (or position value) in the universes folder."
    )
    refit_every: int = Field(1, ge=1, le=10_000, description="Refit parametric models every K days.")
    notional: Float = Field(1.0, gt=0)
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seeds the ES test's simulated p-values.")

    @field_validator("tails")
    @classmethod
    def _tails_are_shares(cls, tails: list[float]) -> list[float]:
        for tail in tails:
            if not 0.0 < tail < 1.0:
                raise ValueError(f"a tail is a share in (0, 1), got {tail:g}")
        return tails


# --- responses -----------------------------------------------------------------------------


class ErrorItem(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """Every 4xx and 5xx: what went wrong, which field, and the request id the log has too."""

    status: int
    detail: str
    field: str | None = None
    request_id: str
    errors: list[ErrorItem] | None = None


class VolatilityRow(BaseModel):
    model_config = _ROWS
    date: dt.date
    model: str
    volatility: float | None
    var: float | None
    cvar: float | None
    mad: float | None
    rho: float | None
    dof: float | None = Field(description="Student-t degrees of freedom; null where infinite (normal).")


class VolatilityResponse(BaseModel):
    rows: list[VolatilityRow]


class ForecastRow(BaseModel):
    model_config = _ROWS
    date: dt.date
    model: str
    point: float | None


class ForecastResponse(BaseModel):
    rows: list[ForecastRow]
    notes: list[str] | None = Field(None, description="Warnings, e.g. too few calibration windows for a level.")


class ModelSummary(BaseModel):
    name: str
    target: Literal["price", "volatility"]
    summary: str


class ModelList(BaseModel):
    models: list[ModelSummary]


class ModelDetail(ModelSummary):
    model_config = ConfigDict(extra="allow")
    class_path: str
    doc: str
    defaults: dict[str, Any]
    members: list[dict[str, Any]] | None = None
    trainable_parameters: int | None = None
    network: str | None = None


class SavedModel(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    model: str
    created: str | None = None
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)


class SavedModelList(BaseModel):
    saved_models: list[SavedModel]


class Job(BaseModel):
    id: str
    kind: Literal["backtest", "train", "risk"]
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float | None = Field(None, ge=0, le=1)
    created: str
    started: str | None = None
    finished: str | None = None
    params: dict[str, Any]
    result: Any = None
    result_url: str | None = None
    error: dict[str, Any] | None = None
    url: str


class JobFile(BaseModel):
    name: str
    bytes: int
    url: str


class JobFiles(BaseModel):
    files: list[JobFile]


class JobList(BaseModel):
    jobs: list[Job]


class Version(BaseModel):
    version: str
    api: str
    python: str


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]
