"""Measured disparities beside the bounds for conv networks (Section 4.4.2, Theorem 4), stage by stage.

The network is cut into stages m = 1..M (``empirical.measure.stages``: one conv/linear layer with its BN
folded in, a pre-activation BN-ReLU-conv layer, or a whole residual/dense block). Everything is
measured in eval mode — BN is then a fixed affine map, which is what a locked model runs — and
in float64. Per stage and sample:

  d⁽ᵐ⁾ = ‖y⁽ᵐ⁾ − y*⁽ᵐ⁾‖₂, G⁽ᵐ⁾ = ‖fₘ(y⁽ᵐ⁻¹⁾) − fₘ(y*⁽ᵐ⁻¹⁾)‖₂ (fₘ the locked stage, so G carries the
  change that arrives from earlier stages), e⁽ᵐ⁾ = ‖fₘ(y*⁽ᵐ⁻¹⁾) − f*ₘ(y*⁽ᵐ⁻¹⁾)‖₂ (this stage's own change);
  the sandwich d <= G + e <= G + B (B the stage's chain bound; for a single conv stage
  B = L·(μ‖y*⁽ᵐ⁻¹⁾‖₂ + ‖Δb‖)) must hold on every sample — a self-check; Theorem 2's d >= G is
  reported as the fraction that holds.

Per conv stage also μ = ‖ΔW⁽ᵐ⁾‖₂ three ways — zero-padded (the layer's real operator: Lanczos with
conv2d/conv_transpose2d), circular (Lemma 4's FFT on the stage's own n×n input) and Property 4's
deterministic bound (E-P4-L1 corrected: C·q^{3/2}·max‖ΔF‖₂) — ‖W*‖₂ the same ways with Property 4's λ
(as printed, C²λ, and corrected), and Theorem 4's bound G + μL^mλ^{m−1}‖x‖₂ with λ measured
(max over earlier stages of their Lipschitz bound) and from Property 4, with its probability
and vacuity flags. Residual and dense blocks get the sandwich and the chain bound only:
Theorem 4 is stated for plain conv layers (the ``assumptions`` column says which applies).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

import bounds
from empirical.measure.fcn import Constants, Measurement
from empirical.measure.stages import ChainBound, split_stages

RTOL = 1e-9  # float64 throughout

ASSUMPTIONS = {
    "conv": "one conv layer, eval-mode BN folded in (a·F, a·b + c); ReLU/pooling ℓ2-Lipschitz (L = their product); "
    "zero padding as in the layer",
    "linear": "one linear layer (BN folded in if any); parameter-free tail with Lipschitz L",
    "bn": "a lone eval-mode BN (diagonal affine) with its parameter-free tail",
    "residual": "block post(branch(y) + shortcut(y)); the option-A shortcut has no parameters, so locking changes "
    "the branch only; B chains the branch's folded convs; Theorems 3/4 are not stated for blocks",
    "dense": "block [y, branch(y)]; only the new channels change; B chains the branch; Theorems 3/4 are not stated "
    "for blocks",
}


def _circular(w, n) -> float:
    """Lemma 4's circular-conv norm on the layer's own n×n input; undefined (NaN) for a kernel larger than n."""
    return float(bounds.conv_operator_norm(w, n)) if w.shape[2] <= n else float("nan")


def _zero_padded(w, u) -> float:
    """The exact ‖·‖₂ of kernel ``w`` as the zero-padded, strided conv of affine unit ``u`` (Lanczos)."""
    if not np.any(w):
        return 0.0
    return float(bounds.conv_operator_norm_zero_padded(w, u.n_in, padding=u.padding, stride=u.stride))


def _apply(mods, h):
    for m in mods:
        h = m(h)
    return h


@torch.no_grad()
def measure_net(
    original: nn.Sequential,
    locked: nn.Sequential,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    constants: Constants = Constants(),
    batch: int = 500,
    exact: bool = True,
    cache: dict | None = None,
) -> Measurement:
    """Measure an original/locked pair of sequential (conv) networks on inputs ``x`` with labels ``y``.

    ``exact``: also the exact zero-padded norms of single-conv stages (Lanczos, ~0.2–8 s each); the
    chain bounds always use FFT upper bounds. ``cache``: a dict shared by calls on one original
    network (its exact norms are computed once).
    """
    cache = {} if cache is None else cache
    original = copy.deepcopy(original).double().eval()
    locked = copy.deepcopy(locked).double().eval()
    original, locked = (
        original.to(memory_format=torch.contiguous_format),
        locked.to(memory_format=torch.contiguous_format),
    )
    prefix, stages = split_stages(original)
    prefix_l, stages_l = split_stages(locked)
    if [s.modules for s in stages] != [s.modules for s in stages_l]:
        raise ValueError("original and locked models have different structures")
    shapes_o = {k: tuple(v.shape) for k, v in original.state_dict().items()}
    if shapes_o != {k: tuple(v.shape) for k, v in locked.state_dict().items()}:
        raise ValueError("original and locked models have different parameter shapes")
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    M = len(stages)
    chains = [ChainBound([original[i] for i in s.modules], [locked[i] for i in s.modules]) for s in stages]
    mods_l = [[locked[i] for i in s.modules] for s in stages]
    device = next(original.parameters()).device
    per = {k: [[] for _ in range(M)] for k in ("d", "G", "e", "B", "y_prev", "scale", "y_norm")}
    x_norms, hits = [], np.zeros((2, 2))
    n_in = [None] * M
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].to(device, torch.float64)
        yb = y[i : i + batch].to(device)
        h0 = _apply([original[j] for j in prefix], xb)
        x_norms.append(h0.reshape(len(h0), -1).norm(dim=1).cpu())
        ho, hl = h0, h0
        for m in range(M):
            n_in[m] = n_in[m] or tuple(ho.shape[1:])
            ho_next, B = chains[m](ho, torch.zeros(len(ho), dtype=torch.float64, device=device))
            hl_next = _apply(mods_l[m], hl)
            cross = _apply(mods_l[m], ho)  # fₘ(y*⁽ᵐ⁻¹⁾): the locked stage on the original input
            flat = lambda t: t.reshape(len(t), -1)  # noqa: E731
            per["d"][m].append(flat(hl_next - ho_next).norm(dim=1).cpu())
            per["G"][m].append(flat(hl_next - cross).norm(dim=1).cpu())
            per["e"][m].append(flat(cross - ho_next).norm(dim=1).cpu())
            per["B"][m].append(B.cpu())
            per["y_prev"][m].append(flat(ho).norm(dim=1).cpu())
            per["scale"][m].append((flat(hl_next).norm(dim=1) + flat(ho_next).norm(dim=1)).cpu())
            per["y_norm"][m].append(flat(ho_next).norm(dim=1).cpu())
            ho, hl = ho_next, hl_next
        for j, logits in enumerate((ho, hl)):
            top = logits.topk(min(3, logits.shape[1]), dim=1).indices
            hits[j, 0] += float((top[:, 0] == yb).sum())
            hits[j, 1] += float((top == yb[:, None]).any(dim=1).sum())
    cat = {k: [torch.cat(v).numpy() for v in lists] for k, lists in per.items()}
    x_norm = torch.cat(x_norms).numpy()

    # ---- network-wide constants of Theorem 4 / Properties 4 and 6 ---------------------------------
    c = constants
    convs = [u for ch in chains for u in ch.units if u.kind == "conv"]
    C = max([max(u.c_in, u.c_out) for u in convs], default=1)
    Q = max([u.q for u in convs], default=1)
    K_s = max([bounds.conv_K_s(u.w_eff) for u in convs], default=0.0)
    C_w = max([float(np.abs(u.w_eff).max()) for u in convs], default=0.0)
    D_w = max([u.n_changed_units for u in convs], default=0)
    lam_p4 = float(bounds.conv_lambda_theorem4(C, Q, K_s, c.C_s, c.tau)) if convs else float("nan")
    lam_p4c = float(bounds.conv_weight_norm_bound_corrected(C, Q, K_s, c.C_s, c.tau)) if convs else float("nan")
    lip_o = [ch.original_lipschitz_bound() for ch in chains]
    L = c.lipschitz

    rows, frames = [], []
    for m, (st, ch) in enumerate(zip(stages, chains)):
        mm = m + 1
        d, G, e, B, yp, scale = (cat[k][m] for k in ("d", "G", "e", "B", "y_prev", "scale"))
        tol = RTOL * (scale + B + 1.0)
        sandwich = G + B
        units = ch.units
        single = st.kind in ("conv", "linear", "bn") and len(units) == 1
        u = units[0] if single else None
        lam_meas = max(lip_o[:m], default=0.0)
        mu = u.mu if single else float("nan")  # exact for linear and lone BN; for a conv replaced below if exact
        row = {
            "layer": mm,
            "kind": st.kind,
            "modules": st.describe(original),
            "n_in": n_in[m][-1] if len(n_in[m]) > 1 else 1,
            "c_in": n_in[m][0],
            "n_extracted": int(sum(v.n_changed_units for v in units)),
            "n_affine_units": len(units),
            "mu": mu,
            "w_norm": u.w_norm if single else float("nan"),
            "lipschitz_bound_original": lip_o[m],
            "lambda_measured": lam_meas,
            "d_mean": float(d.mean()),
            "d_median": float(np.median(d)),
            "d_max": float(d.max()),
            "G_median": float(np.median(G)),
            "e_median": float(np.median(e)),
            "B_median": float(np.median(B)),
            "sandwich_holds_frac": float(np.mean(d <= sandwich + tol)),
            "sandwich_max_violation": float(np.max(d - sandwich - tol)),
            "e_within_B_frac": float(np.mean(e <= B + tol)),
            "theorem2_holds_frac": float(np.mean(d >= G - tol)),
            "assumptions": ASSUMPTIONS[st.kind] if single or st.kind in ("residual", "dense") else
            f"{len(units)} affine units chained (pre-activation layer)",
        }  # fmt: skip
        # Property 5 as printed (biases ignored): ‖y*⁽ᵐ⁾‖₂ <= (Lλ)^m‖x‖₂, with Property 4's λ (printed C²λ) and
        # with λ measured (the largest Lipschitz bound of stages 1..m); BN shifts make the second fail (E-P2-BIAS)
        yn = cat["y_norm"][m]
        row["property5_p4_holds_frac"] = (
            float(np.mean(yn <= (L * lam_p4) ** mm * x_norm * (1 + RTOL))) if convs else np.nan
        )
        row["property5_meas_holds_frac"] = float(np.mean(yn <= (L * max(lip_o[: m + 1])) ** mm * x_norm * (1 + RTOL)))
        pos = d > tol
        row["sandwich_tightness_median"] = float(np.median(sandwich[pos] / d[pos])) if pos.any() else float("nan")
        t4_meas = t4_p4 = None
        if single and u.kind == "conv":
            if exact:
                if ("w_norm", m) not in cache:
                    cache[("w_norm", m)] = _zero_padded(u.w_eff, u)
                mu = row["mu"] = _zero_padded(u.dw_eff, u)  # the exact ‖ΔW‖₂ in Theorem 4
                row["w_norm"] = cache[("w_norm", m)]
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
        if single and mu > 0:
            t4_meas = G + bounds.eta(mu, mm, lam_meas, x_norm, L)
            row["theorem4_meas_holds_frac"] = float(np.mean(d <= t4_meas + tol))
            row["theorem4_meas_tightness_median"] = float(np.median(t4_meas[pos] / d[pos])) if pos.any() else np.nan
            if u.kind == "conv":
                t4_p4 = G + bounds.eta(mu, mm, lam_p4, x_norm, L)
                row["theorem4_p4_holds_frac"] = float(np.mean(d <= t4_p4 + tol))
                row["theorem4_p4_tightness_median"] = float(np.median(t4_p4[pos] / d[pos])) if pos.any() else np.nan
                row["theorem4_probability"] = float(
                    bounds.theorem4_probability(mu, mm, c.tau, max(D_w, 1), C_w, Q, C, c.C_e)
                )
                row["theorem4_probability_union"] = float(
                    bounds.theorem4_probability_union(mu, mm, c.tau, max(D_w, 1), C_w, Q, C, c.C_e)
                )
                row["property6_tail_at_mu"] = float(
                    bounds.conv_weight_difference_tail_bound(mu, max(D_w, 1), C_w, Q, c.C_e)
                )
                for p, kind in (
                    ("theorem4_probability", "lower"),
                    ("theorem4_probability_union", "lower"),
                    ("property6_tail_at_mu", "upper"),
                ):
                    row[f"{p}_vacuous"] = bool(bounds.is_vacuous(row[p], kind))
        rows.append(row)
        frame = {
            "sample": np.arange(len(d)),
            "layer": mm,
            "d": d,
            "G": G,
            "e": e,
            "B": B,
            "y_prev_norm": yp,
            "x_norm": x_norm,
            "sandwich_upper": sandwich,
        }
        if t4_meas is not None:
            frame["theorem4_bound_measured"] = t4_meas
        if t4_p4 is not None:
            frame["theorem4_bound_property4"] = t4_p4
        frames.append(pd.DataFrame(frame))

    n = len(x)
    summary = {
        "n_samples": n,
        "dtype": "float64",
        "n_parameters": sum(p.numel() for p in original.parameters()),
        "n_stages": M,
        "acc_original": hits[0, 0] / n,
        "acc_extracted": hits[1, 0] / n,
        "top3_original": hits[0, 1] / n,
        "top3_extracted": hits[1, 1] / n,
        "C": C,
        "Q": Q,
        "K_s": K_s,
        "C_w": C_w,
        "D_w": D_w,
        "lambda_property4_printed": lam_p4,
        "lambda_property4_corrected": lam_p4c,
        "x_norm_mean": float(x_norm.mean()),
        "sandwich_all_hold": bool(all(r["sandwich_holds_frac"] == 1.0 for r in rows)),
        "bn": "eval mode, folded into the preceding conv (or a diagonal affine unit when it precedes one)",
        **{f"const_{k}": v for k, v in vars(c).items()},
    }
    return Measurement(summary, pd.DataFrame(rows), pd.concat(frames, ignore_index=True))


NET_COLUMNS = [
    "layer",
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
        return out.to_string(index=False) + ("\n(* vacuous: outside (0, 1))" if vac.any() else "")
    return out.to_string(index=False)
