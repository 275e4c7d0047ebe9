"""Table 1 and Figure 6 at CPU scale: conv nets with BN on Fashion-MNIST, locked at ratio 0.05.

Per architecture (one "cell", ``cells/{arch}/``, finished when its ``done.json`` exists):
train (resumable per epoch), then on the whole test set the accuracy of the original, of
CoreLocker with each indicator (``l1`` = ℓ1 of filters F_(s,t), ``bn-scale`` = |γ| of BN
channels) and of the random baseline (random filters, several seeds: mean ± sd) at every ratio
of the curve (nested sets: ranked once per indicator and seed, ``empirical.lock.sweep``), and the
per-stage bound checks (``empirical.measure.conv``) at the Table 1 ratio on the first
``check_samples`` test images. Ratios are shares of the candidate units (filters of the hidden
conv layers, or all BN channels), global ranking; the share of all parameters is in the tables.

Top-level tables (``table1.csv``, ``curves.csv``, ``bounds_checks.csv``, ``models.csv``) are
rebuilt from finished cells only, so an interrupted run resumes without redoing them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import figures
from empirical._io import write_csv, write_text
from empirical.errors import UserError
from empirical.experiments.arguments import _common_device, float_list
from empirical.experiments.bound_claims import conv_claims
from empirical.experiments.markdown import md_table
from empirical.experiments.presets import pick
from empirical.experiments.rundir import Options, RunDir, check_only, read_config
from empirical.experiments.table1_config import (  # noqa: F401  (re-exported: the experiment's configuration)
    CELL_TABLES,
    PAPER_FASHION,
    TABLES,
    Table1Config,
    _merge,
    parse_sizes,
    rundir,
)
from empirical.lock.extraction import extract
from empirical.lock.sweep import accuracy_curve
from empirical.measure import Constants, measure_net
from empirical.nets.checkpoint import load_checkpoint
from empirical.nets.convnets import CONV_ARCHS, DEFAULTS, count_macs, depth, describe
from empirical.nets.data import test_set_for
from empirical.nets.train import RunOptions, TrainSpec, train
from figures.table1 import accuracy_vs_ratio

log = logging.getLogger(__name__)

KIND = "table1"
DESCRIPTION = (
    "Train each conv architecture, lock it at --ratio with l1 (filters), bn-scale and random filters (several seeds), "
    "sweep the accuracy over --ratios, check the bounds per stage; write table1.csv, curves.csv, bounds_checks.csv, "
    "figures/ and report.md. Run the same command to resume."
)
Config = Table1Config
PRESETS = {"default": Table1Config()}


@dataclass(frozen=True)
class Table1Options(Options):
    """``recheck``: recompute the bound checks of the finished architectures from their local checkpoints."""

    recheck: bool = False


def run_arch(arch: str, config: Table1Config, run_dir, device: str = "cpu", progress: bool = True) -> None:
    """Train one architecture, sweep every indicator and check the bounds; write its cell tables."""

    cell = Path(run_dir) / "cells" / arch
    h, w = config.sizes[arch]
    spec = TrainSpec(
        int(h), int(w), config.epochs, seed=config.seed, dataset=config.dataset, train_subset=config.train_subset,
        precision=config.precision, arch=arch, channels_last=config.channels_last,
    )  # fmt: skip
    t0 = time.perf_counter()
    path = train(spec, cell, RunOptions(device=device, progress=progress))
    t_train = time.perf_counter() - t0
    model, meta = load_checkpoint(path, device)
    x, y = test_set_for(meta["spec"], device=device)
    t1 = time.perf_counter()
    curves = []
    jobs = [("l1", 0, config.ratios), ("bn-scale", 0, config.ratios)]
    jobs += [("random", s, config.ratios if s < config.curve_random_seeds else [config.ratio])
             for s in range(config.random_seeds)]  # fmt: skip
    for indicator, s, ratios in jobs:
        c = accuracy_curve(model, x, y, ratios, indicator=indicator, seed=s)
        curves.append(c)
        log.info("%s: %s seed %d: top-1 at %.3g = %.4f", arch, indicator, s, config.ratio,
                 float(c.loc[c.ratio == config.ratio, "top1"].iloc[0]))  # fmt: skip
    curves = pd.concat(curves, ignore_index=True)
    curves.insert(0, "arch", arch)
    t_sweep = time.perf_counter() - t1
    checks = bound_checks(arch, model, meta, config, device)
    n_params = sum(p.numel() for p in model.parameters())
    models = pd.DataFrame(
        [
            dict(
                arch=arch,
                name=describe(arch, int(h), int(w)),
                depth=depth(arch, int(h)),
                hidden_layers=int(h),
                width=int(w),
                n_parameters=n_params,
                macs_per_image=count_macs(model),
                epochs=config.epochs,
                acc_original=meta.get("test_acc"),
                train_seconds=round(t_train, 1),
                sweep_seconds=round(t_sweep, 1),
                check_seconds=round(time.perf_counter() - t1 - t_sweep, 1),
            )
        ]
    )
    rd = RunDir(run_dir, "table1", {}, CELL_TABLES)
    rd.finish(arch, dict(curves=curves, bounds_checks=checks, models=models),
              {"arch": arch, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})  # fmt: skip


def bound_checks(arch, model, meta, config: Table1Config, device: str = "cpu") -> pd.DataFrame:
    """Per-stage bound checks (``measure_net``) at the Table 1 ratio for ℓ1, bn-scale and random (seed 0)."""

    xs, ys = test_set_for(meta["spec"], device=device, n=config.check_samples)
    checks, cache = [], {}
    for indicator in ("l1", "bn-scale", "random"):
        locked, _ = extract(model, config.ratio, indicator, seed=0)
        res = measure_net(model, locked, xs, ys, constants=Constants(), batch=250, cache=cache)
        layers = res.layers.copy()
        layers.insert(0, "indicator", indicator)
        layers.insert(0, "arch", arch)
        layers["ratio"] = config.ratio
        layers["sandwich_all_hold"] = res.summary["sandwich_all_hold"]
        checks.append(layers)
    return pd.concat(checks, ignore_index=True)


def recheck(run_dir, device: str = "cpu") -> dict[str, pd.DataFrame]:
    """Recompute the bound checks of every finished architecture whose checkpoint is here (after the
    measurement changed), keeping the trained networks and their accuracies; then the tables and report."""

    run_dir = Path(run_dir)
    raw = read_config(run_dir / "config.json")
    try:
        config = Table1Config(**{k: tuple(v) if isinstance(v, list) and k != "sizes" else v for k, v in raw.items()})
    except TypeError as exc:
        raise UserError(f"{run_dir}/config.json is not a Table 1 configuration ({exc})") from None
    with rundir(run_dir, config.to_json()).open():
        for arch in config.archs:
            cell = run_dir / "cells" / arch
            if not (cell / "done.json").exists():
                continue
            if not (cell / "model.safetensors").exists():
                raise UserError(f"{cell}: no checkpoint here (checkpoints are not committed); cannot recheck {arch}")
            model, meta = load_checkpoint(cell, device)
            log.info("%s: rechecking the bounds", arch)
            write_csv(cell / "bounds_checks.csv", bound_checks(arch, model, meta, config, device))
        tables = collect(run_dir)
        write_report(run_dir, tables)
    return tables


def summarize(curves: pd.DataFrame, models: pd.DataFrame, ratio: float) -> pd.DataFrame:
    """Table 1: one row per architecture at ``ratio`` (accuracies in %), with the paper's numbers beside."""
    rows = []
    for arch in models["arch"]:
        at = curves[(curves.arch == arch) & np.isclose(curves.ratio, ratio)]
        rnd = at[at.indicator == "random"]["top1"] * 100
        m = models[models.arch == arch].iloc[0]
        first = at[at.indicator == "l1"].iloc[0]
        orig = float(m.acc_original) * 100
        paper = PAPER_FASHION[arch]
        rows.append(
            dict(
                arch=arch,
                model=m["name"],
                n_parameters=int(m.n_parameters),
                original=orig,
                random_mean=float(rnd.mean()),
                random_sd=float(rnd.std(ddof=1)) if len(rnd) > 1 else float("nan"),
                random_drop=orig - float(rnd.mean()),
                random_seeds=len(rnd),
                l1=float(at[at.indicator == "l1"]["top1"].iloc[0]) * 100,
                bn_scale=float(at[at.indicator == "bn-scale"]["top1"].iloc[0]) * 100,
                l1_share_of_parameters=float(first.share_of_parameters),
                bn_share_of_parameters=float(at[at.indicator == "bn-scale"]["share_of_parameters"].iloc[0]),
                paper_model=paper["model"],
                paper_original=paper["original"],
                paper_random=paper["random"],
                paper_random_drop=round(paper["original"] - paper["random"], 2),
                paper_l1=paper["l1"],
                paper_bn_scale=paper["bn-scale"],
            )
        )
    return pd.DataFrame(rows)


