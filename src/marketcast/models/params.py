"""Hyper-parameters checked and converted in one place, from each model's ``__init__``.

The type of a hyper-parameter is its annotation in the model's ``__init__`` (``int``,
``float``, ``bool``, ``str``, ``X | None``, ``tuple[int, ...]``...); its range is declared here
by name in :data:`RANGES` (a model may override an entry with a ``param_ranges`` class
attribute) and its choices in :data:`CHOICES`. :func:`param_schema` describes them, so the
service can show the same rules, and :func:`validate_params` converts what a user typed
(``-p window=abc`` arrives as the text ``'abc'``) or refuses it with one line::

    sma: window expects an integer >= 1, got 'abc'

Every model built by :func:`marketcast.models.registry.get_model` (and so every saved model
that is loaded) goes through here.
"""

from __future__ import annotations

import functools
import inspect
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from marketcast.errors import ModelError

__all__ = ["Range", "ParamSpec", "RANGES", "CHOICES", "param_schema", "validate_params", "check_jobs"]


@dataclass(frozen=True)
class Range:
    """Bounds of a number: ``low``/``high`` inclusive unless ``low_open``/``high_open``."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def contains(self, x: float) -> bool:
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            return False
        if self.high is not None and (x >= self.high if self.high_open else x > self.high):
            return False
        return True

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return " and ".join(parts)


_POSITIVE_INT = Range(1)
_UNIT_OPEN = Range(0, 1, low_open=True)  # (0, 1]
_FRACTION = Range(0, 1, high_open=True)  # [0, 1)

#: Ranges of hyper-parameters by name, shared by every model that has one of that name.
RANGES: dict[str, Range] = {
    "window": _POSITIVE_INT,
    "lags": _POSITIVE_INT,
    "vol_lags": _POSITIVE_INT,
    "units": _POSITIVE_INT,
    "dense_units": _POSITIVE_INT,
    "epochs": _POSITIVE_INT,
    "batch_size": _POSITIVE_INT,
    "patience": _POSITIVE_INT,
    "networks": _POSITIVE_INT,
    "kernel": _POSITIVE_INT,
    "filters": _POSITIVE_INT,
    "n_estimators": _POSITIVE_INT,
    "max_depth": _POSITIVE_INT,
    "n_jobs": _POSITIVE_INT,
    "p": _POSITIVE_INT,
    "size": _POSITIVE_INT,
    "repeats": _POSITIVE_INT,
    "maxit": _POSITIVE_INT,
    "npaths": _POSITIVE_INT,
    "calibration_windows": _POSITIVE_INT,
    "max_horizon": _POSITIVE_INT,
    "step": _POSITIVE_INT,
    "refit_every": _POSITIVE_INT,
    "uncertainty_samples": Range(0),
    "seed": Range(0, 2**32 - 1),
    # A learning rate above 1 makes Adam and gradient boosting diverge at once.
    "learning_rate": _UNIT_OPEN,
    "subsample": _UNIT_OPEN,
    "colsample_bytree": _UNIT_OPEN,
    "validation": _FRACTION,
    "dropout": _FRACTION,
    "init_fraction": Range(0, 1, low_open=True, high_open=True),
    "decay": Range(0),
    "changepoint_prior_scale": Range(0, low_open=True),
    "alphas": Range(0, 1, low_open=True, high_open=True),
}

#: Allowed values of text hyper-parameters, by name.
CHOICES: dict[str, tuple[str, ...]] = {
    "device": ("auto", "cpu", "cuda"),
    "scaling": ("standard", "minmax"),
    "growth": ("linear", "logistic", "flat"),
    "seasonality_mode": ("additive", "multiplicative"),
    "dense_activation": ("linear", "relu"),
}


@dataclass(frozen=True)
class ParamSpec:
    """One hyper-parameter: its name, annotated type, default, range and choices."""

    name: str
    annotation: Any
    default: Any
    range: Range | None = None
    choices: tuple[str, ...] | None = None

    def describe(self) -> str:
        """What the parameter expects, e.g. ``'an integer >= 1'``."""
        return _describe(self.annotation, self)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly description (for the service and ``models describe``)."""
        return {
            "name": self.name,
            "expects": self.describe(),
            "default": _jsonable_default(self.default),
            "minimum": None if self.range is None else self.range.low,
            "maximum": None if self.range is None else self.range.high,
            "choices": list(self.choices) if self.choices else None,
        }


def _jsonable_default(value: Any) -> Any:
    if value is inspect.Parameter.empty:
        return None
    if isinstance(value, tuple):
        return list(value)
    return value


@functools.cache  # a class's signature does not change; inspecting it costs more than a forecast
def param_schema(cls: type) -> dict[str, ParamSpec]:
    """The :class:`ParamSpec` of every hyper-parameter of a model class, in ``__init__`` order.

    Cached per class: do not modify the returned mapping.
    """
    init = typing.cast(Any, cls).__init__  # the class's own, read off the class
    if init is object.__init__:
        return {}
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # an annotation that does not resolve: treat as unannotated
        hints = {}
    ranges = {**RANGES, **getattr(cls, "param_ranges", {})}
    out = {}
    for p in inspect.signature(init).parameters.values():
        if p.name == "self" or p.kind in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL):
            continue
        out[p.name] = ParamSpec(
            p.name, hints.get(p.name, inspect.Parameter.empty), p.default, ranges.get(p.name), CHOICES.get(p.name)
        )
    return out


