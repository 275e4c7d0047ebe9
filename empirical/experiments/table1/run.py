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

import pandas as pd

from empirical._io import write_csv
from empirical.errors import UserError
from empirical.experiments.common.configure import common_options
from empirical.experiments.common.rundir import Options, RunDir, check_only, read_config
from empirical.experiments.table1.config import (
    CELL_TABLES,
    Table1Config,
    collect,
    rundir,
)
from empirical.lock.extraction import extract
from empirical.lock.sweep import accuracy_curve
from empirical.measure import Constants, measure_net
from empirical.nets.checkpoint import load_checkpoint
from empirical.nets.convnets import count_macs, depth, describe
from empirical.nets.data import test_set_for
from empirical.nets.train import RunOptions, TrainSpec, train

log = logging.getLogger(__name__)

KIND = "table1"
DEFAULT_PRESET = "default"
ONLY = "vgg,resnet"
DESCRIPTION = (
    "Train each conv architecture, lock it at --ratio with l1 (filters), bn-scale and random filters (several seeds), "
    "sweep the accuracy over --ratios, check the bounds per stage; write table1.csv, curves.csv, bounds_checks.csv, "
    "figures/ and report.md. Run the same command to resume."
)


@dataclass(frozen=True)
class Table1Options(Options):
    """``recheck``: recompute the bound checks of the finished architectures from their local checkpoints."""

    recheck: bool = False


def run_arch(arch: str, config: Table1Config, run_dir, device: str = "cpu", progress: bool = True) -> None:
    """Train one architecture, sweep every indicator and check the bounds; write its cell tables."""

    cell = Path(run_dir) / "cells" / arch
    h, w = config.sizes[arch]
    spec = TrainSpec(
        int(h),
        int(w),
        config.epochs,
        seed=config.seed,
        dataset=config.dataset,
        train_subset=config.train_subset,
        precision=config.precision,
        arch=arch,
        channels_last=config.channels_last,
    )
    t0 = time.perf_counter()
    path = train(spec, cell, RunOptions(device=device, progress=progress))
    t_train = time.perf_counter() - t0
    model, meta = load_checkpoint(path, device)
    x, y = test_set_for(meta["spec"], device=device)
    t1 = time.perf_counter()
    curves = []
    jobs = [("l1", 0, config.ratios), ("bn-scale", 0, config.ratios)]
    jobs += [
        ("random", s, config.ratios if s < config.curve_random_seeds else [config.ratio])
        for s in range(config.random_seeds)
    ]
    for indicator, s, ratios in jobs:
        c = accuracy_curve(model, x, y, ratios, indicator=indicator, seed=s)
        curves.append(c)
        log.info(
            "%s: %s seed %d: top-1 at %.3g = %.4f",
            arch,
            indicator,
            s,
            config.ratio,
            float(c.loc[c.ratio == config.ratio, "top1"].iloc[0]),
        )
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
    rd.finish(
        arch,
        dict(curves=curves, bounds_checks=checks, models=models),
        {"arch": arch, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")},
    )


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
    return tables


def run(config: Table1Config, run_dir, options: Table1Options = Table1Options()) -> dict[str, pd.DataFrame]:
    """Every architecture not finished yet, then the tables (``options.recheck``: recompute the finished
    architectures' bound checks instead); the face (``empirical.experiments.table1``) adds the report."""
    if options.recheck:
        return recheck(run_dir, options.device)
    run_dir = Path(run_dir)
    check_only(options.only, config.archs)
    rd = rundir(run_dir, config.to_json())
    with rd.open():
        tables = rd.run_cells(
            list(config.archs),
            lambda arch: run_arch(arch, config, run_dir, options.device, options.progress),
            options.only,
            collect=lambda: collect(run_dir),
        )
    return tables


def run_table1(config: Table1Config, run_dir, device: str = "cpu", progress: bool = True) -> dict[str, pd.DataFrame]:
    return run(config, run_dir, Table1Options(device=device, progress=progress))


def add_arguments(p) -> None:
    """How Table 1 runs (its configuration's options come from ``Table1Config``)."""
    p.add_argument(
        "--recheck",
        action="store_true",
        help="recompute the bound checks of the finished architectures from their local checkpoints, keep the rest",
    )


def options(args) -> Table1Options:
    return Table1Options(**common_options(args), recheck=args.recheck)


def summary(config: Table1Config, tables: dict[str, pd.DataFrame]) -> str:
    t = tables["table1"]
    if not len(t):
        return "no architecture has finished yet"
    return t[["arch", "original", "random_mean", "random_sd", "l1", "bn_scale"]].round(2).to_string(index=False)
