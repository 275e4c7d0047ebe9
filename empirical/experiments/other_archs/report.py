"""Tables 6–7's report from the committed tables (never the training code)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from empirical._io import write_text
from empirical.experiments.common.markdown import md_table
from empirical.experiments.common.rundir import load_tables
from empirical.experiments.other_archs.config import PAPER_TABLE6, PAPER_TABLE7, TABLES


def write_report(run_dir) -> Path:

    run_dir = Path(run_dir)
    t = load_tables(run_dir, TABLES, "table6", "other-archs", "other-archs")
    t6, bins, stages, models, cfg = t["table6"], t["bins"], t["stages"], t["models"], t["config"]
    summary = t6.groupby(["model", "variant"], sort=False)["accuracy"].agg(["mean", "std", "count"]).reset_index()
    summary[["mean", "std"]] *= 100
    paper = pd.DataFrame([dict(model=k, original=v[0], corelocker=v[1]) for k, v in PAPER_TABLE6.items()])
    cols = [
        "model",
        "layer",
        "kind",
        "n_extracted",
        "chain_bound",
        "d_median",
        "G_median",
        "e_median",
        "sandwich_holds_frac",
        "theorem2_holds_frac",
    ]
    parts = [
        "# Tables 6–7 at CPU scale: a ViT and an LSTM",
        "",
        f"Ratio {cfg.get('ratio')} of the candidate units (the first projection and the classifier excluded), every "
        "accuracy on the whole test set. No text data set ships in a package this machine can install, so there is "
        "no BERT row.",
        "",
        "## Models",
        "",
        md_table(models),
        "",
        "## Table 6: test accuracy (%) at the ratio (random: mean ± sd over seeds)",
        "",
        md_table(summary.rename(columns={"mean": "accuracy_%", "std": "sd", "count": "n"})),
        "",
        "The paper's Table 6 (original → CoreLocker at 0.05):",
        "",
        md_table(paper),
        "",
        "## Table 7: utility bins (10 points) of the ℓ1 curves",
        "",
        md_table(bins),
        "",
        "The paper's Table 7 (ViT, CIFAR-100): " + ", ".join(f"{r} → {a} %" for r, a in PAPER_TABLE7) + ".",
        "",
        "## Stages measured at the ratio (ℓ1)",
        "",
        "Theorems 3–4 are stated for plain linear and conv layers. Attention, LayerNorm and recurrence have no "
        "stated Lipschitz bound, so their stages get no chain bound (`chain_bound`): d, G and the stage's own change e "
        "are measured and the triangle inequality d <= G + e is checked; Theorem 2's d >= G is reported as a fraction.",
        "",
        md_table(stages[[c for c in cols if c in stages]]),
        "",
    ]
    path = run_dir / "report.md"
    write_text(path, "\n".join(parts))
    return path
