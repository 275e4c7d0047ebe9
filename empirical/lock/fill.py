"""What a locked model holds at the key positions (``lock --fill``): zeros (the paper) or fresh noise.

A trained network has essentially no exact zeros, so zeros mark every key position for anyone
holding the locked model (the key-position attack, ``empirical.lock.attacks``). ``noise`` writes, at each
extracted unit, *fresh* values drawn from the same layer's remaining values: the empirical quantile
function of the remaining magnitudes, interpolated linearly between order statistics (so the draw is
continuous), with a random sign for weights and filters (signed values for BN and other units). A value
that would equal one already in the layer (or zero) is drawn again, so no key position holds a copy of
another value of its layer: an earlier version copied whole units from the same layer, and flagging the
weights whose |w| occurs twice found every key position. The key still holds the original values, so
unlocking stays bit-exact; the locked model's fingerprint in the key is that of the filled model.

What the fill does not hide: the largest original weights are gone, so a layer's top magnitudes are
smaller than an unlocked network's of the same shape, and the network's loss still leans on the lost
positions; see the attack results in the docs for what the detectors built here find.
"""

from __future__ import annotations

import torch

from empirical.nets.checkpoint import model_sha256

FILLS = ("zero", "noise")


def _quantile_draws(sorted_pool: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """``n`` draws from the empirical quantile function of ``sorted_pool``, interpolated linearly between
    consecutive order statistics (float64)."""
    m = sorted_pool.numel()
    if m == 1:
        return sorted_pool.expand(n).clone()
    at = torch.rand(n, generator=g, dtype=torch.float64) * (m - 1)
    lo = at.floor().long().clamp(max=m - 2)
    frac = at - lo
    return sorted_pool[lo] + frac * (sorted_pool[lo + 1] - sorted_pool[lo])


def fresh_draws(pool: torch.Tensor, shape, signed: bool, g: torch.Generator, max_rounds: int = 64) -> torch.Tensor:
    """Values of ``shape`` in ``pool``'s dtype, drawn from the quantile function of ``pool`` (of ``|pool|`` with a
    random sign unless ``signed``), none zero and none equal in magnitude to a value of ``pool`` or to another
    draw. Draws that collide are drawn again; after ``max_rounds`` a colliding draw steps to the next
    representable float away from zero until it is new (only a pool with very few distinct values gets there)."""
    dtype, n = pool.dtype, int(torch.Size(shape).numel())
    base = pool.double() if signed else pool.double().abs()
    sorted_pool = torch.sort(base).values
    taken = torch.unique(pool.abs().to(dtype))  # magnitudes already in the layer
    out = torch.empty(n, dtype=dtype)
    todo = torch.arange(n)
    for _ in range(max_rounds):
        if not len(todo):
            break
        draw = _quantile_draws(sorted_pool, len(todo), g)
        if not signed:
            draw = draw * (torch.randint(0, 2, (len(todo),), generator=g, dtype=torch.float64) * 2 - 1)
        draw = draw.to(dtype)
        out[todo] = draw
        todo = todo[_colliding(out, todo, taken)]
    for i in todo.tolist():  # the rare leftovers: step away from zero until the magnitude is new
        others = torch.cat([out[:i], out[i + 1 :]]).abs()
        v = out[i] if out[i] != 0 else torch.tensor(torch.finfo(dtype).tiny, dtype=dtype)
        while bool(torch.isin(v.abs(), taken)) or bool(torch.isin(v.abs(), others)):
            v = torch.nextafter(v, v * 2)
        out[i] = v
    return out.reshape(shape)


def _colliding(out: torch.Tensor, todo: torch.Tensor, taken: torch.Tensor) -> torch.Tensor:
    """Which of the draws ``out[todo]`` are zero, equal in magnitude to a pool value, or to another draw."""
    mag = out.abs()
    _, inverse, counts = torch.unique(mag, return_inverse=True, return_counts=True)
    dup = counts[inverse] > 1
    cand = mag[todo]
    return (cand == 0) | torch.isin(cand, taken) | dup[todo]


@torch.no_grad()
def fill_key_positions(locked, key, fill: str = "noise", seed: int = 0) -> None:
    """Overwrite the key positions of ``locked`` in place and update the key's locked fingerprint and digest."""
    if fill == "zero":
        return
    if fill != "noise":
        raise ValueError(f"unknown fill {fill!r}")
    params = dict(locked.named_parameters())
    g = torch.Generator().manual_seed(int(seed) * 7_919 + 17)
    for e in key.entries:
        p = params[e.name]
        units = p.view(-1, e.unit_size)
        keep = torch.ones(units.shape[0], dtype=torch.bool)
        keep[e.positions] = False
        rest = units[keep.to(units.device)].reshape(-1).detach().cpu()
        if rest.numel() == 0:  # every unit extracted: nothing to imitate, leave zeros
            continue
        signed = e.kind not in ("weight", "filter")
        values = fresh_draws(rest, (len(e.positions), e.unit_size), signed, g)
        units[e.positions.to(units.device)] = values.to(units)
    key.meta["fill"] = fill
    key.meta["locked_sha256"] = model_sha256(locked)
    key.meta["key_sha256"] = key.digest()
