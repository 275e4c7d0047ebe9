"""Argument checks shared by the closed forms: one clear ``ValueError`` per bad argument."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy view of an array-like or a torch tensor (moved to the CPU, detached)."""
    if hasattr(x, "detach"):  # torch.Tensor without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def finite(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return arr


def nonnegative(name: str, value: Any) -> np.ndarray:
    arr = finite(name, value)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return arr


def positive(name: str, value: Any) -> np.ndarray:
    arr = finite(name, value)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return arr


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def int_array(name: str, value: Any, minimum: int = 1) -> np.ndarray:
    """Integers (scalar or array) >= minimum, as an int64 array."""
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integers >= {minimum}, got {value!r}")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers >= {minimum}, got {value!r}")
    if np.any(arr < minimum):
        raise ValueError(f"{name} must hold integers >= {minimum}, got {value!r}")
    return arr.astype(np.int64)


def per_layer(name: str, value: Any, n_layers: int) -> np.ndarray:
    """A scalar broadcast to ``n_layers`` entries, or a sequence of exactly that length."""
    arr = nonnegative(name, value)
    if arr.ndim == 0:
        return np.full(n_layers, float(arr))
    if arr.shape != (n_layers,):
        raise ValueError(f"{name} must be a scalar or have one entry per layer ({n_layers}), got shape {arr.shape}")
    return arr
