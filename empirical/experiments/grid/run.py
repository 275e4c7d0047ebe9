"""The depth × width grid of Section 5.1.1 / Figure 5: train, lock, measure every cell; resumable.

A run directory holds ``config.json`` (the ``GridConfig``: everything that determines the
results; a different one in an existing directory is refused) and one folder per cell,
``cells/h{H}_w{w}_s{seed}/``, with the training run (``spec.json``, ``train_log.csv``,
``model.safetensors``) and the cell's result tables. A cell is finished when its ``done.json``
exists; it is written last, after every table of the cell, each written atomically. The
top-level tables (``results.csv``, ``bounds_checks.csv``, ``disparities.csv``,
``critical_ratios.csv``, ``theorem1_mc.csv``, ``train_log.csv``) are the concatenation of the
finished cells, rebuilt atomically at start and after every cell: never a partial or duplicated
row. A resumed run needs only ``config.json`` and the finished cells' tables (not checkpoints),
so a grid continues from committed results on a fresh machine.

Per cell, after training (the cost), everything is cheap and streamed:
  * accuracy vs ratio (``empirical.lock.sweep``): ``l1`` and the ``random`` baseline over
    ``random_seeds`` seeds, top-1 and top-3 on the full test set;
  * critical ratios (``empirical.lock.utility.ratio_for_utility``): the smallest k whose accuracy is
    at or below 50 % and chance + 5 pp, chosen on one half of the test set, checked on the other;
  * per-layer bound checks (``empirical.measure.fcn``) at every ratio for ``l1`` and ``random``
    seed 0 on the first ``n_check`` test images;
  * Theorem 1 by Monte Carlo over re-initialised networks of the cell's shape
    (``empirical.measure.variance_mc``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from empirical.errors import CorruptResumePoint, UserError
from empirical.experiments.common import executors
from empirical.experiments.common.configure import common_options
from empirical.experiments.common.presets import TABLES
from empirical.experiments.common.rundir import Options, RunDir, read_config, read_table
from empirical.experiments.grid.cells import _with_ident, bound_check_tables, critical_ratio_table, sweep_table
from empirical.experiments.grid.config import Cell, GridConfig
from empirical.measure.variance_mc import theorem1_monte_carlo
from empirical.nets.checkpoint import load_checkpoint
from empirical.nets.data import load_dataset
from empirical.nets.train import RunOptions, TrainSpec, load_tensors, train

log = logging.getLogger(__name__)

KIND = "grid"
DESCRIPTION = (
    "Figure 5's grid: each cell trains (or reuses its checkpoint), sweeps the ratios for l1 and the random baseline, "
    "finds critical ratios and checks the bounds per layer. Safe to interrupt: run the same command again to continue."
)
DEFAULT_PRESET = "quick"


@dataclass(frozen=True)
class GridOptions(Options):
    """Run-time settings: they do not change the results."""

    workers: int = 2  # local executor: worker processes
    threads: int = 1  # torch threads per worker
    executor: str = "local"  # "local", "ray" or "ray://ADDRESS"
    data_root: str | None = None
    max_cells: int | None = None  # stop after this many cells (for a bounded run)
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------ run dir
def rundir(run_dir, config: GridConfig) -> RunDir:
    """The grid's run directory (``empirical.experiments.common.rundir``); the preset's name may differ on resume."""
    return RunDir(run_dir, "grid", config.to_json(), TABLES)


def run_lock(run_dir: Path, config: GridConfig | None = None):
    """Hold the run's lock (tests, and anything that must not run beside a grid writing ``run_dir``)."""
    cfg = config.to_json() if config is not None else read_config(Path(run_dir) / "config.json")
    return RunDir(run_dir, "grid", cfg, TABLES).open()


def done_cells(run_dir: Path, config: GridConfig | None = None) -> set[str]:
    """Names of the finished cells (``done.json`` and every table present)."""
    rd = RunDir(run_dir, "grid", {}, TABLES)
    names = (
        [c.name for c in config.cells()]
        if config is not None
        else [p.parent.name for p in (Path(run_dir) / "cells").glob("*/done.json")]
    )
    return set(rd.finished_cells(names))


