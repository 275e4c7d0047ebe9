"""Extraction and access keys: exact top-k in a deterministic order, bit-exact unlock, refusals."""

import copy
import os

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from empirical.errors import UserError
from empirical.lock import ranking
from empirical.lock.extraction import AccessKey, candidates, extract
from empirical.lock.ratio import n_extracted
from empirical.nets.checkpoint import model_sha256
from empirical.nets.convnets import make_conv
from empirical.nets.models import make_fcn


def conv_net(c=(3, 4, 5), q=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(c[0], c[1], q, padding=1),
        nn.BatchNorm2d(c[1]),
        nn.ReLU(),
        nn.Conv2d(c[1], c[2], q, padding=1),
        nn.BatchNorm2d(c[2]),
        nn.ReLU(),
        nn.Conv2d(c[2], c[2], q, padding=1),
        nn.BatchNorm2d(c[2]),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(c[2] * 4 * 4, 10),
    )


def randomize_bn(net, seed):
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.num_features, generator=g))
                m.bias.copy_(torch.randn(m.num_features, generator=g))
    return net


def reference_selection(model, indicator, scope, mode, ratio):
    """Brute force: score every unit in NumPy, order by (−score, layer, index), take the first k."""
    cands = candidates(model, indicator, scope)
    params = dict(model.named_parameters())
    scores, layer, index = [], [], []
    for c in cands:
        p = params[c.name].detach().double().numpy().reshape(c.n_units, c.unit_size)
        scores.append(np.abs(p).sum(axis=1))
        layer.append(np.full(c.n_units, c.layer))
        index.append(np.arange(c.n_units))
    chosen = {}
    groups = [list(range(len(cands)))] if mode == "global" else [[i] for i in range(len(cands))]
    for g in groups:
        s, lay, idx = (np.concatenate([a[i] for i in g]) for a in (scores, layer, index))
        k = n_extracted(ratio, len(s))
        order = np.lexsort((idx, lay, -s))[:k]
        for i in g:
            chosen[cands[i].name] = np.sort(idx[order][lay[order] == i])
    return chosen


def assert_lock_unlock_exact(model, ratio, indicator, scope, mode):
    before = model_sha256(model)
    locked, key = extract(model, ratio, indicator, scope, mode, seed=1)
    assert model_sha256(model) == before  # the original is never modified
    restored = key.restore(locked)
    for (n, a), (_, b) in zip(model.state_dict().items(), restored.state_dict().items()):
        assert torch.equal(a, b), n
        assert a.view(-1).view(torch.uint8).equal(b.view(-1).view(torch.uint8)) if a.numel() else True
    # every extracted unit is zero in the locked model; nothing else changed
    lparams, params = dict(locked.named_parameters()), dict(model.named_parameters())
    changed = 0
    for e in key.entries:
        view = lparams[e.name].detach().reshape(-1, e.unit_size)
        assert bool((view[e.positions] == 0).all())
        changed += e.positions.numel()
    for n in params:
        if n not in {e.name for e in key.entries}:
            assert torch.equal(params[n], lparams[n])
    return locked, key


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dims=st.lists(st.integers(1, 12), min_size=3, max_size=6),
    ratio=st.floats(1e-4, 0.99),
    indicator=st.sampled_from(["l1", "random"]),
    scope=st.sampled_from(["hidden", "all"]),
    mode=st.sampled_from(["global", "per-layer"]),
    seed=st.integers(0, 1000),
)
def test_lock_unlock_property_fcn(dims, ratio, indicator, scope, mode, seed):
    torch.manual_seed(seed)
    model = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])])
    if scope == "hidden" and len(dims) < 4:
        with pytest.raises(UserError, match="no candidate layers"):
            extract(model, ratio, indicator, scope, mode)
        return
    locked, key = assert_lock_unlock_exact(model, ratio, indicator, scope, mode)
    if indicator == "l1":
        ref = reference_selection(model, indicator, scope, mode, ratio)
        for e in key.entries:
            np.testing.assert_array_equal(e.positions.numpy(), ref[e.name])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ratio=st.floats(0.01, 0.9),
    indicator=st.sampled_from(["l1", "random", "bn-scale"]),
    mode=st.sampled_from(["global", "per-layer"]),
    seed=st.integers(0, 100),
)
def test_lock_unlock_property_conv_bn(ratio, indicator, mode, seed):
    model = randomize_bn(conv_net(seed=seed), seed)
    locked, key = assert_lock_unlock_exact(model, ratio, indicator, "hidden", mode)
    if indicator == "l1":
        ref = reference_selection(model, "l1", "hidden", mode, ratio)
        for e in key.entries:
            np.testing.assert_array_equal(e.positions.numpy(), ref[e.name])
            assert e.kind == "filter" and e.unit_size == 9
    if indicator == "bn-scale":
        names = [e.name for e in key.entries]
        assert names == ["1.weight", "1.bias", "4.weight", "4.bias", "7.weight", "7.bias"]


