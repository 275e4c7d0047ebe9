"""Figure 5's two claims at the paper's own widths (§5.1.2): the cells each covers, what each measured cell shows,
and what the measured cells allow one to say about the claim — nothing more.

Section 5.1.2: "the performance of *most* networks with more than 6 hidden layers and more than 3,000 neurons in
each layer decreases by more than 50 %, and networks with more than 9 hidden layers and more than 5,000 neurons
... drop to a mere 10 %", 0.002 % of the weights extracted by ℓ1, after 50 epochs. On the paper's grid (4–13
hidden layers × 1000–8000 neurons) claim 1 covers 7–13 × 4000–8000 (**35 cells**), claim 2 10–13 × 6000–8000
(**12 cells**); cells on a boundary (7 × 3000, 6 × 4000) are shown, never counted.

**One threshold per claim, the paper's own.** Claim 1: the locked accuracy is at most half the original; its
critical ratio is the smallest share that halves the original accuracy (criterion ``half``). Claim 2: at most
chance + 5 pp = 15 % (criterion ``0.15``). Each within ``TOLERANCE_PP`` (the sampling error of one accuracy on
10,000 test images is 0.2–0.5 pp).

**What a verdict rests on.** A cell counts for a claim only when measured at the paper's epoch 50; a cell short
of it is provisional, shown with its numbers and never counted, and no cell is dropped for its accuracy. A claim
about *most* of a region is PASS only when the cells that meet it are more than half of the region, FAIL only when
the cells that do not meet it are at least half of it (so "most" can no longer hold), and otherwise NOT DECIDED,
with the count of cells behind it. One seed per cell unless the rows say otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from empirical.experiments.common.presets import PAPER_RATIO
from empirical.experiments.common.verdicts import table

PAPER_EPOCHS = 50  # Section 5.1.1: every network of Figure 5 is trained for 50 epochs
TOLERANCE_PP = 1.0
CHANCE_PLUS_5 = 0.15
PAPER_DEPTHS, PAPER_WIDTHS = tuple(range(4, 14)), tuple(range(1000, 8001, 1000))
CLAIMS = (
    dict(
        key="claim 1",
        name="claim 1 (> 6 layers, > 3000 neurons: loses more than half)",
        statement="most networks with more than 6 hidden layers and more than 3,000 neurons lose more than half "
        "their accuracy at 0.002 %",
        depth=6,
        width=3000,
        criterion="half",
        threshold="at most half the original accuracy",
    ),
    dict(
        key="claim 2",
        name="claim 2 (> 9 layers, > 5000 neurons: drops to about 10 %)",
        statement="most networks with more than 9 hidden layers and more than 5,000 neurons drop to a mere 10 % at "
        "0.002 %",
        depth=9,
        width=5000,
        criterion="0.15",
        threshold="at most 15 % (chance + 5 pp)",
    ),
)


def claim_region(h: int, w: int, claim: dict) -> str:
    """``inside`` (strictly more layers and more neurons than the claim names), ``boundary`` (one of the two
    numbers equal to the named one, the other beyond it), or ``outside``."""
    if h > claim["depth"] and w > claim["width"]:
        return "inside"
    if (h > claim["depth"] and w == claim["width"]) or (h == claim["depth"] and w > claim["width"]):
        return "boundary"
    return "outside"


def region_cells(claim: dict) -> list[tuple[int, int]]:
    """The cells of the paper's grid strictly inside ``claim``'s region (35 for claim 1, 12 for claim 2)."""
    return [(h, w) for h in PAPER_DEPTHS for w in PAPER_WIDTHS if claim_region(h, w, claim) == "inside"]


def level(claim: dict, acc_original: float) -> float:
    """The locked accuracy at or below which a cell meets ``claim``."""
    return acc_original / 2 if claim["criterion"] == "half" else CHANCE_PLUS_5


def last_rows(epochs: pd.DataFrame) -> pd.DataFrame:
    """Per cell the ℓ1 row at 0.002 % of the last epoch reached, with the share of accuracy retained."""
    l1 = epochs[(epochs["indicator"] == "l1") & np.isclose(epochs["ratio"], PAPER_RATIO)]
    last = l1.sort_values("epoch").groupby(["hidden_layers", "width"]).tail(1).copy()
    last["retained"] = last["acc_extracted"] / last["acc_original"]
    return last.sort_values(["width", "hidden_layers"]).reset_index(drop=True)


def measured_cells(runs: dict[str, dict]) -> pd.DataFrame:
    """One row per cell over several runs (name → tables): the furthest-trained row at 0.002 % (the first run
    named wins a tie), with the run it comes from, its seeds and the host it ran on."""
    rows = []
    for name, t in runs.items():
        last = last_rows(t["epochs"])
        elog = t.get("epoch_log", pd.DataFrame())
        for r in last.itertuples():
            e = elog[(elog.hidden_layers == r.hidden_layers) & (elog.width == r.width)] if len(elog) else elog
            host = ", ".join(sorted({str(v) for v in e["host"].dropna()})) if "host" in e and len(e) else "unrecorded"
            seeds = t["epochs"][(t["epochs"].hidden_layers == r.hidden_layers) & (t["epochs"].width == r.width)]
            rows.append(dict(r._asdict(), run=name, host=host or "unrecorded", seeds=int(seeds["seed"].nunique())))
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows).drop(columns="Index")
    df["order"] = range(len(df))
    df = df.sort_values(["epoch", "order"], ascending=[False, True]).groupby(["hidden_layers", "width"]).head(1)
    return df.drop(columns="order").sort_values(["width", "hidden_layers"]).reset_index(drop=True)


def _seeds(n: int) -> str:
    return "one seed" if n == 1 else f"{n} seeds"


def cell_verdicts(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per claim × measured cell it covers (inside or boundary): the cell's locked accuracy against the
    claim's level, whether it meets the claim, and the words for it ("met at 7 × 4000 (epoch 50, one seed)")."""
    rows = []
    for claim in CLAIMS:
        for r in cells.itertuples():
            region = claim_region(r.hidden_layers, r.width, claim)
            if region == "outside":
                continue
            lvl = level(claim, r.acc_original)
            meets = bool(100 * r.acc_extracted <= 100 * lvl + TOLERANCE_PP)
            at_50 = bool(r.epoch >= PAPER_EPOCHS)
            cell = f"{r.hidden_layers} × {r.width}"
            when = f"epoch {int(r.epoch)}{'' if at_50 else ' of 50, provisional'}, {_seeds(r.seeds)}"
            words = (
                f"{'met' if meets else 'not met'} at {cell} ({when}: {100 * r.acc_original:.2f} → "
                f"{100 * r.acc_extracted:.2f} % at 0.002 %, level {100 * lvl:.2f} %)"
            )
            rows.append(
                dict(
                    claim=claim["key"],
                    cell=cell,
                    hidden_layers=r.hidden_layers,
                    width=r.width,
                    region=region,
                    epoch=int(r.epoch),
                    seeds=r.seeds,
                    acc_original=r.acc_original,
                    acc_at_paper_ratio=r.acc_extracted,
                    level=lvl,
                    meets=meets,
                    measured_at_50=at_50,
                    run=r.run,
                    words=words,
                )
            )
    return pd.DataFrame(rows)


