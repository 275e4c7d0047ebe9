"""Honest reporting of probability terms: a closed form outside (0, 1) says nothing.

The paper's probability statements are lower bounds ("with probability at least p") or upper
bounds ("with probability at most p") evaluated at chosen constants. We never clip them: a
value <= 0 for a lower bound or >= 1 for an upper bound is *vacuous* and is flagged as such.
"""

from __future__ import annotations

import numpy as np


def is_vacuous(p, kind: str = "two-sided"):
    """True where a probability bound says nothing (or is NaN).

    ``kind="lower"`` ("with probability at least p"): vacuous unless 0 < p <= 1 — a lower bound of
    exactly 1 is the strongest statement there is. ``kind="upper"`` ("with probability at most p",
    a tail bound): vacuous unless 0 <= p < 1 — an upper bound of 0 is a certainty. The default
    ``"two-sided"`` flags anything outside the open interval (0, 1).
    """
    p = np.asarray(p, dtype=float)
    if kind == "lower":
        ok = (p > 0.0) & (p <= 1.0)
    elif kind == "upper":
        ok = (p >= 0.0) & (p < 1.0)
    elif kind == "two-sided":
        ok = (p > 0.0) & (p < 1.0)
    else:
        raise ValueError(f"kind must be 'lower', 'upper' or 'two-sided', got {kind!r}")
    out = ~ok
    return bool(out) if out.ndim == 0 else out


def lemma1_probability(tau):
    """Lemma 1 / Property 1: the event s₁(A) <= bound holds w.p. at least 1 − 2·exp(−τ²)."""
    tau = np.asarray(tau, dtype=float)
    if np.any(~np.isfinite(tau)) or np.any(tau < 0):
        raise ValueError(f"tau must be finite and >= 0, got {tau!r}")
    return 1.0 - 2.0 * np.exp(-(tau**2))


def lower_bound_power(p, k):
    """p**k for a lower bound p repeated over k independent events, vacuity kept.

    A vacuous factor (p <= 0) makes the whole statement vacuous: returning p itself (not p**k,
    which for even k would turn a negative bound into a positive-looking one).
    """
    p = np.asarray(p, dtype=float)
    k = np.asarray(k, dtype=float)
    out = np.where(p > 0, np.abs(p) ** k, np.where(k == 0, 1.0, p))
    return out if out.ndim else float(out)


def lower_bound_product(*ps):
    """Product of lower bounds on probabilities; if any is vacuous (<= 0) the smallest is returned."""
    arrs = np.broadcast_arrays(*[np.asarray(p, dtype=float) for p in ps])
    stacked = np.stack(arrs)
    out = np.where(np.all(stacked > 0, axis=0), np.prod(stacked, axis=0), np.min(stacked, axis=0))
    return out if out.ndim else float(out)
