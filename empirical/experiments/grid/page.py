# ruff: noqa: E501  (the page template is prose)
"""The grid's docs page (``docs/results/cpu.md``) and its README lines, from the committed ``results/cpu``
(``scripts/docs.py`` writes them; run ``corelocker-bounds report results/cpu`` first). Every verdict comes from
``grid.report.verdicts``, the rows the report writes."""

from __future__ import annotations

import numpy as np

from empirical.experiments.common.presets import PAPER_RATIO
from empirical.experiments.grid import analysis
from empirical.experiments.grid.report import load_run, verdicts

RUN = "results/cpu"
PAGE = "docs/results/cpu.md"
TITLE = "Figure 5, `cpu` preset (`corelocker-bounds reproduce --preset cpu --out results/cpu`)"
NAV = "Figure 5, cpu preset"  # its entry in the docs' navigation
FIGURES = (RUN,)  # the runs whose figures the page shows (scripts/docs.py appends any not in the text)


def glance() -> str:
    """The README's lines for the grid: Figure 5's trends at 1/10 of the paper's widths, on the 0.002 % drop and on
    the critical ratio, and what the bound checks found (every verdict from ``report.verdicts``)."""
    cpu = load_run(RUN)
    at = analysis.cell_table(cpu["results"], PAPER_RATIO)
    cl = verdicts(RUN)
    fig5 = cl[(cl["where"] == "Figure 5") & cl["claim"].str.contains("Figure 5's", regex=False)]
    words = "; ".join(f"{r.claim.split(' (')[0]}: {r.verdict}" for r in fig5.itertuples())
    crit = cpu["critical_ratios"]
    c50 = crit[(crit.target == 0.5) & (crit.status == "found")].groupby(["hidden_layers", "width"])["ratio"].mean()
    crit_rows = cl[(cl["where"] == "Figure 5") & cl["claim"].str.contains("critical ratio", regex=False)]
    words50 = "; ".join(f"{r.claim.split(' (')[0]}: {r.verdict}" for r in crit_rows.itertuples())
    bounds = cl[cl["where"].str.startswith(("Theorem 2", "Theorem 3", "Theorem 1"))]
    theorem_words = "; ".join(
        f"{r['where'].split(' (')[0]}, {r.claim.split(' (')[0]}: {r.verdict}" for _, r in bounds.iterrows()
    )
    return f"""* *Figure 5 at 1/10 of the paper's widths* (`cpu` grid, 80 cells, 15 epochs, one seed per cell; the
  collapse claims themselves are judged at the paper's widths below): 0.002 % moves accuracy by
  {100 * at.acc_drop.min():+.2f} to {100 * at.acc_drop.max():+.2f} pp; the depth and width effects on that drop
  ({words}; no effect: the HC3 95 % interval lies within ±1 pp per decade); the critical ratios for 50 % sit
  {np.log10(c50.min() / PAPER_RATIO):.2f}–{np.log10(c50.max() / PAPER_RATIO):.2f} decades above 0.002 %, and on them: {words50}
  ([page](@docs/results/cpu.md)).
* *Theorems 1–4 on the `cpu` grid's networks*: {theorem_words}; several printed statements need the
  [errata](@docs/errata.md).
"""


