"""Disparity bounds of Section 4.4: Theorem 2 (lower), Theorems 3 and 4 (upper).

Notation as in DESIGN.md: d⁽ᵐ⁾ = ‖y⁽ᵐ⁾ − y*⁽ᵐ⁾‖₂ (locked vs original), G⁽ᵐ⁾ =
‖y⁽ᵐ⁾ − φ(W⁽ᵐ⁾ y*⁽ᵐ⁻¹⁾ + b⁽ᵐ⁾)‖₂, μ a chosen bound on ‖ΔW⁽ᵐ⁾‖₂.
"""

from __future__ import annotations

import numpy as np

from bounds import _checks
from bounds.probability import lemma1_probability, lower_bound_power, lower_bound_product
from bounds.properties import conv_weight_difference_tail_bound
from bounds.random_matrix import conv_weight_norm_bound


def theorem2_tail_bound(mu, m, N, D_w, C_w):
    """Theorem 2: P{G⁽ᵐ⁾ >= μ} <= N^{m−1}·(D_w·C_w)^m / μ.

    An upper bound on the chance that G is *large* (Markov) — see erratum E-T2-DIR.
    """
    mu = _checks.positive("mu", mu)
    m = _checks.int_array("m", m)
    N = _checks.int_array("N", N)
    D_w = _checks.int_array("D_w", D_w, minimum=0)
    C_w = _checks.nonnegative("C_w", C_w)
    return N.astype(float) ** (m - 1) * (D_w * C_w) ** m / mu


def disparity_upper_bound(G, mu, m, lam, x_norm, lipschitz=1.0):
    """Theorems 3 and 4, eq. (2)/(3): d⁽ᵐ⁾ <= G⁽ᵐ⁾ + η, η = μ·L^m·λ^{m−1}·‖x‖₂."""
    G = _checks.nonnegative("G", G)
    return G + eta(mu, m, lam, x_norm, lipschitz)


def eta(mu, m, lam, x_norm, lipschitz=1.0):
    """η⁽ᵐ⁾ = μ·L^m·λ^{m−1}·‖x‖₂ (Figure 4b)."""
    mu = _checks.positive("mu", mu)
    m = _checks.int_array("m", m)
    lam = _checks.nonnegative("lam", lam)
    x_norm = _checks.nonnegative("x_norm", x_norm)
    L = _checks.nonnegative("lipschitz", lipschitz)
    return mu * L**m * lam ** (m - 1) * x_norm


def theorem3_probability(mu, m, tau, D_w, C_w, C_e=1.0):
    """Theorem 3 as printed: (1 − 6C_eC_w√D_w/μ)·(1 − 2e^{−τ²})^{m−1} — Theorem 4's form with Q = C = 1.

    The product presumes the two events independent (true for per-layer extraction under
    Assumption 2, not for a global threshold); ``theorem3_probability_union`` needs no such
    assumption. Not clipped: check with ``is_vacuous``; a vacuous factor (<= 0) makes the
    result vacuous instead of letting two negative factors multiply to a positive number.
    """
    return theorem4_probability(mu, m, tau, D_w, C_w, 1, 1, C_e)


def theorem3_probability_union(mu, m, tau, D_w, C_w, C_e=1.0):
    """Theorem 3's event by a union bound: >= 1 − 6C_eC_w√D_w/μ − 2(m−1)e^{−τ²} (no independence)."""
    return theorem4_probability_union(mu, m, tau, D_w, C_w, 1, 1, C_e)


def conv_lambda_theorem4(C, Q, K_s, C_s=1.0, tau=2.0):
    """Theorem 4's λ = C²·[√Q + C_s K_s² (√Q + τ)] (Property 4's bound on ‖W*‖₂)."""
    return conv_weight_norm_bound(C, Q, K_s, C_s, tau)


def theorem4_probability(mu, m, tau, D_w, C_w, Q, C, C_e=1.0):
    """Theorem 4 (corrected event ‖ΔW‖ <= μ): (1 − 6Q²C_eC_w√D_w/μ)·(1 − 2e^{−τ²})^{C²(m−1)}."""
    m = _checks.int_array("m", m)
    C = _checks.int_array("C", C)
    p_w = conv_weight_difference_tail_bound(mu, D_w, C_w, Q, C_e)
    return lower_bound_product(1.0 - p_w, lower_bound_power(lemma1_probability(tau), C.astype(float) ** 2 * (m - 1)))


def theorem4_probability_union(mu, m, tau, D_w, C_w, Q, C, C_e=1.0):
    """Theorem 4's event by a union bound: >= 1 − 6Q²C_eC_w√D_w/μ − 2C²(m−1)e^{−τ²}."""
    m = _checks.int_array("m", m)
    C = _checks.int_array("C", C)
    p_w = conv_weight_difference_tail_bound(mu, D_w, C_w, Q, C_e)
    return 1.0 - p_w - C.astype(float) ** 2 * (m - 1) * (1.0 - lemma1_probability(tau))


def sandwich_upper(G, delta_w_norm, y_prev_norm, lipschitz=1.0):
    """Deterministic: d⁽ᵐ⁾ <= G⁽ᵐ⁾ + L·‖ΔW⁽ᵐ⁾‖₂·‖y*⁽ᵐ⁻¹⁾‖₂ (triangle inequality + Lipschitz).

    The first lines of Theorem 3's proof; holds for every input, biases included.
    """
    G = _checks.nonnegative("G", G)
    return G + _checks.nonnegative("lipschitz", lipschitz) * np.asarray(delta_w_norm) * np.asarray(y_prev_norm)
