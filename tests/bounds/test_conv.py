"""Lemma 4 / Section 4.2.2: the FFT singular values against a brute-force dense operator."""

import numpy as np
import pytest
import torch
import torch.nn.functional as nnf
from hypothesis import given, settings
from hypothesis import strategies as st

import bounds
from tests.tolerances import rtol

SHAPES = [  # (c_out, c_in, q_h, q_w, n)
    (1, 1, 3, 3, 5),
    (3, 2, 3, 3, 6),
    (2, 5, 1, 1, 4),
    (4, 4, 5, 5, 7),
    (2, 3, 2, 3, 8),
    (5, 1, 3, 3, 3),
]


def circular_conv_reference(F, x):
    """Independent reference: torch's conv2d on a circularly padded input (float64)."""
    qh, qw = F.shape[2:]
    xt = nnf.pad(torch.as_tensor(x, dtype=torch.float64)[None], (0, qw - 1, 0, qh - 1), mode="circular")
    return nnf.conv2d(xt, torch.as_tensor(F, dtype=torch.float64))[0].numpy()


@pytest.mark.parametrize("shape", SHAPES)
def test_conv_matrix_is_circular_conv(shape):
    c_out, c_in, qh, qw, n = shape
    rng = np.random.default_rng(sum(shape))
    F = rng.standard_normal((c_out, c_in, qh, qw))
    x = rng.standard_normal((c_in, n, n))
    y = bounds.conv_matrix(F, n) @ x.ravel()  # channel-major, row-major spatial
    np.testing.assert_allclose(y, circular_conv_reference(F, x).ravel(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_fft_singular_values_match_dense_svd(shape, dtype):
    c_out, c_in, qh, qw, n = shape
    F = np.random.default_rng(7 + n).standard_normal((c_out, c_in, qh, qw)).astype(dtype)
    dense = np.linalg.svd(bounds.conv_matrix(F.astype(np.float64), n), compute_uv=False)
    fft = bounds.conv_singular_values(F, n)
    assert fft.shape == (min(c_out, c_in) * n * n,)
    np.testing.assert_allclose(fft, dense, rtol=0, atol=rtol(dtype) * dense[0])
    assert bounds.conv_operator_norm(F, n) == pytest.approx(dense[0], rel=rtol(dtype))
    assert bounds.conv_operator_norm_per_frequency_svd(F, n) == pytest.approx(dense[0], rel=rtol(dtype))


def test_torch_tensor_input():
    F = torch.randn(3, 2, 3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    dense = np.linalg.norm(bounds.conv_matrix(F.numpy(), 6), 2)
    assert bounds.conv_operator_norm(F, 6) == pytest.approx(dense, rel=1e-10)


def test_hand_computed_norms():
    # a delta kernel is the identity operator; an all-ones q×q kernel has its norm q² at DC
    delta = np.zeros((1, 1, 3, 3))
    delta[0, 0, 1, 1] = 1.0
    assert bounds.conv_operator_norm(delta, 8) == pytest.approx(1.0, rel=1e-14)
    np.testing.assert_allclose(bounds.conv_singular_values(delta, 8), np.ones(64), rtol=1e-14)
    assert bounds.conv_operator_norm(np.ones((1, 1, 3, 3)), 8) == pytest.approx(9.0, rel=1e-14)
    # c' copies of the same channel: the norm scales by √c'
    assert bounds.conv_operator_norm(np.ones((4, 1, 3, 3)), 8) == pytest.approx(18.0, rel=1e-14)


@settings(max_examples=25, deadline=None)
@given(
    c=st.floats(-5, 5, allow_nan=False),
    seed=st.integers(0, 2**16),
    n=st.integers(3, 9),
)
def test_norm_is_absolutely_homogeneous(c, seed, n):
    F = np.random.default_rng(seed).standard_normal((2, 3, 3, 3))
    assert bounds.conv_operator_norm(c * F, n) == pytest.approx(
        abs(c) * bounds.conv_operator_norm(F, n), rel=1e-10, abs=1e-12
    )


def zero_padded_dense(F, n, padding):
    """Brute force: apply conv2d to every basis vector of the c×n×n input space."""
    c_in = F.shape[1]
    eye = torch.eye(c_in * n * n, dtype=torch.float64).reshape(-1, c_in, n, n)
    cols = nnf.conv2d(eye, torch.as_tensor(F, dtype=torch.float64), padding=padding)
    return cols.reshape(c_in * n * n, -1).T.numpy()


@pytest.mark.slow
@pytest.mark.parametrize(
    "shape,padding", [((2, 3, 3, 3, 5), 1), ((4, 4, 3, 3, 10), 1), ((3, 5, 5, 5, 8), 2), ((2, 2, 3, 3, 12), 0)]
)
def test_zero_padded_norm_matches_dense(shape, padding):
    c_out, c_in, qh, qw, n = shape
    F = np.random.default_rng(n).standard_normal((c_out, c_in, qh, qw))
    dense = np.linalg.norm(zero_padded_dense(F, n, padding), 2)
    assert bounds.conv_operator_norm_zero_padded(F, n, padding=padding) == pytest.approx(dense, rel=1e-9)


@pytest.mark.slow
def test_zero_padded_is_a_compression_of_the_wider_circular_conv():
    # with padding p >= (q-1)/2 the zero-padded map is the circular conv on the (n+2p)² grid with the
    # input embedded and the output restricted, so its norm cannot exceed that operator's
    F = np.random.default_rng(3).standard_normal((3, 3, 3, 3))
    zp = bounds.conv_operator_norm_zero_padded(F, 9, padding=1)
    assert zp <= bounds.conv_operator_norm(F, 11) * (1 + 1e-10)
    assert zp != pytest.approx(bounds.conv_operator_norm(F, 9), rel=1e-6)


@pytest.mark.parametrize(
    "weight,n,match",
    [
        (np.ones((1, 1, 5, 5)), 4, "exceeds the input size"),
        (np.ones((1, 1, 3)), 4, "shape"),
        (np.full((1, 1, 3, 3), np.nan), 4, "finite"),
        (np.ones((1, 1, 3, 3)), 0, "n must be"),
    ],
)
def test_bad_arguments(weight, n, match):
    with pytest.raises(ValueError, match=match):
        bounds.conv_singular_values(weight, n)
    with pytest.raises(ValueError, match=match):
        bounds.conv_operator_norm(weight, n)


def _dense_operator_norm(conv, in_shape) -> float:
    """‖·‖₂ of ``conv`` (a torch module) built densely: apply it to every basis vector of the input space."""
    import torch

    n = int(np.prod(in_shape))
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *in_shape)
    with torch.no_grad():
        cols = conv.double()(basis).reshape(n, -1)
    return float(np.linalg.svd(cols.numpy(), compute_uv=False)[0])


@pytest.mark.parametrize(
    "c_in, c_out, k, stride, padding, dilation, groups, hw",
    [(3, 4, 3, 1, 1, 1, 1, (6, 6)), (4, 4, 3, 2, 1, 1, 2, (7, 5)), (4, 8, (3, 1), 1, (1, 0), 1, 4, (6, 6)),
     (2, 3, 3, 1, 2, 2, 1, (5, 6)), (6, 6, 3, 2, 0, 1, 6, (8, 8)), (3, 5, 1, 1, 0, 1, 1, (4, 4))],
)  # fmt: skip
def test_general_conv_norm_bound_holds_against_a_dense_build(c_in, c_out, k, stride, padding, dilation, groups, hw):
    """Stride, padding, dilation, groups, rectangular kernels and inputs: the FFT bound is >= the exact operator
    norm (dense SVD, float64) within 1e-9, and within 3× of it on these small grids."""
    import torch

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, dilation=dilation, groups=groups,
                           bias=False)  # fmt: skip
    exact = _dense_operator_norm(conv, (c_in, *hw))
    pad = conv.padding if isinstance(conv.padding, tuple) else (conv.padding, conv.padding)
    upper = bounds.conv_operator_norm_upper_general(conv.weight.detach().double().numpy(), hw, pad, conv.dilation,
                                                    groups)  # fmt: skip
    assert upper >= exact - 1e-9
    assert upper <= 3 * exact  # an upper bound that stays informative on these small grids
