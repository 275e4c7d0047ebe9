"""The conv net's own columns (Section 4.4.2, Theorem 4), added to the shared stage rows of ``empirical.measure.core``.

The network is cut into stages m = 1..M (``empirical.measure.stages``: one conv/linear layer with its BN
folded in, a pre-activation BN-ReLU-conv layer, or a whole residual/dense block). Everything is
measured in eval mode — BN is then a fixed affine map, which is what a locked model runs — and
in float64. Per stage and sample:

  d⁽ᵐ⁾ = ‖y⁽ᵐ⁾ − y∗⁽ᵐ⁾‖₂, G⁽ᵐ⁾ = ‖fₘ(y⁽ᵐ⁻¹⁾) − fₘ(y∗⁽ᵐ⁻¹⁾)‖₂ (fₘ the locked stage, so G carries the
  change that arrives from earlier stages), e⁽ᵐ⁾ = ‖fₘ(y∗⁽ᵐ⁻¹⁾) − f*ₘ(y∗⁽ᵐ⁻¹⁾)‖₂ (this stage's own change);
  the sandwich d <= G + e <= G + B (B the stage's chain bound; for a single conv stage
  B = L·(μ‖y∗⁽ᵐ⁻¹⁾‖₂ + ‖Δb‖)) must hold on every sample — a self-check; Theorem 2's d >= G is
  reported as the fraction that holds.

Per conv stage also μ = ‖ΔW⁽ᵐ⁾‖₂ three ways — zero-padded (the layer's real operator: Lanczos with
conv2d/conv_transpose2d), circular (Lemma 4's FFT on the stage's own n×n input) and Property 4's
deterministic bound (E-P4-L1 corrected: C·q^{3/2}·max‖ΔF‖₂) — ‖W∗‖₂ the same ways with Property 4's λ
(as printed, C²λ, and corrected), and Theorem 4's bound G + μL^mλ^{m−1}‖x‖₂ with λ measured
(max over earlier stages of their Lipschitz bound) and from Property 4, with its probability
and vacuity flags. Residual and dense blocks get the sandwich and the chain bound only:
Theorem 4 is stated for plain conv layers (the ``assumptions`` column says which applies).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import bounds
from empirical.measure.fcn import PRINT_WIDTH

ASSUMPTIONS = {
    "conv": "one conv layer, eval-mode BN folded in (a·F, a·b + c); ReLU/pooling ℓ2-Lipschitz (L = their product); "
    "zero padding as in the layer",
    "linear": "one linear layer (BN folded in if any); parameter-free tail with Lipschitz L",
    "bn": "a lone eval-mode BN (diagonal affine) with its parameter-free tail",
    "residual": "block post(branch(y) + shortcut(y)); the option-A shortcut has no parameters, so locking changes "
    "the branch only; B chains the branch's folded convs; Theorems 3/4 are not stated for blocks",
    "dense": "block [y, branch(y)]; only the new channels change; B chains the branch; Theorems 3/4 are not stated "
    "for blocks",
    "opaque": "a transformer block, LayerNorm, patch embedding or LSTM: no Lipschitz bound is stated, so no chain "
    "bound; d, G and this stage's own change e are measured and d <= G + e (the triangle inequality) is checked",
}


def _circular(w, n) -> float:
    """Lemma 4's circular-conv norm on the layer's own n×n input; undefined (NaN) for a kernel larger than n."""
    return float(bounds.conv_operator_norm(w, n)) if w.shape[2] <= n else float("nan")


def _zero_padded(w, u) -> float:
    """The exact ‖·‖₂ of kernel ``w`` as the zero-padded, strided conv of affine unit ``u`` (Lanczos)."""
    if not np.any(w):
        return 0.0
    return float(bounds.conv_operator_norm_zero_padded(w, u.n_in, padding=u.padding, stride=u.stride))


def _conv_norm_columns(row, u, m, cache, exact, C_w, lam_p4, lam_p4c) -> float:
    """A single conv stage's μ and ‖W∗‖ three ways (exact zero-padded, circular, Property 4) and Property 4's
    and 6's checks; returns the μ Theorem 4 uses (exact when ``exact``)."""
    mu = u.mu
    if exact:
        if ("w_norm_exact", m) not in cache:
            cache[("w_norm_exact", m)] = _zero_padded(u.w_eff, u)
        mu = row["mu"] = _zero_padded(u.dw_eff, u)  # the exact ‖ΔW‖₂ in Theorem 4
        row["w_norm"] = cache[("w_norm_exact", m)]
    row.update(
        q=u.q,
        stride=u.stride,
        padding=u.padding,
        c_out=u.c_out,
        mu_zero_padded=mu if exact else float("nan"),
        mu_fft_padded_upper=u.mu,
        w_norm_fft_padded_upper=u.w_norm,
        mu_circular=_circular(u.dw_eff, u.n_in) if u.mu > 0 else 0.0,
        mu_property4=float(bounds.conv_weight_norm_deterministic(u.dw_eff)),
        mu_property6_deterministic=float(
            bounds.conv_weight_difference_deterministic_bound(u.n_changed_units, C_w, u.q)
        ),
        w_norm_circular=_circular(u.w_eff, u.n_in),
        w_norm_property4_measured=float(bounds.conv_weight_norm_deterministic(u.w_eff)),
        lambda_property4_printed=lam_p4,
        lambda_property4_corrected=lam_p4c,
        w_norm_within_property4_printed=bool(row["w_norm"] <= lam_p4),
        w_norm_within_property4_corrected=bool(row["w_norm"] <= lam_p4c),
    )
    return mu


