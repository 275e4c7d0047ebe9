"""Figure 5 at the paper's own widths, epoch by epoch (Section 5.1.1, Figure 5).

The paper's headline: after a global ℓ1 extraction of 0.002 % of the weights, MNIST FCNs "beyond
6 layers and 3000 neurons" lose more than half their accuracy. The ``cpu`` grid (widths ≤ 800)
cannot test it; single cells of the paper's grid fit on a CPU, epoch by epoch. Each cell (H
hidden layers × width w, trained with the paper's protocol: MNIST, Adam lr 1e-3, batch 128, fp32)
is evaluated after **every epoch**, on the whole test set:

* top-1 / top-3 accuracy at every ratio of the configuration (0.002 % included), ℓ1 and the random
  baseline (``empirical.lock.sweep``: rank once, move the nested prefix), and the drops;
* the critical ratios: the smallest ℓ1 ratio whose accuracy is at or below each target (50 % and
  chance + 5 pp), searched on the even test images and checked on the odd ones
  (``empirical.lock.utility.ratio_for_utility``, ranking only up to the first swept ratio that reaches
  the target, so a 774 M-parameter net never ranks all its weights);
* training loss and accuracy, seconds spent training and evaluating, and the peak resident memory.

The per-epoch rows are the result: they show whether longer training moves a network toward or
away from the paper's claim. A run directory holds ``config.json`` and ``cells/h{H}_w{w}_s{seed}/``
with ``epochs.csv`` (one row per epoch × indicator × random seed × ratio), ``critical.csv``
(epoch × target) and ``epoch_log.csv``; the top-level tables concatenate every cell, finished or
not (a cell that cannot finish reports the epochs it reached; ``cells.csv`` says which). Resume:
each epoch's rows are written before its resume point (``train_state.safetensors``, local only),
so an interrupted cell continues from its last saved epoch; on a fresh machine, where the resume
point is gone, the cell retrains from epoch 0 and its earlier rows move to ``*.previous.csv``.
Each cell has its own lock, so two processes (one per core) can run different cells of one run.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from empirical._io import write_text
from empirical.errors import CorruptResumePoint, UserError
from empirical.experiments.common.configure import common_options
from empirical.experiments.common.rundir import Options
from empirical.experiments.paper_widths.config import (
    Cell,
    PaperWidthsConfig,
    cell_name,
    collect,
    parse_cells,
    rundir,
)
from empirical.experiments.paper_widths.evaluate import EpochRecorder
from empirical.experiments.paper_widths.resume import _archive_rows, check_resume, state_tag
from empirical.nets import train as nets_train
from empirical.nets.threads import strict_fp32
from empirical.nets.train import RunOptions, default_state_dir, load_tensors, train

log = logging.getLogger(__name__)

KIND = "paper-widths"
DEFAULT_PRESET = "paper-corner"
ONLY = "7x3000,13x3000"
DEADLINE = True
DESCRIPTION = (
    "Train each cell of a paper-widths preset with the paper's protocol and, after every epoch, sweep the ratios "
    "(l1 and random), find the critical ratios and log time and memory. Presets: paper-corner (7x3000, 7x4000, "
    "13x3000, 10x6000, 4x8000, 7x8000, 13x8000), epoch-trend (4/7/13 x 400, 50 epochs), tiny. Run the same "
    "command to resume; --only runs a subset of the cells (one process per core)."
)


@dataclass(frozen=True)
class PaperWidthsOptions(Options):
    """``only``: cells as ``HxW`` names; ``stop_after_epoch``: stop each cell there (resumable); ``state_dir``:
    where the resume points live (default: the user cache); ``threads``: torch and BLAS threads."""

    stop_after_epoch: int | None = None
    state_dir: Path | None = None
    threads: int | None = None
    threads_file: Path | None = None
    deadline: float | None = None  # seconds from the start of the run: stop in time (a GPU window)


def run_cell(
    cell,
    config: PaperWidthsConfig,
    run_dir,
    device="cpu",
    progress=True,
    stop_after_epoch=None,
    state_dir=None,
    threads_file=None,
    deadline=None,
) -> dict:
    """Train one cell epoch by epoch (resuming from ``state_dir``, the user cache by default), evaluating after
    every epoch; returns its status row."""
    cell, run_dir = Cell(*cell), Path(run_dir)
    rd = rundir(run_dir, config)
    cdir = rd.cell_dir(cell_name(cell.hidden_layers, cell.width, config.seed))
    spec = config.train_spec(cell)
    ident = dict(hidden_layers=cell.hidden_layers, width=cell.width, seed=config.seed)
    with rd.cell_lock(cdir.name):
        if rd.is_finished(cdir.name):
            log.info("%s: finished earlier (%d epochs)", cdir.name, cell.epochs)
            return json.loads((cdir / "done.json").read_text())
        state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
        (_, _, x_te, y_te), _ = load_tensors(spec, None, device)
        opts = RunOptions(
            device=device,
            progress=progress,
            stop_after_epochs=stop_after_epoch,
            state_dir=state_dir,
            state_tag=state_tag(config),
            threads_file=threads_file,
            deadline=deadline,
        )
        legacy = opts.legacy_state_path(spec)
        if not (
            opts.state_path(spec, cdir).exists()
            or (legacy and legacy.exists())
            or (cdir / "model.safetensors").exists()
        ):
            _archive_rows(cdir, f"no resume point in {state_dir}")
        recorder = partial(EpochRecorder, config, run_dir, cdir, cell, device, (x_te, y_te), threads_file)

        def with_recorder(rec, **kw):
            return replace(
                opts,
                on_epoch=rec,
                test_accuracy=rec.test_accuracy,
                state_extra=rec.state_extra,
                on_resume=check_resume(cdir, x_te, y_te, rec),
                **kw,
            )

        rec = recorder()
        try:
            final = train(spec, cdir, with_recorder(rec))
        except CorruptResumePoint as exc:  # a local cache: retrain this cell from what the rows prove
            _archive_rows(cdir, str(exc))
            rec = recorder()
            final = train(spec, cdir, with_recorder(rec, restart=True))
        if final.name != "model.safetensors":
            return {**ident, "finished": False}
        done = {**ident, "epochs": cell.epochs, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        write_text(cdir / "done.json", json.dumps(done, indent=1) + "\n")
        return done


def run(config: PaperWidthsConfig, run_dir, options: PaperWidthsOptions = PaperWidthsOptions()):
    """Run (or resume) the cells of ``config`` (``options.only``: a subset, as ``HxW`` names) into ``run_dir``;
    resume points live in ``options.state_dir`` (default: the user cache, ``nets.train.default_state_dir``)."""
    run_dir = Path(run_dir)
    cells = list(config.cells)
    if options.only is not None:
        only = parse_cells(",".join(options.only))
        known = {(c.hidden_layers, c.width) for c in cells}
        bad = [f"{h}x{w}" for h, w in only if (h, w) not in known]
        if bad:
            raise UserError(f"cell(s) {', '.join(bad)} are not in this configuration")
        cells = [c for c in cells if (c.hidden_layers, c.width) in set(only)]
    stop = options.stop_after_epoch
    if stop is not None and stop < 1:
        raise UserError(f"--stop-after-epoch must be >= 1, got {stop}")
    if options.threads is not None:
        if options.threads < 1:
            raise UserError(f"--threads must be >= 1, got {options.threads}")
        torch.set_num_threads(options.threads)
        threadpool_limits(limits=options.threads)
    with rundir(run_dir, config).open(wait=True):  # the run's configuration, checked or written; then per-cell locks
        pass
    if options.deadline is not None and options.deadline <= 0:
        raise UserError(f"--deadline must be > 0 seconds, got {options.deadline}")
    deadline = None if options.deadline is None else nets_train.clock() + options.deadline
    strict_fp32(options.device)
    for cell in cells:
        if deadline is not None and nets_train.clock() >= deadline:
            log.info("deadline reached: cell %dx%d not started", cell.hidden_layers, cell.width)
            break
        log.info("cell %dx%d: %d epochs planned", *cell)
        run_cell(
            cell,
            config,
            run_dir,
            options.device,
            options.progress,
            stop,
            options.state_dir,
            options.threads_file,
            deadline,
        )
    return collect(run_dir, config)


def add_arguments(p) -> None:
    """How a paper-widths run goes (its configuration's options come from ``PaperWidthsConfig``)."""
    p.add_argument("--stop-after-epoch", type=int, help="stop each cell once it has reached this epoch (resumable)")
    p.add_argument("--threads", type=int, help="torch and BLAS threads (default: torch's)")
    p.add_argument(
        "--threads-file",
        type=Path,
        help="a file holding the thread count, re-read while the run goes on "
        "(write 1 into it to give a core to other work, 2 to take it back)",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        help="where the resume points live (default: the user cache, $XDG_CACHE_HOME/corelocker-bounds/state, "
        "keyed by each cell's training spec), so a fresh clone on this machine continues where the last run stopped",
    )


def options(args) -> PaperWidthsOptions:
    common = common_options(args)
    if common["only"] is not None:
        common["only"] = tuple(f"{h}x{w}" for h, w in parse_cells(",".join(common["only"])))
    if args.state_dir is not None and args.state_dir.exists() and not args.state_dir.is_dir():
        raise UserError(f"--state-dir {args.state_dir} is not a directory")
    if args.state_dir is None:
        default_state_dir()  # CORELOCKER_STATE_DIR naming a file: refused before the run directory is touched
    return PaperWidthsOptions(
        **common,
        stop_after_epoch=args.stop_after_epoch,
        state_dir=args.state_dir,
        threads=args.threads,
        threads_file=args.threads_file,
        deadline=args.deadline,
    )


def summary(config: PaperWidthsConfig, tables: dict[str, pd.DataFrame]) -> str:
    return tables["cells"].to_string(index=False)
