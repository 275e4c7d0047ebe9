"""The grid run's tables: what a grid run holds and requires, read by the grid's report and by the paper-widths
report (which extrapolates from a grid run), validated by ``common.validate``."""

from __future__ import annotations

import pandas as pd

from empirical.experiments.common.rundir import load_tables

# ------------------------------------------------------------------------- the grid run's tables
GRID_TABLES = ("results", "bounds_checks", "disparities", "critical_ratios", "theorem1_mc", "train_log")
GRID_REQUIRED = {
    "results": ("hidden_layers", "width", "seed", "indicator", "ratio", "acc_original", "acc_extracted"),
    "bounds_checks": ("hidden_layers", "width", "seed", "layer", "sandwich_holds_frac", "theorem2_holds_frac"),
    "critical_ratios": ("hidden_layers", "width", "seed", "target", "status"),
    "theorem1_mc": ("hidden_layers", "width", "mc_variance", "bound"),
    "train_log": ("hidden_layers", "width", "seed", "epoch", "loss"),
}


def load_grid_run(run_dir) -> dict[str, pd.DataFrame]:
    """The top-level tables of a grid run (``results.csv`` is required), validated, and its ``config``."""
    return load_tables(
        run_dir, GRID_TABLES, "results", "grid", "grid", columns=GRID_REQUIRED["results"], schemas=GRID_REQUIRED
    )