def validate_params(cls: type, params: dict[str, Any], *, model: str | None = None) -> dict[str, Any]:
    """``params`` converted to the types ``cls.__init__`` declares, or a :class:`ModelError`.

    Unknown names, values of the wrong type (``'abc'`` for an integer, ``2.5`` epochs), non-finite
    floats and values outside the declared range are refused with one line naming the model,
    the parameter and what it expects.
    """
    label = model or getattr(cls, "name", "") or cls.__name__
    schema = param_schema(cls)
    out = {}
    for key, value in params.items():
        spec = schema.get(key)
        if spec is None:
            raise ModelError(f"{label}: unknown parameter '{key}' (valid: {', '.join(schema) or 'none'})")
        if spec.default is not inspect.Parameter.empty and value is spec.default:
            out[key] = value
            continue
        try:
            out[key] = _convert(spec.annotation, value, spec)
        except _Invalid:
            raise ModelError(f"{label}: {key} expects {spec.describe()}, got {_show(value)}") from None
    return out


def check_jobs(jobs: int | None, option: str = "--jobs") -> int | None:
    """A process count: ``None`` (all cores) or an integer >= 1."""
    if jobs is None:
        return None
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ModelError(f"{option} expects an integer >= 1, got {_show(jobs)}")
    return jobs


class _Invalid(Exception):
    pass


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    return repr(value)


def _union_args(annotation: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(annotation)
    return None


def _describe(annotation: Any, spec: ParamSpec, *, plural: bool = False) -> str:
    rng = f" {spec.range.describe()}" if spec.range is not None else ""
    members = _union_args(annotation)
    if members is not None:
        kinds = [m for m in members if m is not type(None)]
        return " or ".join(_describe(m, spec, plural=plural) for m in kinds)
    origin = typing.get_origin(annotation)
    if origin in (tuple, list) or annotation in (tuple, list) or origin is Sequence:
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        inner = _describe(args[0], spec, plural=True) if args else "values"
        return f"a list of {inner}"
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return f"{'integers' if plural else 'an integer'}{rng}"
    if annotation is float:
        return f"{'finite numbers' if plural else 'a finite number'}{rng}"
    if annotation is str:
        if spec.choices:
            return "one of " + ", ".join(spec.choices)
        return "text" if not plural else "names"
    if annotation is dict or origin is dict:
        return "a mapping"
    return "a value"


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _convert(annotation: Any, value: Any, spec: ParamSpec) -> Any:
    if annotation is inspect.Parameter.empty or annotation is Any:
        return _check_untyped(value, spec)
    members = _union_args(annotation)
    if members is not None:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
            if type(None) in members:
                return None
            raise _Invalid
        kinds = [m for m in members if m is not type(None)]
        # Exact type first (True stays a bool, 'auto' stays text), then conversions in order.
        for kind in kinds:
            if isinstance(kind, type) and type(value) is kind and kind is not str:
                return _convert(kind, value, spec)
        for kind in sorted(kinds, key=lambda k: k is str):  # text last: it accepts anything
            try:
                return _convert(kind, value, spec)
            except _Invalid:
                continue
        raise _Invalid
    origin = typing.get_origin(annotation)
    if origin in (tuple, list, Sequence) or annotation in (tuple, list):
        return _convert_sequence(annotation, value, spec)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _Invalid
    if annotation is int:
        return _to_int(value, spec)
    if annotation is float:
        return _to_float(value, spec)
    if annotation is str:
        if not isinstance(value, str):
            raise _Invalid
        if spec.choices and value not in spec.choices:
            raise _Invalid
        return value
    if annotation is dict or origin is dict:
        if not isinstance(value, dict):
            raise _Invalid
        return value
    return value  # a type this module does not know (a wrapped model): the model checks it


def _to_int(value: Any, spec: ParamSpec) -> int:
    if isinstance(value, bool):
        raise _Invalid
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise _Invalid from None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise _Invalid
        value = int(value)
    if not isinstance(value, int):
        try:
            import numpy as np

            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise _Invalid
        except ImportError:  # pragma: no cover
            raise _Invalid from None
    if spec.range is not None and not spec.range.contains(value):
        raise _Invalid
    return value


def _to_float(value: Any, spec: ParamSpec) -> float:
    if isinstance(value, bool):
        raise _Invalid
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _Invalid from None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise _Invalid from None
    if not math.isfinite(x):
        raise _Invalid
    if spec.range is not None and not spec.range.contains(x):
        raise _Invalid
    return x


def _convert_sequence(annotation: Any, value: Any, spec: ParamSpec) -> tuple:
    if isinstance(value, str):
        value = [v.strip() for v in value.strip().strip("()[]").split(",") if v.strip()]
    if not isinstance(value, list | tuple) or len(value) == 0:
        raise _Invalid
    args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
    inner = args[0] if args else inspect.Parameter.empty
    if inner is inspect.Parameter.empty:
        return tuple(_check_untyped(v, spec) for v in value)
    return tuple(_convert(inner, v, spec) for v in value)


def _check_untyped(value: Any, spec: ParamSpec) -> Any:
    """No annotation: numbers are still checked to be finite and inside a declared range."""
    if isinstance(value, list | tuple) and spec.range is not None:
        return tuple(_check_untyped(v, spec) for v in value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Invalid
    if spec.range is not None:
        if isinstance(value, bool):
            raise _Invalid
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise _Invalid from None
        if isinstance(value, int | float):
            if not math.isfinite(value) or not spec.range.contains(value):
                raise _Invalid
    return value
