"""The key-position detectors: each ranks what it should, and their scores against a real key."""

import torch
import torch.nn as nn

from empirical.lock import detectors as D
from empirical.lock.extraction import extract
from empirical.lock.fill import fill_key_positions


def test_saliency_flags_the_weights_the_data_pulls_on():
    """Inputs with only feature 0: ∂L/∂W = (softmax − onehot)·xᵀ is non-zero in column 0 only, so the top 2 by
    gradient are W[0, 0] and W[1, 0] (flat positions 0 and 3 of a 2 × 3 weight), whatever the labels."""
    model = nn.Sequential(nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.5, -1.0, 2.0], [0.1, 0.3, -0.7]]))
    x = torch.zeros(10, 3)
    x[:, 0] = torch.linspace(1, 2, 10)
    y = torch.tensor([0, 1] * 5)
    found = D.top_k_positions(D.saliency_scores(model, x, y), 2)
    assert {n: p.tolist() for n, p in found.items()} == {"0.weight": [0, 3]}


def test_the_taylor_score_is_the_weight_times_the_summed_gradient():
    """|w · Σ_batches ∂L/∂w| (the first-order loss change of removing w), against the closed-form gradient of a
    bias-free linear layer under summed cross-entropy: ∂L/∂W = (softmax(Wx) − onehot(y))ᵀ x, summed over the
    data; the batches (size 3 of 10 images) must add up to the whole. Tolerance 1e-5 relative (float32)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3, bias=False))
    x, y = torch.randn(10, 4), torch.tensor([0, 1, 2, 1, 0, 2, 2, 1, 0, 0])
    w = model[0].weight.detach()
    grad = (torch.softmax(x @ w.T, 1) - nn.functional.one_hot(y, 3).float()).T @ x
    got = D.saliency_scores(model, x, y, batch=3, taylor=True)["0.weight"]
    assert torch.allclose(got, (w * grad).abs().reshape(-1), rtol=1e-5, atol=1e-7)
    plain = D.saliency_scores(model, x, y, batch=10)["0.weight"]
    assert torch.allclose(plain, grad.abs().reshape(-1), rtol=1e-5, atol=1e-7)


def test_magnitude_ranks_within_each_layer():
    """A layer of small weights still contributes its own outliers: scores are relative to the layer's mean."""
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[100.0, 100.0], [100.0, 400.0]]))  # mean 175: 400 scores 2.29
        model[1].weight.copy_(torch.tensor([[0.01, 0.01], [0.01, 0.05]]))  # mean 0.02: 0.05 scores 2.5
    found = D.top_k_positions(D.magnitude_scores(model), 1)
    assert {n: p.tolist() for n, p in found.items()} == {"1.weight": [3]}


def test_detector_rows_against_a_real_key():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
    x, y = torch.randn(200, 784), torch.randint(0, 10, (200,))
    locked, key = extract(model, 0.05)
    rows = {r["detector"]: r for r in D.detector_rows(locked, key, x, y)}
    assert rows["exact zeros"]["recall"] == 1.0 and rows["exact zeros"]["precision"] == 1.0  # the zero fill
    k = rows["exact zeros"]["key_values"]
    assert rows["largest gradient (top k)"]["detected"] == k == rows["largest layer-relative |w| (top k)"]["detected"]
    fill_key_positions(locked, key, "noise", 0)
    rows = {r["detector"]: r for r in D.detector_rows(locked, key, x, y)}
    assert rows["exact zeros"]["detected"] == 0  # the noise fill leaves no exact zero
    # and no longer puts every key position on a repeated magnitude (the old fill's recall was 1.000); float32
    # weights repeat a magnitude by chance, so the detector still flags a few positions
    assert rows["repeated magnitudes"]["recall"] < 0.1
    assert 0 < rows["largest gradient (top k)"]["chance"] < 1
