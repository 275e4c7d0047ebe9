"""Scalable spectral norms (Lanczos) against a dense SVD."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import bounds
from tests.tolerances import rtol


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(300, 400), (900, 300), (20, 30), (1, 500)])
def test_dense_matches_svd(shape, dtype):
    W = np.random.default_rng(shape[0]).standard_normal(shape).astype(dtype)
    ref = np.linalg.norm(W.astype(np.float64), 2)
    assert bounds.spectral_norm(W) == pytest.approx(ref, rel=rtol(dtype))
    assert bounds.spectral_norm(torch.from_numpy(W)) == pytest.approx(ref, rel=rtol(dtype))


@pytest.mark.parametrize("nnz", [1, 7, 2000])
def test_sparse_matches_dense(nnz):
    rng = np.random.default_rng(nnz)
    rows, cols = rng.integers(0, 700, nnz), rng.integers(0, 800, nnz)
    A = sp.coo_array((rng.standard_normal(nnz), (rows, cols)), shape=(700, 800))
    ref = np.linalg.norm(A.toarray(), 2)
    assert bounds.spectral_norm(A) == pytest.approx(ref, rel=1e-10)


def test_zero_and_empty():
    assert bounds.spectral_norm(sp.coo_array((5, 5))) == 0.0
    assert bounds.spectral_norm(np.zeros((300, 300))) == 0.0


@settings(max_examples=20, deadline=None)
@given(c=st.floats(-100, 100, allow_nan=False), seed=st.integers(0, 1000))
def test_absolute_homogeneity(c, seed):
    W = np.random.default_rng(seed).standard_normal((300, 260))
    assert bounds.spectral_norm(c * W) == pytest.approx(abs(c) * bounds.spectral_norm(W), rel=1e-9, abs=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="matrix"):
        bounds.spectral_norm(np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        bounds.spectral_norm(np.array([[np.nan, 1.0], [0.0, 1.0]]))


def _dense_conv(F, n, padding, stride):
    """Brute force: the zero-padded strided conv as a dense matrix, one basis vector at a time."""
    import torch
    import torch.nn.functional as nnf

    Ft = torch.as_tensor(F, dtype=torch.float64)
    c_in = F.shape[1]
    basis = torch.eye(c_in * n * n, dtype=torch.float64).reshape(-1, c_in, n, n)  # every unit input at once
    return nnf.conv2d(basis, Ft, padding=padding, stride=stride).reshape(len(basis), -1).T.numpy()


@pytest.mark.slow
@pytest.mark.parametrize(
    "c, n, padding, stride",
    [(16, 10, 1, 2), (4, 9, 0, 2), (6, 11, 1, 3), (3, 8, 2, 2), (5, 12, 1, 1)],
)
def test_zero_padded_norm_with_strides_matches_dense_jacobian(c, n, padding, stride):
    """Lanczos path included (16×16×3×3, n = 10, p = 1, s = 2: 1600 unknowns > the dense cut-off)."""
    rng = np.random.default_rng(c * 100 + n)
    F = rng.standard_normal((c, c, 3, 3))
    dense = _dense_conv(F, n, padding, stride)
    want = np.linalg.norm(dense, 2)
    got = bounds.conv_operator_norm_zero_padded(F, n, padding=padding, stride=stride)
    assert got == pytest.approx(want, rel=1e-9)
    op = bounds.conv_operator_norm_zero_padded(F, n, padding=padding, stride=stride, return_operator=True)
    x, y = rng.standard_normal(op.shape[1]), rng.standard_normal(op.shape[0])
    assert np.dot(op.matvec(x), y) == pytest.approx(np.dot(x, op.rmatvec(y)), rel=1e-10)  # ⟨Ax, y⟩ = ⟨x, Aᵀy⟩
    np.testing.assert_allclose(op.rmatvec(y), dense.T @ y, rtol=1e-10, atol=1e-10)


def test_is_vacuous_respects_the_bound_direction():
    assert not bounds.is_vacuous(1.0, "lower") and bounds.is_vacuous(0.0, "lower")
    assert not bounds.is_vacuous(0.0, "upper") and bounds.is_vacuous(1.0, "upper")
    assert bounds.is_vacuous(1.0) and bounds.is_vacuous(0.0)  # two-sided: the open interval
    assert bounds.is_vacuous(float("nan"), "lower") and bounds.is_vacuous(-0.5, "upper")
    np.testing.assert_array_equal(bounds.is_vacuous([0.5, 1.0, 1.5], "lower"), [False, False, True])
    with pytest.raises(ValueError):
        bounds.is_vacuous(0.5, "sideways")
