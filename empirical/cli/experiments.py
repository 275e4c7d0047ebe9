"""Handlers: theory, predict-ratio, grid, reproduce, figures, report, table1, paper-widths."""

from __future__ import annotations

import json
import math

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from empirical._io import write_csv
from empirical.cli.common import check_writable_dir, device, positive
from empirical.errors import UserError
from empirical.experiments import ablation, attacks, other_archs, presets, registry
from empirical.experiments.grid import GridConfig, GridOptions, run_grid
from empirical.experiments.paper_widths import get_preset, parse_cells, run
from empirical.experiments.predict import evaluate, predict_ratios
from empirical.experiments.report import load_run, write_figures, write_report
from empirical.experiments.table1 import Table1Config, recheck, run_table1
from empirical.experiments.theory_table import Constants, format_summary, theory_table
from empirical.lock.ratio import check_ratio
from empirical.nets.convnets import CONV_ARCHS, DEFAULTS
from empirical.safety import claim_dir, commit_files, mark_dir, output_lock

THEORY_OUTPUTS = ("theory.csv",)
PREDICT_OUTPUTS = ("predictions.csv", "heldout_one_network.csv", "heldout_across.csv")


def cmd_theory(args) -> int:
    preset = presets.get_preset(args.preset)
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
    if not (0.1 < args.target < 1) or math.isnan(args.target):
        raise UserError(f"target accuracy {args.target} is outside (chance 0.1, 1)")
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
            commit_files({args.out / name: (lambda tmp, t=t: t.to_csv(tmp, index=False))
                          for name, t in zip(PREDICT_OUTPUTS, tables)})  # fmt: skip
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


def _grid_config(args):
    if args.bf16 and args.fp32:
        raise UserError("--bf16 and --fp32 exclude each other")
    positive(args, "epochs", "random_seeds", "workers", "threads", "max_cells", "train_subset")
    for name in ("widths", "hidden_layers", "ratios", "seeds"):
        if getattr(args, name) is not None and not getattr(args, name):
            raise UserError(f"--{name.replace('_', '-')} is empty")
    preset = presets.get_preset(args.preset)
    precision = "bf16" if args.bf16 else "fp32" if args.fp32 else None
    return GridConfig.from_preset(
        preset,
        widths=args.widths,
        hidden_layers=args.hidden_layers,
        epochs=args.epochs,
        ratios=args.ratios,
        seeds=args.seeds,
        random_seeds=args.random_seeds,
        precision=precision,
        train_subset=args.train_subset,
    )


def _grid_options(args):
    return GridOptions(
        device=device(args.device),
        workers=args.workers,
        threads=args.threads,
        executor=args.executor,
        progress=not args.no_progress,
        data_root=args.data_root,
        max_cells=args.max_cells,
    )


def _finished_cells(tables) -> int:
    res = tables["results"]
    return res.groupby(["hidden_layers", "width", "seed"]).ngroups if len(res) else 0


def cmd_grid(args) -> int:
    config, options = _grid_config(args), _grid_options(args)
    tables = run_grid(config, args.out, options)
    print(f"grid {args.out}: {_finished_cells(tables)} of {len(config.cells())} cells finished")
    return 0


def cmd_reproduce(args) -> int:
    config, options = _grid_config(args), _grid_options(args)
    tables = run_grid(config, args.out, options)
    done = _finished_cells(tables)
    if done < len(config.cells()):
        print(f"grid {args.out}: {done} of {len(config.cells())} cells finished; report covers those")
    path = write_report(args.out, ratio=args.figure_ratio)
    print(f"wrote {path} and {args.out / 'figures'}/")
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
    path = registry.write_report(args.run_dir, ratio=args.ratio, seeds_run=args.seeds_run, grid_run=args.grid_run,
                                 backtest_run=args.backtest_run)  # fmt: skip
    print(f"wrote {path}")
    return 0


def cmd_table1(args) -> int:
    if args.recheck:
        recheck(args.out, device(args.device))
        print(f"rechecked the bounds in {args.out}; wrote bounds_checks.csv and report.md")
        return 0

    archs = tuple(a.strip() for a in args.archs.split(",") if a.strip())
    sizes = {a: list(DEFAULTS[a]) for a in CONV_ARCHS}
    for item in args.size:
        try:
            arch, hw = item.split("=")
            h, w = (int(v) for v in hw.split(","))
        except ValueError:
            raise UserError(f"--size {item!r}: expected ARCH=H,W, e.g. resnet=3,16") from None
        if arch not in sizes:
            raise UserError(f"--size {item!r}: unknown architecture {arch!r}")
        sizes[arch] = [h, w]
    kw = dict(
        archs=archs,
        sizes=sizes,
        epochs=args.epochs,
        ratio=args.ratio,
        random_seeds=args.random_seeds,
        curve_random_seeds=min(args.curve_random_seeds, args.random_seeds),
        check_samples=args.check_samples,
        train_subset=args.train_subset,
    )
    if args.ratios:
        kw["ratios"] = tuple(args.ratios)
    config = Table1Config(**kw)
    check_writable_dir(args.out)
    tables = run_table1(config, args.out, device(args.device), progress=not args.no_progress)
    t = tables["table1"]
    print(t[["arch", "original", "random_mean", "random_sd", "l1", "bn_scale"]].round(2).to_string(index=False))
    print(f"wrote {args.out}/table1.csv, curves.csv, bounds_checks.csv, report.md")
    return 0


