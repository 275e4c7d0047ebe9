"""The theory table as a DataFrame and a printed summary; the closed forms are ``bounds.fcn_grid``."""

from __future__ import annotations

import pandas as pd

from bounds.fcn_grid import INPUT_DIM as INPUT_DIM
from bounds.fcn_grid import N_CLASSES as N_CLASSES
from bounds.fcn_grid import Constants as Constants
from bounds.fcn_grid import fc_widths as fc_widths
from bounds.fcn_grid import n_parameters as n_parameters
from bounds.fcn_grid import theory_row as theory_row
from bounds.fcn_grid import theory_rows


def theory_table(hidden_layers, widths, ratios, constants: Constants = Constants()) -> pd.DataFrame:
    """One row per (hidden_layers, width, ratio); columns as described in ``bounds.fcn_grid``."""
    return pd.DataFrame(theory_rows(hidden_layers, widths, ratios, constants))


SUMMARY_COLUMNS = [
    "hidden_layers",
    "width",
    "ratio",
    "k_global",
    "D_w",
    "lam",
    "out_norm_bound",
    "p_out_norm",
    "mu_half",
    "eta",
    "p_theorem3",
    "p_theorem3_union",
    "theorem2_tail",
    "variance_bound_init",
]


def format_summary(df: pd.DataFrame) -> str:
    """A readable fixed-width table of the main columns (vacuous probabilities marked *)."""
    out = df[SUMMARY_COLUMNS].copy()
    for p in ("p_out_norm", "p_theorem3", "p_theorem3_union", "theorem2_tail"):
        out[p] = [f"{v:.3g}{'*' if vac else ''}" for v, vac in zip(df[p], df[f"{p}_vacuous"])]
    for col in ("lam", "out_norm_bound", "mu_half", "eta", "variance_bound_init"):
        out[col] = [f"{v:.3g}" for v in df[col]]
    return out.to_string(index=False) + "\n(* vacuous: outside (0, 1))"


__all__ = ["Constants", "theory_table", "theory_row", "format_summary", "fc_widths", "n_parameters"]
