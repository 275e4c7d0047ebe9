"""The attacks' evidence shared by the report, the verdicts and the page: the fine-tuning rows with the Adam baseline,
and the key-position detectors judged against an empirical null over the key's possible positions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from empirical.experiments.attacks.cells import RANDOM_CONTROL
from empirical.experiments.common.rundir import read_table
from empirical.lock.ranking import candidates
from empirical.nets.models import make_model


def load_finetune(run_dir) -> pd.DataFrame:
    """``finetune.csv`` with the rows of ``scratch_adam.csv`` (where that baseline was run) appended."""
    run_dir = Path(run_dir)
    frames = [read_table(run_dir / name, required=False) for name in ("finetune.csv", "scratch_adam.csv")]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


NULL_DRAWS = 10_000  # random position sets per detector row in the empirical null


def candidate_units(m: dict) -> tuple[int, int]:
    """(candidate units, values per unit) of a configured model for its indicator: where its key can lie (the
    hidden layers' weights for ℓ1 on an FCN, the hidden convs' kernels F_(s,t) for ℓ1 filters); the units of one
    model are of one size here (a model mixing sizes raises: its null needs the key's layout)."""
    cands = candidates(make_model(m["arch"], m["hidden_layers"], m["width"]), m.get("indicator", "l1"), "hidden")
    sizes = {c.unit_size for c in cands}
    if len(sizes) != 1:
        raise ValueError(f"{m['name']}: candidate units of several sizes {sorted(sizes)}")
    return int(sum(c.n_units for c in cands)), sizes.pop()


def with_chance(det: pd.DataFrame, models, draws: int = NULL_DRAWS, seed: int = 0) -> pd.DataFrame:
    """The detector table judged against an empirical null over the key's possible positions (issue 39): for each
    row, ``draws`` random position sets as large as the detector's, drawn as whole candidate units (the key is made
    of units: single weights for an FCN, 3 × 3 kernels for the VGG) uniformly among the candidates. Under that null
    the units that hit the key are hypergeometric (the key's layout does not matter), so the draws are exact.
    Columns: ``chance`` (the null's mean precision = key values / candidate values), ``lift`` = precision /
    chance, ``null_q95`` (the null's 95th percentile of precision), ``null_percentile`` (the share of null draws
    below the detector's precision) and ``p_null`` = (1 + draws at or above it) / (1 + ``draws``), with the exact
    hypergeometric tail ``p_exact`` beside it."""
    rng = np.random.default_rng(seed)
    units = {m["name"]: candidate_units(m) for m in models}
    out = det.copy()
    cols = {k: [] for k in ("chance", "null_q95", "null_percentile", "p_null", "p_exact")}
    for r in out.itertuples():
        n_units, size = units[r.model]
        key_units, drawn = round(r.key_values / size), round(r.detected / size)
        hits = round(r.precision * r.detected) if r.detected and r.precision == r.precision else None
        if not drawn or hits is None:
            for k in cols:
                cols[k].append(float("nan") if k != "chance" else key_units / n_units)
            continue
        null = rng.hypergeometric(key_units, n_units - key_units, drawn, size=draws) * size / r.detected
        obs = hits / r.detected
        cols["chance"].append(key_units / n_units)
        cols["null_q95"].append(float(np.quantile(null, 0.95)))
        cols["null_percentile"].append(float(np.mean(null < obs)))
        cols["p_null"].append(float((1 + np.sum(null >= obs - 1e-12)) / (1 + draws)))
        cols["p_exact"].append(float(stats.hypergeom.sf(int(np.ceil(hits / size)) - 1, n_units, key_units, drawn)))
    for k, v in cols.items():
        out[k] = v
    out["lift"] = out["precision"] / out["chance"]
    out["p_above_chance"] = out["p_null"]  # the verdicts' test, under the name the pages have always read
    return out


def leak_attribution(det: pd.DataFrame) -> pd.DataFrame:
    """Per model, the detector that best beats the empirical null on the noise-filled key, beside the same
    detector on the zero-filled key: where it beats the null with both fills, the leak is the ℓ1 ranking's (the
    largest weights, zeroed or refilled, pull the largest gradients), not the fill's."""
    det = det[det.detector != RANDOM_CONTROL]
    noise = det[(det.fill == "noise") & det.precision.notna()]
    best = noise.loc[noise.groupby("model")["lift"].idxmax()]
    zero = det[det.fill == "zero"].set_index(["model", "detector"])
    rows = []
    for r in best.itertuples():
        z = zero.loc[(r.model, r.detector)] if (r.model, r.detector) in zero.index else None
        rows.append(
            dict(
                model=r.model,
                detector=r.detector,
                precision_noise=r.precision,
                p_noise=r.p_null,
                precision_zero=float("nan") if z is None else z.precision,
                p_zero=float("nan") if z is None else z.p_null,
                chance=r.chance,
                beats_null_noise=bool(r.p_null < 0.05),
                beats_null_zero=bool(z is not None and z.p_null < 0.05),
            )
        )
    return pd.DataFrame(rows)


def _f3(v, digits: int = 3) -> str:
    return "—" if v != v else f"{v:.{digits}f}"
