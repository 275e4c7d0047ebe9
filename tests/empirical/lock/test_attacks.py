"""Attacks on a locked model (``empirical.lock.attacks``) on tiny hand-made and random networks."""

import copy

import pytest
import torch
import torch.nn as nn

from empirical.errors import UserError
from empirical.lock import attacks as atk
from empirical.lock.extraction import extract
from empirical.lock.fill import fill_key_positions
from empirical.nets.convnets import make_conv
from empirical.nets.models import make_fcn


def _data(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 784, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_detection_on_a_hand_built_case():
    """Two exact zeros in a weight, one of them a key position; one silenced BN channel (γ = β = 0)."""
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2), nn.Linear(2, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[0.0, 1.0, 2.0], [3.0, 0.0, 4.0]]))
        net[1].weight.copy_(torch.tensor([0.0, 1.0]))
        net[1].bias.copy_(torch.tensor([0.0, 0.5]))
        net[2].weight.fill_(1.0)
    found = atk.detect_key_positions(net)
    assert found["0.weight"].tolist() == [0, 4] and found["1.weight"].tolist() == [0] == found["1.bias"].tolist()
    truth = {"0.weight": torch.tensor([4]), "1.weight": torch.tensor([0]), "1.bias": torch.tensor([0])}
    s = atk.detection_scores(found, truth)
    assert (s["detected"], s["key_values"]) == (4, 3)
    assert s["precision"] == 3 / 4 and s["recall"] == 1.0


def test_detection_finds_every_l1_key_value_and_none_after_the_noise_fill():
    model = make_fcn(3, 32, seed=0)
    locked, key = extract(model, 0.1)
    truth = atk.key_positions(key, locked)
    s = atk.detection_scores(atk.detect_key_positions(locked), truth)
    assert s["recall"] == 1.0 and s["precision"] == 1.0
    fill_key_positions(locked, key, "noise", seed=0)
    assert atk.detection_scores(atk.detect_key_positions(locked), truth)["recall"] == 0.0
    assert torch.equal(key.restore(locked).layers[1].weight, model.layers[1].weight)  # unlock stays bit-exact


def _copy_fill(locked, key, seed=0):
    """The fill as it was before: whole units copied from the same layer's remaining units (random sign)."""
    g = torch.Generator().manual_seed(seed)
    params = dict(locked.named_parameters())
    with torch.no_grad():
        for e in key.entries:
            units = params[e.name].view(-1, e.unit_size)
            keep = torch.ones(units.shape[0], dtype=torch.bool)
            keep[e.positions] = False
            pool = torch.nonzero(keep).reshape(-1)
            pick = pool[torch.randint(len(pool), (len(e.positions),), generator=g)]
            units[e.positions] = units[pick] * (torch.randint(0, 2, (len(pick), 1), generator=g) * 2 - 1)


@pytest.mark.parametrize("unit", ["weights", "filters"])
def test_the_noise_fill_leaves_no_zero_and_no_duplicated_magnitude_at_the_key(unit):
    """A tiny MLP (single weights) and a tiny VGG (whole filters): after ``--fill noise`` no key position holds an
    exact zero or a |w| that stands anywhere else in its layer, so the duplicate-|w| detector finds none of them
    (recall 0, against 1 for a fill that copies values within the layer); unlock is bit-exact."""
    model = make_fcn(3, 32, seed=0) if unit == "weights" else make_conv("vgg", 1, 4, seed=0).eval()
    locked, key = extract(model, 0.1)
    truth = atk.key_positions(key, locked)
    copied = copy.deepcopy(locked)
    _copy_fill(copied, key)
    assert atk.detection_scores(atk.detect_duplicate_magnitudes(copied), truth)["recall"] == 1.0
    fill_key_positions(locked, key, "noise", seed=0)
    params = dict(locked.named_parameters())
    for name, pos in truth.items():
        w = params[name].detach().reshape(-1)
        mask = torch.zeros(len(w), dtype=torch.bool)
        mask[pos] = True
        assert (w[mask] != 0).all()
        assert not torch.isin(w[mask].abs(), w[~mask].abs()).any()  # no copy of a value that stays
        assert len(torch.unique(w[mask].abs())) == int(mask.sum())  # and no two key positions alike
    assert atk.detection_scores(atk.detect_duplicate_magnitudes(locked), truth)["recall"] == 0.0
    restored = key.restore(locked)
    assert all(torch.equal(a, b) for a, b in zip(restored.parameters(), model.parameters()))


def test_the_noise_fill_follows_the_layers_magnitude_distribution():
    """The filled magnitudes of a 256 × 256 layer against its remaining ones: Kolmogorov–Smirnov p > 0.01 (a
    test at the 1 % level that a draw from the layer's own quantile function passes 99 times in 100)."""
    from scipy.stats import ks_2samp

    model = make_fcn(3, 256, seed=0)
    locked, key = extract(model, 0.05, mode="per-layer")
    fill_key_positions(locked, key, "noise", seed=0)
    e = next(e for e in key.entries if e.name == "layers.1.weight")
    w = locked.layers[1].weight.detach().reshape(-1)
    mask = torch.zeros(len(w), dtype=torch.bool)
    mask[e.positions] = True
    assert ks_2samp(w[mask].abs().numpy(), w[~mask].abs().numpy()).pvalue > 0.01


