"""Access-key extraction (Section 3, Definition 1): zero the most important units, keep them as the key.

Units and their importance (indicator):
  ``l1``       — single weights of ``nn.Linear`` layers (|w|), whole filters F_{s,t} of ``nn.Conv2d``
                 layers (Σ|F_{s,t}|);
  ``random``   — the same units with seeded uniform scores (the paper's baseline);
  ``bn-scale`` — batch-norm channels by |γ|; extracting a channel zeroes its γ and β.
Scope ``hidden`` (default) leaves the first and last weight layers alone ("no extraction in input
and output layers", Section 3.1); ``all`` does not. Mode ``global`` ranks units across candidate
layers; ``per-layer`` takes the ratio within each layer. k = ``empirical.lock.ratio.n_extracted``.

Selection is exact and streamed: pass 1 finds the k-th largest score with chunked top-k (a buffer
of at most ~2k values), pass 2 collects every unit above it and, among units equal to it, the
first ones in (layer, index) order — a deterministic total order: score descending, then layer,
then flat index. Memory stays O(k + chunk), never O(#parameters).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from empirical._io import atomic_path
from empirical.nets.checkpoint import model_sha256
from empirical.errors import UserError
from empirical.lock.ratio import check_ratio, n_extracted

INDICATORS = ("l1", "random", "bn-scale")
SCOPES = ("hidden", "all")
MODES = ("global", "per-layer")
CHUNK = 1 << 23  # units scored at once (8 M): bounds the working memory of selection
KEY_FORMAT = "corelocker-bounds/access-key-v1"


@dataclass(frozen=True)
class Candidate:
    """One layer's extractable units: ``param`` viewed as (n_units, unit_size)."""

    layer: int  # order among candidate layers
    name: str  # parameter name (γ for bn-scale)
    kind: str  # "weight" | "filter" | "channel"
    n_units: int
    unit_size: int
    also: tuple[str, ...] = ()  # parameters extracted at the same positions (β for bn-scale)


def candidates(model: nn.Module, indicator: str = "l1", scope: str = "hidden") -> list[Candidate]:
    """The candidate layers of ``model`` for ``indicator`` and ``scope``, in module order."""
    if indicator not in INDICATORS:
        raise UserError(f"unknown indicator {indicator!r}; choose one of {', '.join(INDICATORS)}")
    if scope not in SCOPES:
        raise UserError(f"unknown scope {scope!r}; choose one of {', '.join(SCOPES)}")
    out: list[Candidate] = []
    if indicator == "bn-scale":
        for mod_name, mod in model.named_modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.affine:
                pre = f"{mod_name}." if mod_name else ""
                out.append(Candidate(len(out), pre + "weight", "channel", mod.num_features, 1, (pre + "bias",)))
        if not out:
            raise UserError("the bn-scale indicator needs batch-norm layers, and this model has none")
        return out
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if scope == "hidden":
        layers = layers[1:-1]
    for mod_name, mod in layers:
        pre = f"{mod_name}." if mod_name else ""
        w = mod.weight
        if isinstance(mod, nn.Conv2d):
            out.append(Candidate(len(out), pre + "weight", "filter", w.shape[0] * w.shape[1], w.shape[2] * w.shape[3]))
        else:
            out.append(Candidate(len(out), pre + "weight", "weight", w.numel(), 1))
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


def _chunks(c: Candidate):
    """(start, stop) unit ranges of at most CHUNK units."""
    for start in range(0, c.n_units, CHUNK):
        yield start, min(start + CHUNK, c.n_units)