def test_chunked_selection_matches_brute_force(monkeypatch):
    monkeypatch.setattr(ranking, "CHUNK", 7)  # many chunks per layer, buffers merged often
    model = make_fcn(4, 30, seed=5)
    for mode in ("global", "per-layer"):
        for ratio in (0.001, 0.05, 0.6):
            _, key = assert_lock_unlock_exact(model, ratio, "l1", "hidden", mode)
            ref = reference_selection(model, "l1", "hidden", mode, ratio)
            for e in key.entries:
                np.testing.assert_array_equal(e.positions.numpy(), ref[e.name])


def test_ties_are_broken_by_layer_then_index():
    model = make_fcn(4, 6, seed=0)
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.fill_(0.5)
    _, key = extract(model, 0.1, mode="global")  # 11 of 3·36 equal weights
    got = {e.name: e.positions.tolist() for e in key.entries}
    assert got == {"layers.1.weight": list(range(11)), "layers.2.weight": [], "layers.3.weight": []}


def test_hidden_scope_and_counts():
    model = make_fcn(5, 40, seed=0)
    locked, key = extract(model, 0.00002)
    assert [c.name for c in candidates(model)] == [f"layers.{i}.weight" for i in range(1, 5)]
    assert key.meta["k_total"] == n_extracted(0.00002, 4 * 1600) == 1
    assert torch.equal(locked.layers[0].weight, model.layers[0].weight)
    assert torch.equal(locked.layers[-1].weight, model.layers[-1].weight)
    rep = key.size_report()
    assert rep["values"] == 1 and rep["share_of_parameters"] == pytest.approx(1 / key.meta["n_parameters"])


def test_random_indicator_is_seeded():
    model = make_fcn(4, 20, seed=0)
    pos = lambda s: [e.positions.tolist() for e in extract(model, 0.05, "random", seed=s)[1].entries]
    assert pos(3) == pos(3)
    assert pos(3) != pos(4)