def collect(run_dir) -> dict[str, pd.DataFrame]:
    """The finished cells' tables, concatenated, and Table 1 from them; writes the top-level tables atomically."""
    run_dir = Path(run_dir)
    rd = RunDir(run_dir, "table1", {}, CELL_TABLES)
    out = rd.collect(CONV_ARCHS)
    if len(out["models"]):
        cfg = read_config(run_dir / "config.json")
        out["table1"] = summarize(out["curves"], out["models"], cfg["ratio"])
        write_csv(run_dir / "table1.csv", out["table1"])
    else:
        out["table1"] = pd.DataFrame()
    return out


def run(config: Table1Config, run_dir, options: Table1Options = Table1Options()) -> dict[str, pd.DataFrame]:
    """Every architecture not finished yet, then the tables, the figure and ``report.md`` (``options.recheck``:
    recompute the finished architectures' bound checks instead)."""
    if options.recheck:
        return recheck(run_dir, options.device)
    run_dir = Path(run_dir)
    check_only(options.only, config.archs)
    rd = rundir(run_dir, config.to_json())
    with rd.open():
        tables = rd.run_cells(list(config.archs), lambda arch: run_arch(arch, config, run_dir, options.device,
                                                                       options.progress),
                              options.only, collect=lambda: collect(run_dir))  # fmt: skip
        write_report(run_dir, tables)
    return tables


