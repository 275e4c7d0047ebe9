"""Attacks on a locked model: what an attacker holding it (and a little data) can recover.

The paper's third property is "complex unauthorized restoration" (Section 3; Tables 2–3). Each attack
here is a function of the locked model and the attacker's data that returns a new model; nothing
touches the key.

* ``fine_tune`` — Adi et al. (USENIX Security 2018): FTLL (last layer only), FTAL (all layers),
  RTLL / RTAL (the last layer re-initialised first); SGD lr 0.01, momentum 0.9, weight decay 5e-4,
  batch 100, 20 epochs by default. ``from_scratch`` trains the same architecture on the same data:
  the attacker's own alternative.
* ``from_scratch_converged`` — the same, or any architecture the attacker picks, trained with Adam until
  early stopping on a held-out part of the attacker's own data (patience and step cap stated): the
  baseline an attack has to beat, not one stopped at the attack's step count.
* ``magnitude_prune`` — each weight layer's smallest-|w| fraction set to zero. ``fine_prune`` — Liu
  et al. (RAID 2018): the last hidden layer's channels (conv) or neurons (FCN) with the lowest mean
  activation on the attacker's clean data are removed.
* The **key-position attack** (not in the paper): a trained network has essentially no exact zeros,
  so every exact zero (ℓ1) or every BN channel with γ = β = 0 (bn-scale) marks a key position
  (``detect_key_positions``; ``detection_scores`` against the real key). ``targeted_restore`` then
  trains only those positions, everything else frozen; silenced γ are first re-initialised to their
  layer's mean |γ| (ReLU(0) = 0 gives no gradient otherwise).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as nnf

from empirical.errors import UserError
from empirical.lock.detectors import (  # noqa: F401  (re-exported: the key-position attack's detectors)
    detect_duplicate_magnitudes,
    detect_key_positions,
    detection_scores,
    detector_rows,
    key_positions,
    magnitude_scores,
    saliency_scores,
    top_k_positions,
    value_counts,
)
from empirical.lock.keys import AccessKey
from empirical.lock.pruning import fine_prune, magnitude_prune  # noqa: F401  (re-exported: the pruning attacks)
from empirical.nets.threads import denormals_flushed_in

FT_MODES = ("FTLL", "FTAL", "RTLL", "RTAL")


def stratified_subset(y: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """Indices of a class-stratified random ``fraction`` of the labels ``y`` (the attacker's data)."""
    if not 0 < fraction <= 1:
        raise UserError(f"the attacker's data fraction must be in (0, 1], got {fraction}")
    g = torch.Generator().manual_seed(seed)
    idx = []
    for c in torch.unique(y):
        members = torch.nonzero(y == c).reshape(-1)
        take = max(1, round(fraction * len(members)))
        idx.append(members[torch.randperm(len(members), generator=g)[:take]])
    return torch.sort(torch.cat(idx)).values


def last_linear(model: nn.Module) -> nn.Linear:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UserError("the model has no linear classifier to fine-tune")
    return linears[-1]


@dataclass(frozen=True)
class FineTune:
    epochs: int = 20
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 100
    optimizer: str = "sgd"  # "adam": Adam(lr) without momentum or weight decay (an attacker's from-scratch recipe)


@denormals_flushed_in
def _sgd_epochs(model, params, x, y, ft: FineTune, seed: int, grad_mask=None, frozen_bn=False) -> nn.Module:
    """SGD (or Adam, per ``ft.optimizer``) over (x, y); ``frozen_bn``: BN layers stay in eval mode."""
    if ft.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=ft.lr)
    elif ft.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=ft.lr, momentum=ft.momentum, weight_decay=ft.weight_decay)
    else:
        raise UserError(f"unknown optimizer {ft.optimizer!r}; choose sgd or adam")
    g = torch.Generator().manual_seed(seed)
    for _ in range(ft.epochs):
        model.train(not frozen_bn)
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), ft.batch_size):
            idx = perm[i : i + ft.batch_size]
            loss = nnf.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_mask is not None:
                grad_mask(model)
            opt.step()
    return model.eval()


