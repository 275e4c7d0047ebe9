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

import contextlib
import hashlib
import io
import json
import logging
import resource
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from empirical._io import write_csv, write_text
from empirical.errors import CorruptResumePoint, UserError
from empirical.experiments.common.arguments import _common_device
from empirical.experiments.common.presets import PAPER_RATIO
from empirical.experiments.common.rundir import Options, read_table
from empirical.experiments.paper_widths.config import (  # noqa: F401  (re-exported: the experiment's face)
    HALF,
    PRESETS,
    TABLES,
    PaperWidthsConfig,
    _cell_names,
    _config_from_json,
    cell_name,
    criterion,
    get_preset,
    load_config,
    parse_cells,
    rundir,
)
from empirical.host import cpu_model
from empirical.lock.sweep import accuracy_curve, top_accuracy
from empirical.lock.utility import ratio_for_utility, split_halves
from empirical.nets import train as nets_train
from empirical.nets.threads import follow_threads, strict_fp32, tf32_enabled
from empirical.nets.train import RunOptions, accuracy, default_state_dir, load_tensors, train
from empirical.safety import file_lock

log = logging.getLogger(__name__)
# the first bracketing factor from the previous epoch's answer. Over the 58 epoch-to-epoch moves of the
# committed 7 × 3000 and 7 × 4000 critical k (quartiles ×1.00, ×1.10, ×1.23; 90th percentile ×1.48), a monotone
# replay needs 4.9 probes on average with 1.2 against 6.2 with halving and doubling (1.1: 5.0; 1.5: 5.6);
# ``bench_paper_eval`` times both on a trained network
HINT_STEP = 1.2

KIND = "paper-widths"
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


def collect(run_dir, config: PaperWidthsConfig | None = None) -> dict[str, pd.DataFrame]:
    """Concatenate every cell's tables (finished or not) and write the top-level ones; ``cells.csv`` says
    how far each cell got."""
    run_dir = Path(run_dir)
    config = config or load_config(run_dir)
    rd = rundir(run_dir, config)
    tables = rd.collect(_cell_names(config), write=False, partial=True)
    status = []
    for (h, w, planned), name in zip(config.cells, _cell_names(config)):
        log_df = read_table(rd.cell_dir(name) / "epoch_log.csv", required=False)
        status.append(
            dict(
                hidden_layers=h,
                width=w,
                seed=config.seed,
                epochs_planned=planned,
                epochs_reached=int(log_df["epoch"].max()) if len(log_df) else 0,
                finished=rd.is_finished(name),
            )
        )
    tables["cells"] = pd.DataFrame(status)
    with file_lock(run_dir / ".collect.lock"):
        for t, df in tables.items():
            if len(df):
                write_csv(run_dir / f"{t}.csv", df)
    return tables


