"""Figure 5's trend claims on a cell table: the regression of a vulnerability on log10 depth and log10 width with HC3
intervals, an equivalence margin, and the verdicts with and without the unstable runs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from empirical.experiments.common import statistics
from empirical.experiments.common.bound_claims import (
    _row,
)
from empirical.experiments.grid import analysis


def _effects(cells: pd.DataFrame, value: str):
    """OLS of ``value`` on log10 depth and log10 width with HC3 intervals (statistics.elasticities)."""
    return statistics.elasticities(cells.reset_index(drop=True), value)


DROP_MARGIN = 0.01  # equivalence margin for accuracy-drop effects: 1 pp of accuracy per decade of depth or width


def trend_claims(
    label: str, cells: pd.DataFrame, value: str, n_boot: int, unstable: pd.DataFrame, margin: float | None = None
) -> list[dict]:
    """Figure 5's three trend claims on one cell table. ``value`` grows with vulnerability (a drop, or
    −log10 of a critical ratio). Marginal Spearman ρ are shown, but the verdicts come from the regression
    value = a + b·log10 H + c·log10 w (HC3 95 % intervals; b and c are effects per decade of depth and of
    width, so they compare on one scale): deeper ⇔ b > 0, wider ⇔ c > 0 (and the width effect within
    depth by permutation), depth matters more ⇔ b − c > 0. Unstable training runs are flagged and every
    verdict is repeated without them. ``margin``: an equivalence margin in the value's unit per decade; an
    interval inside ±margin reads NO EFFECT (``analysis.verdict_from_ci``)."""
    cells = cells[np.isfinite(cells[value])].reset_index(drop=True)
    claims3 = ("deeper networks suffer more", "wider networks suffer more", "depth matters more than width")
    flat = cells["hidden_layers"].nunique() < 2 or cells["width"].nunique() < 2
    if len(cells) < 4 or cells[value].std() == 0 or flat:
        why = f"{len(cells)} cells; no variation to fit" if len(cells) >= 4 else f"only {len(cells)} cells"
        return [_row(f"{c} ({label})", "Figure 5", "INCONCLUSIVE", why) for c in claims3]
    tr = analysis.trend(cells, value, n_boot=n_boot)
    keys = set(map(tuple, unstable[["hidden_layers", "width"]].to_numpy())) if len(unstable) else set()
    stable = cells[[(h, w) not in keys for h, w in zip(cells["hidden_layers"], cells["width"])]]
    fits = {"all": _effects(cells, value)}
    if keys and len(stable) >= 4 and len(stable) < len(cells):
        fits["stable"] = _effects(stable, value)
    perm = statistics.within_depth_permutation(cells, value, n_perm=max(200, n_boot))

    def show(fit, weights):
        est, (lo, hi) = fit.contrast(weights)
        return est, (lo, hi), f"{est:.3g} [{lo:.3g}, {hi:.3g}]"

    rows = []
    for claim, weights, extra in (
        ("deeper networks suffer more", [0, 1, 0], f"Spearman ρ(depth) = {tr['rho_depth']:.2f}"),
        (
            "wider networks suffer more",
            [0, 0, 1],
            f"Spearman ρ(width) = {tr['rho_width']:.2f}; within-depth permutation of widths p = {perm['p_value']:.3g}",
        ),
        ("depth matters more than width", [0, 1, -1], "effect of a decade of depth minus a decade of width"),
    ):
        _, ci, text = show(fits["all"], weights)
        numbers = f"coefficient {text} (HC3 95 %), {fits['all'].n} cells; {extra}"
        if "stable" in fits:
            _, ci_s, text_s = show(fits["stable"], weights)
            v_s = analysis.verdict_from_ci(ci_s, margin=margin)
            numbers += f"; without the {len(cells) - len(stable)} unstable cells: {text_s} → {v_s}"
        tol = "HC3 95 % interval of the regression coefficient" + (
            f"; NO EFFECT when it lies within ±{100 * margin:g} pp per decade" if margin is not None else ""
        )
        rows.append(_row(f"{claim} ({label})", "Figure 5", analysis.verdict_from_ci(ci, margin=margin), numbers, tol))
    return rows
