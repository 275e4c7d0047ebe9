# ruff: noqa: E501  (the section template is prose)
"""Regenerate the README's cpu-grid section from results/cpu: `.venv/bin/python scripts/readme_cpu.py` (repo root).

Run `corelocker-bounds report results/cpu` first; every number in the section comes from the tables.
"""

import numpy as np

from empirical.experiments import analysis
from empirical.experiments.presets import PAPER_RATIO
from empirical.experiments.report import claims, load_run


def page() -> str:
    """The body of the results page (every number from the committed tables)."""
    t = load_run("results/cpu")
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
    cl = claims("results/cpu")

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
    verdicts = "\n".join(f"  * {r.claim}: **{r.verdict}** — {r.numbers}" for r in fig5.itertuples())
    if n >= 80:
        status = f"""**All 80 cells finished** and committed under [`results/cpu/`](results/cpu/report.md) ({cover}).
    Measured:"""
        caveat = f"""Figure 5's trends over the 80 cells. Each verdict comes from the regression value = a + b·log10 H + c·log10 w
    with HC3 95 % intervals (b, c: effects per decade of depth and of width, so they compare on one scale; "depth
    matters more" is b − c), with the marginal Spearman ρ beside it, the width effect tested within depth by
    permutation, and the verdict repeated without the training runs flagged as unstable (`report.md` has the
    heatmaps, the elasticity tables with and without the interaction, and the flags):

    {verdicts}
    """
    else:
        status = f"""**In progress: {n} of 80 cells finished** and committed under [`results/cpu/`](results/cpu/report.md)
    ({cover}); the run resumes from the committed tables with the same command, then `corelocker-bounds
    report results/cpu` refreshes the report. Measured so far, on these cells only:"""
        caveat = f"""Figure 5's trends on the finished cells so far (read them after the grid completes; the cells run largest
    first, so the smallest widths are missing):

    {verdicts}
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
    return text
