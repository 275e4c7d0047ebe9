"""One epoch's evaluation of a paper-widths cell: the sweep rows at the configured ratios (the paper's 0.002 % at every
epoch), the critical ratios searched from the previous epoch's answer, and the recorder that writes the epoch's rows
(the training loop's on_epoch callback)."""

from __future__ import annotations

import contextlib
import logging
import resource
import time
from pathlib import Path

import pandas as pd
import torch

from empirical._io import write_csv
from empirical.errors import UserError
from empirical.experiments.common.presets import PAPER_RATIO
from empirical.experiments.common.rundir import read_table
from empirical.experiments.paper_widths.config import (
    HALF,
    TABLES,
    Cell,
    PaperWidthsConfig,
    collect,
    criterion,
)
from empirical.host import cpu_model
from empirical.lock.sweep import accuracy_curve, top_accuracy
from empirical.lock.utility import ratio_for_utility, split_halves
from empirical.nets.threads import denormal_mode, follow_threads, tf32_enabled

log = logging.getLogger(__name__)

# the first bracketing factor from the previous epoch's answer. Over the 58 epoch-to-epoch moves of the
# committed 7 × 3000 and 7 × 4000 critical k (quartiles ×1.00, ×1.10, ×1.23; 90th percentile ×1.48), a monotone
# replay needs 4.9 probes on average with 1.2 against 6.2 with halving and doubling (1.1: 5.0; 1.5: 5.6);
# ``bench_paper_eval`` times both on a trained network
HINT_STEP = 1.2


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
        row = _critical(
            model,
            x,
            y,
            config,
            target,
            acc0,
            curves[0] if full_sweep else None,
            (hints or {}).get(criterion(target)),
            halves,
        )
        if row is None:  # the hint no longer brackets the target: sweep every ratio this epoch
            return evaluate_epoch(
                model, x, y, config, True, with_random, original=(acc0, top3_0, halves), targets=targets
            )
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

    def __init__(
        self, config: PaperWidthsConfig, run_dir: Path, cdir: Path, cell, device: str, data, threads_file=None
    ):
        self.config, self.run_dir, self.cdir, self.device = config, run_dir, cdir, device
        self.threads_file = threads_file
        cell = Cell(*cell)
        self.planned = cell.epochs
        self.ident = dict(hidden_layers=cell.hidden_layers, width=cell.width, seed=config.seed)
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
        sweep, crit = evaluate_epoch(
            model, self.x, self.y, cfg, full, rnd, self.hints(epoch), original, cfg.targets_due(epoch, self.planned)
        )
        t_eval = time.perf_counter() - t0
        train_cols = dict(epoch=epoch, loss=row["loss"], train_acc=row["train_acc"])
        for df in (sweep, crit):
            for k, v in reversed({**self.ident, **train_cols}.items()):
                df.insert(0, k, v)
        logrow = pd.DataFrame(
            [
                {
                    **self.ident,
                    **train_cols,
                    "test_acc": row["test_acc"],
                    "train_seconds": round(float(row["seconds"]), 2),
                    "eval_seconds": round(t_eval, 2),
                    "peak_rss_gib": round(_peak_rss_gib(), 3),
                    "torch_threads": torch.get_num_threads(),
                    "threads_min": row.get("threads_min", torch.get_num_threads()),
                    "threads_max": row.get("threads_max", torch.get_num_threads()),
                    "full_sweep": full,
                    "random_baseline": rnd,
                    "targets_searched": " ".join(map(criterion, cfg.targets_due(epoch, self.planned))),
                    "precision": cfg.precision,
                    "tf32": tf32_enabled(self.device),
                    "denormals": denormal_mode(self.device),
                    "device": self.device,
                    "host": cpu_model(),
                }
            ]
        )
        for name, new in (("epochs", sweep), ("critical", crit), ("epoch_log", logrow)):
            old = self.tables[name]
            if len(old):
                old = old[old["epoch"] < epoch]  # rows of a re-trained epoch are replaced
            self.tables[name] = pd.concat([old, new], ignore_index=True) if len(old) else new
            write_csv(self.cdir / f"{name}.csv", self.tables[name])
        l1 = sweep[(sweep["indicator"] == "l1") & (sweep["ratio"] == PAPER_RATIO)]
        first = crit.iloc[:1]
        found = len(first) and first["status"].iloc[0] == "found"
        log.info(
            "%s epoch %d/%d: test %.4f, l1 @0.002%% %.4f, r_%s %s (train %.0fs, eval %.0fs, peak %.1f GiB)",
            self.cdir.name,
            epoch,
            self.planned,
            row["test_acc"],
            float(l1["acc_extracted"].iloc[0]) if len(l1) else float("nan"),
            first["criterion"].iloc[0] if len(first) else "-",
            f"{float(first['ratio'].iloc[0]):.3g}" if found else "-",
            row["seconds"],
            t_eval,
            _peak_rss_gib(),
        )
        with contextlib.suppress(Exception):  # the top-level tables are a convenience; never stop training
            collect(self.run_dir, cfg)
