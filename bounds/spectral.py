"""Operator norms that scale: Lanczos (ARPACK) instead of a full SVD.

Used for ‖W*⁽ᵐ⁾‖₂ of FC layers up to 8000×8000 (λ measured), for the sparse ΔW⁽ᵐ⁾ of an access
key (μ measured) and for the zero-padded convolution real layers compute.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, svds

from bounds import _checks

DENSE_CUTOFF = 256  # below this smaller dimension a dense SVD is cheaper and exact


def _rtol(dtype):
    return 1e-12 if np.dtype(dtype).itemsize >= 8 else 1e-6


def _lanczos_norm(op, dtype):
    if not isinstance(op, LinearOperator):
        # ARPACK breaks down on (sub)normal-scale entries: rescale extreme matrices first (exact)
        scale = float(max(op.max(), -op.min()))  # max |a| without a copy
        info = np.finfo(dtype)
        if scale == 0.0:
            return 0.0
        if not np.sqrt(info.tiny) < scale < np.sqrt(info.max):
            return scale * _lanczos_norm(op / scale, dtype)
    v0 = np.random.default_rng(0).standard_normal(min(op.shape))  # fixed: deterministic
    s = svds(op, k=1, tol=_rtol(dtype), v0=v0, return_singular_vectors=False, maxiter=10_000)
    return float(s[0])


def spectral_norm(A):
    """‖A‖₂ = s₁(A) for a dense array, torch tensor or scipy sparse matrix.

    Small matrices: dense SVD. Large: ARPACK Lanczos on AᵀA with a fixed start vector
    (deterministic), relative tolerance 1e-12 in float64 and 1e-6 in float32. Sparse
    matrices are first compressed to their non-zero rows and columns (exact).
    """
    if sp.issparse(A):
        A = sp.csr_array(A)
        if A.nnz == 0:
            return 0.0
        if not np.all(np.isfinite(A.data)):
            raise ValueError("matrix holds NaN or inf")
        coo = A.tocoo()
        r_keep, r_inv = np.unique(coo.row, return_inverse=True)
        c_keep, c_inv = np.unique(coo.col, return_inverse=True)
        A = sp.csr_array((coo.data, (r_inv, c_inv)), shape=(r_keep.size, c_keep.size))
        if min(A.shape) <= DENSE_CUTOFF:
            return float(np.linalg.norm(A.toarray(), 2))
        return _lanczos_norm(A, A.dtype)
    A = _checks.to_numpy(A)
    if A.ndim != 2:
        raise ValueError(f"spectral_norm needs a matrix, got shape {A.shape}")
    if A.size == 0:
        return 0.0
    if not np.all(np.isfinite(A)):
        raise ValueError("matrix holds NaN or inf")
    if min(A.shape) <= DENSE_CUTOFF:
        return float(np.linalg.norm(A.astype(np.float64, copy=False), 2))
    return _lanczos_norm(A, A.dtype)


def conv_operator_norm_zero_padded(weight, n, padding=None, stride=1, return_operator=False):
    """‖·‖₂ of the zero-padded convolution x ↦ conv2d(x, F, padding) on c×n×n inputs.

    What a real (non-circular) conv layer computes; not given by Lemma 4. Found by Lanczos
    on the normal operator with conv2d / conv_transpose2d (its adjoint) in float64.
    ``padding`` defaults to q//2 ("same" for odd q). ``return_operator=True`` returns the scipy
    ``LinearOperator`` (matvec = the layer, rmatvec = its adjoint) instead of the norm.
    """
    import torch  # lazy: bounds/ stays free of torch at import (tests/test_imports.py)
    import torch.nn.functional as nnf  # lazy: as above

    F = _checks.to_numpy(weight)
    if F.ndim != 4:
        raise ValueError(f"conv weight must have shape (c_out, c_in, q, q), got shape {F.shape}")
    if not np.all(np.isfinite(F)):
        raise ValueError("conv weight must be finite (it holds NaN or inf)")
    n = _checks.positive_int("n", n)
    stride = _checks.positive_int("stride", stride)
    c_out, c_in, qh, qw = F.shape
    padding = (qh // 2) if padding is None else _checks.positive_int("padding", padding, minimum=0)
    if qh > n + 2 * padding or qw > n + 2 * padding:
        raise ValueError(f"kernel size {qh}x{qw} exceeds the padded input size {n + 2 * padding}")
    Ft = torch.as_tensor(np.ascontiguousarray(F), dtype=torch.float64)
    out_hw = tuple(
        nnf.conv2d(torch.zeros(1, c_in, n, n, dtype=torch.float64), Ft, padding=padding, stride=stride).shape[2:]
    )
    n_in, n_out = c_in * n * n, c_out * out_hw[0] * out_hw[1]

    def matvec(v):
        x = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64)).reshape(1, c_in, n, n)
        return nnf.conv2d(x, Ft, padding=padding, stride=stride).reshape(-1).numpy()

    # the adjoint is conv_transpose2d; when (n + 2p − q) is not a multiple of the stride its output is
    # short of n by that remainder, which output_padding restores *with* the kernel taps that reach it
    # (zero-padding the short map instead drops them: a wrong adjoint)
    output_padding = tuple(n - ((o - 1) * stride - 2 * padding + q) for o, q in zip(out_hw, (qh, qw)))

    def rmatvec(u):
        y = torch.from_numpy(np.ascontiguousarray(u, dtype=np.float64)).reshape(1, c_out, *out_hw)
        x = nnf.conv_transpose2d(y, Ft, padding=padding, stride=stride, output_padding=output_padding)
        return x.reshape(-1).numpy()

    op = LinearOperator((n_out, n_in), matvec=matvec, rmatvec=rmatvec, dtype=np.float64)
    if return_operator:
        return op
    if min(n_in, n_out) <= DENSE_CUTOFF:
        dense = np.stack([matvec(e) for e in np.eye(n_in)], axis=1)
        return float(np.linalg.norm(dense, 2))
    return _lanczos_norm(op, np.float64)
