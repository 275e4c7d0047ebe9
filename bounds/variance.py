"""Theorem 1 (Section 4.3): the output variance is bounded by weight and bias variances.

Conventions: layers m = 1..M with widths N⁽¹⁾..N⁽ᴹ⁾, y⁽⁰⁾ = x, y⁽ᵐ⁾ = φ(W⁽ᵐ⁾y⁽ᵐ⁻¹⁾ + b⁽ᵐ⁾)
with φ(0) = 0 and L-Lipschitz; weights and biases independent, mean zero, with per-layer
standard deviations σ_w⁽ᵐ⁾, σ_b⁽ᵐ⁾. V(y) = Σᵢ Var(yᵢ).

The valid recursion runs on second moments Sₘ = E‖y⁽ᵐ⁾‖²: each of the N⁽ᵐ⁾ neurons of layer m
has E zᵢ² = σ_w² S_{m−1} + σ_b², and E φ(zᵢ)² <= L² E zᵢ², so
    S₀ = ‖x‖²,  Sₘ <= L²·N⁽ᵐ⁾·(σ_w⁽ᵐ⁾² S_{m−1} + σ_b⁽ᵐ⁾²),  V(y⁽ᴹ⁾) <= S_M.
Unrolled with a uniform N this is the printed formula with exponent M (erratum E-T1-EXP).
"""

from __future__ import annotations

import numpy as np

from bounds import _checks


def _layer_terms(x_sq_norm, widths, sigma_w, sigma_b, lipschitz):
    widths = _checks.int_array("widths", widths)
    if widths.ndim != 1 or widths.size == 0:
        raise ValueError(f"widths must be a non-empty sequence [N1..NM], got {widths!r}")
    M = widths.size
    sw = _checks.per_layer("sigma_w", sigma_w, M)
    sb = _checks.per_layer("sigma_b", sigma_b, M)
    x_sq = float(_checks.nonnegative("x_sq_norm", x_sq_norm))
    L = float(_checks.nonnegative("lipschitz", lipschitz))
    return x_sq, widths, sw, sb, L


def second_moment_bounds(x_sq_norm, widths, sigma_w, sigma_b, lipschitz=1.0, output_lipschitz=None):
    """Theorem 1's recursion, every layer: [S₁..S_M] with S_m >= E‖y⁽ᵐ⁾‖₂² >= V(y⁽ᵐ⁾).

    ``output_lipschitz``: the Lipschitz constant of layer M's activation. ``None`` applies
    ``lipschitz`` to every layer, as the printed theorem does; Section 2.1's network has a linear
    output layer (``output_lipschitz=1``), and with L < 1 only that reading is a bound (E-T1-OUT).
    """
    x_sq, widths, sw, sb, L = _layer_terms(x_sq_norm, widths, sigma_w, sigma_b, lipschitz)
    L_out = L if output_lipschitz is None else float(_checks.nonnegative("output_lipschitz", output_lipschitz))
    out, s = [], x_sq
    for m, (n, w, b) in enumerate(zip(widths, sw, sb)):
        Lm = L_out if m == len(widths) - 1 else L
        s = Lm**2 * n * (w**2 * s + b**2)
        out.append(s)
    return np.array(out)


def variance_bound(x_sq_norm, widths, sigma_w, sigma_b, lipschitz=1.0, output_lipschitz=None):
    """Theorem 1 (corrected): V(y⁽ᴹ⁾) <= ‖x‖²·Πₘ L²N⁽ᵐ⁾σ_w⁽ᵐ⁾² + Σₘ L²N⁽ᵐ⁾σ_b⁽ᵐ⁾²·Π_{l>m} L²N⁽ˡ⁾σ_w⁽ˡ⁾².

    ``widths`` = [N⁽¹⁾..N⁽ᴹ⁾]; ``sigma_w``/``sigma_b`` scalars or one per layer. Equality holds
    for identity activations (L = 1), which the tests use as a Monte-Carlo reference.
    """
    return float(second_moment_bounds(x_sq_norm, widths, sigma_w, sigma_b, lipschitz, output_lipschitz)[-1])


def variance_bound_literal(x_sq_norm, N, M, sigma_w, sigma_b, lipschitz=1.0, exponent=None):
    """Theorem 1 exactly as printed, uniform width N:

        ‖x‖²(L²N)^m Π_{m=1}^M σ_w⁽ᵐ⁾² + L²Nσ_b⁽ᴹ⁾² + L² Σ_{m=1}^{M−1} N σ_b⁽ᵐ⁾² Π_{l=m+1}^M L²Nσ_w⁽ˡ⁾².

    The printed exponent m is a free index; ``exponent`` sets it (default M, the only value
    that makes it a bound — erratum E-T1-EXP).
    """
    N = _checks.positive_int("N", N)
    M = _checks.positive_int("M", M)
    sw = _checks.per_layer("sigma_w", sigma_w, M)
    sb = _checks.per_layer("sigma_b", sigma_b, M)
    x_sq = float(_checks.nonnegative("x_sq_norm", x_sq_norm))
    L = float(_checks.nonnegative("lipschitz", lipschitz))
    e = M if exponent is None else _checks.positive_int("exponent", exponent, minimum=0)
    total = x_sq * (L**2 * N) ** e * np.prod(sw**2) + L**2 * N * sb[-1] ** 2
    for m in range(M - 1):  # 0-based m is the paper's m+1
        total += L**2 * N * sb[m] ** 2 * np.prod(L**2 * N * sw[m + 1 :] ** 2)
    return float(total)


def variance_bound_proof_reading(x_sq_norm, widths, input_dim, sigma_w, sigma_b, lipschitz=1.0):
    """Theorem 1's proof, "similar for other layers" step read literally: N⁽ᵐ⁻¹⁾ instead of N⁽ᵐ⁾.

    V(y⁽ᵐ⁾) <= L²N⁽ᵐ⁻¹⁾[σ_w⁽ᵐ⁾²·(previous) + σ_b⁽ᵐ⁾²] with N⁽⁰⁾ = ``input_dim``. Not a valid
    bound when a layer is wider than the one before it (erratum E-T1-N).
    """
    x_sq, widths, sw, sb, L = _layer_terms(x_sq_norm, widths, sigma_w, sigma_b, lipschitz)
    prev = np.concatenate([[_checks.positive_int("input_dim", input_dim)], widths[:-1]])
    s = x_sq
    for n, w, b in zip(prev, sw, sb):
        s = L**2 * n * (w**2 * s + b**2)
    return float(s)
