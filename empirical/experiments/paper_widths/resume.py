"""Resume points of a paper-widths cell: bound to their run (a tag of its evaluation settings), proved against the
recorded rows, carrying the rows they continue; rows of a cell retrained from epoch 0 are archived, never
overwritten."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path

import pandas as pd

from empirical._io import write_csv
from empirical.errors import CorruptResumePoint
from empirical.experiments.common.rundir import read_table
from empirical.experiments.paper_widths.config import (
    TABLES,
    PaperWidthsConfig,
)
from empirical.nets.train import accuracy

log = logging.getLogger(__name__)


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
                raise CorruptResumePoint(
                    f"resume point at epoch {epoch}, but {cdir.name}'s rows end at epoch "
                    f"{reached} and the resume point carries no copy of them"
                )
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
