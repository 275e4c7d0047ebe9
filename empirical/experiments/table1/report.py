"""Table 1 and Figure 6's report (``report.md``, the figure) from the committed tables; reads the tables and the
configuration, never the training code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import figures
from empirical._io import write_text
from empirical.errors import UserError
from empirical.experiments.common.bound_claims import conv_claims
from empirical.experiments.common.rundir import read_config
from empirical.experiments.common.validate import validate
from empirical.experiments.common.verdicts import counted, section, table
from empirical.experiments.table1.config import collect
from empirical.lock.utility import CHANCE
from figures.table1 import accuracy_vs_ratio

LOCKED_PCT = 100 * (CHANCE + 0.05)  # "locked": within 5 pp of chance
CONFIG_FIELDS = ("ratio", "dataset", "epochs", "seed", "precision", "random_seeds", "check_samples")


def _fmt(v, digits=2):
    return "—" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def verdicts(run_dir) -> pd.DataFrame:
    """Table 1's verdicts: ℓ1 and bn-scale at the ratio bring each network to chance + 5 pp (the paper: 9.72–10.01 %),
    and the conv-layer bound claims on these networks (``bound_claims.conv_claims``)."""
    run_dir = Path(run_dir)
    cfg = read_config(run_dir / "config.json")
    t, checks = pd.read_csv(run_dir / "table1.csv"), pd.read_csv(run_dir / "bounds_checks.csv")
    scope = (
        f"{cfg['dataset']}, {len(t)} CPU-scale networks ({', '.join(t.arch)}), {cfg['epochs']} epochs, one seed each"
    )
    rows = []
    for col, name in (("l1", "ℓ1 (filters)"), ("bn_scale", "bn-scale (|γ|)")):
        locked = t[t[col] <= LOCKED_PCT]
        paper = f"{t[f'paper_{col}'].min():.2f}–{t[f'paper_{col}'].max():.2f}"
        rows.append(
            dict(
                where="Table 1",
                claim=f"extraction by {name} at {cfg['ratio']:g} brings each network to chance (paper: {paper} %)",
                scope=scope,
                verdict=counted(len(locked), len(t), "networks"),
                numbers=", ".join(f"{r.arch} {r.original:.1f} → {getattr(r, col):.1f} %" for r in t.itertuples()),
                tolerance=f"chance + 5 pp ({LOCKED_PCT:.0f} %)",
            )
        )
    bound_scope = f"first {cfg['check_samples']} test images; ℓ1, bn-scale and random at {cfg['ratio']:g}"
    rows += [{**r, "scope": bound_scope} for r in conv_claims(checks)]
    return table(rows)


def _check_section(checks: pd.DataFrame) -> list[str]:
    """The bound-check summary per architecture and indicator, and the conv-layer verdicts."""
    lines = []
    agg = checks.groupby(["arch", "indicator"]).agg(
        stages=("layer", "size"),
        sandwich=("sandwich_all_hold", "all"),
        theorem2_min=("theorem2_holds_frac", "min"),
    )
    conv = checks[checks.get("mu_zero_padded").notna()] if "mu_zero_padded" in checks else checks.iloc[:0]
    lines += [
        "| arch | indicator | stages | sandwich on every sample | Theorem 2 d ≥ G (worst stage) | "
        "conv stages with μ>0 | μ circular / zero-padded (median) | Property 4 bound / μ (median) | "
        "Theorem 4 probability vacuous |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (arch, ind), r in agg.iterrows():
        c = conv[(conv.arch == arch) & (conv.indicator == ind) & (conv.mu_zero_padded > 0)]
        ratio_c = (c.mu_circular / c.mu_zero_padded).median() if len(c) else float("nan")
        ratio_p = (c.mu_property4 / c.mu_zero_padded).median() if len(c) else float("nan")
        vac = c["theorem4_probability_vacuous"].astype(bool).sum() if "theorem4_probability_vacuous" in c else 0
        lines.append(
            f"| {arch} | {ind} | {r.stages} | {'yes' if r.sandwich else 'NO'} | {r.theorem2_min:.3f} | {len(c)} | "
            f"{_fmt(ratio_c, 3)} | {_fmt(ratio_p, 1)} | {vac} of {len(c)} |"
        )

    lines += [
        "",
        "The conv-layer claims' verdicts on these stages are in Verdicts above.",
        "",
        "bn-scale zeroes β as well as γ, which changes the folded bias: Theorem 4 as printed has no bias term "
        "(erratum E-T4-BN), so its rows for bn-scale test the printed statement, while the sandwich carries ‖Δb‖.",
        "",
        "Stages: one conv (BN folded, eval mode) or one residual/dense block (see `bounds_checks.csv`, column "
        "`assumptions`). The sandwich d ≤ G + B must hold on every sample (a self-check); Theorem 2's d ≥ G is "
        "not guaranteed (erratum E-T2-LB).",
    ]
    return lines


def write_report(run_dir, tables: dict[str, pd.DataFrame] | None = None) -> Path:
    """``report.md`` and ``figures/table1_curves.png`` from the tables (collected from ``run_dir`` if not given)."""
    run_dir = Path(run_dir)
    cfg = read_config(run_dir / "config.json")
    missing = [k for k in CONFIG_FIELDS if k not in cfg]
    if missing:
        raise UserError(
            f"{run_dir / 'config.json'} is not a complete table1 configuration (no {missing[0]!r}); "
            "rerun `corelocker-bounds table1 --out DIR` to write one"
        )
    if tables is None:
        tables = collect(run_dir)
    tables = {k: validate(v, run_dir / f"{k}.csv") if len(v) else v for k, v in tables.items()}
    t, models, checks = tables["table1"], tables["models"], tables["bounds_checks"]
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    fig = accuracy_vs_ratio(tables["curves"], cfg["ratio"])
    figures.save(fig, fig_dir / "table1_curves.png", dpi=120, tight=True)
    lines = [
        f"# Table 1 and Figure 6 at CPU scale ({cfg['dataset']}, ratio {cfg['ratio']})",
        "",
        f"{cfg['epochs']} epochs, Adam lr 1e-3, batch 128, seed {cfg['seed']}, {cfg['precision']}; accuracies on the "
        "whole test set (10,000 images). Ratio = share of the candidate units (filters of the hidden conv layers for "
        "ℓ1 and random; all BN channels for bn-scale), ranked globally. Random: random filters, "
        f"{cfg['random_seeds']} seeds at the Table 1 ratio (mean ± sd), the first {cfg.get('curve_random_seeds', 1)} "
        "over the whole curve.",
        "",
        *(section(verdicts(run_dir)) if len(t) else []),
        "## Models",
        "",
        "| arch | network | depth | parameters | MACs / image | test accuracy | train s |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, m in models.iterrows():
        lines.append(
            f"| {m.arch} | {m['name']} | {m.depth} | {m.n_parameters:,} | {m.macs_per_image / 1e6:.1f} M | "
            f"{m.acc_original * 100:.2f} % | {m.train_seconds:.0f} |"
        )
    lines += [
        "",
        "## Table 1 (top-1 %, ratio {})".format(cfg["ratio"]),
        "",
        "| | " + " | ".join(f"{r.arch} (ours) | {r.paper_model} (paper)" for r in t.itertuples()) + " |",
        "|---|" + "---|---|" * len(t),
        *(
            f"| {label} | " + " | ".join(cell(r) for r in t.itertuples()) + " |"
            for label, cell in (
                ("original", lambda r: f"{_fmt(r.original)} | {r.paper_original:.2f}"),
                ("random (mean ± sd)", lambda r: f"{_fmt(r.random_mean)} ± {_fmt(r.random_sd)} | {r.paper_random:.2f}"),
                ("random drop", lambda r: f"{_fmt(r.random_drop)} | {r.paper_random_drop:.2f}"),
                ("CoreLocker ℓ1", lambda r: f"{_fmt(r.l1)} | {r.paper_l1:.2f}"),
                ("CoreLocker bn-scale", lambda r: f"{_fmt(r.bn_scale)} | {r.paper_bn_scale:.2f}"),
                ("ℓ1 key, share of all parameters", lambda r: f"{r.l1_share_of_parameters:.4f} | —"),
            )
        ),
        "",
        "Our networks are the CPU-scale members of the paper's families (see Models), not DenseNet-40, "
        "ResNet-164 and VGG-19 themselves.",
        "",
        "## Figure 6: accuracy vs extraction ratio",
        "",
        "![accuracy vs ratio](figures/table1_curves.png)",
        "",
        "## Bound checks at the Table 1 ratio (first {} test images)".format(cfg["check_samples"]),
        "",
    ]
    if len(checks):
        lines += _check_section(checks)
    text = "\n".join(lines) + "\n"
    write_text(run_dir / "report.md", text)
    return run_dir / "report.md"
