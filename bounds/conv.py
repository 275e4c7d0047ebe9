"""Convolutional layers as matrices (Section 4.2.2) and their singular values (Lemma 4).

Convention (DESIGN.md): kernel F ∈ R^{c'×c×q×q} (q×q' rectangular kernels are accepted too)
acting on n×n inputs with circular padding,

    y[s, i, j] = Σ_t Σ_{a,b} F[s, t, a, b] · x[t, (i+a) mod n, (j+b) mod n],

i.e. PyTorch's cross-correlation with ``padding_mode="circular"`` anchored at the top-left
corner. Vectorisation is channel-major, then row-major spatial: vec(x)[t·n² + i·n + j].
The matrix is the paper's W* = [B_{s,t}] of doubly-block-circulant blocks.
"""

from __future__ import annotations

import numpy as np

from bounds import _checks


def _kernel(weight, n):
    F = _checks.to_numpy(weight)
    if F.ndim != 4:
        raise ValueError(f"conv weight must have shape (c_out, c_in, q, q), got shape {F.shape}")
    if F.dtype.kind != "f":
        F = F.astype(np.float64)
    if not np.all(np.isfinite(F)):
        raise ValueError("conv weight must be finite (it holds NaN or inf)")
    n = _checks.positive_int("n", n)
    if F.shape[2] > n or F.shape[3] > n:
        raise ValueError(f"kernel size {F.shape[2]}x{F.shape[3]} exceeds the input size n={n}")
    if min(F.shape[:2]) == 0:
        raise ValueError(f"conv weight has no channels: shape {F.shape}")
    return F, n


def circ(a):
    """Definition 2: circ(a)[i, j] = a[(j − i) mod n] (first row a, each row shifted right)."""
    a = np.asarray(a)
    n = a.shape[-1]
    idx = (np.arange(n)[None, :] - np.arange(n)[:, None]) % n  # (n, n)
    return a[..., idx]


def conv_matrix(weight, n):
    """The dense (c'·n², c·n²) matrix W* of Section 4.2.2 (explicit, for small sizes only).

    K_{s,t} is F_{s,t} zero-padded to n×n; block row I of B_{s,t} is
    [circ(K_{s,t,I,:}), circ(K_{s,t,I+1,:}), ...], i.e. B_{s,t}[(I,i),(J,j)] =
    circ(K_{s,t,(J−I) mod n, :})[i, j].
    """
    F, n = _kernel(weight, n)
    c_out, c_in, qh, qw = F.shape
    K = np.zeros((c_out, c_in, n, n), dtype=F.dtype)
    K[:, :, :qh, :qw] = F
    row_circ = circ(K)  # (c', c, I_rowblock-index J, i, j): circ of each row K[s,t,J,:]
    # block (I, J) of B_{s,t} is circ(K_{s,t,(J−I) mod n, :}):
    idx = (np.arange(n)[None, :] - np.arange(n)[:, None]) % n  # (I, J)
    B = row_circ[:, :, idx]  # (c', c, I, J, i, j)
    return B.transpose(0, 2, 4, 1, 3, 5).reshape(c_out * n * n, c_in * n * n)


def frequency_matrices(weight, n, half=True):
    """Lemma 4's P⁽ᵘ'ᵛ⁾ = FFT2(K)[:, :, u, v] for all frequencies: shape (n, n or n//2+1, c', c).

    With ``half`` only v = 0..n//2 (the real-input FFT): P⁽⁻ᵘ'⁻ᵛ⁾ is the complex conjugate of
    P⁽ᵘ'ᵛ⁾, so it has the same singular values.
    """
    F, n = _kernel(weight, n)
    fft = np.fft.rfft2 if half else np.fft.fft2
    P = fft(F, s=(n, n), axes=(2, 3))  # (c', c, n, n//2+1)
    return P.transpose(2, 3, 0, 1)  # (u, v, c', c)


