"""A feed-forward network as a sequence of measured stages (the "layers" m of Theorems 2–4).

The network is an ``nn.Sequential`` of Conv2d, Linear, BatchNorm, parameter-free layers (ReLU,
pooling, Flatten, Unflatten, Identity, Dropout) and the blocks of ``empirical.nets.convnets``
(``Residual``, ``DenseConcat``). It is cut into stages y⁽ᵐ⁾ = fₘ(y⁽ᵐ⁻¹⁾):

* a weight layer (Conv2d / Linear) starts a stage; a BatchNorm right after it joins it and is
  folded into it (eval-mode BN is the per-channel affine map a·z + c with a = γ/√(σ²+ε), so
  conv∘BN is one conv with filters a_s·F_s and bias c_s — the bounds then see that one layer);
* a BatchNorm that does not follow a weight layer starts a stage (pre-activation BN-ReLU-conv:
  the conv that follows joins it, so one stage is one pre-activation layer);
* a block starts its own stage (measured block by block);
* parameter-free layers join the current stage (before the first weight layer: the input prefix,
  applied to x to give y⁽⁰⁾).

Every stage is a chain of *affine units* (a weight layer with its folded BN, or a lone BN) and
ℓ2-Lipschitz parameter-free maps. For one input y* and the original/locked stage f*, f the
chain gives the deterministic bound used by the sandwich (Theorem 3's first lines, generalised):

    ‖f(y*) − f*(y*)‖ <= B,  B ← L·B  (parameter-free map, Lipschitz L)
                             B ← ‖W‖·B + ‖ΔW‖·‖h*‖ + ‖Δb‖  (affine unit; W locked, h* its original input)

so a single conv stage gives B = L·(μ‖y*⁽ᵐ⁻¹⁾‖ + ‖Δb‖), DESIGN.md's sandwich plus a bias term
(non-zero only when locking changes a bias, i.e. ``bn-scale``). Residual: B ≤ L_post·B_branch
(the option-A shortcut has no parameters); dense: B = B_branch (the concatenated input is
unchanged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn

import bounds
from empirical.nets.convnets import DenseConcat, Residual, ShortcutA
from empirical.nets.others import OPAQUE

WEIGHT = (nn.Conv2d, nn.Linear)
BN = (nn.BatchNorm1d, nn.BatchNorm2d)
BLOCKS = (Residual, DenseConcat)
PARAM_FREE = (
    nn.ReLU,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
    nn.Dropout,
)


@dataclass
class Stage:
    index: int  # m, 1-based
    modules: list[int] = field(default_factory=list)  # positions in the Sequential
    kind: str = ""  # conv | linear | bn | residual | dense

    def describe(self, model: nn.Sequential) -> str:
        return " → ".join(type(model[i]).__name__ for i in self.modules)


def _check_module(mod: nn.Module, where: str) -> None:
    if isinstance(mod, nn.Conv2d):
        if mod.groups != 1 or mod.dilation != (1, 1) or mod.padding_mode != "zeros" or isinstance(mod.padding, str):
            raise ValueError(f"{where}: only zero-padded, ungrouped, undilated Conv2d is measured ({mod})")
        if (
            mod.kernel_size[0] != mod.kernel_size[1]
            or mod.stride[0] != mod.stride[1]
            or mod.padding[0] != mod.padding[1]
        ):
            raise ValueError(f"{where}: only square kernels, strides and paddings are measured ({mod})")
    elif isinstance(mod, BN):
        if not mod.track_running_stats:
            raise ValueError(f"{where}: BatchNorm without running statistics cannot be folded ({mod})")
    elif isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
        if getattr(mod, "dilation", 1) not in (1, (1, 1)) or mod.padding not in (0, (0, 0)):
            raise ValueError(f"{where}: pooling with padding or dilation is not measured ({mod})")
    elif isinstance(mod, nn.AdaptiveAvgPool2d):
        if mod.output_size not in (1, (1, 1)):
            raise ValueError(f"{where}: only global average pooling (output size 1) is measured ({mod})")
    elif isinstance(mod, Residual):
        if not isinstance(mod.shortcut, (ShortcutA, nn.Identity)):
            raise ValueError(f"{where}: residual shortcut {mod.shortcut} is not parameter-free")
        for j, sub in enumerate(mod.branch):
            _check_module(sub, f"{where}.branch[{j}]")
        _check_module(mod.post, f"{where}.post")
    elif isinstance(mod, DenseConcat):
        for j, sub in enumerate(mod.branch):
            _check_module(sub, f"{where}.branch[{j}]")
    elif not isinstance(mod, WEIGHT + PARAM_FREE + OPAQUE):
        raise ValueError(f"{where}: {type(mod).__name__} is not a layer the measurement knows ({mod})")


def split_stages(model: nn.Module) -> tuple[list[int], list[Stage]]:
    """(prefix positions, stages) of an ``nn.Sequential``; a ``ValueError`` names the first module that does not fit."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"expected an nn.Sequential of layers, got {type(model).__name__}")
    prefix: list[int] = []
    out: list[Stage] = []
    cur: Stage | None = None
    has_weight = False
    for i, mod in enumerate(model):
        _check_module(mod, f"[{i}]")
        last = model[cur.modules[-1]] if cur and cur.modules else None
        if isinstance(mod, WEIGHT):
            if cur is not None and not has_weight and cur.kind == "bn":
                cur.modules.append(i)
                cur.kind = "conv" if isinstance(mod, nn.Conv2d) else "linear"
            else:
                cur = Stage(len(out) + 1, [i], "conv" if isinstance(mod, nn.Conv2d) else "linear")
                out.append(cur)
            has_weight = True
        elif isinstance(mod, BN):
            if isinstance(last, WEIGHT):
                cur.modules.append(i)
            else:
                cur = Stage(len(out) + 1, [i], "bn")
                out.append(cur)
                has_weight = False
        elif isinstance(mod, BLOCKS):
            cur = Stage(len(out) + 1, [i], "residual" if isinstance(mod, Residual) else "dense")
            out.append(cur)
            has_weight = True
        elif isinstance(mod, OPAQUE):  # attention / recurrence / LayerNorm: measured, not bounded
            cur = Stage(len(out) + 1, [i], "opaque")
            out.append(cur)
            has_weight = True
        elif cur is None:
            prefix.append(i)
        else:
            cur.modules.append(i)
    if not out:
        raise ValueError("the model has no weight layer")
    return prefix, out


