"""The grid's critical-ratio laws extrapolated to the paper's widths (a section of the paper-widths report)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from empirical.experiments.common.markdown import md_table
from empirical.experiments.common.statistics import extrapolation


def extrapolation_section(crit: pd.DataFrame, grid: dict, target: float = 0.5) -> list[str]:
    """Candidate laws for the critical ratio fitted on a grid run's tables (``grid``, e.g. ``results/cpu``), scored
    on the cells measured here (their last epoch with a found ratio for the same accuracy level)."""
    grid_run = grid["config"].get("preset", "the grid run")
    g = grid["critical_ratios"]
    g = g[(g["target"] == target) & (g["status"] == "found")]
    train_cells = g.groupby(["hidden_layers", "width"], as_index=False)["ratio"].mean()
    here = crit[(crit["criterion"] == f"{target:g}") & (crit["status"] == "found")].sort_values("epoch")
    test = here.groupby(["hidden_layers", "width"], as_index=False).tail(1)[
        ["hidden_layers", "width", "ratio", "epoch"]
    ]
    if not len(train_cells) or not len(test):
        return []
    for df in (train_cells, test):
        df["log10_ratio"] = np.log10(df["ratio"])
    ex = extrapolation(train_cells, test.reset_index(drop=True), "log10_ratio")
    score = (
        ex.assign(abs_error=ex["error"].abs())
        .groupby("form", as_index=False)
        .agg(
            aic_on_grid=("aic_train", "first"),
            max_abs_error_decades=("abs_error", "max"),
            mean_error_decades=("error", "mean"),
        )
        .sort_values("max_abs_error_decades")
    )
    ruled_out = score[score["max_abs_error_decades"] > 1.0]["form"].tolist()
    return [
        f"## Extrapolating the critical ratio ({target:.0%}) from `{grid_run}` to the widths measured here",
        "",
        "Each form is fitted on the grid's cells (log10 of the critical ratio, least squares) and predicts the cells "
        "measured here at their last epoch (which are trained longer than the grid's cells: read the errors as "
        "including that difference).",
        "",
        md_table(score),
        "",
        md_table(ex),
        "",
        "Forms off by more than one decade on some measured cell: "
        + (", ".join(ruled_out) if ruled_out else "none")
        + ".",
        "",
    ]
