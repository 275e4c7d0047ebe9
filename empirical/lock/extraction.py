"""CoreLocker extraction (Section 3, Definition 1): zero the most important units, keep them as the key.

Which units (candidates, scores, the exact streamed selection and its total order) is
``empirical.lock.ranking``; the key is ``empirical.lock.keys``. Mode ``global`` ranks units across
candidate layers; ``per-layer`` takes the ratio within each layer. k = ``empirical.lock.ratio.n_extracted``.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from empirical.errors import UserError
from empirical.lock.importance import Importance, importance
from empirical.lock.keys import AccessKey, KeyEntry
from empirical.lock.ranking import INDICATORS, MODES, SCOPES, candidates, make_contiguous, select
from empirical.lock.ratio import check_ratio, n_extracted, ratio_for_k
from empirical.nets.checkpoint import model_sha256

__all__ = ["INDICATORS", "MODES", "SCOPES", "AccessKey", "Importance", "KeyEntry", "candidates", "extract"]


def extract(model: nn.Module, ratio=None, indicator="l1", scope="hidden", mode="global", seed=0, *, k=None):
    """CoreLocker extraction: ``(locked_model, key)``; ``key.restore(locked_model)`` is the original.

    ``indicator``: a registered name (``l1``, ``random``, ``bn-scale``, …) or an ``Importance`` object (your own
    ranking: ``empirical.lock.importance``). ``model`` is never modified. Give the ratio r (k = ⌈r·D⌉ of D
    candidate units, Definition 1) or,
    in global mode, ``k`` itself (the key then records the ratio for which ``extract`` takes exactly
    k units, ``ratio_for_k``). See ``empirical.lock.ranking`` for units, order and ties.
    """
    if (ratio is None) == (k is None):
        raise UserError("give exactly one of the extraction ratio and k")
    if mode not in MODES:
        raise UserError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    cands = candidates(model, indicator, scope)
    D = sum(c.n_units for c in cands)
    if k is not None:
        if mode != "global":
            raise UserError("k (a number of units) takes the global ranking; use a ratio with --mode per-layer")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= D:
            raise UserError(f"k must be an integer in 1..{D} (the candidate units), got {k!r}")
        r = ratio_for_k(k, D)
    else:
        r = check_ratio(ratio)
    params = dict(model.named_parameters())
    for c in cands:
        if not bool(torch.isfinite(params[c.name]).all()):
            raise UserError(f"parameter {c.name} holds NaN or inf: refusing to rank its units")
    if mode == "global":
        k_total = k if k is not None else n_extracted(r, D)
        chosen = select(params, cands, k_total, indicator, seed)
    else:
        chosen = {}
        for c in cands:
            chosen.update(select(params, [c], n_extracted(r, c.n_units), indicator, seed))
    original_sha = model_sha256(model)
    locked = make_contiguous(copy.deepcopy(model))
    lparams = dict(locked.named_parameters())
    entries = []
    with torch.no_grad():
        for c in cands:
            pos = chosen[c.name]
            for name in (c.name, *c.also):  # each viewed as (units, its own unit size): γ, β of a channel are 1 wide
                view = params[name].detach().reshape(c.n_units, -1)
                entries.append(
                    KeyEntry(name, c.kind, view.shape[1], pos.clone(), view[pos.to(view.device)].cpu().clone())
                )
                lparams[name].view(c.n_units, -1)[pos.to(view.device)] = 0
    meta = {
        "indicator": importance(indicator).name,
        "ratio": r,
        "scope": scope,
        "mode": mode,
        "seed": seed,
        "fill": "zero",
        "k_total": int(sum(chosen[c.name].numel() for c in cands)),
        "counts": {c.name: int(chosen[c.name].numel()) for c in cands},
        "candidates": {c.name: c.n_units for c in cands},
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
        "original_sha256": original_sha,
        "locked_sha256": model_sha256(locked),
    }
    key = AccessKey(entries, meta)
    key.meta["key_sha256"] = key.digest()
    return locked, key
