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
