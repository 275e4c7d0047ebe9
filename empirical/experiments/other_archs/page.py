# ruff: noqa: E501  (the page template is prose)
"""Tables 6–7's docs page (``docs/results/other-archs.md``) and README line, from the committed
``results/other-archs`` (``scripts/docs.py`` writes them)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from empirical.experiments.common.markdown import md_table, pct
from empirical.experiments.common.verdicts import line
from empirical.experiments.other_archs.report import verdicts

RUN = "results/other-archs"
PAGE = "docs/results/other-archs.md"
TITLE = "Tables 6–7 at CPU scale: a ViT and an LSTM (`corelocker-bounds other-archs --out results/other-archs`)"
NAV = "ViT and LSTM (Tables 6-7)"  # its entry in the docs' navigation
FIGURES = (RUN,)  # the runs whose figures the page shows (scripts/docs.py appends any not in the text)


def glance(run=Path(RUN)) -> str:
    """The README's line for Tables 6–7: the lock's and the utility curve's verdicts (``report.verdicts``)."""
    v = verdicts(run)
    t6, t7 = (v[v["where"] == w].iloc[0] for w in ("Table 6", "Table 7"))
    return (
        f"* *Tables 6–7, model independence at CPU scale* ({t6.scope}): {line(t6, where=False, scope=False)}; "
        f"{line(t7, where=False, scope=False)} ([page](@docs/results/other-archs.md)).\n"
    )


def page(run=Path(RUN)) -> str:
    models = pd.read_csv(run / "models.csv")
    t6 = pd.read_csv(run / "table6.csv")
    curves = pd.read_csv(run / "curves.csv")
    rows = []
    for m in models.itertuples():
        g = t6[t6.model == m.model]
        acc = g.groupby("variant", sort=False)["accuracy"].mean()
        rows.append(
            {
                "model": f"{m.model}: {m.network}",
                "data": m.dataset,
                "epochs": m.epochs,
                **{k: pct(v) for k, v in acc.items()},
            }
        )
    t = pd.DataFrame(rows).fillna("—")
    vit = curves[(curves.model == "vit") & (curves.indicator == "l1")].groupby("ratio")["top1"].mean()
    acc = {}
    for m, g in t6.groupby("model", sort=False):
        by = g.groupby("variant")["accuracy"].mean()
        acc[m] = {"orig": by["original"], "ℓ1": by["CoreLocker ℓ1 (weights)"], "random": by["random weights"]}
    v = verdicts(run)
    locks_text = "\n* ".join(line(r, scope=False) for r in v.itertuples())
    t7 = ", ".join(f"{r:g} → {pct(a)} %" for r, a in vit.items() if r <= 0.2)
    text = f"""The paper's Table 6 (BERT 87.2 → 25.3 %, CNN-LSTM 81.1 → 10.0 %, ViT on CIFAR-100 81.4 → 1.4 % at 0.05). Ours at CPU
scale, ratio 0.05 of the candidate units (the first projection and the classifier excluded), test accuracy (%):

{md_table(t)}

* {locks_text}
* ℓ1 costs more than random weights of the same count on both ({"; ".join(f"{m}: ℓ1 {pct(acc[m]['ℓ1'])} % vs random {pct(acc[m]['random'])} %" for m in acc)}).
* Table 7's granular utility (ViT, ℓ1 weights): {t7}. The levels are there, at ratios about 5× larger
  than the paper's 0.005–0.02 (its 65.0 % at 0.01 is our 62 % at 0.05).
* No text data set ships in a package this machine can install, so there is no BERT row.

Full report (Table 7 bins, per-stage measurements): [`results/other-archs/report.md`](results/other-archs/report.md).
"""
    return text
