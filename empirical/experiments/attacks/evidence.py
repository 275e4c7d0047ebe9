"""The attacks' evidence shared by the report, the verdicts and the page: the fine-tuning rows with the Adam baseline,
and the key-position detectors judged against an empirical null over the key's possible positions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from empirical.experiments.attacks.cells import KEY_POSITIONS, RANDOM_CANDIDATES, RANDOM_CONTROL
from empirical.experiments.common.rundir import read_table
from empirical.experiments.common.statistics import paired_t
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


STOPPED = "adam, early stopped"  # the converged table's own variant


def baseline_variants(run: Path) -> pd.DataFrame:
    """Every from-scratch baseline row as (model, baseline, variant, fraction, seed, accuracy, steps): the converged
    table's Adam runs and, where ``scratch_refit.csv`` exists, each recipe refit on the whole share and SGD-cosine
    early stopped."""
    conv = read_table(run / "scratch_converged.csv", required=False)
    cols = ["model", "baseline", "variant", "fraction", "seed", "accuracy", "steps"]
    frames = [conv.assign(variant=STOPPED)[cols]] if len(conv) else []
    refit = read_table(run / "scratch_refit.csv", required=False)
    if len(refit):
        per_epoch = -(-refit["n_images"] // 100)
        frames.append(
            refit.assign(
                variant=refit.recipe + ", refit", accuracy=refit.accuracy_refit, steps=refit.best_epoch * per_epoch
            )[cols]
        )
        sgd = refit[refit.recipe != "adam"]
        frames.append(sgd.assign(variant=sgd.recipe + ", early stopped", accuracy=sgd.accuracy_stopped)[cols])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def load_converged(run: Path) -> pd.DataFrame:
    """The baselines the verdicts test against: per model, architecture and share, the strongest variant of
    ``baseline_variants`` (highest mean test accuracy among those with every seed the share has — chosen on the
    test set, so the choice favours the baselines, never the attack); a second owner model takes the rows of the
    model whose baselines it shares (``baselines_of``: same architecture, data and subsets)."""
    rows = baseline_variants(run)
    if not len(rows):
        return rows
    keys = ["model", "baseline", "fraction"]
    stats = rows.groupby([*keys, "variant"], as_index=False)["accuracy"].agg(["mean", "count"])
    full = stats[stats["count"] == stats.groupby(keys)["count"].transform("max")]
    best = full.loc[full.groupby(keys)["mean"].idxmax(), [*keys, "variant"]]
    out = rows.merge(best, on=[*keys, "variant"])
    models = json.loads((run / "config.json").read_text())["models"]
    shared = [out[out.model == m["baselines_of"]].assign(model=m["name"]) for m in models if "baselines_of" in m]
    return pd.concat([out, *shared], ignore_index=True)


def restoration_effects(run: Path) -> pd.DataFrame:
    """From ``restoration.csv``: per model and fill, what training only the key's own positions (and only the best
    detector's) restores beyond as many random candidate units, paired by seed (each seed one data subset), with
    the two-sided 95 % interval; rows only where two or more seeds have all three."""
    rest = read_table(run / "restoration.csv", required=False)
    rows = []
    if not len(rest):
        return pd.DataFrame(rows)
    for (model, fill), g in rest.groupby(["model", "fill"], sort=False):
        acc = g.pivot_table(index="seed", columns="positions", values="restored_accuracy").dropna()
        if len(acc) < 2:
            continue
        for what, col in (("the key's own positions", KEY_POSITIONS), ("the best detector's", "best detector")):
            t = paired_t(acc[col].to_numpy(), acc[RANDOM_CANDIDATES].to_numpy())
            rows.append(dict(model=model, fill=fill, trained=what, seeds=len(acc), accuracy=float(acc[col].mean()),
                             random=float(acc[RANDOM_CANDIDATES].mean()), diff=t["diff"], low=t["low"],
                             high=t["high"]))  # fmt: skip
    return pd.DataFrame(rows)