def page() -> str:
    """The body of the results page (every number from the committed tables)."""
    t = load_run(RUN)
    res = t["results"]
    crit = t["critical_ratios"]
    l1 = res[res.indicator == "l1"]
    done = l1.groupby(["hidden_layers", "width"])
    n = done.ngroups
    acc0 = done["acc_original"].first()
    cells = sorted(done.groups)
    by_w = {}
    for h, w in cells:
        by_w.setdefault(w, []).append(h)
    cover = "; ".join(
        f"width {w}: {min(hs)}–{max(hs)} hidden layers" if len(hs) > 1 else f"width {w}: {hs[0]}"
        for w, hs in sorted(by_w.items(), reverse=True)
    )
    paper = analysis.cell_table(res, PAPER_RATIO)
    kp = l1[np.isclose(l1.ratio, PAPER_RATIO)].n_extracted
    c50 = crit[(crit.target == 0.5) & (crit.status == "found")].sort_values("ratio")
    c15 = crit[(crit.target == 0.15) & (crit.status == "found")]
    cl = verdicts(RUN)

    def row(where, text):
        r = cl[(cl["where"] == where) & cl["claim"].str.contains(text, regex=False)]
        return r.iloc[0] if len(r) else None

    t2 = row("Theorem 2, eq. (1) (E-T2-LB)", "d⁽ᵐ⁾ >= G⁽ᵐ⁾")
    t3m = row("Theorem 3", "λ measured")
    t3p = row("Theorem 3", "λ Property 1")
    t1 = row("Theorem 1", "V(y")
    mono = row("Table 5 / Figure 6", "smoothly")
    tab1 = row("Table 1", "ℓ1")
    lo, hi = c50.iloc[-1], c50.iloc[0]
    fig5 = cl[cl["where"] == "Figure 5"]
    fig5_lines = "\n".join(f"  * {r.claim}: **{r.verdict}** — {r.numbers}" for r in fig5.itertuples())
    if n >= 80:
        status = f"""**All 80 cells finished** and committed under [`results/cpu/`](results/cpu/report.md) ({cover}).
    Measured:"""
        caveat = f"""Figure 5's trends over the 80 cells. Each verdict comes from the regression value = a + b·log10 H + c·log10 w
    with HC3 95 % intervals (b, c: effects per decade of depth and of width, so they compare on one scale; "depth
    matters more" is b − c), with the marginal Spearman ρ beside it, the width effect tested within depth by
    permutation, and the verdict repeated without the training runs flagged as unstable (`report.md` has the
    heatmaps, the elasticity tables with and without the interaction, and the flags):

    {fig5_lines}
    """
    else:
        status = f"""**In progress: {n} of 80 cells finished** and committed under [`results/cpu/`](results/cpu/report.md)
    ({cover}); the run resumes from the committed tables with the same command, then `corelocker-bounds
    report results/cpu` refreshes the report. Measured so far, on these cells only:"""
        caveat = f"""Figure 5's trends on the finished cells so far (read them after the grid completes; the cells run largest
    first, so the smallest widths are missing):

    {fig5_lines}
    """
    text = f"""Widths 100..800 × 4..13 hidden layers, 15 epochs, fp32, largest cells first. {status}

    * mean test accuracy {acc0.mean():.4f} ({acc0.min():.4f}–{acc0.max():.4f}) after 15 epochs (paper: 98.6 % after 50);
    * **at the paper's 0.002 %** ({kp.min()}–{kp.max()} weights) the ℓ1 accuracy drop is {100 * paper.acc_drop.min():+.2f} to
      {100 * paper.acc_drop.max():+.2f} pp{": nothing collapses at 1/10 of the paper's widths" if paper.acc_drop.max() < 0.01 else ""};
    * the smallest ℓ1 ratio reaching 50 % accuracy ranges from {100 * lo.ratio:.2g} % of the hidden weights
      ({int(lo.hidden_layers)} × {int(lo.width)}) down to {100 * hi.ratio:.2g} % ({int(hi.hidden_layers)} × {int(hi.width)}); chance + 5 pp needs
      {100 * c15.ratio.min():.2g}–{100 * c15.ratio.max():.2g} %;
    * ℓ1 vs random: {tab1["numbers"] if tab1 is not None else "—"};
    * accuracy is not monotone in the ratio: {mono["numbers"] if mono is not None else "—"} (e.g. 11 × 800 goes
      0.911 → 0.927 from 0.2 % to 0.5 %);
    * bounds: Theorem 2's d ≥ G — {t2["numbers"] if t2 is not None else "—"}; Theorem 3 holds but bound/d is
      {t3m["numbers"].split("; ")[-1].replace("bound/d (median per layer) ", "") if t3m is not None else "—"} (λ measured) and {t3p["numbers"].split("; ")[-1].replace("bound/d (median per layer) ", "") if t3p is not None else "—"} (λ Property 1);
      Theorem 1 vs Monte Carlo: {t1["numbers"] if t1 is not None else "—"}.

    {caveat}"""
    return "\n".join(line[4:] if line.startswith("    ") else line for line in text.splitlines()) + "\n"