# ---------------------------------------------------------------------------------- affine units
def _bn_affine(bn) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BN as z ↦ a·z + c (per channel)."""
    a = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else 1 / torch.sqrt(bn.running_var + bn.eps)
    c = (bn.bias if bn.affine else 0) - a * bn.running_mean
    return a, c


def folded(weight_mod: nn.Module | None, bn: nn.Module | None):
    """(W_eff, b_eff) of a weight layer with its BN folded in; a lone BN gives (a, c) as diagonal."""
    if weight_mod is None:
        return _bn_affine(bn)
    W = weight_mod.weight
    b = weight_mod.bias if weight_mod.bias is not None else torch.zeros(W.shape[0], dtype=W.dtype, device=W.device)
    if bn is None:
        return W, b
    a, c = _bn_affine(bn)
    shape = (-1,) + (1,) * (W.ndim - 1)
    return W * a.reshape(shape), a * b + c


def lipschitz(mod: nn.Module, in_shape) -> float:
    """ℓ2 Lipschitz constant (an upper bound) of a parameter-free layer on inputs of ``in_shape`` (C, n, n)."""
    if isinstance(mod, (nn.ReLU, nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout, ShortcutA)):
        return 1.0
    if isinstance(mod, nn.MaxPool2d):  # each input lies in at most ⌈k/s⌉² windows
        k, s = _pair(mod.kernel_size)[0], _pair(mod.stride or mod.kernel_size)[0]
        return float(math.ceil(k / s))
    if isinstance(mod, nn.AvgPool2d):  # (Σ v/k²)² <= Σ v²/k² per window, each input in ⌈k/s⌉² windows
        k, s = _pair(mod.kernel_size)[0], _pair(mod.stride or mod.kernel_size)[0]
        return math.ceil(k / s) / k
    if isinstance(mod, nn.AdaptiveAvgPool2d):  # the mean of n² values: L = 1/n
        return 1.0 / math.sqrt(in_shape[-1] * in_shape[-2])
    raise ValueError(f"no Lipschitz constant for {mod}")


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


@dataclass(kw_only=True)
class AffineNorms:
    """Operator norms of one affine unit on its real input size (zero padding, stride).

    For convs the norms are upper bounds (``bounds.conv_operator_norm_zero_padded_upper``), so every
    bound built from them stays valid; the measurement adds the exact zero-padded values. The locked
    unit's own norm is needed only when a bound arrives from an earlier unit of the same stage, so it
    is computed on first use (``locked_norm``).
    """

    kind: str  # conv | linear | bn
    n_in: int  # spatial size of the input (1 for linear)
    c_in: int
    c_out: int
    q: int = 1
    stride: int = 1
    padding: int = 0
    w_norm: float  # ‖W*_eff‖₂ of the original
    mu: float  # ‖ΔW_eff‖₂ (zero-padded operator for convs)
    bias_change: float  # ‖Δb_eff broadcast over the output positions‖₂
    n_changed_units: int  # filters (conv), weights (linear), channels (bn) that differ
    w_eff: np.ndarray | None = None  # original folded weight (float64), for the circular and Property 4 forms
    dw_eff: np.ndarray | None = None
    w_norm_locked: float | None = None  # ‖W_eff‖₂ of the locked unit, once computed
    _locked: object = None  # () -> ‖W_eff‖₂ of the locked unit

    def locked_norm(self) -> float:
        if self.w_norm_locked is None:
            self.w_norm_locked = self.w_norm if self._locked is None else float(self._locked())
        return self.w_norm_locked


def _conv_norm(w: torch.Tensor, n: int, padding: int) -> float:
    """An upper bound on the zero-padded layer's ‖·‖₂ (FFT on the padded grid; within ~1 % here, in ms)."""
    w = w.detach().double().cpu().numpy()
    if not np.any(w):
        return 0.0
    return float(bounds.conv_operator_norm_zero_padded_upper(w, n, padding))