def _theorem4_columns(row, frame, u, mu, mm, lam_meas, lam_p4, x_norm, tol, pos, c, D_w, C_w, Q, C) -> None:
    """Theorem 4's bound G + μL^mλ^(m−1)‖x‖₂ per sample (λ measured; for convs also Property 4's), its
    holds fraction and tightness, and (convs) its probability terms with vacuity flags."""
    d, G, L = frame["d"], frame["G"], c.lipschitz
    t4_meas = G + bounds.eta(mu, mm, lam_meas, x_norm, L)
    frame["theorem4_bound_measured"] = t4_meas
    row["theorem4_meas_holds_frac"] = float(np.mean(d <= t4_meas + tol))
    row["theorem4_meas_tightness_median"] = float(np.median(t4_meas[pos] / d[pos])) if pos.any() else np.nan
    if u.kind != "conv":
        return
    t4_p4 = G + bounds.eta(mu, mm, lam_p4, x_norm, L)
    frame["theorem4_bound_property4"] = t4_p4
    row["theorem4_p4_holds_frac"] = float(np.mean(d <= t4_p4 + tol))
    row["theorem4_p4_tightness_median"] = float(np.median(t4_p4[pos] / d[pos])) if pos.any() else np.nan
    D = max(D_w, 1)
    row["theorem4_probability"] = float(bounds.theorem4_probability(mu, mm, c.tau, D, C_w, Q, C, c.C_e))
    row["theorem4_probability_union"] = float(bounds.theorem4_probability_union(mu, mm, c.tau, D, C_w, Q, C, c.C_e))
    row["property6_tail_at_mu"] = float(bounds.conv_weight_difference_tail_bound(mu, D, C_w, Q, c.C_e))
    for p, kind in (
        ("theorem4_probability", "lower"),
        ("theorem4_probability_union", "lower"),
        ("property6_tail_at_mu", "upper"),
    ):
        row[f"{p}_vacuous"] = bool(bounds.is_vacuous(row[p], kind))