def test_key_file_roundtrip_permissions_and_refusals(tmp_path):
    model = make_fcn(4, 16, seed=0)
    locked, key = extract(model, 0.02)
    path = key.save(tmp_path / "key.safetensors")
    assert (os.stat(path).st_mode & 0o777) == 0o600
    loaded = AccessKey.load(path)
    assert model_sha256(loaded.restore(locked)) == model_sha256(model)
    # a key for another model: refused, the model untouched
    other = make_fcn(4, 16, seed=1)
    other_locked, _ = extract(other, 0.02)
    snapshot = copy.deepcopy(other_locked.state_dict())
    with pytest.raises(UserError, match="does not belong"):
        loaded.restore(other_locked, inplace=True)
    assert all(torch.equal(snapshot[k], v) for k, v in other_locked.state_dict().items())
    # the original (unlocked) model is not the locked one either
    with pytest.raises(UserError, match="does not belong"):
        loaded.restore(model)
    # tampering with a value is detected
    tampered = AccessKey.load(path)
    tampered.entries[0].values[0] += 1.0
    with pytest.raises(UserError, match="tampered"):
        tampered.restore(locked)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01
    (tmp_path / "bad.safetensors").write_bytes(bytes(raw))
    with pytest.raises(UserError, match="tampered|not a readable"):
        AccessKey.load(tmp_path / "bad.safetensors")
    (tmp_path / "junk.safetensors").write_text("junk")
    with pytest.raises(UserError, match="not a readable access key"):
        AccessKey.load(tmp_path / "junk.safetensors")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"ratio": 0.0}, "ratio"),
        ({"ratio": 1.0}, "ratio"),
        ({"ratio": float("nan")}, "ratio"),
        ({"ratio": 0.1, "indicator": "l2"}, "indicator"),
        ({"ratio": 0.1, "mode": "local"}, "mode"),
        ({"ratio": 0.1, "scope": "inner"}, "scope"),
        ({"ratio": 0.1, "indicator": "bn-scale"}, "batch-norm"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(UserError, match=match):
        extract(make_fcn(3, 8, seed=0), **kwargs)


def test_non_finite_weights_are_refused():
    model = make_fcn(3, 8, seed=0)
    with torch.no_grad():
        model.layers[1].weight[0, 0] = float("nan")
    with pytest.raises(UserError, match="NaN or inf"):
        extract(model, 0.1)


def _mixed_cnn():
    """The shape of a user's CNN that a global ℓ1 ranking used to wipe: two strided convs and a hidden Linear."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))  # fmt: skip


def test_a_mixed_ranking_wipes_no_layer_and_scores_relative_to_each_layer():
    """Filters among single weights: each unit's ℓ1 score is divided by its layer's mean score (hand check on
    one filter), so at 5 % global no candidate layer loses all (or even half) of its units."""
    from empirical.lock.ranking import candidates, unit_scores

    model = _mixed_cnn()
    cands = candidates(model)
    assert [c.kind for c in cands] == ["filter", "filter", "weight"]
    w = model[3].weight.detach()
    layer_mean = w.abs().sum(dim=(2, 3)).double().mean()
    assert cands[0].score_divisor == pytest.approx(float(layer_mean), rel=1e-12)
    s = unit_scores(w, cands[0], 0, 1, "l1", 0)
    assert float(s[0]) == pytest.approx(float(w[0, 0].abs().sum() / layer_mean), rel=1e-6)
    locked, key = extract(model, 0.05)
    for name, count in key.meta["counts"].items():
        assert count <= key.meta["candidates"][name] / 2, name
    assert all(torch.equal(a, b) for a, b in zip(key.restore(locked).parameters(), model.parameters()))


@pytest.mark.parametrize("which", ["fcn", "convs"])
def test_rankings_of_one_unit_kind_are_the_plain_l1(which):
    """The paper's FCNs (weights only) and filter-only candidate sets keep exactly the plain ℓ1 scores."""
    from empirical.lock.ranking import candidates

    model = make_fcn(4, 16, seed=0) if which == "fcn" else make_conv("vgg", 1, 4, seed=0)
    assert all(c.score_divisor == 1.0 for c in candidates(model))


def test_bn_filter_extracts_the_filters_of_the_largest_gammas():
    """Section 3.2: a VGG's conv output channels ranked by the |γ| of the BN right after them; extracting one
    zeroes its whole filter, γ and β (hand check of the top channel), and unlock restores every value."""
    from empirical.lock.ranking import candidates

    model = make_conv("vgg", 1, 4, seed=0).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.linspace(0.5, 1.5, m.num_features))
    cands = candidates(model, "bn-filter")
    assert all(c.kind == "channel" and len(c.also) >= 2 for c in cands)
    locked, key = extract(model, k=1, indicator="bn-filter")
    params = dict(locked.named_parameters())
    ((name, count),) = [(n, c) for n, c in key.meta["counts"].items() if c]
    c = next(c for c in cands if c.name == name)
    top = int(torch.argmax(dict(model.named_parameters())[name].abs()))
    assert params[name][top] == 0 and params[c.also[0]][top] == 0 and (params[c.also[1]][top] == 0).all()
    assert all(torch.equal(a, b) for a, b in zip(key.restore(locked).parameters(), model.parameters()))
    with pytest.raises(UserError, match="bn-filter indicator needs conv layers followed directly by batch norm"):
        candidates(make_fcn(3, 8), "bn-filter")
