"""The FCN's own columns (Sections 4.3–4.4.1): Theorems 1 and 3, Properties 1–3, Assumption 2's statistics.

Added to the shared stage rows of ``empirical.measure.core`` for a network that is our FCN or a
Linear/ReLU MLP (``empirical.nets.models.fc_layers``). Per layer m: ‖W∗‖₂ vs λ (Property 1;
λ = √N + C_sK_s²(√N + τ), N the widest layer, K_s the largest row norm), μ = ‖ΔW‖₂ vs 6C_eC_w√D_w
(Property 3) and C_w√D (deterministic), Theorem 3's d <= G + μL^mλ^{m−1}‖x‖₂ with λ from Property 1
and with λ measured (max_{k<m} ‖W∗⁽ᵏ⁾‖₂) — holds fraction, tightness and probability terms —, the
second-moment recursion of Theorem 1 against the measured mean ‖y∗⁽ᵐ⁾‖², Property 2 per sample
(printed, bias-free; and with biases, deterministic) and each layer's weight statistics.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.stats as stats
import torch

import bounds
from empirical.nets.models import fc_layers


def _bias(layer) -> torch.Tensor:
    """A layer's bias, or zeros for ``bias=False`` layers (the bounds then see b = 0)."""
    return layer.bias if layer.bias is not None else torch.zeros(layer.out_features, dtype=layer.weight.dtype)


def weight_statistics(w: torch.Tensor, fan_in: int, rng: np.random.Generator, max_sample=200_000) -> dict:
    """Assumption 2 diagnostics of one weight matrix: σ, mean, max|w|, kurtosis, KS statistics."""
    flat = w.detach().reshape(-1).double().cpu().numpy()
    sample = flat if flat.size <= max_sample else rng.choice(flat, max_sample, replace=False)
    sigma, mean = float(flat.std()), float(flat.mean())
    bound0 = 1 / math.sqrt(fan_in)  # PyTorch default init U(−1/√fan_in, 1/√fan_in)
    return {
        "w_mean": mean,
        "w_std": sigma,
        "w_max_abs": float(np.abs(flat).max()),
        "w_max_over_std": float(np.abs(flat).max() / sigma) if sigma > 0 else float("nan"),
        "gauss_max_over_std": math.sqrt(2 * math.log(flat.size)),  # typical max of n Gaussians
        "w_excess_kurtosis": float(stats.kurtosis(sample)),
        # the KS statistic only (sup distance of the CDFs; method="asymp" skips the exact p-value)
        "ks_vs_normal": float(stats.kstest(sample, "norm", args=(mean, sigma), method="asymp").statistic)
        if sigma > 0
        else 1.0,
        "ks_vs_init": float(stats.kstest(sample, "uniform", args=(-bound0, 2 * bound0), method="asymp").statistic),
        "std_over_init_std": sigma / (bound0 / math.sqrt(3)),
    }


def _weights(st):
    layers_o, layers_l = fc_layers(st.original), fc_layers(st.locked)
    return layers_o, layers_l, [la.weight for la in layers_o], [la.weight for la in layers_l]