def conv_columns(st, rows, frames, summary, c, cache, exact: bool) -> None:
    """Add the conv-net columns to ``rows`` (per stage), ``frames`` (per sample) and ``summary``, in place.

    ``exact``: also the exact zero-padded norms of single-conv stages (Lanczos, ~0.2–8 s each); the
    chain bounds always use FFT upper bounds. ``cache`` keeps the original's exact norms across calls.
    """
    chains, x_norm, L = st.chains, st.x_norm, c.lipschitz
    convs = [u for ch in chains for u in ch.units if u.kind == "conv"]
    C = max([max(u.c_in, u.c_out) for u in convs], default=1)
    Q = max([u.q for u in convs], default=1)
    K_s = max([bounds.conv_K_s(u.w_eff) for u in convs], default=0.0)
    C_w = max([float(np.abs(u.w_eff).max()) for u in convs], default=0.0)
    D_w = max([u.n_changed_units for u in convs], default=0)
    lam_p4 = float(bounds.conv_lambda_theorem4(C, Q, K_s, c.C_s, c.tau)) if convs else float("nan")
    lam_p4c = float(bounds.conv_weight_norm_bound_corrected(C, Q, K_s, c.C_s, c.tau)) if convs else float("nan")
    lip_o = [ch.original_lipschitz_bound() for ch in chains]
    for m, (st_m, ch, row, frame) in enumerate(zip(st.stages, chains, rows, frames)):
        mm = m + 1
        d = frame["d"]
        tol = st.rtol * (st.per["scale"][m] + frame["B"] + 1.0)
        pos = d > tol
        units = ch.units
        single = st_m.kind in ("conv", "linear", "bn") and len(units) == 1
        u = units[0] if single else None
        lam_meas = max(lip_o[:m], default=0.0)
        mu = u.mu if single else float("nan")  # exact for linear and lone BN; for a conv replaced below if exact
        n_in = st.n_in[m]
        row.update(
            kind=st_m.kind,
            modules=st_m.describe(st.original),
            n_in=n_in[-1] if len(n_in) > 1 else 1,
            c_in=n_in[0],
            n_affine_units=len(units),
            mu=mu,
            w_norm=u.w_norm if single else float("nan"),
            lipschitz_bound_original=lip_o[m],
            lambda_measured=lam_meas,
            assumptions=ASSUMPTIONS[st_m.kind]
            if single or st_m.kind in ("residual", "dense", "opaque")
            else f"{len(units)} affine units chained (pre-activation layer)",
        )
        # Property 5 as printed (biases ignored): ‖y∗⁽ᵐ⁾‖₂ <= (Lλ)^m‖x‖₂, with Property 4's λ (printed C²λ) and
        # with λ measured (the largest Lipschitz bound of stages 1..m); BN shifts make the second fail (E-P2-BIAS)
        yn = st.per["y_norm"][m]
        row["property5_p4_holds_frac"] = (
            float(np.mean(yn <= (L * lam_p4) ** mm * x_norm * (1 + st.rtol))) if convs else np.nan
        )
        lip = max(lip_o[: m + 1])
        row["property5_meas_holds_frac"] = (
            float(np.mean(yn <= (L * lip) ** mm * x_norm * (1 + st.rtol))) if np.isfinite(lip) else float("nan")
        )
        if single and u.kind == "conv":
            mu = _conv_norm_columns(row, u, m, cache, exact, C_w, lam_p4, lam_p4c)
        if single and mu > 0:
            _theorem4_columns(row, frame, u, mu, mm, lam_meas, lam_p4, x_norm, tol, pos, c, D_w, C_w, Q, C)
    summary.update(
        C=C,
        Q=Q,
        K_s=K_s,
        C_w=C_w,
        D_w=D_w,
        lambda_property4_printed=lam_p4,
        lambda_property4_corrected=lam_p4c,
        bn="eval mode, folded into the preceding conv (or a diagonal affine unit when it precedes one)",
    )


NET_COLUMNS = [
    "layer",
    "module",
    "kind",
    "n_in",
    "n_extracted",
    "mu_zero_padded",
    "mu_circular",
    "mu_property4",
    "w_norm",
    "d_median",
    "G_median",
    "sandwich_holds_frac",
    "theorem2_holds_frac",
    "theorem4_meas_holds_frac",
    "theorem4_meas_tightness_median",
    "theorem4_probability",
]


def format_net_layers(df: pd.DataFrame) -> str:
    """A readable per-stage table; a * marks a vacuous probability (outside (0, 1))."""
    cols = [c for c in NET_COLUMNS if c in df.columns]
    out = df[cols].copy()
    for col in cols[3:]:
        out[col] = [f"{v:.3g}" if isinstance(v, float) else v for v in df[col]]
    if "theorem4_probability_vacuous" in df.columns:
        vac = df["theorem4_probability_vacuous"].fillna(False).astype(bool)
        out["theorem4_probability"] = [f"{v}*" if flag else v for v, flag in zip(out["theorem4_probability"], vac)]
        return out.to_string(index=False, line_width=PRINT_WIDTH) + (
            "\n(* vacuous: outside (0, 1))" if vac.any() else ""
        )
    return out.to_string(index=False, line_width=PRINT_WIDTH)