def affine_norms(units_o, units_l, in_shape, out_shape, cache: dict | None = None, where=None) -> AffineNorms:
    """Norms of one affine unit: ``units_*`` = (weight layer or None, BN or None), original and locked.

    ``cache`` (with a ``where`` key naming the unit) keeps the original's norm across calls on one network.
    """
    (wm, bn), (wm_l, bn_l) = units_o, units_l
    W, b = folded(wm, bn)
    Wl, bl = folded(wm_l, bn_l)
    dW, db = (Wl - W).detach(), (bl - b).detach()
    positions = int(np.prod(out_shape[1:])) if len(out_shape) > 1 else 1
    bias_change = float(db.double().norm()) * math.sqrt(positions)
    changed = bool(dW.any())

    def cached(compute):
        if cache is None or where is None:
            return compute()
        if ("w_norm", where) not in cache:
            cache[("w_norm", where)] = compute()
        return cache[("w_norm", where)]

    if wm is None:  # a lone BN: a diagonal map, norm = max |a|
        return AffineNorms(
            kind="bn",
            n_in=in_shape[-1] if len(in_shape) > 1 else 1,
            c_in=W.numel(),
            c_out=W.numel(),
            w_norm=float(W.abs().max()),
            w_norm_locked=float(Wl.abs().max()),
            mu=float(dW.abs().max()),
            bias_change=bias_change,
            n_changed_units=int((dW != 0).sum() + ((db != 0) & (dW == 0)).sum()),
        )
    if isinstance(wm, nn.Linear):
        dense = lambda t: t.detach().cpu().numpy()  # noqa: E731 — in the measurement's dtype
        nz = torch.nonzero(dW)
        dsp = sp.csr_array(
            (dW[nz[:, 0], nz[:, 1]].double().cpu().numpy(), (nz[:, 0].cpu().numpy(), nz[:, 1].cpu().numpy())),
            shape=tuple(dW.shape),
        )
        return AffineNorms(
            kind="linear",
            n_in=1,
            c_in=W.shape[1],
            c_out=W.shape[0],
            w_norm=cached(lambda: bounds.spectral_norm(dense(W))),
            mu=bounds.spectral_norm(dsp),
            bias_change=bias_change,
            n_changed_units=int((dW != 0).sum()),
            _locked=(lambda: bounds.spectral_norm(dense(Wl))) if changed else None,
        )
    n, p, s = in_shape[-1], wm.padding[0], wm.stride[0]
    return AffineNorms(
        kind="conv",
        n_in=n,
        c_in=W.shape[1],
        c_out=W.shape[0],
        q=W.shape[2],
        stride=s,
        padding=p,
        w_norm=cached(lambda: _conv_norm(W, n, p)),
        mu=_conv_norm(dW, n, p),
        bias_change=bias_change,
        n_changed_units=int((dW.reshape(W.shape[0] * W.shape[1], -1) != 0).any(dim=1).sum()),
        w_eff=W.detach().double().cpu().numpy(),
        dw_eff=dW.double().cpu().numpy(),
        _locked=(lambda: _conv_norm(Wl, n, p)) if changed else None,
    )