def verdict_rows(cells: pd.DataFrame) -> pd.DataFrame:
    """``claim_verdicts`` as the common verdict rows (``common.verdicts.COLUMNS``)."""
    v = claim_verdicts(cells)
    return table(v.drop(columns="claim").rename(columns={"statement": "claim"}).to_dict("records"))


def claim_verdicts(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per claim: the region's size, the cells measured at epoch 50 and how many meet the claim, the
    provisional cells, and the verdict (module doc): PASS, FAIL or NOT DECIDED, with whether every measured cell
    agrees."""
    per_cell = cell_verdicts(cells) if len(cells) else pd.DataFrame()
    rows = []
    for claim in CLAIMS:
        n = len(region_cells(claim))
        v = (
            per_cell[(per_cell["claim"] == claim["key"]) & (per_cell["region"] == "inside")]
            if len(per_cell)
            else per_cell
        )
        done = v[v["measured_at_50"]] if len(v) else v
        short = v[~v["measured_at_50"]] if len(v) else v
        met, unmet = (int(done["meets"].sum()), int((~done["meets"]).sum())) if len(done) else (0, 0)
        if met > n / 2:
            verdict = "PASS"
        elif unmet >= n / 2:
            verdict = "FAIL"
        else:
            verdict = "NOT DECIDED"
        measured = f"{len(done)} of {n} cells measured at epoch 50"
        if len(done):
            agree = (
                "every measured cell meets it"
                if unmet == 0
                else "no measured cell meets it"
                if met == 0
                else f"{met} meet it, {unmet} do not"
            )
            # a few measured cells with their numbers; many by name (their numbers are in the page's table)
            each = "; ".join(done["words"]) if len(done) <= 3 else ", ".join(done["cell"])
            measured += f" ({agree}: {each})"
        if len(short):
            measured += "; provisional, not counted: " + "; ".join(short["words"])
        seeds = sorted(set(v["seeds"])) if len(v) else [1]
        rows.append(
            dict(
                claim=claim["key"],
                name=claim["name"],
                region_cells=n,
                measured_at_50=len(done),
                met=met,
                not_met=unmet,
                provisional=len(short),
                verdict=verdict,
                sentence=f"{claim['name']}: **{verdict}**: {measured}",
                # the common verdict row (``common.verdicts``)
                where=f"Figure 5, {claim['key']}",
                statement=claim["statement"],
                scope=f"its {n} cells of the paper's grid, each counted at epoch {PAPER_EPOCHS}, "
                + ", ".join(_seeds(k) for k in seeds)
                + " per cell",
                numbers=measured,
                tolerance=f"{claim['threshold']}, within {TOLERANCE_PP:g} pp; PASS when more than half the region "
                "meets it, FAIL when at least half does not",
            )
        )
    return pd.DataFrame(rows)
