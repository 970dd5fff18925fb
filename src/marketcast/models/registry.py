"""Models by name, imported on first use so that listing them costs nothing.

A new model is one new file plus one line here. Price models and volatility models have
separate name spaces (``prophet`` is both: on prices in ``backtest``/``forecast``, on sample
volatilities in ``volatility``).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Literal

from marketcast.errors import ModelError

__all__ = ["ModelSpec", "get_model", "model_specs", "parse_model_list", "spec_of"]

Target = Literal["price", "volatility"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    target: Target
    path: str  # "module:Class"
    summary: str

    def load(self) -> type:
        module, _, cls = self.path.partition(":")
        return getattr(importlib.import_module(module), cls)


_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("naive", "price", "marketcast.models.baseline:Naive",
              "Random walk: every forecast equals the last price (the baseline to beat)."),
    ModelSpec("sma", "price", "marketcast.models.baseline:SMA",
              "Simple moving average of the last D prices, applied recursively (VIX paper II.A)."),
    ModelSpec("dd-ewma", "volatility", "marketcast.models.ewma:DDEWMA",
              "Data-driven EWMA of sign-correlation sample volatilities (VIX paper, Algorithm 1)."),
)


def model_specs(target: Target | None = None) -> list[ModelSpec]:
    """Registered models, optionally of one target."""
    return [s for s in _SPECS if target is None or s.target == target]


def spec_of(name: str, target: Target) -> ModelSpec:
    key = name.strip().lower()
    for spec in _SPECS:
        if spec.name == key and spec.target == target:
            return spec
    known = ", ".join(s.name for s in model_specs(target))
    raise ModelError(f"unknown {target} model '{name}' (known: {known})")


def get_model(name: str, target: Target = "price", **params: Any):
    """An unfitted model instance by registry name, with hyper-parameters ``params``."""
    cls = spec_of(name, target).load()
    try:
        return cls(**params)
    except TypeError as exc:
        raise ModelError(f"{name}: {exc}") from None


_LIST_ITEM = re.compile(r"\s*([A-Za-z0-9_\-]+(?:\([^()]*\))?)\s*(?:,|$)")


def parse_model_list(text: str) -> list[str]:
    """Split ``'sma,lstm,ensemble(sma,lstm)'`` into names, keeping parenthesised groups whole."""
    items, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _LIST_ITEM.match(text, pos)
        if not m or m.end() == pos:
            raise ModelError(f"cannot read the model list '{text}' near '{text[pos:]}'")
        items.append(m.group(1).strip())
        pos = m.end()
    if not items:
        raise ModelError("no models given")
    return items