def test_targeted_restore_touches_only_the_detected_positions():
    net = make_conv("vgg", 1, 4, seed=0).eval()
    locked, key = extract(net, 0.2, "bn-scale")
    detected = atk.detect_key_positions(locked)
    x, y = _data()
    out = atk.targeted_restore(locked, detected, x, y, epochs=2, lr=0.1)
    before, after = locked.state_dict(), out.state_dict()
    changed = set()
    for name in before:
        diff = (before[name] != after[name]).reshape(-1)
        if diff.any():
            changed.add(name)
            allowed = detected.get(name)
            assert allowed is not None and set(torch.nonzero(diff).reshape(-1).tolist()) <= set(allowed.tolist())
    assert changed and changed <= set(detected)  # BN running statistics never change either


def test_last_layer_fine_tuning_changes_only_the_head():
    model = make_fcn(2, 16, seed=0)
    x, y = _data()
    for mode in ("FTLL", "RTLL"):
        out = atk.fine_tune(model, x, y, mode, atk.FineTune(epochs=1))
        for i in range(2):
            assert torch.equal(out.layers[i].weight, model.layers[i].weight)
        assert not torch.equal(out.layers[2].weight, model.layers[2].weight)
    out = atk.fine_tune(model, x, y, "FTAL", atk.FineTune(epochs=1))
    assert not torch.equal(out.layers[0].weight, model.layers[0].weight)


def test_pruning():
    model = make_fcn(2, 16, seed=0)
    pruned = atk.magnitude_prune(model, 0.25)
    for a, b in zip(model.layers, pruned.layers):
        zeros = (b.weight == 0).sum().item()
        assert zeros == int(0.25 * a.weight.numel())
        assert b.weight[b.weight != 0].abs().min() >= a.weight.abs().reshape(-1).kthvalue(zeros).values  # smallest
    x, _ = _data()
    fp = atk.fine_prune(model, x, 0.5)
    acts = torch.relu(model.layers[1](torch.relu(model.layers[0](x)))).mean(0)
    dead = torch.nonzero((fp.layers[1].weight == 0).all(dim=1)).reshape(-1)
    assert len(dead) == 8 and set(dead.tolist()) == set(torch.topk(acts, 8, largest=False).indices.tolist())


def test_stratified_subset_keeps_the_class_balance():
    y = torch.arange(1000) % 10
    idx = atk.stratified_subset(y, 0.05, seed=3)
    assert len(idx) == 50 and torch.bincount(y[idx]).tolist() == [5] * 10
    assert torch.equal(idx, atk.stratified_subset(y, 0.05, seed=3))


def test_from_scratch_with_adam_learns_and_a_bad_optimizer_is_refused():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 784, generator=g)
    y = (x[:, 0] > 0).long()  # a linearly separable two-class task
    make = lambda: make_fcn(1, 16)  # noqa: E731
    model = atk.from_scratch(make, x, y, atk.FineTune(epochs=5, lr=1e-2, optimizer="adam"), seed=0)
    assert atk.accuracy(model, x, y) > 0.9
    with pytest.raises(UserError, match="unknown optimizer"):
        atk.from_scratch(make, x, y, atk.FineTune(epochs=1, optimizer="rmsprop"))


def test_from_scratch_to_convergence_stops_on_its_held_out_data_and_respects_the_cap():
    """A separable toy problem: early stopping ends training before the step cap and keeps the best epoch;
    a small cap ends it at exactly that many steps."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 20, generator=g)
    y = x[:, :10].argmax(1)  # the class is the largest of the first ten inputs
    make = lambda: nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 10))  # noqa: E731
    run = atk.from_scratch_converged(make, x, y, lr=1e-2, patience=3, patience_steps=0, max_steps=20_000, seed=0)
    assert run.steps < 20_000 and run.stop_epoch == run.best_epoch + 3 and run.heldout_accuracy > 0.8
    capped = atk.from_scratch_converged(make, x, y, patience=50, max_steps=17, seed=0)
    assert capped.steps == 17
    slow = atk.from_scratch_converged(make, x[:300], y[:300], lr=1e-2, patience=1, patience_steps=40, seed=0)
    assert slow.stop_epoch - slow.best_epoch == 14  # 240 training images: 3 steps an epoch, 40 steps = 14 epochs


def test_sgd_cosine_anneals_to_zero_and_a_refit_runs_exactly_its_epochs():
    """The second from-scratch recipe: SGD with momentum whose lr follows a cosine to 0 over the horizon (read off
    the scheduler); a refit on the whole share takes exactly epochs × ⌈n / batch⌉ optimizer steps (counted by a
    hook) and learns the toy problem, Adam and SGD-cosine alike; bad input is one error."""
    model = nn.Linear(4, 2)
    opt, sched = atk._scratch_optimizer(model, "sgd-cosine", horizon=10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.05) and opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))  # monotone down
    g = torch.Generator().manual_seed(0)
    x = torch.randn(450, 20, generator=g)
    y = x[:, :10].argmax(1)
    steps = []

    def make():
        net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 10))
        net[0].weight.register_hook(lambda grad: steps.append(1))  # one backward per optimizer step
        return net

    for recipe in atk.SCRATCH_RECIPES:
        steps.clear()
        model = atk.refit(make, x, y, epochs=12, recipe=recipe, seed=0)
        assert len(steps) == 12 * 5  # 450 images, batch 100: 5 steps an epoch
        assert atk.accuracy(model, x, y) > 0.5, recipe  # chance is 0.1
    run = atk.from_scratch_converged(
        make, x, y, patience=2, patience_steps=0, max_steps=400, seed=0, recipe="sgd-cosine"
    )
    assert 0 < run.steps <= 400 and run.heldout_accuracy > 0.3
    with pytest.raises(UserError, match="unknown from-scratch recipe 'rmsprop'"):
        atk.refit(make, x, y, epochs=1, recipe="rmsprop")
    with pytest.raises(UserError, match="at least one epoch"):
        atk.refit(make, x, y, epochs=0)
