"""Measured disparities beside the bounds (Sections 4.3–4.4) for one original/locked FCN pair.

Per layer m and sample (DESIGN.md notation): d⁽ᵐ⁾ = ‖y⁽ᵐ⁾ − y*⁽ᵐ⁾‖₂, G⁽ᵐ⁾ = ‖y⁽ᵐ⁾ − φ(W⁽ᵐ⁾y*⁽ᵐ⁻¹⁾ + b⁽ᵐ⁾)‖₂,
μ⁽ᵐ⁾ = ‖ΔW⁽ᵐ⁾‖₂. Checked per sample:
  * the deterministic sandwich d <= G + L·μ·‖y*⁽ᵐ⁻¹⁾‖₂ — must hold for every sample (a self-check);
  * Theorem 2's d >= G — not guaranteed (erratum E-T2-LB): the fraction that holds is reported;
  * Theorem 3's d <= G + μL^mλ^{m−1}‖x‖₂ with λ from Property 1 and with λ measured
    (max_{k<m} ‖W*⁽ᵏ⁾‖₂), its tightness (bound / d) and its probability terms.
Per layer also ‖W*‖₂ vs λ (Property 1), μ vs 6C_eC_w√D_w (Property 3) and C_w√D (deterministic),
weight statistics for Assumption 2, and Theorem 1's bound vs the measured output spread.
Inputs are streamed in batches; nothing of size #samples × width is kept.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.stats as stats
import torch

import bounds
from empirical.nets.models import FCN, fc_activations, fc_layers

FLOAT64_MAX_PARAMS = 20_000_000  # measure in float64 below this size, float32 above
RTOL = {torch.float64: 1e-9, torch.float32: 2e-4}


@dataclass(frozen=True)
class Constants:
    C_s: float = 1.0
    C_e: float = 1.0
    tau: float = 2.0
    lipschitz: float = 1.0  # ReLU


@dataclass
class Measurement:
    summary: dict
    layers: pd.DataFrame  # one row per layer m = 1..M
    samples: pd.DataFrame  # one row per (sample, layer)


def _delta_sparse(w_locked: torch.Tensor, w_orig: torch.Tensor) -> sp.csr_array:
    """ΔW = W − W* as a sparse matrix (non-zero only at extracted positions)."""
    diff = (w_locked - w_orig).detach()
    idx = torch.nonzero(diff)
    vals = diff[idx[:, 0], idx[:, 1]].double().cpu().numpy()
    return sp.csr_array((vals, (idx[:, 0].cpu().numpy(), idx[:, 1].cpu().numpy())), shape=tuple(diff.shape))


def _bias(layer) -> torch.Tensor:
    """A layer's bias, or zeros for ``bias=False`` layers (the bounds then see b = 0)."""
    return layer.bias if layer.bias is not None else torch.zeros(layer.out_features, dtype=layer.weight.dtype)


def weight_statistics(w: torch.Tensor, fan_in: int, rng: np.random.Generator, max_sample=200_000) -> dict:
    """Assumption 2 diagnostics of one weight matrix: σ, mean, max|w|, kurtosis, KS distances."""
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
        # the statistic only: method="asymp" skips the exact p-value, which is most of the cost
        "ks_vs_normal": float(stats.kstest(sample, "norm", args=(mean, sigma), method="asymp").statistic)
        if sigma > 0
        else 1.0,
        "ks_vs_init": float(stats.kstest(sample, "uniform", args=(-bound0, 2 * bound0), method="asymp").statistic),
        "std_over_init_std": sigma / (bound0 / math.sqrt(3)),
    }


