"""Measured disparities beside the bounds (Sections 4.3–4.4) for an original/locked pair of any network.

One streaming pass (``empirical.measure.stream``) over the network's stages gives per stage m and
sample d⁽ᵐ⁾, G⁽ᵐ⁾, e⁽ᵐ⁾ and the stage's chain bound B. Checked per sample for every architecture:

  * the deterministic sandwich d <= G + e <= G + B — must hold for every sample (a self-check); for
    one weight layer B = L(μ‖y*⁽ᵐ⁻¹⁾‖₂ + ‖Δb‖₂), DESIGN.md's d <= G + Lμ‖y*⁽ᵐ⁻¹⁾‖₂ (Δb = 0 for ℓ1);
  * Theorem 2's d >= G — not guaranteed (erratum E-T2-LB): the fraction that holds is reported.

Then the columns of the architecture's own claims are added on top: FCNs get Theorems 1 and 3 and
Properties 1–3 (``empirical.measure.fcn``), conv nets Properties 4–6 and Theorem 4 with μ three ways
(``empirical.measure.conv``). Any ``nn.Sequential`` of the layers ``empirical.measure.stages`` knows
is measured; anything else is refused, naming the module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from empirical.measure.conv import conv_columns, format_net_layers
from empirical.measure.fcn import fcn_columns, format_layers
from empirical.measure.stream import Streamed, is_mlp, stream


@dataclass(frozen=True)
class Constants:
    C_s: float = 1.0
    C_e: float = 1.0
    tau: float = 2.0
    lipschitz: float = 1.0  # ReLU


@dataclass
class Measurement:
    summary: dict
    layers: pd.DataFrame  # one row per layer (stage) m = 1..M
    samples: pd.DataFrame  # one row per (sample, layer)


def _changed(st: Streamed, m: int) -> int:
    """Parameter values that differ between the original and the locked stage m."""
    mods = st.stages[m].modules
    n = 0
    for i in mods:
        for (_, a), (_, b) in zip(st.original[i].named_parameters(), st.locked[i].named_parameters()):
            n += int((a != b).sum())
    return n


def _module(st: Streamed, m: int) -> str:
    """Stage m's modules that hold parameters, by the names they have in the user's model (e.g. ``features.3``
    or ``layers.2``; a conv and its BN: ``3 + 4``)."""
    pos = [i for i in st.stages[m].modules if any(True for _ in st.original[i].parameters())]
    return " + ".join(st.module_names[i] if i < len(st.module_names) else str(i) for i in pos or st.stages[m].modules)


def stage_rows(st: Streamed) -> tuple[list[dict], list[dict]]:
    """The columns every architecture shares: per stage a row, per stage a dict of per-sample columns."""
    rows, frames = [], []
    for m in range(len(st.stages)):
        d, G, e, B, yp, scale = (st.per[k][m] for k in ("d", "G", "e", "B", "y_prev", "scale"))
        bounded = bool(np.isfinite(B).all())
        bound = B if bounded else e  # an opaque stage (attention, recurrence): the triangle d <= G + e, exact
        tol = st.rtol * (scale + bound + 1.0)
        sandwich = G + bound
        units = st.chains[m].units
        pos = (d > tol) if bounded else np.zeros(len(d), bool)
        rows.append(
            {
                "layer": m + 1,
                "module": _module(st, m),
                "n_extracted": _changed(st, m) if not bounded else int(sum(u.n_changed_units for u in units)),
                "chain_bound": "yes" if bounded else "not bounded (attention / recurrence / LayerNorm)",
                "d_mean": float(d.mean()),
                "d_median": float(np.median(d)),
                "d_max": float(d.max()),
                "G_mean": float(G.mean()),
                "G_median": float(np.median(G)),
                "e_median": float(np.median(e)),
                "B_median": float(np.median(B)),
                "sandwich_holds_frac": float(np.mean(d <= sandwich + tol)),
                "sandwich_max_violation": float(np.max(d - sandwich - tol)),
                "e_within_B_frac": float(np.mean(e <= B + tol)) if bounded else float("nan"),
                "theorem2_holds_frac": float(np.mean(d >= G - tol)),
                "sandwich_tightness_median": float(np.median(sandwich[pos] / d[pos])) if pos.any() else float("nan"),
            }
        )
        frames.append(
            {
                "sample": np.arange(len(d)),
                "layer": m + 1,
                "d": d,
                "G": G,
                "e": e,
                "B": B,
                "y_prev_norm": yp,
                "x_norm": st.x_norm,
                "sandwich_upper": sandwich,
            }
        )
    return rows, frames


@torch.no_grad()
def measure(
    original,
    locked,
    x,
    y,
    *,
    constants: Constants = Constants(),
    batch: int = 1000,
    dtype=None,
    seed: int = 0,
    initial=None,
    cache: dict | None = None,
    exact: bool = True,
) -> Measurement:
    """Measure an original/locked pair on inputs ``x`` with labels ``y`` (module doc).

    ``initial``: an FCN's network before training (re-created from the checkpoint's seed), for how
    far each weight matrix moved. ``cache``: a dict shared by calls on one original network (a grid
    measures one network at many ratios): its norms and weight statistics are computed once, with
    the same results. ``exact``: conv nets also get the exact zero-padded norms (Lanczos).
    """
    cache = {} if cache is None else cache
    st = stream(original, locked, x, y, batch=batch, dtype=dtype, cache=cache)
    rows, frames = stage_rows(st)
    n = len(st.x_norm)
    summary = {
        "n_samples": n,
        "dtype": str(st.dtype).replace("torch.", ""),
        "n_parameters": sum(p.numel() for p in st.original.parameters()),
        "n_stages": len(st.stages),
        "acc_original": st.hits[0, 0] / n,
        "acc_extracted": st.hits[1, 0] / n,
        "top3_original": st.hits[0, 1] / n,
        "top3_extracted": st.hits[1, 1] / n,
        "x_norm_mean": float(st.x_norm.mean()),
        "x_norm_max": float(st.x_norm.max()),
    }
    if is_mlp(original):
        fcn_columns(st, rows, frames, summary, constants, seed, initial, cache)
    else:
        conv_columns(st, rows, frames, summary, constants, cache, exact)
    summary["sandwich_all_hold"] = bool(all(r["sandwich_holds_frac"] == 1.0 for r in rows))
    summary.update({f"const_{k}": v for k, v in vars(constants).items()})
    return Measurement(summary, pd.DataFrame(rows), pd.concat([pd.DataFrame(f) for f in frames], ignore_index=True))


def format_table(df: pd.DataFrame) -> str:
    """A readable per-layer table of the main columns (the FCN's or the conv net's); a * marks a vacuous
    probability (outside (0, 1))."""
    return format_layers(df) if "theorem3_probability" in df else format_net_layers(df)


def measure_net(original, locked, x, y, *, constants=None, batch: int = 500, exact: bool = True, cache=None):
    """``measure`` on a conv net (the name used before the two measurements became one; any network works)."""
    return measure(original, locked, x, y, constants=constants or Constants(), batch=batch, exact=exact, cache=cache)
