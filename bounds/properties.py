"""Output-norm and weight-difference bounds: Properties 2, 3 (FC) and 5, 6 (conv), Section 4.2."""

from __future__ import annotations

import numpy as np

from bounds import _checks
from bounds.probability import lemma1_probability, lower_bound_power


def output_norm_bound(x_norm, m, lam, lipschitz=1.0):
    """Property 2: ‖y*⁽ᵐ⁾‖₂ <= (L·λ)ᵐ·‖x‖₂ (bias-free network, ‖W*⁽ᵏ⁾‖₂ <= λ for k <= m)."""
    x_norm = _checks.nonnegative("x_norm", x_norm)
    m = _checks.int_array("m", m, minimum=0)
    lam = _checks.nonnegative("lam", lam)
    L = _checks.nonnegative("lipschitz", lipschitz)
    return (L * lam) ** m * x_norm


def output_norm_probability(m, tau):
    """Property 2: the bound holds w.p. >= (1 − 2e^{−τ²})ᵐ (layers' weights independent)."""
    m = _checks.int_array("m", m, minimum=0)
    return lower_bound_power(lemma1_probability(tau), m)


def conv_output_norm_bound(x_norm, m, C, lam, lipschitz=1.0):
    """Property 5: ‖y*⁽ᵐ⁾‖₂ <= (L·C²·λ)ᵐ·‖x‖₂ with λ = √Q + C_s K_s² (√Q + τ)."""
    C = _checks.int_array("C", C)
    return output_norm_bound(x_norm, m, C.astype(float) ** 2 * _checks.nonnegative("lam", lam), lipschitz)


def conv_output_norm_probability(m, C, tau):
    """Property 5: probability (1 − 2e^{−τ²})^{C²·m}."""
    m = _checks.int_array("m", m, minimum=0)
    C = _checks.int_array("C", C)
    return lower_bound_power(lemma1_probability(tau), C.astype(float) ** 2 * m)


def weight_difference_expectation_bound(D_w, C_w, C_e=1.0):
    """Property 3's middle step: E‖W − W*‖₂ <= 6·C_e·C_w·√D_w (Lemma 2 + Lemma 3)."""
    D_w = _checks.int_array("D_w", D_w, minimum=0)
    C_w = _checks.nonnegative("C_w", C_w)
    C_e = _checks.nonnegative("C_e", C_e)
    return 6.0 * C_e * C_w * np.sqrt(D_w)


def weight_difference_tail_bound(mu, D_w, C_w, C_e=1.0):
    """Property 3 (Markov): P{‖W⁽ᵐ⁾ − W*⁽ᵐ⁾‖₂ >= μ} <= 6·C_e·C_w·√D_w / μ.

    An *upper* bound on a probability: vacuous when >= 1.
    """
    mu = _checks.positive("mu", mu)
    return weight_difference_expectation_bound(D_w, C_w, C_e) / mu


def conv_weight_difference_tail_bound(mu, D_w, C_w, Q, C_e=1.0):
    """Property 6 (Markov): P{‖W − W*‖₂ >= μ} <= 6·Q²·C_e·C_w·√D_w / μ (D_w extracted filters)."""
    Q = _checks.int_array("Q", Q)
    return Q.astype(float) ** 2 * weight_difference_tail_bound(mu, D_w, C_w, C_e)


def weight_difference_deterministic_bound(D, C_w):
    """‖W − W*‖₂ <= ‖W − W*‖_F <= C_w·√D for D extracted weights, each |w| <= C_w.

    Not in the paper: a bound that always holds, beside Property 3's probabilistic one.
    """
    D = _checks.int_array("D", D, minimum=0)
    return _checks.nonnegative("C_w", C_w) * np.sqrt(D)


def conv_weight_difference_deterministic_bound(D, C_w, q):
    """‖W − W*‖₂ <= q²·C_w·√D for D extracted q×q filters, each entry |w| <= C_w.

    Lemma 4: ‖ΔW‖₂ = max_{u,v} ‖P_Δ⁽ᵘ'ᵛ⁾‖₂ <= max ‖P_Δ‖_F and every Fourier entry is at most the
    filter's ℓ1 norm <= q²C_w. Not in the paper (compare Property 6).
    """
    q = _checks.int_array("q", q)
    return q.astype(float) ** 2 * weight_difference_deterministic_bound(D, C_w)


def output_norm_bound_with_bias(x_norm, lams, bias_norms, lipschitz=1.0):
    """Property 2 with biases: r₀ = ‖x‖₂, rₘ = L·(λₘ·rₘ₋₁ + ‖b⁽ᵐ⁾‖₂); returns [r₁..r_M].

    ``lams``: bounds on ‖W⁽ᵐ⁾‖₂ per layer; ``bias_norms``: ‖b⁽ᵐ⁾‖₂ per layer; ``x_norm`` a scalar
    or an array of input norms (the result then has shape (M, *x_norm.shape)).
    """
    lams = _checks.nonnegative("lams", lams).reshape(-1)
    b = _checks.nonnegative("bias_norms", bias_norms).reshape(-1)
    if lams.shape != b.shape:
        raise ValueError(f"lams and bias_norms need one entry per layer, got {lams.shape} and {b.shape}")
    L = float(_checks.nonnegative("lipschitz", lipschitz))
    r, out = _checks.nonnegative("x_norm", x_norm), []
    for lam_m, b_m in zip(lams, b):
        r = L * (lam_m * r + b_m)
        out.append(r)
    return np.stack(out)