@torch.no_grad()
def measure(
    original: FCN,
    locked: FCN,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    constants=Constants(),
    batch: int = 1000,
    dtype: torch.dtype | None = None,
    seed: int = 0,
    initial: FCN | None = None,
    cache: dict | None = None,
) -> Measurement:
    """Measure an original/locked FCN pair on inputs ``x`` [n, 784] with labels ``y`` (see module doc).

    ``initial``: the network before training (re-created from the checkpoint's seed), for how far
    each trained weight matrix moved from its initialisation. ``cache``: a dict shared by calls on
    the same original network (the grid measures one network at many ratios): its spectral norms and
    weight statistics are computed once; the results are the same as without it.
    """
    layers_o, layers_l = fc_layers(original), fc_layers(locked)  # FCN or an nn.Sequential Linear/ReLU MLP
    if [tuple(a.weight.shape) for a in layers_o] != [tuple(b.weight.shape) for b in layers_l]:
        raise ValueError("original and locked models have different layer shapes")
    if x.ndim != 2 or x.shape[1] != layers_o[0].in_features or len(x) != len(y):
        raise ValueError(f"inputs must be [n, {layers_o[0].in_features}] with n labels, got {tuple(x.shape)}")
    n_params = sum(p.numel() for p in original.parameters())
    dtype = dtype or (torch.float64 if n_params <= FLOAT64_MAX_PARAMS else torch.float32)
    if dtype != next(original.parameters()).dtype:
        original, locked = copy.deepcopy(original).to(dtype), copy.deepcopy(locked).to(dtype)
        layers_o, layers_l = fc_layers(original), fc_layers(locked)
    device = next(original.parameters()).device
    c = constants
    M = len(layers_o)
    L = c.lipschitz

    # ---- per-layer weight quantities ---------------------------------------------------------
    W = [layer.weight for layer in layers_o]
    Wl = [layer.weight for layer in layers_l]
    deltas = [_delta_sparse(a, b) for a, b in zip(Wl, W)]
    mu = np.array([bounds.spectral_norm(d) for d in deltas])
    counts = np.array([d.nnz for d in deltas])
    cache = {} if cache is None else cache  # quantities of the original alone, shared by calls on one network
    if "w_norm" not in cache:
        cache["w_norm"] = np.array([bounds.spectral_norm(w.detach().cpu().numpy()) for w in W])
    w_norm = cache["w_norm"]
    row_norm = np.array([float(w.norm(dim=1).max()) for w in W])
    C_w = float(max(w.abs().max() for w in W))
    D_w = int(counts.max())
    widths = [layer.out_features for layer in layers_o]
    N = max(widths)
    sigma_w, sigma_b = [float(w.std()) for w in W], [float(_bias(layer).std()) for layer in layers_o]
    K_s = float(row_norm.max())
    lam_p1 = float(bounds.fc_lambda(N, K_s, c.C_s, c.tau))
    lam_p1_layer = np.array([float(bounds.fc_lambda(N, k, c.C_s, c.tau)) for k in row_norm])
    lam_meas = np.array([w_norm[:m].max() if m else 0.0 for m in range(M)])  # max_{k<m} ‖W*⁽ᵏ⁾‖, 0-based

    # ---- streamed activations ----------------------------------------------------------------
    rtol = RTOL[dtype]
    per = {k: [[] for _ in range(M)] for k in ("d", "G", "y_prev", "scale", "sq_orig", "sq_lock")}
    x_norms, hits, out_orig, out_lock = [], np.zeros((2, 2)), [], []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].to(device, dtype)  # (B, 784)
        yb = y[i : i + batch].to(device)
        ys = fc_activations(layers_o, xb)  # [y⁽⁰⁾ … y⁽ᴹ⁾]
        y_lock = xb
        for m, lk in enumerate(layers_l):
            act = (lambda z: z) if m == M - 1 else torch.relu
            y_lock = act(lk(y_lock))
            cross = act(lk(ys[m]))  # φ(W⁽ᵐ⁾y*⁽ᵐ⁻¹⁾ + b⁽ᵐ⁾)
            per["d"][m].append((y_lock - ys[m + 1]).norm(dim=1).cpu())
            per["G"][m].append((y_lock - cross).norm(dim=1).cpu())
            per["y_prev"][m].append(ys[m].norm(dim=1).cpu())
            per["scale"][m].append((y_lock.norm(dim=1) + ys[m + 1].norm(dim=1)).cpu())
            per["sq_orig"][m].append((ys[m + 1] ** 2).sum(dim=1).cpu())
            per["sq_lock"][m].append((y_lock**2).sum(dim=1).cpu())
        x_norms.append(xb.norm(dim=1).cpu())
        for j, logits in enumerate((ys[-1], y_lock)):
            top = logits.topk(3, dim=1).indices
            hits[j, 0] += float((top[:, 0] == yb).sum())
            hits[j, 1] += float((top == yb[:, None]).any(dim=1).sum())
        out_orig.append(ys[-1].cpu())
        out_lock.append(y_lock.cpu())
    cat = {k: [torch.cat(v).double().numpy() for v in lists] for k, lists in per.items()}
    x_norm = torch.cat(x_norms).double().numpy()

    # ---- per-sample table and per-layer aggregates --------------------------------------------
    rng = np.random.default_rng(seed)
    fan_in = [layer.in_features for layer in layers_o]
    x_sq = float(np.mean(x_norm**2))
    s_bound_orig = bounds.second_moment_bounds(x_sq, widths, sigma_w, sigma_b, L)  # Theorem 1, every layer
    # Property 2 per sample: bias-free with λ = max_{k<=m} ‖W*⁽ᵏ⁾‖₂ (as printed), and with biases and
    # each layer's own norm (a deterministic bound, so it must always hold)
    out_norm = [np.sqrt(cat["sq_orig"][m]) for m in range(M)]
    bias_norm = [float(_bias(layer).norm()) for layer in layers_o]
    p2_bias = bounds.output_norm_bound_with_bias(x_norm, w_norm, bias_norm, L)  # (M, n)
    sample_frames, rows = [], []
    for m in range(M):
        mm = m + 1  # the paper's 1-based layer index
        d, G, yp, scale = cat["d"][m], cat["G"][m], cat["y_prev"][m], cat["scale"][m]
        sandwich = G + L * mu[m] * yp
        tol = rtol * (scale + L * mu[m] * yp + 1.0)
        t3_p1 = G + (bounds.eta(mu[m], mm, lam_p1, x_norm, L) if mu[m] > 0 else 0.0)
        t3_meas = G + (bounds.eta(mu[m], mm, lam_meas[m], x_norm, L) if mu[m] > 0 else 0.0)
        pos = (d > tol) & (counts[m] > 0)  # a layer with nothing extracted has bound = G = d: nothing to test
        sample_frames.append(
            pd.DataFrame(
                {
                    "sample": np.arange(len(d)),
                    "layer": mm,
                    "d": d,
                    "G": G,
                    "y_prev_norm": yp,
                    "x_norm": x_norm,
                    "sandwich_upper": sandwich,
                    "theorem3_bound_property1": t3_p1,
                    "theorem3_bound_measured": t3_meas,
                }
            )
        )
        row = {
            "layer": mm,
            "n_extracted": int(counts[m]),
            "mu": mu[m],
            "w_norm": w_norm[m],
            "K_s_layer": row_norm[m],
            "lambda_property1": lam_p1_layer[m],
            "w_norm_within_property1": bool(w_norm[m] <= lam_p1_layer[m]),
            "lambda_measured": lam_meas[m],
            "d_mean": d.mean(),
            "d_median": float(np.median(d)),
            "d_max": d.max(),
            "G_mean": G.mean(),
            "G_median": float(np.median(G)),
            "sandwich_holds_frac": float(np.mean(d <= sandwich + tol)),
            "sandwich_max_violation": float(np.max(d - sandwich - tol)),
            "theorem2_holds_frac": float(np.mean(d >= G - tol)),
            "theorem3_p1_holds_frac": float(np.mean(d <= t3_p1 + tol)),
            "theorem3_meas_holds_frac": float(np.mean(d <= t3_meas + tol)),
            "theorem3_p1_tightness_median": float(np.median(t3_p1[pos] / d[pos])) if pos.any() else float("nan"),
            "theorem3_meas_tightness_median": float(np.median(t3_meas[pos] / d[pos])) if pos.any() else float("nan"),
            "sandwich_tightness_median": float(np.median(sandwich[pos] / d[pos])) if pos.any() else float("nan"),
            "property3_expectation_bound": float(bounds.weight_difference_expectation_bound(D_w, C_w, c.C_e)),
            "deterministic_bound": float(bounds.weight_difference_deterministic_bound(counts[m], C_w)),
            "theorem1_second_moment_bound": float(s_bound_orig[m]),
            "mean_sq_norm_original": float(cat["sq_orig"][m].mean()),
            "mean_sq_norm_locked": float(cat["sq_lock"][m].mean()),
            "bias_std": sigma_b[m],
            "property2_holds_frac": float(
                np.mean(out_norm[m] <= bounds.output_norm_bound(x_norm, m + 1, w_norm[: m + 1].max(), L) * (1 + rtol))
            ),
            "property2_bias_holds_frac": float(np.mean(out_norm[m] <= p2_bias[m] * (1 + rtol) + rtol)),
        }
        if initial is not None:
            w0 = fc_layers(initial)[m].weight.detach().to(W[m].device, W[m].dtype)
            row["rel_change_from_init"] = float((W[m] - w0).norm() / w0.norm())
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
        if ("weight_stats", m) not in cache:
            cache[("weight_stats", m)] = weight_statistics(W[m], fan_in[m], rng)
        row.update(cache[("weight_stats", m)])
        rows.append(row)

    logits_o, logits_l = torch.cat(out_orig).double(), torch.cat(out_lock).double()
    summary = {
        "n_samples": len(x),
        "dtype": str(dtype).replace("torch.", ""),
        "n_parameters": n_params,
        "acc_original": hits[0, 0] / len(x),
        "acc_extracted": hits[1, 0] / len(x),
        "top3_original": hits[0, 1] / len(x),
        "top3_extracted": hits[1, 1] / len(x),
        "C_w": C_w,
        "D_w": D_w,
        "N": N,
        "K_s": K_s,
        "lambda_property1": lam_p1,
        "x_norm_mean": float(x_norm.mean()),
        "x_norm_max": float(x_norm.max()),
        "sandwich_all_hold": bool(all(r["sandwich_holds_frac"] == 1.0 for r in rows)),
        "theorem1_bound_original": float(s_bound_orig[-1]),
        "theorem1_bound_locked": bounds.variance_bound(
            x_sq, widths, [float(w.std()) for w in Wl], [float(_bias(la).std()) for la in layers_l], L
        ),
        "output_spread_original": float(logits_o.var(dim=0).sum()),
        "output_spread_locked": float(logits_l.var(dim=0).sum()),
        **{f"const_{k}": v for k, v in vars(c).items()},
        "descriptions": {
            "theorem1_bound_original": "Theorem 1's bound on V(y⁽ᴹ⁾) over random weights with the trained "
            "networks' σ_w, σ_b and the mean ‖x‖² — a statement about weight randomness",
            "output_spread_original": "Σᵢ variance of logit i over the test inputs for this one network — a different "
            "quantity (spread over inputs), shown as a proxy only; it is not compared with the bound",
        },
    }
    return Measurement(summary, pd.DataFrame(rows), pd.concat(sample_frames, ignore_index=True))


LAYER_COLUMNS = [
    "layer",
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
    text = out.to_string(index=False)
    return text + ("\n(* vacuous: outside (0, 1))" if vac.any() else "")
