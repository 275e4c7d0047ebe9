"""The extraction ratio r and how many units it extracts (Section 3.1, Definition 1)."""

from __future__ import annotations

import math

from bounds.fcn_grid import extracted_count
from empirical.errors import UserError


def check_ratio(ratio) -> float:
    """A ratio must be a finite number strictly between 0 and 1."""
    try:
        r = float(ratio)
    except (TypeError, ValueError):
        raise UserError(f"extraction ratio must be a number in (0, 1), got {ratio!r}") from None
    if not math.isfinite(r) or not 0.0 < r < 1.0:
        raise UserError(f"extraction ratio must be in (0, 1), got {ratio!r}")
    return r


def n_extracted(ratio, n_candidates: int) -> int:
    """k = ⌈r·D⌉ units out of D candidates, at least 1 (Definition 1; ``bounds.fcn_grid.extracted_count``).

    r·D is computed exactly on the ratio's shortest decimal form (``repr``), so 0.00002 of
    3,000,000 is 60, not 61 from floating-point round-up.
    """

    r = check_ratio(ratio)
    try:
        return extracted_count(r, n_candidates)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def ratio_for_k(k: int, n_candidates: int) -> float:
    """A ratio r with ``n_extracted(r, n_candidates) == k`` (k/D, nudged by one ulp if rounding disagrees)."""
    if not 1 <= k <= n_candidates:
        raise UserError(f"k must be in 1..{n_candidates}, got {k}")
    if k == n_candidates:
        return math.nextafter(1.0, 0.0)
    r = k / n_candidates
    while n_extracted(r, n_candidates) > k:
        r = math.nextafter(r, 0.0)
    while n_extracted(r, n_candidates) < k:
        r = math.nextafter(r, 1.0)
    return r
