"""Handlers: theory, predict-ratio, figures, report, and every registered experiment (``cmd_experiment``)."""

from __future__ import annotations

import json
import math

import numpy as np

from empirical._io import write_csv
from empirical.cli.common import check_writable_dir, device
from empirical.errors import UserError
from empirical.experiments.common import configure, registry
from empirical.experiments.common.configure import pick
from empirical.experiments.grid.config import PRESETS as GRID_PRESETS
from empirical.experiments.grid.predict import evaluate, predict_ratios
from empirical.experiments.grid.report import load_run, write_figures
from empirical.experiments.grid.theory_table import Constants, format_summary, theory_table
from empirical.kinds import claim_dir, mark_dir
from empirical.lock.ratio import check_ratio
from empirical.lock.utility import check_target
from empirical.safety import commit_files, output_lock

THEORY_OUTPUTS = ("theory.csv",)
PREDICT_OUTPUTS = ("predictions.csv", "heldout_one_network.csv", "heldout_across.csv")


def cmd_theory(args) -> int:
    preset = pick(GRID_PRESETS, args.preset, "grid preset")
    for name in ("ratios", "widths", "hidden_layers"):
        if getattr(args, name) is not None and not getattr(args, name):
            raise UserError(f"--{name.replace('_', '-')} is empty")
    ratios = args.ratios or list(preset.ratios)
    for r in ratios:
        check_ratio(r)
    for name in ("C_s", "C_e", "tau", "x_norm", "K_s", "C_w"):
        v = getattr(args, name)
        if v is not None and not (math.isfinite(v) and v > 0):
            raise UserError(f"--{name.replace('_', '-')} must be a finite number > 0, got {v}")
    widths = args.widths or list(preset.widths)
    depths = args.hidden_layers or list(preset.hidden_layers)
    if min(widths) < 1 or min(depths) < 2 or max(widths) > 1_000_000 or max(depths) > 10_000:
        raise UserError("widths must be in 1..1000000 and hidden layers in 2..10000 (the hidden scope needs W⁽²⁾)")
    consts = Constants(C_s=args.C_s, C_e=args.C_e, tau=args.tau, x_norm=args.x_norm, K_s=args.K_s, C_w=args.C_w)
    df = theory_table(depths, widths, ratios, consts)
    df.insert(0, "preset", args.preset if not (args.widths or args.hidden_layers) else "custom")
    print(f"theory table: {len(depths)}×{len(widths)} cells × {len(ratios)} ratios")
    for r in ratios:
        print(f"\nratio {r}:")
        print(format_summary(df[df["ratio"] == r]))
    if args.out:
        check_writable_dir(args.out)
        claim_dir(args.out, "theory", THEORY_OUTPUTS)
        args.out.mkdir(parents=True, exist_ok=True)
        with output_lock([args.out / THEORY_OUTPUTS[0]]):
            mark_dir(args.out, "theory")
            write_csv(args.out / "theory.csv", df)
        print(f"wrote {args.out / 'theory.csv'} ({len(df)} rows)")
    return 0


def cmd_predict_ratio(args) -> int:
    args.target = check_target(args.target, 1.0)  # a number or chance[+Npp]; the run's accuracies bound it below
    if args.out:
        check_writable_dir(args.out)
        claim_dir(args.out, "predict-ratio", PREDICT_OUTPUTS)
    t = load_run(args.run)
    res = t["results"]
    if "D_w" not in res or res[res["indicator"] == "l1"]["D_w"].notna().sum() < 3:
        raise UserError(f"{args.run}/results.csv has too few ℓ1 rows with bound checks to fit anything")
    nets = res.groupby(["hidden_layers", "width"]).ngroups
    if nets < 3:
        raise UserError(f"{args.run} has {nets} network(s): fitting the theory's 3 free constants needs at least 3")
    acc0 = res.groupby(["hidden_layers", "width"])["acc_original"].first()
    if args.target >= acc0.max():
        raise UserError(
            f"target accuracy {args.target} is at or above every network's original accuracy (max {acc0.max():.4f})"
        )
    preds, th, bl = predict_ratios(res, args.target)
    cols = ["ratio_theory", "ratio_baseline", "ratio_interp"]
    preds["flag"] = [
        "; ".join(f"{c[6:]} > 1: impossible" for c in cols if np.isfinite(r[c]) and r[c] >= 1)
        for _, r in preds.iterrows()
    ]
    ev = evaluate(res, t["critical_ratios"], args.target)
    summary = {**ev["summary"], "theory_fit": vars(th), "baseline_coef": [float(c) for c in bl.coef]}
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        with output_lock([args.out / PREDICT_OUTPUTS[0]]):
            mark_dir(args.out, "predict-ratio")
            tables = (preds, ev["one_network"], ev["across_networks"])
            commit_files(
                {
                    args.out / name: (lambda tmp, t=t: t.to_csv(tmp, index=False))
                    for name, t in zip(PREDICT_OUTPUTS, tables)
                }
            )
    if args.json:
        print(json.dumps(summary, default=float))
        return 0
    print(
        f"theory fit on {summary['n_networks']} networks: link slope {th.slope:.3g}, offset {th.offset:.3g}, "
        f"C_s = {th.C_s:.3g}"
    )
    print(preds.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if (preds["flag"] != "").any():
        print("(a ratio above 1 is not an extraction: the fit extrapolates beyond every weight; see the flag column)")
    print("held-out errors (median over networks): accuracy in pp, ratio for the target in |log10|")
    for k, v in ev["summary"].items():
        if k not in ("target", "n_networks"):
            print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
    return 0


def cmd_experiment(args) -> int:
    """Any registered experiment (``empirical.experiments.common.registry``): its options become its config and run
    options, it runs (or resumes) into ``--out``, and its summary is printed; ``reproduce`` adds the report."""
    mod = registry.experiment(args.kind)
    args.device = device(args.device)
    config, options = configure.configure(args, mod)
    check_writable_dir(args.out)
    report = args.out / "report.md"
    before = report.stat().st_mtime_ns if report.exists() else None
    tables = mod.run(config, args.out, options)
    print(mod.summary(config, tables))
    if getattr(args, "report", False):
        path = registry.write_report(args.out, ratio=args.figure_ratio)
        print(f"wrote {path} and {args.out / 'figures'}/")
    elif report.exists() and report.stat().st_mtime_ns != before:
        print(f"wrote {report}")
    elif report.exists():  # an earlier run's report, which this run did not rewrite
        print(f"{report} is from an earlier run: `corelocker-bounds report {args.out}` brings it up to date")
    return 0


def cmd_figures(args) -> int:
    if not (args.vmax > 0 and math.isfinite(args.vmax)):
        raise UserError(f"--vmax must be a positive number of pp, got {args.vmax}")
    notes: list[str] = []
    paths = write_figures(args.run_dir, ratio=args.ratio, fmt=args.format, vmax=args.vmax, notes=notes)
    for note in notes:
        print(note)
    for path in paths:
        print(f"wrote {path}")
    return 0


def cmd_report(args) -> int:
    if args.ratio is not None:
        check_ratio(args.ratio)
    path = registry.write_report(
        args.run_dir,
        ratio=args.ratio,
        seeds_run=args.seeds_run,
        grid_run=args.grid_run,
        backtest_run=args.backtest_run,
        earlier_run=args.earlier_run,
    )
    print(f"wrote {path}")
    return 0
