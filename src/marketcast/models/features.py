"""Framing a series as supervised samples, shared by the neural and boosting models (NumPy only)."""

from __future__ import annotations

import os

import numpy as np

from marketcast.errors import ModelError

__all__ = ["lagged_samples", "normalised_windows", "available_cores"]


def lagged_samples(z: np.ndarray, lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(n - lags, lags)`` of consecutive values and the value that follows each."""
    z = np.asarray(z, dtype=np.float64)
    if z.size <= lags:
        raise ModelError(f"need more than {lags} values for {lags} lags, got {z.size}")
    return np.lib.stride_tricks.sliding_window_view(z[:-1], lags), z[lags:]


def normalised_windows(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stock-X samples: each ``window`` of closes over its first close, and the next close on that scale.

    Returns ``(X, y, base)``: ``X`` of shape ``(n - window, window)`` with
    ``X[i] = values[i : i + window] / values[i]``, ``y[i] = values[i + window] / values[i]`` and
    ``base[i] = values[i]`` (multiply a prediction by it to get a price). Aadhitya et al., IV.A.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size <= window:
        raise ModelError(f"need more than {window} values for windows of {window}, got {values.size}")
    raw = np.lib.stride_tricks.sliding_window_view(values[:-1], window)
    base = raw[:, 0].copy()
    return raw / base[:, None], values[window:] / base, base


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
