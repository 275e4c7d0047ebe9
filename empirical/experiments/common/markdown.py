"""Markdown tables for the reports (``report.md`` of every experiment)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def cell(v) -> str:
    """A table cell: whole numbers without a decimal point, other floats to 4 significant digits."""
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "—" if np.isnan(v) else str(v)
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:.4g}"
    return str(v)


def md_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``df`` (cells as ``cell`` writes them, pipes escaped)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(str(c).replace("|", "\\|") for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(cell(r[c]).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines)


def heat_text(cells: pd.DataFrame, value: str, fmt) -> str:
    """A depth × width table of ``value`` (rows: hidden layers, columns: widths), missing cells as —."""
    tab = cells.pivot_table(index="hidden_layers", columns="width", values=value)
    df = tab.map(lambda v: fmt(v) if np.isfinite(v) else "—")
    df.insert(0, "H \\ width", df.index)
    return md_table(df.reset_index(drop=True))


def pct(v) -> str:
    return "—" if pd.isna(v) else f"{100 * v:.1f}"


def span(values) -> str:
    """``3`` or ``1–3``: the range of some counts."""
    lo, hi = min(values), max(values)
    return f"{lo}" if lo == hi else f"{lo}–{hi}"