# ------------------------------------------------------------------------------- one epoch's eval
def evaluate_epoch(
    model,
    x,
    y,
    config: PaperWidthsConfig,
    full_sweep: bool,
    with_random: bool,
    hints: dict | None = None,
    original: tuple | None = None,
    targets: tuple | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sweep rows and the critical-ratio rows of one trained network (see the module doc).

    ``targets``: the critical-ratio targets to search (default: all of the configuration's). ``hints``: criterion
    → (k, ratio) of the latest earlier critical ratio; without a full sweep the search starts there. A search that
    the hint cannot serve falls back to a full sweep. ``original``: ``accuracy_by_halves(model, x, y)`` when the
    caller has it (the training loop's test pass computes it).
    """
    acc0, top3_0, halves = original if original is not None else accuracy_by_halves(model, x, y)
    targets = config.targets if targets is None else targets
    ratios = config.ratios if full_sweep else (PAPER_RATIO,)
    curves = [accuracy_curve(model, x, y, ratios, "l1", seed=0)]
    if with_random:
        curves += [accuracy_curve(model, x, y, config.ratios, "random", seed=s) for s in range(config.random_seeds)]
    sweep = pd.concat(curves, ignore_index=True).rename(
        columns={"seed": "random_seed", "top1": "acc_extracted", "top3": "top3_extracted"}
    )
    sweep["acc_original"], sweep["top3_original"] = acc0, top3_0
    sweep["acc_drop"] = acc0 - sweep["acc_extracted"]
    sweep["full_sweep"] = full_sweep
    crit = []
    for target in targets:
        row = _critical(model, x, y, config, target, acc0, curves[0] if full_sweep else None,
                        (hints or {}).get(criterion(target)), halves)  # fmt: skip
        if row is None:  # the hint no longer brackets the target: sweep every ratio this epoch
            return evaluate_epoch(model, x, y, config, True, with_random, original=(acc0, top3_0, halves),
                                  targets=targets)  # fmt: skip
        crit.append(row)
    return sweep, pd.DataFrame(crit)


def accuracy_by_halves(model, x, y) -> tuple[float, float, tuple[float, float]]:
    """(top-1, top-3) on the whole test set and top-1 on its even and odd halves (the critical-ratio search's
    selection and held-out halves), from one pass over the images: the whole-set numbers are the halves' hit
    counts added, so they equal ``top_accuracy(model, x, y)`` exactly."""
    (xs, ys), (xh, yh) = split_halves(x, y)
    (a_s, t3_s), (a_h, t3_h) = top_accuracy(model, xs, ys), top_accuracy(model, xh, yh)
    n_s, n_h = len(ys), len(yh)
    whole = lambda a, b: (round(a * n_s) + round(b * n_h)) / (n_s + n_h)  # noqa: E731  (hits are whole numbers)
    return whole(a_s, a_h), whole(t3_s, t3_h), (a_s, a_h)


def _critical(model, x, y, config, target, acc0, l1, hint, halves=None) -> dict | None:
    """One critical-ratio row; ``None`` when only a full sweep can bracket the target. ``target`` "half" searches
    for half the original accuracy ``acc0`` (the row's ``target`` is that level, its ``criterion`` "half")."""
    name = criterion(target)
    target = acc0 / 2 if target == HALF else float(target)
    row = {"criterion": name, "target": target, "acc_original": acc0}
    if acc0 <= target:
        row["status"] = f"the original accuracy {acc0:.4f} is already at or below the target"
        return row
    if l1 is not None:
        reached = l1[l1["top1"] <= target]
        if not len(reached):
            row["status"] = f"not reached by the largest swept ratio {max(config.ratios)}"
            row["ratio_lower"] = max(config.ratios)  # the critical ratio is above this
            return row
        first = reached.index[0]
        # the search runs on the even half, where the first reaching ratio may still be just above the target
        start, upper = int(l1["n_extracted"].iloc[first]), float(l1["ratio"].iloc[min(first + 1, len(l1) - 1)])
        step = 2.0  # the sweep's ratios lie 2–5× apart
    elif hint is not None:
        start, upper, step = int(hint[0]), min(4 * float(hint[1]), max(config.ratios)), HINT_STEP
    else:
        return None
    try:
        found = ratio_for_utility(
            model,
            x,
            y,
            target,
            start_k=start,
            window=0,
            rel_resolution=config.crit_resolution,
            max_ratio=upper,
            original=halves,
            step=step,
        ).as_row()
    except UserError as exc:
        if l1 is None:
            return None
        row["status"] = str(exc)
        return row
    row.update(found, status="found", search_max_ratio=upper)
    return row


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


# ------------------------------------------------------------------------------------- one cell
class EpochRecorder:
    """The ``on_epoch`` callback of one cell: evaluate, append the epoch's rows (replacing those of a
    re-trained epoch), write the cell's tables and the run's top-level ones, log a line."""

    def __init__(self, config: PaperWidthsConfig, run_dir: Path, cdir: Path, cell, device: str, data,
                 threads_file=None):  # fmt: skip
        self.config, self.run_dir, self.cdir, self.device = config, run_dir, cdir, device
        self.threads_file = threads_file
        self.planned = cell[2]
        self.ident = dict(hidden_layers=cell[0], width=cell[1], seed=config.seed)
        self.x, self.y = data
        self.tables = {t: read_table(cdir / f"{t}.csv", required=False) for t in TABLES}
        self._original = None  # accuracy_by_halves of the model the training loop just tested

    def state_extra(self) -> dict[str, str]:
        """The cell's rows so far, saved with each resume point (a fresh checkout with older rows gets them back)."""
        return {t: df.to_csv(index=False) for t, df in self.tables.items() if len(df)}

    def test_accuracy(self, model, x, y) -> float:
        """The training loop's per-epoch test pass (``RunOptions.test_accuracy``): the halves the critical-ratio
        search needs come from the same pass, so the epoch's evaluation makes one pass fewer."""
        self._original = accuracy_by_halves(model, x, y)
        return self._original[0]

    def hints(self, epoch: int) -> dict:
        """criterion → (k, ratio) of each target's latest critical ratio found before ``epoch`` (targets may be
        searched at different epochs)."""
        prev = self.tables["critical"]
        if not len(prev) or "k" not in prev:
            return {}
        prev = prev[(prev["epoch"] < epoch) & (prev["status"] == "found")]
        if "criterion" not in prev:
            prev = prev.assign(criterion=[criterion(t) for t in prev["target"]])
        last = prev.sort_values("epoch").groupby("criterion").tail(1)
        return {str(r.criterion): (int(r.k), float(r.ratio)) for r in last.itertuples()}

    def __call__(self, epoch: int, model, row: dict) -> None:
        cfg, t0 = self.config, time.perf_counter()
        full, rnd = cfg.sweep_due(epoch, self.planned), cfg.random_due(epoch, self.planned)
        original, self._original = self._original, None
        follow_threads(self.threads_file)
        sweep, crit = evaluate_epoch(model, self.x, self.y, cfg, full, rnd, self.hints(epoch), original,
                                     cfg.targets_due(epoch, self.planned))  # fmt: skip
        t_eval = time.perf_counter() - t0
        train_cols = dict(epoch=epoch, loss=row["loss"], train_acc=row["train_acc"])
        for df in (sweep, crit):
            for k, v in reversed({**self.ident, **train_cols}.items()):
                df.insert(0, k, v)
        logrow = pd.DataFrame([{**self.ident, **train_cols, "test_acc": row["test_acc"],
                                "train_seconds": round(float(row["seconds"]), 2), "eval_seconds": round(t_eval, 2),
                                "peak_rss_gib": round(_peak_rss_gib(), 3), "torch_threads": torch.get_num_threads(),
                                "threads_min": row.get("threads_min", torch.get_num_threads()),
                                "threads_max": row.get("threads_max", torch.get_num_threads()),
                                "full_sweep": full, "random_baseline": rnd,
                                "targets_searched": " ".join(map(criterion, cfg.targets_due(epoch, self.planned))),
                                "precision": cfg.precision, "tf32": tf32_enabled(self.device),
                                "device": self.device, "host": cpu_model()}])  # fmt: skip
        for name, new in (("epochs", sweep), ("critical", crit), ("epoch_log", logrow)):
            old = self.tables[name]
            if len(old):
                old = old[old["epoch"] < epoch]  # rows of a re-trained epoch are replaced
            self.tables[name] = pd.concat([old, new], ignore_index=True) if len(old) else new
            write_csv(self.cdir / f"{name}.csv", self.tables[name])
        l1 = sweep[(sweep["indicator"] == "l1") & (sweep["ratio"] == PAPER_RATIO)]
        first = crit.iloc[:1]
        found = len(first) and first["status"].iloc[0] == "found"
        log.info("%s epoch %d/%d: test %.4f, l1 @0.002%% %.4f, r_%s %s (train %.0fs, eval %.0fs, peak %.1f GiB)",
                 self.cdir.name, epoch, self.planned, row["test_acc"],
                 float(l1["acc_extracted"].iloc[0]) if len(l1) else float("nan"),
                 first["criterion"].iloc[0] if len(first) else "-",
                 f"{float(first['ratio'].iloc[0]):.3g}" if found else "-", row["seconds"], t_eval,
                 _peak_rss_gib())  # fmt: skip
        with contextlib.suppress(Exception):  # the top-level tables are a convenience; never stop training
            collect(self.run_dir, cfg)


def _archive_rows(cdir: Path, why: str) -> None:
    """The cell retrains from epoch 0 (``why``); its earlier rows move to ``*.previous.csv`` (an older archive
    of the same cell to ``*.previous2.csv``, and so on: no measured row is ever overwritten)."""
    if not (cdir / "epoch_log.csv").exists():
        return
    n = 1
    while any((cdir / f"{t}.previous{n if n > 1 else ''}.csv").exists() for t in TABLES):
        n += 1
    suffix = f".previous{n if n > 1 else ''}.csv"
    log.warning("%s: %s; retraining from epoch 0 (earlier rows kept as *%s)", cdir.name, why, suffix)
    for t in TABLES:
        if (cdir / f"{t}.csv").exists():
            (cdir / f"{t}.csv").replace(cdir / f"{t}{suffix}")
    (cdir / "train_log.csv").unlink(missing_ok=True)


def check_resume(cdir: Path, x, y, recorder=None):
    """``on_resume`` for ``train``: a resume point is used only if it proves itself against the recorded rows.

    The restored model's test accuracy must equal the one its own log records at that epoch (the weights are
    the ones logged), and every epoch of the cell's ``epoch_log.csv`` up to there must carry the same test
    accuracy as the resume point's log (it continues the committed trajectory, not another run's). Exact
    equality: the accuracy is a count of test images over 10,000. The cell's rows must reach the resume point's
    epoch: rows a fresh checkout lacks (committed before the last epochs ran) are restored from the copy the
    resume point carries (``EpochRecorder.state_extra``); a resume point without one is refused, so a run never
    goes on with epochs missing from its tables."""

    def on_resume(epoch: int, model, log_rows: list[dict], extra: dict | None = None) -> None:
        (acc,) = accuracy(model, x, y)
        logged = {int(r["epoch"]): float(r["test_acc"]) for r in log_rows}
        if logged.get(epoch) != acc:
            raise CorruptResumePoint(
                f"resume point at epoch {epoch}: the restored model scores {acc:.4f}, its log says {logged.get(epoch)}"
            )
        rows = read_table(cdir / "epoch_log.csv", required=False)
        for r in rows.itertuples() if len(rows) else ():
            if int(r.epoch) <= epoch and logged.get(int(r.epoch)) != float(r.test_acc):
                raise CorruptResumePoint(
                    f"resume point at epoch {epoch} is from another run: epoch {r.epoch} test accuracy "
                    f"{logged.get(int(r.epoch))} vs {float(r.test_acc)} recorded in {cdir.name}/epoch_log.csv"
                )
        reached = int(rows["epoch"].max()) if len(rows) else 0
        if reached < epoch:
            if not (extra or {}).get("epoch_log"):
                raise CorruptResumePoint(f"resume point at epoch {epoch}, but {cdir.name}'s rows end at epoch "
                                         f"{reached} and the resume point carries no copy of them")  # fmt: skip
            _restore_rows(cdir, extra, reached, epoch, recorder)
        log.info("%s: resume point at epoch %d verified (test accuracy %.4f)", cdir.name, epoch, acc)

    return on_resume


def _restore_rows(cdir: Path, extra: dict, reached: int, epoch: int, recorder) -> None:
    """Epochs ``reached + 1 .. epoch`` from the resume point's copy of the rows, written into the cell's tables."""
    for t in TABLES:
        saved = pd.read_csv(io.StringIO(extra[t])) if extra.get(t) else pd.DataFrame()
        if not len(saved):
            continue
        have = read_table(cdir / f"{t}.csv", required=False)
        new = saved[(saved["epoch"] > reached) & (saved["epoch"] <= epoch)]
        table = pd.concat([have[have["epoch"] <= reached], new], ignore_index=True) if len(have) else new
        write_csv(cdir / f"{t}.csv", table)
        if recorder is not None:
            recorder.tables[t] = table
    log.warning("%s: epochs %d-%d restored from the resume point's copy of the rows", cdir.name, reached + 1, epoch)


def state_tag(config: PaperWidthsConfig) -> str:
    """Binds a resume point to the evaluation settings of its run: two runs that train the same cell but evaluate
    it differently (``paper-corner`` and ``paper-region`` share 7 × 4000) keep separate resume points."""
    fields = {k: v for k, v in config.to_json().items() if k not in ("cells", "preset")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]


def run_cell(
    cell, config: PaperWidthsConfig, run_dir, device="cpu", progress=True, stop_after_epoch=None, state_dir=None,
    threads_file=None, deadline=None,
) -> dict:
    """Train one cell epoch by epoch (resuming from ``state_dir``, the user cache by default), evaluating after
    every epoch; returns its status row."""
    h, w, planned = cell
    run_dir = Path(run_dir)
    rd = rundir(run_dir, config)
    cdir = rd.cell_dir(cell_name(h, w, config.seed))
    spec = config.train_spec(cell)
    ident = dict(hidden_layers=h, width=w, seed=config.seed)
    with rd.cell_lock(cdir.name):
        if rd.is_finished(cdir.name):
            log.info("%s: finished earlier (%d epochs)", cdir.name, planned)
            return json.loads((cdir / "done.json").read_text())
        state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
        (_, _, x_te, y_te), _ = load_tensors(spec, None, device)
        opts = RunOptions(device=device, progress=progress, stop_after_epochs=stop_after_epoch, state_dir=state_dir,
                          state_tag=state_tag(config), threads_file=threads_file, deadline=deadline)  # fmt: skip
        legacy = opts.legacy_state_path(spec)
        if not (opts.state_path(spec, cdir).exists() or (legacy and legacy.exists())
                or (cdir / "model.safetensors").exists()):  # fmt: skip
            _archive_rows(cdir, f"no resume point in {state_dir}")
        recorder = partial(EpochRecorder, config, run_dir, cdir, cell, device, (x_te, y_te), threads_file)

        def with_recorder(rec, **kw):
            return replace(opts, on_epoch=rec, test_accuracy=rec.test_accuracy, state_extra=rec.state_extra,
                           on_resume=check_resume(cdir, x_te, y_te, rec), **kw)  # fmt: skip

        rec = recorder()
        try:
            final = train(spec, cdir, with_recorder(rec))
        except CorruptResumePoint as exc:  # a local cache: retrain this cell from what the rows prove
            _archive_rows(cdir, str(exc))
            rec = recorder()
            final = train(spec, cdir, with_recorder(rec, restart=True))
        if final.name != "model.safetensors":
            return {**ident, "finished": False}
        done = {**ident, "epochs": planned, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        write_text(cdir / "done.json", json.dumps(done, indent=1) + "\n")
        return done


def run(config: PaperWidthsConfig, run_dir, options: PaperWidthsOptions = PaperWidthsOptions()):
    """Run (or resume) the cells of ``config`` (``options.only``: a subset, as ``HxW`` names) into ``run_dir``;
    resume points live in ``options.state_dir`` (default: the user cache, ``nets.train.default_state_dir``)."""
    run_dir = Path(run_dir)
    cells = list(config.cells)
    if options.only is not None:
        only = parse_cells(",".join(options.only))
        known = {(h, w) for h, w, _ in cells}
        bad = [f"{h}x{w}" for h, w in only if (h, w) not in known]
        if bad:
            raise UserError(f"cell(s) {', '.join(bad)} are not in this configuration")
        cells = [c for c in cells if (c[0], c[1]) in set(only)]
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
            log.info("deadline reached: cell %dx%d not started", cell[0], cell[1])
            break
        log.info("cell %dx%d: %d epochs planned", cell[0], cell[1], cell[2])
        run_cell(cell, config, run_dir, options.device, options.progress, stop, options.state_dir, options.threads_file,
                 deadline)  # fmt: skip
    return collect(run_dir, config)


def add_arguments(p) -> None:
    p.add_argument("--preset", default="paper-corner", help="paper-corner (default), paper-region, epoch-trend, tiny")
    p.add_argument("--out", type=Path, required=True, help="run directory (resumed if it exists)")
    p.add_argument("--only", help="cells to run now, e.g. 7x3000,13x3000 (default: all, in the preset's order)")
    p.add_argument("--stop-after-epoch", type=int, help="stop each cell once it has reached this epoch (resumable)")
    p.add_argument("--threads", type=int, help="torch and BLAS threads (default: torch's)")
    p.add_argument("--deadline", type=float, help="stop in time: no epoch starts unless the slowest so far ends "
                   "within this many seconds of the start (every finished epoch's rows are written; run again to go on)")
    p.add_argument("--threads-file", type=Path, help="a file holding the thread count, re-read while the run goes on "
                   "(write 1 into it to give a core to other work, 2 to take it back)")  # fmt: skip
    p.add_argument(
        "--state-dir",
        type=Path,
        help="where the resume points live (default: the user cache, $XDG_CACHE_HOME/corelocker-bounds/state, "
        "keyed by each cell's training spec), so a fresh clone on this machine continues where the last run stopped",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common_device(p)


def configure(args) -> tuple[PaperWidthsConfig, PaperWidthsOptions]:
    config = get_preset(args.preset)
    only = None
    if args.only is not None:
        only = tuple(f"{h}x{w}" for h, w in parse_cells(args.only))
    if args.state_dir is not None and args.state_dir.exists() and not args.state_dir.is_dir():
        raise UserError(f"--state-dir {args.state_dir} is not a directory")
    if args.state_dir is None:
        default_state_dir()  # CORELOCKER_STATE_DIR naming a file: refused before the run directory is touched
    options = PaperWidthsOptions(device=args.device, progress=not args.no_progress, only=only,
                                 stop_after_epoch=args.stop_after_epoch, state_dir=args.state_dir,
                                 threads=args.threads, threads_file=args.threads_file,
                                 deadline=args.deadline)  # fmt: skip
    return config, options


def summary(config: PaperWidthsConfig, tables: dict[str, pd.DataFrame]) -> str:
    return tables["cells"].to_string(index=False)