def cmd_paper_widths(args) -> int:
    config = get_preset(args.preset)
    only = parse_cells(args.only) if args.only is not None else None
    positive(args, "threads", "stop_after_epoch")
    if args.state_dir is not None and args.state_dir.exists() and not args.state_dir.is_dir():
        raise UserError(f"--state-dir {args.state_dir} is not a directory")
    check_writable_dir(args.out)
    dev = device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        threadpool_limits(limits=args.threads)
    tables = run(config, args.out, only, dev, not args.no_progress, args.stop_after_epoch, args.state_dir)
    cells = tables["cells"]
    print(cells.to_string(index=False))
    return 0


def _sizes(items, archs) -> dict:
    sizes = {a: list(DEFAULTS[a]) for a in archs}
    for item in items:
        try:
            arch, hw = item.split("=")
            h, w = (int(v) for v in hw.split(","))
        except ValueError:
            raise UserError(f"--size {item!r}: expected ARCH=H,W, e.g. resnet=3,16") from None
        if arch not in sizes:
            raise UserError(f"--size {item!r}: {arch!r} is not one of the architectures run ({', '.join(archs)})")
        sizes[arch] = [h, w]
    return sizes


def cmd_ablation(args) -> int:
    archs = tuple(a.strip() for a in args.archs.split(",") if a.strip())
    recipes = tuple(r.strip() for r in args.recipes.split(",") if r.strip())
    bad = [a for a in archs if a not in DEFAULTS]
    if bad:
        raise UserError(f"unknown architecture(s) {bad}; choose from {', '.join(DEFAULTS)}")
    config = ablation.AblationConfig(
        archs=archs, sizes=_sizes(args.size, archs), recipes=recipes, epochs_adam=args.epochs_adam,
        epochs_sgd=args.epochs_sgd, train_subset=args.train_subset, ratio=args.ratio,
        extra_cells=ablation.REVIEW_CELLS if args.review_cells else (),
    )  # fmt: skip
    only = [c.strip() for c in args.only.split(",") if c.strip()] if args.only else None
    check_writable_dir(args.out)
    tables = ablation.run(config, args.out, device(args.device), not args.no_progress, only)
    locked = ablation.with_seed(tables["locked"])
    print(locked.pivot_table(index=["arch", "recipe", "seed"], columns="variant", values="accuracy").round(3))
    print(f"wrote {args.out}/report.md")
    return 0


QUICK_ATTACK_MODELS = (
    dict(name="fcn-3x32", arch="fcn", dataset="mnist", hidden_layers=3, width=32, epochs=1, indicator="l1",
         lock="chance+5pp", fractions=(0.01, 0.02), seeds=1, ft_epochs=1),
)  # fmt: skip


def cmd_attacks(args) -> int:
    if args.checkpoint is not None:
        from empirical.cli.lock import cmd_attack_checkpoint

        return cmd_attack_checkpoint(args)
    own = [f"--{n}" for n in ("key", "model", "data_root") if getattr(args, n) is not None]
    if own:
        raise UserError(f"{own[0].replace('_', '-')} goes with --checkpoint (your own locked model)")
    config = attacks.AttackConfig(models=QUICK_ATTACK_MODELS, prune_fractions=(0.2,), targeted_epochs=(1,)) \
        if args.quick else attacks.AttackConfig()  # fmt: skip
    only = [c.strip() for c in args.only.split(",") if c.strip()] if args.only else None
    check_writable_dir(args.out)
    if args.converged_baselines:  # an extension of a run: its cells stay as they are
        rd = attacks.RunDir(args.out, "attacks", config.to_json(), attacks.TABLES)
        with rd.open():
            table = attacks.run_scratch_converged(config, rd, device(args.device))
        print(table.groupby(["model", "baseline", "fraction"])["accuracy"].agg(["mean", "count"]).to_string())
        print(f"wrote {args.out}/scratch_converged.csv")
        return 0
    tables = attacks.run(config, args.out, device(args.device), only)
    print(tables["summary"].to_string(index=False))
    print(f"wrote {args.out}/report.md")
    return 0


def cmd_other_archs(args) -> int:
    if args.quick:
        models = (dict(name="vit", arch="vit", dataset="fashion-mnist", hidden_layers=1, width=16, epochs=1),
                  dict(name="lstm", arch="lstm", dataset="mnist", hidden_layers=1, width=16, epochs=1))  # fmt: skip
        config = other_archs.OtherArchsConfig(
            models=models, train_subset=2000, random_seeds=2, check_samples=50, curve=(0.01, 0.1)
        )
    else:
        config = other_archs.OtherArchsConfig()
    check_writable_dir(args.out)
    tables = other_archs.run(config, args.out, device(args.device), not args.no_progress)
    print(tables["table6"].groupby(["model", "variant"], sort=False)["accuracy"].mean().round(4).to_string())
    print(f"wrote {args.out}/report.md")
    return 0
