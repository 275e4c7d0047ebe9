"""Random-matrix facts of Appendix A.1 and the weight-matrix bounds built on them.

Lemma 1 (Vershynin, Thm 4.6.1), Lemma 2 (order statistics), Lemma 3 (Latała 2005),
Property 1 (FC layers) and Property 4 (conv layers).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import comb

from bounds import _checks
from bounds.probability import lemma1_probability, lower_bound_power


def subgaussian_singular_value_bound(n_rows, n_cols, K_s, C_s=1.0, tau=2.0):
    """Lemma 1: s₁(A) <= √m + C_s·K_s²·(√n + τ) for A ∈ R^{m×n}, w.p. >= 1 − 2e^{−τ²}.

    Vectorised over its arguments. ``K_s`` is the paper's constant (max row norm, as the paper
    defines it; Vershynin's K is the rows' sub-Gaussian norm — see ``bounds.errata``).
    """
    m = _checks.int_array("n_rows", n_rows)
    n = _checks.int_array("n_cols", n_cols)
    K_s = _checks.nonnegative("K_s", K_s)
    C_s = _checks.nonnegative("C_s", C_s)
    tau = _checks.nonnegative("tau", tau)
    return np.sqrt(m) + C_s * K_s**2 * (np.sqrt(n) + tau)


def fc_lambda(N, K_s, C_s=1.0, tau=2.0):
    """Property 1: λ = √N + C_s·K_s²·(√N + τ), bounding ‖W*⁽ᵐ⁾‖₂ w.p. >= 1 − 2e^{−τ²}.

    ``N`` is the largest layer width max{N⁽¹⁾..N⁽ᴹ⁾} (the input width N⁽⁰⁾ is not included,
    as in Section 2.1 — see erratum E-P1-N0). Probability: ``lemma1_probability(tau)``.
    """
    N = _checks.int_array("N", N)
    return subgaussian_singular_value_bound(N, N, K_s, C_s, tau)


def conv_lambda(Q, K_s, C_s=1.0, tau=2.0):
    """Property 4/5: λ = √Q + C_s·K_s²·(√Q + τ) (Q the largest filter side q)."""
    Q = _checks.int_array("Q", Q)
    return subgaussian_singular_value_bound(Q, Q, K_s, C_s, tau)


def conv_weight_norm_bound(C, Q, K_s, C_s=1.0, tau=2.0):
    """Property 4: ‖W*⁽ᵐ⁾‖₂ <= C²·λ with λ = √Q + C_s K_s² (√Q + τ), C the max channel count."""
    C = _checks.int_array("C", C)
    return C.astype(float) ** 2 * conv_lambda(Q, K_s, C_s, tau)


def conv_weight_norm_bound_corrected(C, Q, K_s, C_s=1.0, tau=2.0):
    """Property 4 with E-P4-L1 corrected: ‖W*⁽ᵐ⁾‖₂ <= C·Q^{3/2}·λ.

    Each Fourier entry is bounded by the filter's entrywise ℓ1 norm (not its spectral norm):
    |P_{s,t}| <= Σ|F_{s,t}| <= q‖F_{s,t}‖_F <= q^{3/2}‖F_{s,t}‖₂ <= q^{3/2}λ on Lemma 1's event, and
    ‖P⁽ᵘ'ᵛ⁾‖₂ <= ‖P⁽ᵘ'ᵛ⁾‖_F <= C·max|P_{s,t}| (C = max channel count). ``conv_weight_norm_bound`` keeps
    the printed C²λ beside it.
    """
    C = _checks.int_array("C", C)
    Q = _checks.int_array("Q", Q)
    return C.astype(float) * Q.astype(float) ** 1.5 * conv_lambda(Q, K_s, C_s, tau)


def conv_weight_norm_deterministic(weight) -> float:
    """C·q^{3/2}·max_{s,t}‖F_{s,t}‖₂ for a kernel F (c'×c×q×q): the corrected Property 4 with λ measured."""
    F = _checks.to_numpy(weight)
    if F.ndim != 4 or F.shape[2] != F.shape[3]:
        raise ValueError(f"conv weight must have shape (c_out, c_in, q, q), got {F.shape}")
    c_out, c_in, q, _ = F.shape
    lam = float(np.linalg.norm(F.reshape(-1, q, q), ord=2, axis=(1, 2)).max())  # max filter spectral norm
    return max(c_out, c_in) * q**1.5 * lam


def conv_K_s(weight) -> float:
    """K_s of Property 4 for a kernel: Lemma 1 is applied to each q×q filter, so the largest row norm of any filter."""
    F = _checks.to_numpy(weight)
    if F.ndim != 4:
        raise ValueError(f"conv weight must have shape (c_out, c_in, q, q), got {F.shape}")
    return float(np.linalg.norm(F, axis=3).max())


def conv_weight_norm_probability(C, tau):
    """Property 4: probability (1 − 2e^{−τ²})^{C²} (a product over the C² filters; see E-P4-SUM)."""
    C = _checks.int_array("C", C)
    return lower_bound_power(lemma1_probability(tau), C.astype(float) ** 2)


def order_statistic_moment(r, n, k, a=1.0):
    """Lemma 2 (corrected): E[U₍ᵣ₎ᵏ] = aᵏ·Π_{i<k} (r+i)/(n+1+i) for U₁..Uₙ i.i.d. U(0, a).

    k = 2 and k = 4 give the paper's printed expressions; they hold for U(0, a) — the
    distribution of weight *magnitudes* — not for U(−a, a) as printed (erratum E-L2).
    """
    r = _checks.int_array("r", r)
    n = _checks.int_array("n", n)
    k = _checks.positive_int("k", k)
    a = _checks.nonnegative("a", a)
    if np.any(r > n):
        raise ValueError(f"order r must satisfy 1 <= r <= n, got r={r!r}, n={n!r}")
    out = np.ones(np.broadcast(r, n).shape)
    for i in range(k):
        out = out * (r + i) / (n + 1 + i)
    return a**k * out


def order_statistic_moment_symmetric(r, n, k, a=1.0):
    """E[U₍ᵣ₎ᵏ] for U(−a, a): U₍ᵣ₎ = −a + 2a·V₍ᵣ₎ with V ~ U(0, 1), expanded binomially."""
    k = _checks.positive_int("k", k)
    a = _checks.nonnegative("a", a)
    return sum(
        comb(k, j) * (-a) ** (k - j) * (2 * a) ** j * (order_statistic_moment(r, n, j) if j else 1.0)
        for j in range(k + 1)
    )


def order_statistic_moment_literal(r, n, k, a=1.0):
    """Lemma 2 as printed, for k in {2, 4}: a²(r+1)r/((n+2)(n+1)) and the quartic analogue.

    The printed claim is that these are the moments of U(−a, a) order statistics; they are the
    U(0, a) ones (same numbers as ``order_statistic_moment``). Kept beside it for the errata.
    """
    if k not in (2, 4):
        raise ValueError(f"the paper prints Lemma 2 for k = 2 and k = 4 only, got k={k!r}")
    r = _checks.int_array("r", r)
    n = _checks.int_array("n", n)
    a = _checks.nonnegative("a", a)
    if k == 2:
        return a**2 * (r + 1) * r / ((n + 2) * (n + 1))
    return a**4 * (r + 3) * (r + 2) * (r + 1) * r / ((n + 4) * (n + 3) * (n + 2) * (n + 1))


def latala_norm_bound(second_moments, fourth_moments, C_e=1.0):
    """Lemma 3 (Latała): E‖B‖₂ <= C_e·[max_i (Σ_j E B²ᵢⱼ)^½ + max_j (Σ_i E B²ᵢⱼ)^½ + (Σ E B⁴ᵢⱼ)^¼].

    Arguments are the (m, n) matrices of entry moments E B²ᵢⱼ and E B⁴ᵢⱼ (independent,
    mean-zero entries).
    """
    s2 = _checks.nonnegative("second_moments", _checks.to_numpy(second_moments))
    s4 = _checks.nonnegative("fourth_moments", _checks.to_numpy(fourth_moments))
    if s2.ndim != 2 or s2.shape != s4.shape:
        raise ValueError(
            f"second_moments and fourth_moments must be matrices of one shape, got {s2.shape} and {s4.shape}"
        )
    C_e = float(_checks.nonnegative("C_e", C_e))
    rows = math.sqrt(s2.sum(axis=1).max())
    cols = math.sqrt(s2.sum(axis=0).max())
    return C_e * (rows + cols + s4.sum() ** 0.25)
