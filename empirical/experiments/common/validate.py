"""The one validation of every table a report reads (issue 37: hand-edited or foreign run directories gave
tracebacks or silent nonsense).

Rules by column name, the same for every experiment: identifiers and counts (``hidden_layers``, ``width``,
``seed``, ``epoch``, ``k``, ``n_extracted``, …) are whole numbers >= 0; ratios and shares lie in [0, 1];
accuracies (``acc_*``, ``*_acc``, ``accuracy*``, ``top1``, ``top3``, …) lie in [0, 1] — a table in percent is
refused, not rescaled; every other numeric column an experiment names must hold numbers. A value that is not a
number where one is expected names its file, line and column. Columns an experiment requires must exist and must
not be all empty.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from empirical.errors import UserError

WHOLE = (
    "hidden_layers",
    "width",
    "seed",
    "epoch",
    "epochs",
    "k",
    "n_extracted",
    "n_values",
    "random_seed",
    "epochs_planned",
    "epochs_reached",
    "n_parameters",
    "evaluations",
)
SHARE = re.compile(r"^(ratio|share_of_parameters|share|fraction)$")
ACCURACY = re.compile(r"^(acc_\w+|\w+_acc|accuracy(_\w+)?|top1|top3|top3_\w+)$")
NOT_A_LEVEL = re.compile(r"drop|diff|delta|gain")  # differences of accuracies may be negative
NUMERIC_REQUIRED = {"mc_variance", "bound", "loss", "sandwich_holds_frac", "theorem2_holds_frac", "target"}
PERCENT_TABLES = {"table1"}  # tables whose accuracy columns hold percentages by design (Table 1 as printed)


def _numeric(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    raw = df[col]
    if raw.dtype.kind in "biuf":
        return raw.astype(float)
    values = pd.to_numeric(raw.replace({True: 1, False: 0}), errors="coerce")
    bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise UserError(
            f"{path}: line {i + 2}, column {col!r} holds {raw.iloc[i]!r}, not a number "
            "(a hand-edited or foreign table?)"
        )
    return values


def validate(df: pd.DataFrame, path, required=(), numeric=()) -> pd.DataFrame:
    """``df`` read from ``path``, checked by the module's rules; ``required`` columns must exist and not be all
    empty, ``numeric`` ones must hold numbers. Returns ``df`` with the checked columns as numbers."""
    path = Path(path)
    missing = [c for c in required if c not in df]
    if missing:
        raise UserError(f"{path} has no column {missing[0]!r}: not a table this report can read")
    out = df.copy()
    percent = path.stem in PERCENT_TABLES
    for col in df.columns:
        whole, share = col in WHOLE, bool(SHARE.match(col))
        acc = bool(ACCURACY.match(col)) and not NOT_A_LEVEL.search(col) and not percent
        if not (whole or share or acc or col in numeric or (col in required and col in NUMERIC_REQUIRED)):
            continue
        values = _numeric(df, col, path)
        seen = values[np.isfinite(values)]
        if whole and ((seen < 0).any() or (seen != np.round(seen)).any()):
            raise UserError(
                f"{path}: column {col!r} must hold whole numbers >= 0 "
                f"(found {seen[(seen < 0) | (seen != np.round(seen))].iloc[0]!r})"
            )  # noqa: E501
        if (share or acc) and ((seen < 0) | (seen > 1)).any():
            worst = seen[(seen < 0) | (seen > 1)].iloc[0]
            hint = " (a table in percent? accuracies and ratios are fractions)" if 1 < worst <= 100 else ""
            raise UserError(f"{path}: column {col!r} must lie in [0, 1], found {worst!r}{hint}")
        if np.isinf(values).any() and (whole or share or acc):
            raise UserError(f"{path}: column {col!r} holds inf")
        out[col] = values if not whole or values.isna().any() else values.astype(np.int64)
    for col in required:
        if col in out and out[col].isna().all() and len(out):
            raise UserError(f"{path}: column {col!r} is empty in every row")
    return out