def fine_tune(locked: nn.Module, x, y, mode: str = "FTAL", ft: FineTune = FineTune(), seed: int = 0) -> nn.Module:
    """Adi et al.'s fine-tuning attacks (module doc) on a copy of ``locked``."""
    if mode not in FT_MODES:
        raise UserError(f"unknown fine-tuning mode {mode!r}; choose one of {', '.join(FT_MODES)}")
    model = copy.deepcopy(locked)
    head = last_linear(model)
    if mode.startswith("RT"):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            head.reset_parameters()
    params = list(head.parameters()) if mode.endswith("LL") else list(model.parameters())
    if mode.endswith("LL"):
        for p in model.parameters():
            p.requires_grad_(False)
        for p in head.parameters():
            p.requires_grad_(True)
    _sgd_epochs(model, params, x, y, ft, seed, frozen_bn=mode.endswith("LL"))  # LL: nothing else may change
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def from_scratch(make_model, x, y, ft: FineTune = FineTune(), seed: int = 0) -> nn.Module:
    """The attacker's alternative: the same architecture (``make_model()``) trained on the same data."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model()
    return _sgd_epochs(model, list(model.parameters()), x, y, ft, seed)


@dataclass(frozen=True)
class Converged:
    """A from-scratch baseline trained to convergence: the model, the optimizer steps taken, the epoch whose
    weights were kept (best held-out accuracy) and the epoch at which training stopped."""

    model: nn.Module
    steps: int
    best_epoch: int
    stop_epoch: int
    heldout_accuracy: float


SCRATCH_RECIPES = {  # the attacker's from-scratch recipes; sgd-cosine anneals its lr to 0 over the run's horizon
    "adam": dict(lr=1e-3),
    "sgd-cosine": dict(lr=0.05, momentum=0.9, weight_decay=5e-4),
}


def _scratch_optimizer(model: nn.Module, recipe: str, horizon: int, lr: float | None = None):
    """(optimizer, scheduler or None) of a from-scratch ``recipe`` whose schedule spans ``horizon`` steps."""
    if recipe not in SCRATCH_RECIPES:
        raise UserError(f"unknown from-scratch recipe {recipe!r}; choose one of {', '.join(SCRATCH_RECIPES)}")
    r = {**SCRATCH_RECIPES[recipe], **({"lr": lr} if lr is not None else {})}
    if recipe == "adam":
        return torch.optim.Adam(model.parameters(), lr=r["lr"]), None
    opt = torch.optim.SGD(model.parameters(), lr=r["lr"], momentum=r["momentum"], weight_decay=r["weight_decay"])
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, horizon))


def _scratch_step(model, opt, sched, xb, yb) -> None:
    """One optimizer step of a from-scratch baseline on a batch (and its schedule's step, if any)."""
    loss = nnf.cross_entropy(model(xb), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if sched is not None:
        sched.step()


@denormals_flushed_in
def refit(make_model, x, y, epochs: int, recipe: str = "adam", batch_size: int = 100, seed: int = 0) -> nn.Module:
    """A from-scratch baseline refit on the attacker's *whole* share for ``epochs`` epochs (the count early stopping
    chose on 80 % of it), with ``recipe`` (``SCRATCH_RECIPES``; a cosine spans the refit): the held-out fifth is
    no longer lost to training."""
    if epochs < 1:
        raise UserError(f"a refit needs at least one epoch, got {epochs}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model()
    per_epoch = -(-len(x) // batch_size)
    opt, sched = _scratch_optimizer(model, recipe, epochs * per_epoch)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = perm[i : i + batch_size]
            _scratch_step(model, opt, sched, x[idx], y[idx])
    return model.eval()


@denormals_flushed_in
def from_scratch_converged(
    make_model,
    x,
    y,
    lr: float | None = None,
    batch_size: int = 100,
    holdout: float = 0.2,
    patience: int = 5,
    patience_steps: int = 300,
    max_steps: int = 1200,
    seed: int = 0,
    recipe: str = "adam",
) -> Converged:
    """The attacker's own training, run to convergence on their data: ``recipe`` (``SCRATCH_RECIPES``: Adam 1e-3,
    or SGD with momentum and a cosine over ``max_steps``; ``lr`` overrides its rate), batch ``batch_size``, early
    stopping on a class-stratified ``holdout`` share of that data (never the test set), evaluated after every
    epoch; stops once the held-out accuracy has not improved for ``patience`` epochs *and* ``patience_steps``
    optimizer steps (with 1 % of MNIST an epoch is 5 steps: five epochs alone would stop at noise), or at
    ``max_steps`` steps (state it ≥ 10× the fine-tuning attack's), and keeps the best epoch's weights."""
    if not 0 < holdout < 1 or patience < 1 or patience_steps < 0 or max_steps < 1:
        raise UserError("holdout must be in (0, 1), patience and max_steps >= 1, patience_steps >= 0")
    held = stratified_subset(y, holdout, seed=seed + 1)
    mask = torch.ones(len(y), dtype=torch.bool)
    mask[held] = False
    xt, yt, xh, yh = x[mask], y[mask], x[held], y[held]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model()
    opt, sched = _scratch_optimizer(model, recipe, max_steps, lr)
    g = torch.Generator().manual_seed(seed)
    per_epoch = -(-len(xt) // batch_size)
    patience = max(patience, -(-patience_steps // per_epoch))  # epochs without improvement before stopping
    best, best_state, best_epoch, steps, epoch, since = -1.0, None, 0, 0, 0, 0
    while steps < max_steps and since < patience:
        epoch += 1
        model.train()
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), batch_size):
            if steps >= max_steps:
                break
            idx = perm[i : i + batch_size]
            _scratch_step(model, opt, sched, xt[idx], yt[idx])
            steps += 1
        acc = accuracy(model, xh, yh)
        if acc > best:
            best, best_state, best_epoch, since = acc, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            since += 1
    model.load_state_dict(best_state)
    return Converged(model.eval(), steps, best_epoch, epoch, best)


def targeted_restore(
    locked: nn.Module,
    detected: dict[str, torch.Tensor],
    x,
    y,
    epochs: int = 5,
    lr: float = 0.01,
    batch_size: int = 100,
    seed: int = 0,
) -> nn.Module:
    """Train only the ``detected`` positions of a copy of ``locked`` on (x, y); every other value stays bit
    for bit. Silenced BN channels (γ = β = 0) get γ = their layer's mean |γ| first."""
    model = copy.deepcopy(locked)
    params = dict(model.named_parameters())
    masks = {}
    with torch.no_grad():
        for name, pos in detected.items():
            p = params[name]
            mask = torch.zeros(p.numel(), dtype=torch.bool)
            mask[pos] = True
            masks[name] = mask.reshape(p.shape)
            if name.endswith("weight") and p.ndim == 1 and name[: -len("weight")] + "bias" in detected:
                rest = p.reshape(-1)[~mask.reshape(-1)]
                p.reshape(-1)[pos] = rest.abs().mean() if len(rest) else 1.0  # a silenced γ has no gradient
    for p in model.parameters():
        p.requires_grad_(False)
    trainable = [params[n] for n in masks]
    for p in trainable:
        p.requires_grad_(True)

    def keep_only_masked(m):
        for n, mask in masks.items():
            if params[n].grad is not None:
                params[n].grad.mul_(mask)

    ft = FineTune(epochs=epochs, lr=lr, momentum=0.9, weight_decay=0.0, batch_size=batch_size)  # no decay: frozen stays
    if trainable:
        _sgd_epochs(model, trainable, x, y, ft, seed, grad_mask=keep_only_masked, frozen_bn=True)
    for p in model.parameters():
        p.requires_grad_(True)
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x, y, batch: int = 2000) -> float:
    model.eval()
    hits = sum(int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(x), batch))
    return hits / len(x)


# ----------------------------------------------------------------------------- your own locked model
RECIPES = {  # the fine-tuning recipes `attacks --checkpoint` runs: Adi et al.'s SGD, and plain Adam
    "sgd": FineTune(),
    "adam": FineTune(lr=1e-3, optimizer="adam"),
}


def attack_locked(
    locked: nn.Module,
    make_model,
    train,
    test,
    fractions,
    seeds=1,
    key: AccessKey | None = None,
    epochs: int = 20,
    baseline: bool = True,
    progress=None,
) -> list[dict]:
    """Every attack on one locked model, one row each: for each attacker data share (a class-stratified
    ``fraction`` of ``train``) and seed, the four fine-tuning modes under both ``RECIPES``, the key-position
    attack (``detect_key_positions`` + ``targeted_restore``) and, with ``baseline``, the attacker's own
    alternative (``make_model()`` trained from scratch to convergence, ``from_scratch_converged``); plus the
    locked model and, with its ``key``, the original as reference rows. Accuracies are on ``test``."""
    (x_tr, y_tr), (x_te, y_te) = train, test
    rows = [dict(attack="locked (no attack)", recipe="", fraction=0.0, seed=0, accuracy=accuracy(locked, x_te, y_te))]
    detected = detect_key_positions(locked)
    found = {"detected": value_counts(detected)}
    if key is not None:
        rows.append(
            dict(
                attack="original (unlocked with the key)",
                recipe="",
                fraction=0.0,
                seed=0,
                accuracy=accuracy(key.restore(locked), x_te, y_te),
            )
        )
        found = detection_scores(detected, key_positions(key, locked))
    note = progress or (lambda text: None)
    for fraction in fractions:
        for seed in range(seeds):
            idx = stratified_subset(y_tr, fraction, seed=seed)
            x, y = x_tr[idx], y_tr[idx]
            base = dict(fraction=fraction, seed=seed, n_images=len(idx))
            for recipe, ft in RECIPES.items():
                ft = replace(ft, epochs=epochs)
                for mode in FT_MODES:
                    note(f"{mode} ({recipe}), {fraction:.0%} of the data, seed {seed}")
                    model = fine_tune(locked, x, y, mode, ft, seed)
                    rows.append(
                        dict(
                            attack=mode,
                            recipe=recipe,
                            **base,
                            accuracy=accuracy(model, x_te, y_te),
                            steps=epochs * -(-len(idx) // ft.batch_size),
                        )
                    )
            note(f"key-position attack, {fraction:.0%} of the data, seed {seed}")
            restored = targeted_restore(locked, detected, x, y, seed=seed)
            rows.append(
                dict(
                    attack="key positions",
                    recipe="sgd (detected positions only)",
                    **base,
                    accuracy=accuracy(restored, x_te, y_te),
                    **found,
                )
            )
            if baseline:
                note(f"from scratch to convergence, {fraction:.0%} of the data, seed {seed}")
                run = from_scratch_converged(
                    make_model, x, y, seed=seed, max_steps=max(1200, 10 * epochs * -(-len(idx) // 100))
                )
                rows.append(
                    dict(
                        attack="from scratch (own architecture, converged)",
                        recipe="adam, early stopping",
                        **base,
                        accuracy=accuracy(run.model, x_te, y_te),
                        steps=run.steps,
                        stop_epoch=run.stop_epoch,
                    )
                )
    return rows