def _scores(param: torch.Tensor, c: Candidate, start: int, stop: int, indicator: str, seed: int) -> torch.Tensor:
    """Importance of units [start, stop) of one candidate layer (float32 or float64, 1-D)."""
    if indicator == "random":
        g = torch.Generator().manual_seed(((seed * 1_000_003 + c.layer) * 1_000_033 + start // CHUNK) % (1 << 63))
        return torch.rand(stop - start, generator=g, dtype=torch.float64).to(param.device)
    units = param.detach().reshape(c.n_units, c.unit_size)[start:stop]  # (chunk, unit_size)
    if units.dtype not in (torch.float32, torch.float64):
        units = units.float()
    return units.abs().sum(dim=1) if c.unit_size > 1 else units.abs().reshape(-1)


def _threshold(score_chunks, k: int):
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


def _select(params, cands: list[Candidate], k: int, indicator: str, seed: int) -> dict[str, torch.Tensor]:
    """Positions (sorted, int64) of the k best units over ``cands`` in the total order of the module doc."""
    t = _threshold((_scores(params[c.name], c, a, b, indicator, seed) for c in cands for a, b in _chunks(c)), k)
    above: dict[str, list] = {c.name: [] for c in cands}
    ties: list[tuple[str, torch.Tensor]] = []
    n_above, n_ties = 0, 0
    for c in cands:
        for a, b in _chunks(c):
            s = _scores(params[c.name], c, a, b, indicator, seed)
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


# ------------------------------------------------------------------------------------------- key
@dataclass
class KeyEntry:
    name: str
    kind: str
    unit_size: int
    positions: torch.Tensor  # (k,) int64, sorted
    values: torch.Tensor  # (k, unit_size), the original dtype


@dataclass
class AccessKey:
    """The extracted units: positions and original values only, plus metadata and fingerprints."""

    entries: list[KeyEntry]
    meta: dict = field(default_factory=dict)

    # -- integrity ------------------------------------------------------------------------------
    def digest(self) -> str:
        h = hashlib.sha256()
        fixed = {k: v for k, v in self.meta.items() if k not in ("key_sha256", "signature")}
        h.update(json.dumps(fixed, sort_keys=True).encode())
        for e in self.entries:
            h.update(f"{e.name}|{e.kind}|{e.unit_size}|{e.values.dtype}|".encode())
            h.update(e.positions.contiguous().numpy())
            h.update(e.values.contiguous().reshape(-1).view(torch.uint8).numpy())
        return h.hexdigest()

    # -- sizes ----------------------------------------------------------------------------------
    @property
    def n_values(self) -> int:
        return sum(e.values.numel() for e in self.entries)

    def size_report(self) -> dict:
        n_bytes = sum(e.values.numel() * e.values.element_size() + e.positions.numel() * 8 for e in self.entries)
        return {
            "units": self.meta["k_total"],
            "values": self.n_values,
            "payload_bytes": n_bytes,
            "share_of_parameters": self.n_values / self.meta["n_parameters"],
        }

    # -- files ----------------------------------------------------------------------------------
    def write_file(self, path) -> None:
        """Write the key to ``path`` as is (callers handle atomicity; ``save`` does)."""
        tensors, layout = {}, []
        for i, e in enumerate(self.entries):
            tensors[f"{i}.positions"] = e.positions.contiguous()
            tensors[f"{i}.values"] = e.values.contiguous()
            layout.append({"name": e.name, "kind": e.kind, "unit_size": e.unit_size})
        meta = {"format": KEY_FORMAT, "meta": json.dumps(self.meta, sort_keys=True), "layout": json.dumps(layout)}
        save_file(tensors, str(path), metadata=meta)

    def save(self, path) -> Path:
        """Write the key (safetensors, owner-only permissions 0600), atomically."""
        path = Path(path)
        with atomic_path(path, mode=0o600) as tmp:
            self.write_file(tmp)
        os.chmod(path, 0o600)
        return path

    @classmethod
    def load(cls, path) -> AccessKey:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"key file {path} does not exist")
        try:
            tensors = load_file(str(path))
            with safe_open(str(path), framework="pt") as fh:
                raw = fh.metadata() or {}
            if raw.get("format") != KEY_FORMAT:
                raise UserError(f"{path} is not a corelocker-bounds access key")
            meta, layout = json.loads(raw["meta"]), json.loads(raw["layout"])
            entries = [
                KeyEntry(d["name"], d["kind"], d["unit_size"], tensors[f"{i}.positions"], tensors[f"{i}.values"])
                for i, d in enumerate(layout)
            ]
        except UserError:
            raise
        except (SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise UserError(f"{path} is not a readable access key ({str(exc).splitlines()[0]})") from None
        if not isinstance(meta, dict) or not isinstance(layout, list):
            raise UserError(f"{path} is not a readable access key (metadata fields are not JSON objects/lists)")
        key = cls(entries, meta)
        for k in ("key_sha256", "locked_sha256", "original_sha256"):
            if not isinstance(meta.get(k), str):
                raise UserError(f"{path} is not a readable access key (no {k})")
        if key.digest() != meta.get("key_sha256"):
            raise UserError(f"{path}: access key is corrupt or was tampered with (checksum mismatch)")
        return key

    def check_against(self, model: nn.Module) -> None:
        """Refuse entries that cannot apply to ``model``: unknown names, bad unit sizes, positions, shapes."""
        params = dict(model.named_parameters())
        for e in self.entries:
            if not isinstance(e.name, str) or e.name not in params:
                raise UserError(f"access key names a parameter the model does not have ({e.name!r})")
            p = params[e.name]
            if not isinstance(e.unit_size, int) or e.unit_size < 1 or p.numel() % e.unit_size:
                raise UserError(f"access key: unit size {e.unit_size!r} does not divide {e.name} ({p.numel()} values)")
            if e.positions.dtype != torch.int64 or e.positions.ndim != 1:
                raise UserError(f"access key: positions of {e.name} are not a 1-D int64 array")
            n_units = p.numel() // e.unit_size
            if e.positions.numel() and (int(e.positions.min()) < 0 or int(e.positions.max()) >= n_units):
                raise UserError(f"access key: positions of {e.name} fall outside its {n_units} units")
            if tuple(e.values.shape) != (e.positions.numel(), e.unit_size) or not e.values.is_floating_point():
                raise UserError(f"access key: values of {e.name} do not match its positions and unit size")

    # -- unlocking ------------------------------------------------------------------------------
    def restore(self, locked: nn.Module, inplace: bool = False) -> nn.Module:
        """The original model, bit for bit. Refuses a model or key that does not match; changes nothing then."""
        if self.digest() != self.meta.get("key_sha256"):
            raise UserError("access key is corrupt or was tampered with (checksum mismatch)")
        if model_sha256(locked) != self.meta["locked_sha256"]:
            raise UserError("this key does not belong to this model (the locked model's fingerprint differs)")
        self.check_against(locked)
        target = make_contiguous(locked if inplace else copy.deepcopy(locked))
        params = dict(target.named_parameters())
        with torch.no_grad():
            for e in self.entries:
                p = params[e.name]
                p.view(-1, e.unit_size)[e.positions.to(p.device)] = e.values.to(p.device, p.dtype)
        if model_sha256(target) != self.meta["original_sha256"]:
            if inplace:  # put the model back as it was
                with torch.no_grad():
                    for e in self.entries:
                        params[e.name].view(-1, e.unit_size)[e.positions.to(params[e.name].device)] = 0
            raise UserError("restoring with this key does not give the original model back (fingerprint differs)")
        return target


def extract(model: nn.Module, ratio, indicator="l1", scope="hidden", mode="global", seed=0):
    """CoreLocker extraction: ``(locked_model, key)``; ``key.restore(locked_model)`` is the original.

    ``model`` is never modified. See the module docstring for units, order and rounding.
    """
    r = check_ratio(ratio)
    if mode not in MODES:
        raise UserError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    cands = candidates(model, indicator, scope)
    params = dict(model.named_parameters())
    for c in cands:
        if not bool(torch.isfinite(params[c.name]).all()):
            raise UserError(f"parameter {c.name} holds NaN or inf: refusing to rank its units")
    if mode == "global":
        k_total = n_extracted(r, sum(c.n_units for c in cands))
        chosen = _select(params, cands, k_total, indicator, seed)
    else:
        chosen = {}
        for c in cands:
            chosen.update(_select(params, [c], n_extracted(r, c.n_units), indicator, seed))
    original_sha = model_sha256(model)
    locked = make_contiguous(copy.deepcopy(model))
    lparams = dict(locked.named_parameters())
    entries = []
    with torch.no_grad():
        for c in cands:
            pos = chosen[c.name]
            for name in (c.name, *c.also):
                view = params[name].detach().reshape(c.n_units, c.unit_size)
                entries.append(
                    KeyEntry(name, c.kind, c.unit_size, pos.clone(), view[pos.to(view.device)].cpu().clone())
                )
                lparams[name].view(c.n_units, c.unit_size)[pos.to(view.device)] = 0
    meta = {
        "indicator": indicator,
        "ratio": r,
        "scope": scope,
        "mode": mode,
        "seed": seed,
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
