"""Conv-net measurement against a brute-force evaluation with unrolled (dense) convolutions."""

import numpy as np
import pytest
import torch
import torch.nn as nn

import bounds
from empirical.lock.extraction import extract
from empirical.measure import measure_net
from empirical.measure.stages import split_stages
from empirical.nets.convnets import depth, make_conv


def unrolled(F, n, padding, stride):
    """The dense matrix of a zero-padded, strided cross-correlation, by explicit index arithmetic
    (channel-major, row-major vectorisation) — independent of conv2d."""
    c_out, c_in, q, _ = F.shape
    o = (n + 2 * padding - q) // stride + 1
    A = np.zeros((c_out * o * o, c_in * n * n))
    for co in range(c_out):
        for i in range(o):
            for j in range(o):
                row = (co * o + i) * o + j
                for ci in range(c_in):
                    for u in range(q):
                        for v in range(q):
                            a, b = i * stride + u - padding, j * stride + v - padding
                            if 0 <= a < n and 0 <= b < n:
                                A[row, (ci * n + a) * n + b] += F[co, ci, u, v]
    return A, o


def _randomize_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g, dtype=m.weight.dtype) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g, dtype=m.bias.dtype) * 0.3)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g, dtype=m.running_mean.dtype) * 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g, dtype=m.running_var.dtype) + 0.5)
    return model.eval()


def tiny_cnn():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 3, 3, 1, 1, bias=False), nn.BatchNorm2d(3), nn.ReLU(),
        nn.Conv2d(3, 4, 3, 2, 1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, 1, 1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, 5),
    )  # fmt: skip
    return _randomize_bn(model.double())


