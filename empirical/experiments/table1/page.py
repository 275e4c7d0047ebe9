# ruff: noqa: E501  (the page template is prose)
"""Table 1's docs page (``docs/results/table1.md``) and its README line, from the committed ``results/fashion-mnist``
(``scripts/docs.py`` writes them; ``corelocker-bounds table1 --out results/fashion-mnist`` resumes the run). Every
number comes from its tables (``table1.csv``, ``models.csv``, ``bounds_checks.csv``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from empirical.experiments.common.verdicts import line
from empirical.experiments.table1.report import verdicts

RUN = "results/fashion-mnist"
PAGE = "docs/results/table1.md"
TITLE = "Table 1 and Figure 6 at CPU scale (`corelocker-bounds table1 --out results/fashion-mnist`)"
NAV = "Table 1 and Figure 6"  # its entry in the docs' navigation
FIGURES = (RUN,)  # the runs whose figures the page shows (scripts/docs.py appends any not in the text)
# the paper's networks by their standard parameter counts (DenseNet-40 with k = 12: Huang et al. 2017, Table 2;
# ResNet-164 (pre-activation bottleneck): He et al. 2016, Table 2; VGG-19 for 10 classes as Network Slimming
# trains it: Liu et al. 2017, Table 1), to set beside our CPU-scale members of the same families
PAPER_PARAMS = {"densenet": ("DenseNet-40", 1.0e6), "resnet": ("ResNet-164", 1.7e6), "vgg": ("VGG-19", 20.0e6)}


def size_ratios(t: pd.DataFrame) -> str:
    """How many times larger the paper's networks are than ours, by parameter count (one phrase per family)."""
    parts = [
        f"{PAPER_PARAMS[r.arch][0]} ≈ {PAPER_PARAMS[r.arch][1] / 1e6:g} M against our {r.n_parameters:,}: "
        f"about {PAPER_PARAMS[r.arch][1] / r.n_parameters:.0f}×"
        for r in t.itertuples()
        if r.arch in PAPER_PARAMS
    ]
    return "; ".join(parts)


def glance(run=RUN) -> str:
    """The README's line for Table 1: the ℓ1 lock's verdict (``report.verdicts``; bn-scale has the ablation's line)."""
    v = verdicts(run)
    l1 = v[(v["where"] == "Table 1") & v["claim"].str.contains("ℓ1")].iloc[0]
    return f"* *Table 1 at CPU scale*: {line(l1, where=False)} ([Table 1](@docs/results/table1.md)).\n"


