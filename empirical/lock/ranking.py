"""Which units an extraction takes (Section 3, Definition 1): candidates, importance scores, exact selection.

Units and their importance (indicator):
  ``l1``       — single weights of ``nn.Linear`` layers (|w|), whole filters F_{s,t} of ``nn.Conv2d``
                 layers (Σ|F_{s,t}|);
  ``random``   — the same units with seeded uniform scores (the paper's baseline);
  ``bn-scale`` — batch-norm channels by |γ|; extracting a channel zeroes its γ and β (the authors' demo).
                 LayerNorm features count as channels too (the transformer's analogue).
  ``bn-folded`` — the same channels ranked by the scale eval-mode BN really applies, |γ|/√(σ² + ε) (a
                 choice the paper's text allows: after short training γ ≈ 1 everywhere and raw |γ| is noise).
  ``bn-filter`` — Section 3.2's reading: the *filters* linked to the largest |γ|. Each conv output channel that
                 a BN follows directly, ranked by that BN channel's |γ|; extracting it zeroes the whole filter
                 (every input channel) together with the channel's γ and β (BN layers with no conv right
                 before them, e.g. in pre-activation blocks, are not candidates).
  ``l1-neuron`` — whole neurons: rows of every weight matrix (a Linear layer's output unit, an LSTM gate
                 unit, an attention projection's output), by the row's ℓ1 — the unit the authors' follow-up
                 work ranks globally. Conv layers are left to ``l1-channel``.
  ``l1-channel`` — whole output channels of conv layers by Σ|F_s| (all input channels), "removed along with
                 their associated feature maps" (Section 3.2): the filter and, when a BN follows the conv
                 directly (VGG, ResNet), that channel's γ and β too — so the channel is silenced, not left at
                 the constant β − γμ/σ. (In pre-activation nets the next BN normalises a concatenation or a
                 sum, so only the filter is zeroed.)
Mixed unit kinds: when one ``l1`` ranking holds both conv filters and single Linear weights (a CNN with
hidden Linear layers), a filter's Σ|F| over q² weights outranks nearly every single |w| and a global
extraction wipes whole conv layers first (measured on a 115 k-parameter MNIST CNN, two strided convs and
a hidden Linear, trained 2 epochs: at 5 % both conv layers lost 100 % of their filters, accuracy 0.959 →
0.103). Scoring filters by their mean |w| (Σ|F|/q²) is not enough there (76 % and 43 % of the two conv
layers at 5 %, accuracy 0.434): layers differ in scale (PyTorch initialises with 1/√fan-in). So in a mixed
ranking every unit's score is divided by its layer's mean score: units compete by how far they stand out
in their own layer (2 %, 0 % and 5 % of the three layers at 5 %, accuracy 0.824; ``--mode per-layer``:
0.810). The paper's FCNs (weights only) and candidate sets of filters only keep the plain ℓ1 ranking.
Scope ``hidden`` (default) leaves the first and last weight layers alone ("no extraction in input
and output layers", Section 3.1); ``all`` does not.

Selection is exact and streamed: pass 1 finds the k-th largest score with chunked top-k (a buffer
of at most ~2k values), pass 2 collects every unit above it and, among units equal to it, the
first ones in (layer, index) order — a deterministic total order: score descending, then layer,
then flat index. Memory stays O(k + chunk), never O(#parameters).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from empirical.errors import UserError
from empirical.lock.importance import IMPORTANCES, as_float, importance
from empirical.lock.units import CHUNK, Candidate, chunks  # noqa: F401  (the units of a ranking, used by callers)

INDICATORS = tuple(IMPORTANCES)  # the registered names; an Importance object works wherever a name does
SCOPES = ("hidden", "all")
MODES = ("global", "per-layer")


def candidates(model: nn.Module, indicator="l1", scope: str = "hidden") -> list[Candidate]:
    """The candidate layers of ``model`` for ``indicator`` (a name or an ``Importance``) and ``scope``, in module
    order (``empirical.lock.importance``)."""
    imp = importance(indicator)
    if scope not in SCOPES:
        raise UserError(f"unknown scope {scope!r}; choose one of {', '.join(SCOPES)}")
    out = imp.candidates(model, scope)
    if not out:
        raise UserError(f"no candidate layers for scope {scope!r} (scope 'hidden' needs 3 or more weight layers)")
    return out


def make_contiguous(model: nn.Module) -> nn.Module:
    """Give every parameter the standard (contiguous) layout, in place: units are addressed as views
    (n_units, unit_size) of it, which a channels-last tensor cannot give. Values are unchanged."""
    with torch.no_grad():
        for p in model.parameters():
            if not p.is_contiguous():
                p.data = p.data.contiguous()
    return model


def unit_scores(param: torch.Tensor, c: Candidate, start: int, stop: int, indicator, seed: int) -> torch.Tensor:
    """Importance of units [start, stop) of one candidate layer (float32 or float64, 1-D), by ``indicator``."""
    units = as_float(param.detach().reshape(c.n_units, c.unit_size)[start:stop])  # (chunk, unit_size)
    return importance(indicator).scores(units, c, start, seed)


def kth_largest(score_chunks, k: int):
    """The k-th largest value over all chunks (k >= 1).

    Keeps a buffer of at most 2k + k values; once it holds k values, their minimum t is a running
    lower bound of the answer, so later chunks are first filtered to values > t (a cheap
    comparison) before any top-k.
    """
    buf, t_run = None, None
    for s in score_chunks:
        if t_run is not None:
            s = s[s > t_run]
            if s.numel() == 0:
                continue
        top = torch.topk(s, min(k, s.numel())).values
        buf = top if buf is None else torch.cat([buf, top.to(buf.device)])
        if buf.numel() >= k and (t_run is None or buf.numel() > 2 * k):
            buf = torch.topk(buf, k).values  # sorted descending
            t_run = buf[-1]
    return torch.topk(buf, min(k, buf.numel())).values.min()


def select(params, cands: list[Candidate], k: int, indicator: str, seed: int) -> dict[str, torch.Tensor]:
    """Positions (sorted, int64) of the k best units over ``cands`` in the total order of the module doc."""
    t = kth_largest((unit_scores(params[c.name], c, a, b, indicator, seed) for c in cands for a, b in chunks(c)), k)
    above: dict[str, list] = {c.name: [] for c in cands}
    ties: list[tuple[str, torch.Tensor]] = []
    n_above, n_ties = 0, 0
    for c in cands:
        for a, b in chunks(c):
            s = unit_scores(params[c.name], c, a, b, indicator, seed)
            gt = torch.nonzero(s > t).reshape(-1) + a
            above[c.name].append(gt.cpu())
            n_above += gt.numel()
            if n_ties < k:
                eq = torch.nonzero(s == t).reshape(-1)[: k - n_ties] + a
                ties.append((c.name, eq.cpu()))
                n_ties += eq.numel()
    need = k - n_above
    for name, eq in ties:
        take = eq[: max(need, 0)]
        above[name].append(take)
        need -= take.numel()
    return {name: torch.sort(torch.cat(parts)).values for name, parts in above.items()}