def affine_units(mods: list[nn.Module]) -> list[tuple]:
    """Group a module list into ('affine', weight-or-None, bn-or-None) and ('free', module) / ('block', module)."""
    out, i = [], 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, WEIGHT):
            bn = mods[i + 1] if i + 1 < len(mods) and isinstance(mods[i + 1], BN) else None
            out.append(("affine", m, bn))
            i += 2 if bn is not None else 1
            continue
        kind = "block" if isinstance(m, BLOCKS) else "opaque" if isinstance(m, OPAQUE) else "free"
        out.append(("affine", None, m) if isinstance(m, BN) else (kind, m))
        i += 1
    return out


class ChainBound:
    """The stage bound B of the module doc for a list of (original, locked) modules, per sample.

    Norms are computed on the first call (they need the real input sizes) and reused after.
    ``units`` lists every affine unit's ``AffineNorms`` in order, blocks included (flattened).
    """

    def __init__(self, mods_o: list[nn.Module], mods_l: list[nn.Module], cache: dict | None = None, where=()):
        self.mods_o, self.mods_l = mods_o, mods_l
        self.cache, self.where = cache, tuple(where)
        self.items_o, self.items_l = affine_units(mods_o), affine_units(mods_l)
        self.norms: dict[int, AffineNorms] = {}
        self.sub: dict[int, ChainBound] = {}
        self.lips: dict[int, float] = {}

    @property
    def units(self) -> list[AffineNorms]:
        out = []
        for j in range(len(self.items_o)):
            if j in self.norms:
                out.append(self.norms[j])
            elif j in self.sub:
                out.extend(self.sub[j].units)
        return out

    def original_lipschitz_bound(self) -> float:
        """A Lipschitz bound of the original stage (after a first call): products of norms and L's;
        a residual block gives L_post·(L_branch + 1), a dense one √(1 + L_branch²)."""
        L = 1.0
        for j, item in enumerate(self.items_o):
            if j in self.norms:
                L *= self.norms[j].w_norm
            elif item[0] == "opaque":
                L = math.inf  # no Lipschitz bound is stated for attention or recurrence
            elif j in self.sub:
                inner = self.sub[j].original_lipschitz_bound()
                L *= (
                    (self.lips[("post", j)] * (inner + 1.0))
                    if isinstance(item[1], Residual)
                    else math.sqrt(1 + inner**2)
                )
            else:
                L *= self.lips[j]
        return L

    @torch.no_grad()
    def __call__(self, h: torch.Tensor, B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(f*(h), bound on ‖f(h_locked) − f*(h)‖ given ‖h_locked − h‖ <= B), per sample."""
        for j, (io, il) in enumerate(zip(self.items_o, self.items_l)):
            if io[0] == "affine":
                _, wm, bn = io
                h_next = h
                if wm is not None:
                    h_next = wm(h_next)
                if bn is not None:
                    h_next = bn(h_next)
                if j not in self.norms:
                    self.norms[j] = affine_norms(
                        (wm, bn), (il[1], il[2]), tuple(h.shape[1:]), tuple(h_next.shape), self.cache, (*self.where, j)
                    )
                nm = self.norms[j]
                hn = h.reshape(len(h), -1).norm(dim=1)
                B = (nm.locked_norm() * B if bool(B.any()) else B) + nm.mu * hn + nm.bias_change
                h = h_next
            elif io[0] == "block":
                blk_o, blk_l = io[1], il[1]
                if j not in self.sub:
                    self.sub[j] = ChainBound(list(blk_o.branch), list(blk_l.branch), self.cache, (*self.where, j))
                br, Bb = self.sub[j](h, B)
                if isinstance(blk_o, Residual):
                    s = blk_o.shortcut(h)
                    z = br + s
                    out = blk_o.post(z)
                    self.lips.setdefault(("post", j), lipschitz(blk_o.post, tuple(z.shape[1:])))
                    B = self.lips[("post", j)] * (Bb + B)  # shortcut: 1-Lipschitz, unchanged by locking
                    h = out
                else:
                    B = torch.sqrt(B**2 + Bb**2)
                    h = torch.cat([h, br], dim=1)
            elif io[0] == "opaque":
                h = io[1](h)
                B = torch.full_like(B, math.nan)  # not bounded: the measurement reports e itself
            else:
                self.lips.setdefault(j, lipschitz(io[1], tuple(h.shape[1:])))
                B = self.lips[j] * B
                h = io[1](h)
        return h, B