def page(run=RUN) -> str:
    """The body of the results page (every number from the committed tables)."""
    run = Path(run)
    cfg = json.loads((run / "config.json").read_text())
    t = pd.read_csv(run / "table1.csv")
    models = pd.read_csv(run / "models.csv")
    checks = pd.read_csv(run / "bounds_checks.csv")
    done = list(t.arch)
    missing = [a for a in cfg["archs"] if a not in done]
    v = verdicts(run)
    cl, locks = v[v["where"] != "Table 1"], v[v["where"] == "Table 1"]

    def pct(v):
        return f"{v:.2f}"

    head = "| | " + " | ".join(f"{r.arch} ours | {r.paper_model} paper" for r in t.itertuples()) + " |"
    sep = "|---|" + "---|---|" * len(t)
    rows = [
        ("parameters", lambda r: f"{r.n_parameters:,} | —"),
        ("original", lambda r: f"{pct(r.original)} | {r.paper_original:.2f}"),
        (
            f"random filters ({cfg['random_seeds']} seeds)",
            lambda r: f"{pct(r.random_mean)} ± {pct(r.random_sd)} | {r.paper_random:.2f}",
        ),
        ("random drop (pp)", lambda r: f"{pct(r.random_drop)} | {r.paper_random_drop:.2f}"),
        ("CoreLocker ℓ1", lambda r: f"**{pct(r.l1)}** | {r.paper_l1:.2f}"),
        ("CoreLocker bn-scale", lambda r: f"**{pct(r.bn_scale)}** | {r.paper_bn_scale:.2f}"),
    ]
    table = "\n".join(
        [head, sep] + [f"| {name} | " + " | ".join(f(r) for r in t.itertuples()) + " |" for name, f in rows]
    )
    bound_lines = "\n".join(f"  * {line(r, scope=False)}" for r in cl.itertuples())  # the scope: above
    lock_lines = "\n".join(f"* {line(r, where=False)}" for r in locks.itertuples())
    status = (
        f"All {len(done)} architectures finished."
        if not missing
        else f"**In progress: {', '.join(done)} finished; {', '.join(missing)} still to run** (the same command resumes)."
    )
    curves = pd.read_csv(run / "curves.csv")
    where_bn = []
    for arch in done:
        b = checks[(checks.arch == arch) & (checks.indicator == "bn-scale")]
        hit = sorted(b[b.n_extracted > 0].layer)
        where_bn.append(f"{arch} stage{'s' if len(hit) > 1 else ''} {', '.join(map(str, hit))} of {b.layer.max()}")
    above = []
    for r in t.itertuples():
        c = curves[curves.arch == r.arch]
        best = c.loc[c.top1.idxmax()]
        if best.top1 * 100 > r.original + 0.5:
            above.append(
                f"{r.arch} reaches {best.top1 * 100:.2f} % with {best.indicator} at ratio {best.ratio:g}, above its "
                f"original {r.original:.2f} %"
            )
    for arch in done:  # a test accuracy that peaked before the last epoch (the checkpoint is the last epoch)
        log = pd.read_csv(run / "cells" / arch / "train_log.csv")
        if log.test_acc.max() > log.test_acc.iloc[-1] + 0.01:
            peak = log.loc[log.test_acc.idxmax()]
            above.append(
                f"{arch}'s test accuracy peaked at {peak.test_acc * 100:.2f} % after epoch {int(peak.epoch)} and ended at "
                f"{log.test_acc.iloc[-1] * 100:.2f} %"
            )
    facts = (
        f"{lock_lines}\n\nThe bn-scale key's channels (largest |γ|) all sit at the end of each network "
        f"({'; '.join(where_bn)}); the ablation below measures why (`results/fashion-mnist-ablation`)."
        f" Random filters cost {t.random_drop.min():.1f}–{t.random_drop.max():.1f} pp (paper: 3.45–11.2)."
        + ((" Weak spots of these short runs: " + "; ".join(above) + ".") if above else "")
        + "\n"
    )
    train_s = ", ".join(f"{m.arch} {m.train_seconds / 60:.0f} min" for m in models.itertuples())
    text = f"""{status} {cfg["epochs"]} epochs each (Adam lr 1e-3, batch 128, fp32, channels-last; training time on one
    core of this machine while other runs shared it: {train_s}). Top-1 % on the whole Fashion-MNIST test set at ratio
    {cfg["ratio"]} of the candidate units (filters of the hidden convs for ℓ1/random, all BN channels for bn-scale),
    beside the paper's Table 1 (its networks are larger — {size_ratios(t)} — and trained longer on a GPU):

    {table}

    {facts}
    Figure 6 (accuracy vs ratio {min(cfg["ratios"])}..{max(cfg["ratios"])}): [`results/fashion-mnist/figures/table1_curves.png`](results/fashion-mnist/figures/table1_curves.png);
    full report with the per-stage bound checks: [`results/fashion-mnist/report.md`](results/fashion-mnist/report.md).
    Conv-layer claims on these networks (first {cfg["check_samples"]} test images, ℓ1, bn-scale and random at {cfg["ratio"]}):

    {bound_lines}
    """
    return "\n".join(line[4:] if line.startswith("    ") else line for line in text.splitlines()) + "\n"