def folded_dense(model, conv_idx, n):
    conv, bn = model[conv_idx], model[conv_idx + 1]
    a = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    c = (bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    b = conv.bias.detach().numpy() if conv.bias is not None else np.zeros(conv.out_channels)
    A, o = unrolled(conv.weight.detach().numpy(), n, conv.padding[0], conv.stride[0])
    rows = np.repeat(np.arange(conv.out_channels), o * o)
    return A * a[rows, None], (a * b + c)[rows], o


def per_stage_funcs(model):
    """The four stages of ``tiny_cnn`` as dense matrices, numpy max-pool and mean, and their matrices."""
    A1, b1, _ = folded_dense(model, 1, 8)
    A2, b2, _ = folded_dense(model, 4, 8)
    A3, b3, _ = folded_dense(model, 8, 2)
    W, b = model[13].weight.detach().numpy(), model[13].bias.detach().numpy()
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    pool = lambda v: v.reshape(len(v), 4, 2, 2, 2, 2).max(axis=(3, 5)).reshape(len(v), -1)  # noqa: E731
    return [
        lambda h: relu(h @ A1.T + b1),
        lambda h: pool(relu(h @ A2.T + b2)),
        lambda h: relu(h @ A3.T + b3).reshape(len(h), 4, -1).mean(axis=2),
        lambda h: h @ W.T + b,
    ], [A1, A2, A3, W]


@pytest.mark.slow
@pytest.mark.parametrize("indicator,ratio", [("l1", 0.3), ("bn-scale", 0.3), ("random", 0.5)])
def test_disparities_match_brute_force(indicator, ratio):
    model = tiny_cnn()
    locked, _ = extract(model, ratio, indicator, seed=1)
    x = torch.randn(40, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    res = measure_net(model, locked, x, torch.zeros(40, dtype=torch.long), batch=16)
    fo, mats_o = per_stage_funcs(model)
    fl, mats_l = per_stage_funcs(locked)
    ho = hl = x.numpy()
    s = res.samples
    for m in range(4):
        ho_n, hl_n, cross = fo[m](ho), fl[m](hl), fl[m](ho)
        got = s[s.layer == m + 1]
        np.testing.assert_allclose(got.d, np.linalg.norm(hl_n - ho_n, axis=1), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got.G, np.linalg.norm(hl_n - cross, axis=1), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got.e, np.linalg.norm(cross - ho_n, axis=1), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got.y_prev_norm, np.linalg.norm(ho, axis=1), rtol=1e-12)
        row = res.layers.iloc[m]
        mu_dense = np.linalg.norm(mats_l[m] - mats_o[m], 2)
        if m < 3:  # conv stages: μ exact (Lanczos) = dense SVD; the FFT form is an upper bound
            np.testing.assert_allclose(row.mu_zero_padded, mu_dense, rtol=1e-8, atol=1e-12)
            assert row.mu_fft_padded_upper >= mu_dense * (1 - 1e-12)
            np.testing.assert_allclose(row.w_norm, np.linalg.norm(mats_o[m], 2), rtol=1e-8)
        else:
            np.testing.assert_allclose(row.mu, mu_dense, rtol=1e-8, atol=1e-12)
        ho, hl = ho_n, hl_n
    assert res.summary["sandwich_all_hold"]
    assert (s.d <= s.sandwich_upper * (1 + 1e-9) + 1e-12).all()
    assert (s.e <= s.B * (1 + 1e-9) + 1e-12).all()


def test_bias_change_enters_the_bound_for_bn_scale():
    """bn-scale zeroes β as well as γ: without the ‖Δb‖ term the single-stage bound would fail."""
    model = tiny_cnn()
    locked, _ = extract(model, 0.3, "bn-scale", seed=0)
    x = torch.randn(30, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    res = measure_net(model, locked, x, torch.zeros(30, dtype=torch.long))
    s, layers = res.samples, res.layers
    changed = layers[layers.n_extracted > 0].layer
    assert len(changed)
    for m in changed:
        got = s[s.layer == m]
        mu = layers.set_index("layer").loc[m, "mu_fft_padded_upper"]
        assert (got.e <= got.B + 1e-12).all()
        assert (got.B > mu * got.y_prev_norm * 0.999).all()  # B = L(μ‖y‖ + ‖Δb‖) >= the bias-free part


@pytest.mark.parametrize("arch,h,w", [("vgg", 1, 3), ("resnet", 1, 3), ("densenet", 2, 3)])
@pytest.mark.parametrize("indicator", ["l1", "bn-scale"])
def test_blocks_sandwich_on_every_sample(arch, h, w, indicator):
    model = _randomize_bn(make_conv(arch, h, w, seed=0), seed=2)
    locked, _ = extract(model, 0.25, indicator)
    x = torch.randn(24, 784, generator=torch.Generator().manual_seed(0))
    res = measure_net(model, locked, x, torch.zeros(24, dtype=torch.long), batch=10, exact=False)
    s = res.samples
    assert res.summary["sandwich_all_hold"]
    assert (s.d <= s.sandwich_upper * (1 + 1e-9) + 1e-12).all()
    assert (s.e <= s.B * (1 + 1e-9) + 1e-12).all()  # the chain bound covers the stage's own change
    assert len(res.layers) == {"vgg": 3 * h + 1, "resnet": 3 * h + 2, "densenet": 3 * h + 4}[arch]
    first = s[s.layer == 1]
    if indicator == "l1":
        assert (first.d == 0).all()  # scope "hidden": the first conv is never a candidate


def test_stage_split_of_each_architecture():
    for arch, h in (("vgg", 2), ("resnet", 3), ("densenet", 4)):
        _, st = split_stages(make_conv(arch, h, 4))
        kinds = [s.kind for s in st]
        if arch == "vgg":
            assert kinds == ["conv"] * 6 + ["linear"]
        elif arch == "resnet":
            assert kinds == ["conv"] + ["residual"] * 9 + ["linear"]
        else:  # stem, 3 dense blocks of h layers, 2 transitions (BN-ReLU-conv1×1-pool), final BN-ReLU-…-linear
            assert kinds == ["conv"] + (["dense"] * h + ["conv"]) * 2 + ["dense"] * h + ["linear"]
            assert len(st) == depth(arch, h)


def test_unknown_layers_are_refused_by_name():
    with pytest.raises(ValueError, match="Sigmoid"):
        split_stages(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sigmoid(), nn.Flatten(), nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="circular|zero-padded"):
        split_stages(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular")))


def test_zero_padded_upper_bound_against_dense_jacobian():
    rng = np.random.default_rng(0)
    for c_out, c_in, q, n, p, s in [(3, 2, 3, 7, 1, 1), (4, 3, 3, 8, 1, 2), (2, 2, 5, 9, 2, 3), (3, 1, 1, 5, 0, 2)]:
        F = rng.standard_normal((c_out, c_in, q, q))
        A, _ = unrolled(F, n, p, s)
        exact = np.linalg.norm(A, 2)
        np.testing.assert_allclose(bounds.conv_operator_norm_zero_padded(F, n, padding=p, stride=s), exact, rtol=1e-9)
        upper = bounds.conv_operator_norm_zero_padded_upper(F, n, p)
        assert upper >= exact * (1 - 1e-12)
        if s == 1:  # the same operator on a grid of n + 2p: close, and never below
            assert upper <= 1.5 * exact


@pytest.mark.parametrize("arch,h,w", [("vgg", 1, 3), ("resnet", 1, 3), ("densenet", 2, 3)])
def test_stage_lipschitz_bounds_hold_on_random_pairs(arch, h, w):
    """Each stage's Lipschitz bound (products of operator norms and pooling constants) against
    ‖f(a) − f(b)‖ / ‖a − b‖ on random input pairs, near and far."""
    from empirical.measure.stages import ChainBound

    model = _randomize_bn(make_conv(arch, h, w, seed=0).double(), seed=4)
    prefix, stages = split_stages(model)
    g = torch.Generator().manual_seed(0)
    h_in = torch.randn(16, 784, dtype=torch.float64, generator=g)
    for i in prefix:
        h_in = model[i](h_in)
    with torch.no_grad():
        for st in stages:
            mods = [model[i] for i in st.modules]
            chain = ChainBound(mods, mods)
            out, _ = chain(h_in, torch.zeros(len(h_in), dtype=torch.float64))
            L = chain.original_lipschitz_bound()
            for scale in (1e-3, 1.0):
                other = h_in + scale * torch.randn(h_in.shape, dtype=torch.float64, generator=g)
                out2 = other
                for mod in mods:
                    out2 = mod(out2)
                num = (out - out2).reshape(len(out), -1).norm(dim=1)
                den = (h_in - other).reshape(len(h_in), -1).norm(dim=1)
                assert (num <= L * den * (1 + 1e-9)).all(), (st.kind, float((num / den).max()), L)
            h_in = out
