"""Accuracy as a function of the extraction ratio, cheaply (Section 5.2, Figure 6, Table 5).

The units ``extract`` removes at ratio r are the first k(r) units of one fixed total order
(score descending, then layer, then flat index; ``empirical.lock.ranking``), so the extracted sets
are nested: rank the units once, up to the largest k needed, and move between ratios by zeroing
(or restoring) only the units between two prefix lengths. ``LockedSweep.set_k`` does that in
place on one copy of the model; ``accuracy_curve`` walks a list of ratios with it. The model at
prefix length k is bit for bit ``extract(model, ratio)[0]`` (tested).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from empirical.errors import UserError
from empirical.lock import ranking
from empirical.lock.importance import importance
from empirical.lock.ranking import MODES, Candidate, candidates, chunks, make_contiguous, select, unit_scores
from empirical.lock.ratio import check_ratio, n_extracted
from empirical.nets.models import FCN
from empirical.nets.train import accuracy


@dataclass
class Ranking:
    """The first ``len(layer)`` units of the extraction order: candidate index and unit position.

    ``mode="global"``: one order across layers. ``mode="per-layer"``: each layer's own order
    (``layer`` sorted by candidate, then rank), prefix lengths taken per layer.
    """

    cands: list[Candidate]
    layer: np.ndarray  # (K,) int64, index into cands
    pos: np.ndarray  # (K,) int64, unit index within the layer
    mode: str

    @property
    def n_candidates(self) -> int:
        return sum(c.n_units for c in self.cands)

    def counts(self, ratio) -> np.ndarray:
        """Units per candidate layer extracted at ``ratio`` (``extract``'s rounding)."""
        if self.mode == "global":
            k = n_extracted(ratio, self.n_candidates)
            return np.bincount(self.layer[:k], minlength=len(self.cands))
        return np.array([n_extracted(ratio, c.n_units) for c in self.cands])


def _scores_at(param, c: Candidate, pos: np.ndarray, indicator: str, seed: int) -> np.ndarray:
    """Scores of the units ``pos`` of one layer, recomputed chunk by chunk exactly as ``extract`` does."""
    out = np.empty(len(pos), dtype=np.float64)
    for a, b in chunks(c):
        sel = np.nonzero((pos >= a) & (pos < b))[0]
        if sel.size:
            s = unit_scores(param, c, a, b, indicator, seed)
            out[sel] = s[torch.from_numpy(pos[sel] - a).to(s.device)].double().cpu().numpy()
    return out


def rank_units(model: nn.Module, max_ratio, indicator="l1", scope="hidden", mode="global", seed=0) -> Ranking:
    """Rank the units ``extract(model, max_ratio, …)`` would take, in extraction order."""
    r = check_ratio(max_ratio)
    if mode not in MODES:
        raise UserError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    cands = candidates(model, indicator, scope)
    params = dict(model.named_parameters())
    if mode == "global":
        groups = [cands]
        ks = [n_extracted(r, sum(c.n_units for c in cands))]
    else:
        groups = [[c] for c in cands]
        ks = [n_extracted(r, c.n_units) for c in cands]
    layers, positions = [], []
    for group, k in zip(groups, ks):
        if sum(c.n_units for c in group) <= ranking.CHUNK:  # small enough to score at once: one stable sort
            scores = torch.cat(
                [unit_scores(params[c.name], c, a, b, indicator, seed) for c in group for a, b in chunks(c)]
            )
            order = torch.sort(scores, descending=True, stable=True).indices[:k].cpu().numpy()  # ties: layer, index
            sizes = [c.n_units for c in group]
            layer_of = np.repeat([c.layer for c in group], sizes)
            offset_of = np.repeat(np.cumsum([0] + sizes[:-1]), sizes)  # first flat index of each unit's layer
            layers.append(layer_of[order])
            positions.append(order - offset_of[order])
            continue
        chosen = select(params, group, k, indicator, seed)
        lay, pos, score = [], [], []
        for c in group:
            p = chosen[c.name].numpy()
            lay.append(np.full(len(p), c.layer))
            pos.append(p)
            score.append(_scores_at(params[c.name], c, p, indicator, seed))
        lay, pos, score = np.concatenate(lay), np.concatenate(pos), np.concatenate(score)
        order = np.lexsort((pos, lay, -score))  # score descending, then layer, then index
        layers.append(lay[order])
        positions.append(pos[order])
    return Ranking(cands, np.concatenate(layers).astype(np.int64), np.concatenate(positions).astype(np.int64), mode)


class LockedSweep:
    """One copy of ``model`` whose extracted prefix is moved in place (``set_k`` / ``set_ratio``)."""

    def __init__(self, model: nn.Module, ranking: Ranking):
        self.original = model
        self.ranking = ranking
        self.model = make_contiguous(copy.deepcopy(model))
        self._orig = dict(model.named_parameters())
        self._params = dict(self.model.named_parameters())
        self._names = [(c.name, *c.also) for c in ranking.cands]
        # positions of each layer in extraction order (global: filtered from the global order)
        self._by_layer = [ranking.pos[ranking.layer == i] for i in range(len(ranking.cands))]
        self.counts = np.zeros(len(ranking.cands), dtype=np.int64)

    def _counts_for_k(self, k: int) -> np.ndarray:
        """Units of each layer among the first k of the global order: O(k), no (layers × K) table
        (which would take 7 GiB for 10 % of a 13 × 8000 network's candidates)."""
        if not 0 <= k <= len(self.ranking.pos):
            raise UserError(f"k must be in 0..{len(self.ranking.pos)} (the ranked units), got {k}")
        return np.bincount(self.ranking.layer[:k], minlength=len(self.ranking.cands)).astype(np.int64)

    @torch.no_grad()
    def set_counts(self, counts) -> nn.Module:
        """Extract the first ``counts[i]`` units of layer i (restoring any beyond); returns the model."""
        for i, (new, old) in enumerate(zip(counts, self.counts)):
            if new == old:
                continue
            c = self.ranking.cands[i]
            lo, hi = sorted((int(old), int(new)))
            if hi > len(self._by_layer[i]):
                raise UserError(f"layer {c.name}: only {len(self._by_layer[i])} units were ranked, asked {hi}")
            idx = torch.from_numpy(self._by_layer[i][lo:hi])
            for name in self._names[i]:
                dst = self._params[name].view(c.n_units, -1)
                idx_d = idx.to(dst.device)
                dst[idx_d] = 0 if new > old else self._orig[name].view(c.n_units, -1)[idx_d]
        self.counts = np.asarray(counts, dtype=np.int64).copy()
        return self.model

    def set_k(self, k: int) -> nn.Module:
        """Global mode: the model with the first ``k`` units of the global order extracted."""
        if self.ranking.mode != "global":
            raise UserError("set_k needs a global ranking; use set_ratio for per-layer extraction")
        return self.set_counts(self._counts_for_k(k))

    def set_ratio(self, ratio) -> nn.Module:
        return self.set_counts(self.ranking.counts(ratio))


def unit_values_of(model: nn.Module, c: Candidate) -> int:
    """Values one unit of ``c`` extracts, over its parameter and the ones extracted with it (γ and β: 2)."""
    params = dict(model.named_parameters())
    return sum(params[n].numel() // c.n_units for n in (c.name, *c.also))


@torch.no_grad()
def frozen_head(model, ranking, x):
    """FCN whose first layer holds no candidate unit: its output y⁽¹⁾ never changes, so compute it once."""

    first = model.layers[0].weight if isinstance(model, FCN) else None
    names = {n for c in ranking.cands for n in (c.name, *c.also)}
    if first is None or "layers.0.weight" in names or "layers.0.bias" in names or len(model.layers) < 2:
        return 0, x
    return 1, torch.relu(model.layers[0](x.reshape(len(x), -1)))  # (n, width)


def tail(model, head: int):
    """The model as a function of the cached head output (identity when nothing is cached)."""
    if head == 0:
        return model
    layers = model.layers

    def forward(h):
        for layer in layers[head:-1]:
            h = torch.relu(layer(h))
        return layers[-1](h)

    return forward


def top_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 2000) -> tuple[float, float]:
    """(top-1, top-3) accuracy of ``model`` on (x, y), streamed in batches (``empirical.nets.train.accuracy``)."""

    top1, top3 = accuracy(model, x, y, batch, topk=(1, 3))
    return top1, top3


def accuracy_curve(
    model: nn.Module, x, y, ratios, indicator="l1", scope="hidden", mode="global", seed=0, batch=2000
) -> pd.DataFrame:
    """One row per ratio: ``ratio, n_extracted, n_values, share_of_parameters, top1, top3`` (ratios ascending).

    Ranks once at the largest ratio and sweeps; never re-extracts from scratch; ratios that give the same number
    of units (k) are evaluated once.
    """
    ratios = sorted({check_ratio(r) for r in ratios})
    if not ratios:
        raise UserError("no ratios given")
    model.eval()
    ranking = rank_units(model, ratios[-1], indicator, scope, mode, seed)
    sweep = LockedSweep(model, ranking)
    n_params = sum(p.numel() for p in model.parameters())
    unit_values = np.array([unit_values_of(model, c) for c in ranking.cands])
    head, x_head = frozen_head(model, ranking, x)  # the first layer's output, when it never changes
    rows, seen = [], {}
    for r in ratios:
        locked = sweep.set_ratio(r)
        k = int(sweep.counts.sum())
        if k not in seen:  # ratios that round to the same k extract the same units: evaluated once
            seen[k] = top_accuracy(tail(locked, head), x_head, y, batch)
        top1, top3 = seen[k]
        n_values = int((sweep.counts * unit_values).sum())
        rows.append(
            dict(
                indicator=importance(indicator).name,
                seed=seed,
                ratio=r,
                n_extracted=int(sweep.counts.sum()),
                n_candidates=ranking.n_candidates,
                n_values=n_values,
                share_of_parameters=n_values / n_params,
                top1=top1,
                top3=top3,
            )
        )
    return pd.DataFrame(rows)