def _half_spectrum_multiplicity(n):
    """How often each rfft column v stands for a column of the full spectrum (1 or 2)."""
    mult = np.full(n // 2 + 1, 2)
    mult[0] = 1
    if n % 2 == 0:
        mult[-1] = 1
    return mult


def conv_singular_values(weight, n):
    """Lemma 4 (Sedghi et al. 2019, Thm 6): all min(c, c')·n² singular values, descending.

    The union over frequencies (u, v) of the singular values of P⁽ᵘ'ᵛ⁾, computed on the
    half spectrum and counted twice where the conjugate frequency is not itself.
    """
    P = frequency_matrices(weight, n, half=True)
    sv = np.linalg.svd(P, compute_uv=False)  # (n, n//2+1, min(c, c'))
    reps = _half_spectrum_multiplicity(n)
    full = np.repeat(sv, reps, axis=1).ravel()
    return np.sort(full)[::-1]


def conv_operator_norm(weight, n):
    """‖W*‖₂ of the circular convolution: max over frequencies of s₁(P⁽ᵘ'ᵛ⁾) (Lemma 4).

    Only the half spectrum of the real-input FFT is decomposed (P⁽⁻ᵘ'⁻ᵛ⁾ is the conjugate of
    P⁽ᵘ'ᵛ⁾), and only singular values are computed, no singular vectors.
    """
    P = frequency_matrices(weight, n, half=True)
    return float(np.linalg.svd(P, compute_uv=False)[..., 0].max())


def conv_operator_norm_per_frequency_svd(weight, n):
    """The straightforward reference: full SVD of every P⁽ᵘ'ᵛ⁾ over the whole spectrum."""
    P = frequency_matrices(weight, n, half=False)
    return float(np.linalg.svd(P, compute_uv=False).max())


def conv_operator_norm_zero_padded_upper(weight, n, padding=None):
    """An upper bound on ‖·‖₂ of the zero-padded convolution (any stride), by FFT.

    Embed the n×n input at offset p in an N×N grid, N = n + 2p: the circular convolution on that
    grid computes every output of the zero-padded one without wrapping, so the zero-padded layer
    is R·C_N·E (E the embedding, R the output restriction, both of norm <= 1) and
    ‖zero-padded‖₂ <= ‖C_N‖₂ (Lemma 4). A stride keeps a subset of the rows: the bound still holds.
    ``padding`` defaults to q//2. Exact values come from ``conv_operator_norm_zero_padded``.
    """
    n = _checks.positive_int("n", n)
    F = _checks.to_numpy(weight)
    p = (F.shape[2] // 2 if F.ndim == 4 else 0) if padding is None else _checks.positive_int("padding", padding, 0)
    return conv_operator_norm(F, n + 2 * p)  # checks the kernel against the padded size n + 2p


def conv_operator_norm_upper_general(weight, in_size, padding=(0, 0), dilation=(1, 1), groups=1):
    """An upper bound on ‖·‖₂ of a zero-padded convolution with any stride, padding, dilation and groups, on
    inputs of spatial size ``in_size`` = (H, W) (a Conv1d: (1, L) with a (c', c/g, 1, k) kernel).

    The same embedding argument as ``conv_operator_norm_zero_padded_upper``, generalised: a dilated kernel is the
    kernel with zeros between its taps; a rectangular kernel sits in a square one of side K (a zero tap is no tap);
    the padded H×W input sits in an N×N grid, N = max(H + 2p_h, W + 2p_w, K), where the circular convolution
    computes every output of the zero-padded one (then restricted, and for a stride subsampled: norms <= 1). A
    grouped convolution is block diagonal over its groups: its norm is the largest group's. Lemma 4 gives each
    group's circular norm by FFT.
    """
    F = _checks.to_numpy(weight)
    if F.ndim != 4:
        raise ValueError(f"a conv kernel is (c_out, c_in/groups, kh, kw), got shape {F.shape}")
    groups = _checks.positive_int("groups", groups)
    if F.shape[0] % groups:
        raise ValueError(f"{F.shape[0]} output channels do not split into {groups} groups")
    dh, dw = (int(v) for v in dilation)
    kh, kw = (F.shape[2] - 1) * dh + 1, (F.shape[3] - 1) * dw + 1
    K = max(kh, kw)
    dilated = np.zeros(F.shape[:2] + (K, K), dtype=F.dtype)
    dilated[:, :, :kh:dh, :kw:dw] = F
    H, W = (int(v) for v in in_size)
    ph, pw = (int(v) for v in padding)
    N = max(H + 2 * ph, W + 2 * pw, K)
    per = F.shape[0] // groups
    return max(conv_operator_norm(dilated[g * per : (g + 1) * per], N) for g in range(groups))
