"""What a locked model holds at the key positions (``lock --fill``): zeros (the paper) or plausible noise.

A trained network has essentially no exact zeros, so zeros mark every key position for anyone
holding the locked model (the key-position attack, ``empirical.attacks``). ``noise`` writes, at each
extracted unit, a unit drawn at random from the *same layer's remaining units* (weights, filters or
BN channels; a random sign for weights and filters), so the locked layer's value distribution looks
like the original's and no exact zero points at the key. The key still holds the original values,
so unlocking stays bit-exact; the locked model's fingerprint in the key is that of the filled model.

What the fill does not hide: the largest original weights are gone, so a layer's top magnitudes are
smaller than an unlocked network's of the same shape; an attacker with the original architecture's
typical weight statistics may still find outliers. See the README's attack section for what the
measurements show.
"""

from __future__ import annotations

import torch

from empirical.nets.checkpoint import model_sha256

FILLS = ("zero", "noise")


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
        n = units.shape[0]
        keep = torch.ones(n, dtype=torch.bool)
        keep[e.positions] = False
        pool = torch.nonzero(keep).reshape(-1)
        if pool.numel() == 0:  # every unit extracted: nothing to imitate, leave zeros
            continue
        pick = pool[torch.randint(pool.numel(), (len(e.positions),), generator=g)]
        values = units[pick.to(units.device)].clone()
        if e.kind in ("weight", "filter"):
            sign = torch.randint(0, 2, (len(e.positions), 1), generator=g).to(values) * 2 - 1
            values = values * sign
        units[e.positions.to(units.device)] = values
    key.meta["fill"] = fill
    key.meta["locked_sha256"] = model_sha256(locked)
    key.meta["key_sha256"] = key.digest()
