"""The rerun noise of paper-width cells trained twice (an earlier run kept as *.previous*.csv, or the same cell in two
runs): the differences at the epochs both reached, and the largest for a critical ratio, which widens every
projection interval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from empirical.experiments.common.rundir import read_table
from figures.paper_widths import with_criterion


# --------------------------------------------------------------------------------------- rerun noise
def rerun_differences(runs: dict[str, Path]) -> pd.DataFrame:
    """Every cell trained twice — an earlier run kept as ``*.previous*.csv`` in its cell, or the same cell in two
    of ``runs`` (name → run directory) — compared at the epochs both reached: one row per cell × epoch × quantity
    (critical ratios in decades, accuracies in pp), later minus earlier."""
    pairs = []
    cells_of = {n: sorted((Path(d) / "cells").glob("h*_w*_s*")) for n, d in runs.items()}
    for name, cdirs in cells_of.items():
        for cdir in cdirs:
            for prev in sorted(cdir.glob("critical.previous*.csv")):
                suffix = prev.name[len("critical") : -len(".csv")]
                pairs.append((f"{name} vs its {suffix.lstrip('.')} rows", cdir, suffix, cdir, ""))
    names = list(runs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            for cdir in cells_of[a]:
                other = Path(runs[b]) / "cells" / cdir.name
                if (other / "critical.csv").exists():
                    pairs.append((f"{a} vs {b}", other, "", cdir, ""))
    rows = []
    for source, early_dir, early_sfx, late_dir, late_sfx in pairs:
        h, w = (int(v[1:]) for v in late_dir.name.split("_")[:2])
        early = with_criterion(read_table(early_dir / f"critical{early_sfx}.csv"))
        late = with_criterion(read_table(late_dir / f"critical{late_sfx}.csv"))
        keys = ["epoch", "criterion"]
        both = late[late.status == "found"].merge(early[early.status == "found"], on=keys, suffixes=("", "_early"))
        for r in both.itertuples():
            rows.append(
                dict(
                    cell=f"{h} × {w}",
                    source=source,
                    epoch=int(r.epoch),
                    quantity=f"r_{r.criterion}",
                    difference=float(np.log10(r.ratio / r.ratio_early)),
                    unit="decades",
                )
            )
        el, ee = (read_table(d / f"epoch_log{s}.csv") for d, s in ((late_dir, late_sfx), (early_dir, early_sfx)))
        for r in el.merge(ee, on="epoch", suffixes=("", "_early")).itertuples():
            rows.append(
                dict(
                    cell=f"{h} × {w}",
                    source=source,
                    epoch=int(r.epoch),
                    quantity="test accuracy",
                    difference=100 * (r.test_acc - r.test_acc_early),
                    unit="pp",
                )
            )
    return pd.DataFrame(rows)


def rerun_noise(diffs: pd.DataFrame) -> float:
    """The largest rerun difference of a critical ratio (decades): what every projection interval is widened by."""
    ratios = diffs[diffs["unit"] == "decades"] if len(diffs) else diffs
    return float(ratios["difference"].abs().max()) if len(ratios) else 0.0
