"""What a paper-widths run cost, from its epoch log: evaluation's share of the training time per cell (the budget
is ``EVAL_BUDGET``) and the epochs that ran with denormals kept or flushed (``nets.threads.flushed_denormals``:
the same weights, a faster Adam step on the CPU)."""

from __future__ import annotations

import pandas as pd

EVAL_BUDGET = 0.20  # evaluation should cost at most a fifth of the training time (issue 36)


def spans(epochs) -> str:
    """Sorted epochs as ranges: [1, 2, 3, 5] → "1–3, 5"."""
    out, run = [], []
    for e in sorted(int(x) for x in epochs):
        if run and e != run[-1] + 1:
            out.append(run)
            run = []
        run.append(e)
    if run:
        out.append(run)
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in out)


def denormal_epochs(g: pd.DataFrame) -> str:
    """ "kept 1–15, flushed 16–20": the epochs per mode. An epoch logged before the column existed kept them
    (the code that wrote it never flushed)."""
    mode = modes(g)
    return "; ".join(f"{m} {spans(g.loc[mode == m, 'epoch'])}" for m in ("kept", "flushed") if (mode == m).any())


def modes(g: pd.DataFrame) -> pd.Series:
    """Each epoch's denormal mode ("kept" where the column is absent or empty: logged before it existed)."""
    return g["denormals"].fillna("kept") if "denormals" in g else pd.Series("kept", index=g.index)


def by_mode(elog: pd.DataFrame) -> pd.DataFrame:
    """Per cell and denormal mode: the epochs, the mean training and evaluation seconds per epoch and
    evaluation's share — what flushing denormals did to the training time, and so to the evaluation's share."""
    rows = []
    for (h, w), g in elog.groupby(["hidden_layers", "width"]):
        mode = modes(g)
        for m in ("kept", "flushed"):
            e = g[mode == m]
            if len(e):
                tr, ev = e["train_seconds"].mean(), e["eval_seconds"].mean()
                row = dict(hidden_layers=h, width=w, denormals=m, epochs=spans(e["epoch"]))
                rows.append(
                    {**row, "train_s_per_epoch": round(tr), "eval_s_per_epoch": round(ev), "eval_share": ev / tr}
                )
    return pd.DataFrame(rows)


def eval_share(elog: pd.DataFrame) -> pd.DataFrame:
    """Per cell: total training and evaluation seconds, evaluation's share of training (and without the epochs
    that carried a full sweep or the random baseline) and the denormal modes of its epochs."""
    rows = []
    for (h, w), g in elog.groupby(["hidden_layers", "width"]):
        tr, ev = float(g["train_seconds"].sum()), float(g["eval_seconds"].sum())
        row = dict(
            hidden_layers=h,
            width=w,
            epochs=len(g),
            train_s=round(tr),
            eval_s=round(ev),
            eval_share=ev / tr if tr else float("nan"),
            within_budget=bool(tr and ev / tr <= EVAL_BUDGET),
        )
        if "full_sweep" in g:
            light = g[~g["full_sweep"].astype(bool)]
            row["eval_share_without_sweeps"] = (
                float(light["eval_seconds"].sum() / light["train_seconds"].sum()) if len(light) else float("nan")
            )
        row["denormals"] = denormal_epochs(g)
        rows.append(row)
    return pd.DataFrame(rows)