def _theorem3(rows, frames, st, c, lam_p1, lam_meas, mu, counts, D_w, C_w, N):
    """Theorem 3 (and Theorem 2's tail) per layer: bounds per sample, holds fractions, tightness, probabilities."""
    L, x_norm = c.lipschitz, st.x_norm
    for m, (row, frame) in enumerate(zip(rows, frames)):
        mm = m + 1
        d, G = frame["d"], frame["G"]
        tol = st.rtol * (st.per["scale"][m] + frame["B"] + 1.0)
        t3_p1 = G + (bounds.eta(mu[m], mm, lam_p1, x_norm, L) if mu[m] > 0 else 0.0)
        t3_meas = G + (bounds.eta(mu[m], mm, lam_meas[m], x_norm, L) if mu[m] > 0 else 0.0)
        pos = (d > tol) & (counts[m] > 0)  # a layer with nothing extracted has bound = G = d: nothing to test
        frame["theorem3_bound_property1"], frame["theorem3_bound_measured"] = t3_p1, t3_meas
        sandwich = frame["sandwich_upper"]
        row.update(
            sandwich_tightness_median=float(np.median(sandwich[pos] / d[pos])) if pos.any() else float("nan"),
            theorem3_p1_holds_frac=float(np.mean(d <= t3_p1 + tol)),
            theorem3_meas_holds_frac=float(np.mean(d <= t3_meas + tol)),
            theorem3_p1_tightness_median=float(np.median(t3_p1[pos] / d[pos])) if pos.any() else float("nan"),
            theorem3_meas_tightness_median=float(np.median(t3_meas[pos] / d[pos])) if pos.any() else float("nan"),
        )
        if mu[m] > 0:
            row["property3_tail_at_mu"] = float(bounds.weight_difference_tail_bound(mu[m], D_w, C_w, c.C_e))
            row["theorem3_probability"] = float(bounds.theorem3_probability(mu[m], mm, c.tau, D_w, C_w, c.C_e))
            row["theorem3_probability_union"] = float(
                bounds.theorem3_probability_union(mu[m], mm, c.tau, D_w, C_w, c.C_e)
            )
        else:
            row["property3_tail_at_mu"] = row["theorem3_probability"] = row["theorem3_probability_union"] = np.nan
        g_mean = float(G.mean())
        row["theorem2_tail_at_mean_G"] = (
            float(bounds.theorem2_tail_bound(g_mean, mm, N, D_w, C_w)) if g_mean > 0 and counts[m] > 0 else np.nan
        )
        for p, kind in (
            ("property3_tail_at_mu", "upper"),
            ("theorem3_probability", "lower"),
            ("theorem3_probability_union", "lower"),
            ("theorem2_tail_at_mean_G", "upper"),
        ):
            row[f"{p}_vacuous"] = bool(bounds.is_vacuous(row[p], kind)) if not np.isnan(row[p]) else np.nan