def collect(run_dir: Path, config: GridConfig | None = None) -> dict[str, pd.DataFrame]:
    """Concatenate the finished cells' tables (in cell order) and write the top-level ones atomically."""
    run_dir = Path(run_dir)
    if config is not None:
        order = [c.name for c in config.cells()]
    else:
        order = sorted(p.parent.name for p in (run_dir / "cells").glob("*/done.json"))
    return RunDir(run_dir, "grid", {}, TABLES).collect(order)


# ------------------------------------------------------------------------------------- one cell
def _train_cell(cell: Cell, config: GridConfig, cdir: Path, options: GridOptions):
    """Train (or reuse) the cell's network; returns (spec, seconds)."""
    spec = TrainSpec(
        hidden_layers=cell.hidden_layers,
        width=cell.width,
        epochs=config.epochs,
        lr=config.lr,
        batch_size=config.batch_size,
        seed=cell.seed,
        dataset=config.dataset,
        normalization=config.normalization,
        train_subset=config.train_subset,
        precision=config.precision,
    )
    t0 = time.perf_counter()
    opts = RunOptions(device=options.device, progress=False, data_root=options.data_root)
    try:
        train(spec, cdir, opts)
    except CorruptResumePoint as exc:  # a local cache, never committed: retrain this cell, not stop the grid
        log.warning("cell %s: %s; training it from scratch", cell.name, exc)
        train(spec, cdir, replace(opts, restart=True))
    return spec, time.perf_counter() - t0