def run_table1(config: Table1Config, run_dir, device: str = "cpu", progress: bool = True) -> dict[str, pd.DataFrame]:
    return run(config, run_dir, Table1Options(device=device, progress=progress))


def add_arguments(p) -> None:
    p.add_argument("--out", type=Path, required=True, help="run directory")
    p.add_argument("--preset", default="default", help="default (the only one; the options below override it)")
    p.add_argument("--archs", default="vgg,resnet,densenet", help="comma-separated subset of vgg,resnet,densenet")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--ratio", type=float, default=0.05, help="Table 1's extraction ratio (default 0.05)")
    p.add_argument("--ratios", type=float_list, help="the curve's ratios (default 0.0001..0.05, 7 points)")
    p.add_argument("--random-seeds", type=int, default=5, help="random-filter seeds at --ratio (default 5)")
    p.add_argument("--curve-random-seeds", type=int, default=2, help="of those, swept over all --ratios (default 2)")
    p.add_argument("--check-samples", type=int, default=500, help="test images for the bound checks")
    p.add_argument("--train-subset", type=int, help="train on the first N training images only")
    p.add_argument("--size", action="append", default=[], metavar="ARCH=H,W",
                   help="override an architecture's (hidden_layers, width), e.g. resnet=1,8; repeatable")  # fmt: skip
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--recheck",
        action="store_true",
        help="recompute the bound checks of the finished architectures from their local checkpoints, keep the rest",
    )
    _common_device(p)


def configure(args) -> tuple[Table1Config, Table1Options]:
    pick(PRESETS, args.preset, "table1 preset")
    archs = tuple(a.strip() for a in args.archs.split(",") if a.strip())
    sizes = {**{a: list(DEFAULTS[a]) for a in CONV_ARCHS}, **parse_sizes(args.size, CONV_ARCHS)}
    kw = dict(archs=archs, sizes=sizes, epochs=args.epochs, ratio=args.ratio, random_seeds=args.random_seeds,
              curve_random_seeds=min(args.curve_random_seeds, args.random_seeds), check_samples=args.check_samples,
              train_subset=args.train_subset)  # fmt: skip
    if args.ratios:
        kw["ratios"] = tuple(args.ratios)
    options = Table1Options(device=args.device, progress=not args.no_progress, recheck=args.recheck)
    return Table1Config(**kw), options


def summary(config: Table1Config, tables: dict[str, pd.DataFrame]) -> str:
    t = tables["table1"]
    if not len(t):
        return "no architecture has finished yet"
    return t[["arch", "original", "random_mean", "random_sd", "l1", "bn_scale"]].round(2).to_string(index=False)


def _fmt(v, digits=2):
    return "—" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


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
        "Verdicts on the conv-layer claims (`empirical.experiments.bound_claims.conv_claims`, all architectures and "
        "indicators):",
        "",
        md_table(pd.DataFrame(conv_claims(checks))),
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
    if tables is None:
        tables = collect(run_dir)

    run_dir = Path(run_dir)
    cfg = read_config(run_dir / "config.json")
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