def fcn_columns(st, rows, frames, summary, c, seed, initial, cache) -> None:
    """Add the FCN columns to ``rows`` (per layer), ``frames`` (per sample) and ``summary``, in place."""
    layers_o, layers_l, W, Wl = _weights(st)
    M, L = len(W), c.lipschitz
    units = [ch.units[0] for ch in st.chains]  # one Linear per stage
    mu = np.array([u.mu for u in units])
    w_norm = np.array([u.w_norm for u in units])
    counts = np.array([u.n_changed_units for u in units])
    row_norm = np.array([float(w.norm(dim=1).max()) for w in W])
    C_w = float(max(w.abs().max() for w in W))
    D_w = int(counts.max())
    widths = [la.out_features for la in layers_o]
    N = max(widths)
    sigma_w, sigma_b = [float(w.std()) for w in W], [float(_bias(la).std()) for la in layers_o]
    K_s = float(row_norm.max())
    lam_p1 = float(bounds.fc_lambda(N, K_s, c.C_s, c.tau))
    lam_p1_layer = np.array([float(bounds.fc_lambda(N, k, c.C_s, c.tau)) for k in row_norm])
    lam_meas = np.array([w_norm[:m].max() if m else 0.0 for m in range(M)])  # max_{k<m} ‖W∗⁽ᵏ⁾‖, 0-based
    x_norm = st.x_norm
    x_sq = float(np.mean(x_norm**2))
    s_bound = bounds.second_moment_bounds(x_sq, widths, sigma_w, sigma_b, L)  # Theorem 1, every layer
    bias_norm = [float(_bias(la).norm()) for la in layers_o]
    p2_bias = bounds.output_norm_bound_with_bias(x_norm, w_norm, bias_norm, L)  # (M, n)
    rng = np.random.default_rng(seed)
    for m, row in enumerate(rows):
        out_norm = np.sqrt(st.per["sq_orig"][m])
        row.update(
            mu=mu[m],
            w_norm=w_norm[m],
            K_s_layer=row_norm[m],
            lambda_property1=lam_p1_layer[m],
            w_norm_within_property1=bool(w_norm[m] <= lam_p1_layer[m]),
            lambda_measured=lam_meas[m],
            property3_expectation_bound=float(bounds.weight_difference_expectation_bound(D_w, C_w, c.C_e)),
            deterministic_bound=float(bounds.weight_difference_deterministic_bound(counts[m], C_w)),
            theorem1_second_moment_bound=float(s_bound[m]),
            mean_sq_norm_original=float(st.per["sq_orig"][m].mean()),
            mean_sq_norm_locked=float(st.per["sq_lock"][m].mean()),
            bias_std=sigma_b[m],
            # Property 2 per sample: bias-free with λ = max_{k<=m} ‖W∗⁽ᵏ⁾‖₂ (as printed), and with biases and
            # each layer's own norm (a deterministic bound, so it must always hold)
            property2_holds_frac=float(
                np.mean(out_norm <= bounds.output_norm_bound(x_norm, m + 1, w_norm[: m + 1].max(), L) * (1 + st.rtol))
            ),
            property2_bias_holds_frac=float(np.mean(out_norm <= p2_bias[m] * (1 + st.rtol) + st.rtol)),
        )
        if initial is not None:
            w0 = fc_layers(initial)[m].weight.detach().to(W[m].device, W[m].dtype)
            row["rel_change_from_init"] = float((W[m] - w0).norm() / w0.norm())
    _theorem3(rows, frames, st, c, lam_p1, lam_meas, mu, counts, D_w, C_w, N)
    for m, row in enumerate(rows):
        if ("weight_stats", m) not in cache:
            cache[("weight_stats", m)] = weight_statistics(W[m], layers_o[m].in_features, rng)
        row.update(cache[("weight_stats", m)])
    summary.update(
        C_w=C_w,
        D_w=D_w,
        N=N,
        K_s=K_s,
        lambda_property1=lam_p1,
        theorem1_bound_original=float(s_bound[-1]),
        theorem1_bound_locked=bounds.variance_bound(
            x_sq, widths, [float(w.std()) for w in Wl], [float(_bias(la).std()) for la in layers_l], L
        ),
        output_spread_original=float(st.logits_orig.var(axis=0, ddof=1).sum()),
        output_spread_locked=float(st.logits_lock.var(axis=0, ddof=1).sum()),
        descriptions={
            "theorem1_bound_original": "Theorem 1's bound on V(y⁽ᴹ⁾) over random weights with the trained "
            "networks' σ_w, σ_b and the mean ‖x‖² — a statement about weight randomness",
            "output_spread_original": "Σᵢ variance of logit i over the test inputs for this one network — a different "
            "quantity (spread over inputs), shown as a proxy only; it is not compared with the bound",
        },
    )


LAYER_COLUMNS = [
    "layer",
    "module",
    "n_extracted",
    "mu",
    "w_norm",
    "lambda_property1",
    "d_median",
    "G_median",
    "sandwich_holds_frac",
    "theorem2_holds_frac",
    "theorem3_meas_holds_frac",
    "theorem3_meas_tightness_median",
    "theorem3_p1_tightness_median",
    "theorem3_probability",
    "w_std",
    "ks_vs_init",
]


def format_layers(df: pd.DataFrame) -> str:
    """A readable per-layer table of the main columns; probabilities outside (0, 1) carry a * (vacuous)."""
    out = df[LAYER_COLUMNS].copy()
    for col in LAYER_COLUMNS[2:]:
        out[col] = [f"{v:.3g}" if isinstance(v, float) else v for v in df[col]]
    vac = df["theorem3_probability_vacuous"].fillna(False).astype(bool)
    out["theorem3_probability"] = [f"{v}*" if flag else v for v, flag in zip(out["theorem3_probability"], vac)]
    text = out.to_string(index=False, line_width=PRINT_WIDTH)  # wider tables continue in a second block
    return text + ("\n(* vacuous: outside (0, 1))" if vac.any() else "")


PRINT_WIDTH = 120  # printed tables; the CSV holds every column