def run_cell(cell: Cell, config: GridConfig, run_dir, options: GridOptions = GridOptions()) -> dict:
    """Train (or reuse) one cell, then sweep, search critical ratios and check the bounds; write its tables."""

    run_dir = Path(run_dir)
    rd = rundir(run_dir, config)
    cdir = rd.cell_dir(cell.name)
    log.info("cell %s: starting (pid %d)", cell.name, os.getpid())
    spec, t_train = _train_cell(cell, config, cdir, options)
    t1 = time.perf_counter()
    model, meta = load_checkpoint(cdir, options.device)
    model.eval()
    (_, _, x_te, y_te), _ = load_tensors(spec, options.data_root, options.device)
    ident = dict(hidden_layers=cell.hidden_layers, width=cell.width, seed=cell.seed, n_parameters=cell.n_parameters)
    res, l1_curve = sweep_table(model, x_te, y_te, config, ident)
    log.info("cell %s: sweeps done (%.0fs)", cell.name, time.perf_counter() - t1)
    checks, disp, extra = bound_check_tables(model, x_te, y_te, config, cell, ident)
    res = res.merge(extra, on=["indicator", "random_seed", "ratio"], how="left")
    log.info("cell %s: bound checks done (%.0fs)", cell.name, time.perf_counter() - t1)
    crit = critical_ratio_table(model, x_te, y_te, config, l1_curve, ident)
    mc = _with_ident(
        theorem1_monte_carlo(cell.hidden_layers, cell.width, x_te[:4].cpu(), config.mc_networks, seed=cell.seed), ident
    )
    log_df = _with_ident(read_table(cdir / "train_log.csv"), ident)
    res["test_acc_trained"] = float(meta.get("test_acc") or float("nan"))
    acc0 = float(res["acc_original"].iloc[0])
    done = {
        **ident,
        "acc_original": acc0,
        "train_seconds": round(t_train, 2),
        "eval_seconds": round(time.perf_counter() - t1, 2),
        "device": options.device,
        "torch_threads": torch.get_num_threads(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tables = dict(
        results=res, bounds_checks=checks, disparities=disp, critical_ratios=crit, theorem1_mc=mc, train_log=log_df
    )
    rd.finish(cell.name, tables, done)
    return done


# ------------------------------------------------------------------------------------ executors
def _dispatch(pending, config, run_dir, options, on_done) -> None:
    """Every pending cell through ``run_cell`` on the chosen executor (``empirical.experiments.common.executors``)."""
    jobs = [(c, config, run_dir, options) for c in pending]

    def done(i, info):
        on_done(pending[i], info)

    if options.executor == "local":
        executors.run_local(
            jobs, run_cell, options.workers, options.threads, done, describe=lambda i: f"cell {pending[i].name}"
        )
    else:
        executors.run_ray(jobs, run_cell, options.executor, options.workers, options.threads, options.device, done)


def run_grid(config: GridConfig, run_dir, options: GridOptions = GridOptions()) -> dict[str, pd.DataFrame]:
    """Run (or resume) the grid into ``run_dir``; returns the top-level tables."""

    # tqdm's default lock is a multiprocessing semaphore, which the resource tracker reports as "leaked" at the
    # end of a run with worker processes; the bars live in this process only, so a thread lock is enough
    tqdm.set_lock(threading.RLock())

    run_dir = Path(run_dir)
    if options.executor not in ("local", "ray") and not options.executor.startswith("ray://"):
        raise UserError(f"unknown executor {options.executor!r} (local, ray, ray://ADDRESS)")
    if options.workers < 1 or options.threads < 1:
        raise UserError("--workers and --threads must be >= 1")
    # refused before the run directory is created: no data (bad --data-root, offline) and no Ray
    load_dataset(config.dataset, options.data_root)
    if options.executor != "local" and importlib.util.find_spec("ray") is None:
        raise UserError("--executor ray needs Ray: pip install 'corelocker-bounds[ray]'")
    with rundir(run_dir, config).open():
        cells = config.cells()
        finished = done_cells(run_dir, config)
        collect(run_dir, config)
        pending = [c for c in cells if c.name not in finished]
        pending.sort(key=lambda c: -c.n_parameters)  # largest first: the workers finish together
        if options.max_cells is not None:
            pending = pending[: options.max_cells]
        cost = {c.name: c.n_parameters * config.epochs + 1 for c in cells}
        total = sum(cost.values())
        log.info(
            "grid %s: %d cells, %d finished, %d to run (%s executor)",
            run_dir,
            len(cells),
            len(finished),
            len(pending),
            options.executor,
        )
        bar = tqdm(
            total=total,
            initial=sum(cost[n] for n in finished if n in cost),
            disable=not options.progress,
            unit="work",
            bar_format="{l_bar}{bar}| {postfix} [{elapsed}<{remaining}]",
        )
        state = {"done": len([c for c in cells if c.name in finished])}

        def on_done(cell, info):
            state["done"] += 1
            collect(run_dir, config)
            bar.update(cost[cell.name])
            bar.set_postfix_str(f"cells {state['done']}/{len(cells)}, last {cell.name}")
            log.info(
                "cell %s done (%d/%d): accuracy %.4f, train %.0fs, eval %.0fs",
                cell.name,
                state["done"],
                len(cells),
                info["acc_original"],
                info["train_seconds"],
                info["eval_seconds"],
            )

        if pending:
            log.info("running %s", ", ".join(c.name for c in pending[: options.workers]))
            _dispatch(pending, config, run_dir, options, on_done)
        bar.close()
        return collect(run_dir, config)


# ------------------------------------------------------------------------------ the experiment's options
run = run_grid


def add_arguments(p) -> None:
    """How a grid runs (its configuration's options come from ``GridConfig``)."""
    p.add_argument("--executor", default="local", help="local (default: worker processes), ray, ray://ADDRESS")
    p.add_argument("--workers", type=int, default=2, help="local worker processes (default 2: one per core)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    p.add_argument("--max-cells", type=int, help="stop after this many cells (the run resumes later)")
    p.add_argument("--data-root", help="directory with the IDX files (default: cached MNIST)")


def options(args) -> GridOptions:
    for name in ("workers", "threads", "max_cells"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    return GridOptions(
        **common_options(args),
        workers=args.workers,
        threads=args.threads,
        executor=args.executor,
        data_root=args.data_root,
        max_cells=args.max_cells,
    )


def summary(config: GridConfig, tables: dict[str, pd.DataFrame]) -> str:
    res = tables["results"]
    done = res.groupby(["hidden_layers", "width", "seed"]).ngroups if len(res) else 0
    return f"grid: {done} of {len(config.cells())} cells finished"
