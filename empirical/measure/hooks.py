"""The bounds against any ``nn.Module``, through forward hooks (issue 41): a torchvision-style ResNet, a DenseNet
block, a MobileNet block, a model with a ``forward`` of its own.

The original and the locked model run on the same inputs; a forward hook on every parametrised layer (Linear,
Conv1d/Conv2d, BatchNorm as the per-channel affine map a·z + c it is in eval mode) records its input and output.
Per layer m, by its module name, and per sample (y* the original's activations, y the locked model's; f the
locked layer, f* the original one):

* d = ‖y⁽ᵐ⁾ − y*⁽ᵐ⁾‖₂, the measured disparity of the layer's output;
* G = ‖f(y⁽ᵐ⁻¹⁾) − f(y*⁽ᵐ⁻¹⁾)‖₂, Theorem 2's quantity (the locked layer on the locked and on the original input);
* e = ‖f(y*⁽ᵐ⁻¹⁾) − f*(y*⁽ᵐ⁻¹⁾)‖₂, the layer's own change, and its bound B = μ‖y*⁽ᵐ⁻¹⁾‖₂ + ‖Δb‖₂ with μ = ‖ΔW‖₂
  (exact for Linear and BatchNorm; for a conv the FFT upper bound of ``bounds.conv_operator_norm_upper_general``,
  valid for any stride, padding, dilation and groups);
* the sandwich d <= G + e <= G + B (the triangle inequality: must hold on every sample, a self-check) and the
  share of samples where Theorem 2's d >= G holds (not guaranteed: erratum E-T2-LB).

**Chains.** Theorems 3–4 speak of a chain of layers. Where the model traces (``torch.fx``) and a layer's input
reaches it from the network input through single-input, single-consumer steps only, Theorem 3's stated bound
G + μ·L^m·λ^(m−1)·‖x‖₂ is evaluated (m the layer's place on that chain, λ the largest original norm before it, L
the product of the parameter-free steps' Lipschitz constants) with the share of samples where it holds; anywhere
else (inside a residual block, after a concatenation, on a branch, or a forward that does not trace) the chain
bound says "not applicable" and why, and the measured values stay.
"""

from __future__ import annotations

import copy
import math
import operator

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn as nn

import bounds
from empirical.errors import UserError

LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d)
ONE_LIPSCHITZ = (nn.ReLU, nn.ReLU6, nn.Flatten, nn.Identity, nn.Dropout, nn.LeakyReLU, nn.Hardtanh)
ONE_LIPSCHITZ_FUNCS = {torch.relu, torch.flatten, nn.functional.relu, nn.functional.relu6, nn.functional.dropout}
RTOL = 1e-9  # float64: a sandwich violation below this share of the norms is rounding


def parametrised_layers(model: nn.Module) -> tuple[list[tuple[str, nn.Module]], list[tuple[str, str]]]:
    """(the layers measured, by name; the modules with their own parameters that are not measured, with why)."""
    measured, skipped = [], []
    for name, mod in model.named_modules():
        if not any(True for _ in mod.parameters(recurse=False)):
            continue
        if isinstance(mod, LAYERS) and not (
            isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)) and not mod.track_running_stats
        ):
            measured.append((name, mod))
        else:
            skipped.append(
                (
                    name,
                    f"{type(mod).__name__}: measured layers are Linear, Conv1d, Conv2d and BatchNorm "
                    "with running statistics",
                )
            )
    return measured, skipped


def _affine(mod: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, b) of a layer; eval-mode BatchNorm as the diagonal a = γ/√(σ²+ε) and c = β − a·mean."""
    if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
        a = (mod.weight if mod.affine else 1.0) / torch.sqrt(mod.running_var + mod.eps)
        c = (mod.bias if mod.affine else 0.0) - a * mod.running_mean
        return a, c
    b = mod.bias if mod.bias is not None else torch.zeros(mod.weight.shape[0], dtype=mod.weight.dtype)
    return mod.weight, b


def layer_norms(mod_o: nn.Module, mod_l: nn.Module, in_shape) -> dict:
    """μ = ‖ΔW‖₂, ‖W*‖₂ (an upper bound for convs) and how each was found, for one layer on inputs of
    ``in_shape`` (without the batch dimension)."""
    W, _ = _affine(mod_o)
    Wl, _ = _affine(mod_l)
    dW = (Wl - W).detach().double().cpu()
    W = W.detach().double().cpu()
    if isinstance(mod_o, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return dict(mu=float(dW.abs().max()), w_norm=float(W.abs().max()), norm_method="exact (diagonal)")
    if isinstance(mod_o, nn.Linear):
        nz = torch.nonzero(dW)
        dsp = sp.csr_array((dW[nz[:, 0], nz[:, 1]].numpy(), (nz[:, 0].numpy(), nz[:, 1].numpy())), shape=dW.shape)
        return dict(mu=bounds.spectral_norm(dsp), w_norm=bounds.spectral_norm(W.numpy()), norm_method="exact")
    conv1d = isinstance(mod_o, nn.Conv1d)
    shape = (1, in_shape[-1]) if conv1d else tuple(in_shape[-2:])
    pad, dil = (mod_o.padding, mod_o.dilation)
    if isinstance(pad, str):
        raise UserError(f"a conv with padding={pad!r} is not measured here; give its padding as numbers")
    pad, dil = ((0, pad[0]), (1, dil[0])) if conv1d else (pad, dil)
    as2d = (lambda t: t.unsqueeze(2)) if conv1d else (lambda t: t)  # noqa: E731

    def norm(t):
        return (
            0.0
            if not bool(t.any())
            else bounds.conv_operator_norm_upper_general(as2d(t).numpy(), shape, pad, dil, mod_o.groups)
        )

    method = "FFT upper bound (zero padding, any stride, groups, dilation)"
    if mod_o.padding_mode != "zeros":
        method = f"FFT bound of the circular operator ({mod_o.padding_mode} padding: not a bound on it, stated)"
    return dict(mu=norm(dW), w_norm=norm(W), norm_method=method)


def chain_positions(model: nn.Module, names: list[str]) -> dict[str, dict]:
    """For each measured layer: ``{"m": place on the chain, "L": Lipschitz product, "before": earlier layers}``
    when it sits on a plain chain from the input, else ``{"why": reason}`` (module doc)."""
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception as exc:  # noqa: BLE001  (any tracing failure: the forward is the user's)
        why = f"not applicable: the forward does not trace with torch.fx ({type(exc).__name__})"
        return {n: {"why": why} for n in names}
    mods = dict(model.named_modules())
    out, wanted = {}, set(names)
    for node in graph.nodes:
        if node.op != "call_module" or node.target not in wanted:
            continue
        m, L, before, cur, why = 1, 1.0, [], node, None
        while why is None:
            inputs = [a for a in cur.all_input_nodes]
            if len(inputs) != 1:
                kind = (
                    "a sum (residual connection)"
                    if cur.target in (operator.add, torch.add) or (cur.op == "call_method" and cur.target == "add")
                    else f"{cur.name}, which has {len(inputs)} inputs"
                )
                why = f"not applicable: its input passes through {kind}"
                break
            prev = inputs[0]
            if len(prev.users) > 1:
                why = f"not applicable: on a branch ({prev.name} feeds {len(prev.users)} paths)"
                break
            if prev.op == "placeholder":
                break
            if prev.op == "call_module" and prev.target in wanted:
                m += 1
                before.append(prev.target)
            elif prev.op == "call_module" and isinstance(mods[prev.target], ONE_LIPSCHITZ):
                pass
            elif prev.op == "call_module" and isinstance(mods[prev.target], nn.MaxPool2d):
                k, s = (
                    (lambda v: v if isinstance(v, int) else v[0])(mods[prev.target].kernel_size),
                    (lambda v: v if isinstance(v, int) else v[0])(
                        mods[prev.target].stride or mods[prev.target].kernel_size
                    ),
                )
                L *= math.ceil(k / s)
            elif prev.op == "call_function" and prev.target in ONE_LIPSCHITZ_FUNCS:
                pass
            elif prev.op == "call_method" and prev.target in ("view", "reshape", "flatten", "relu"):
                pass
            else:
                what = prev.target if prev.op != "call_module" else type(mods[prev.target]).__name__
                why = f"not applicable: {what} on its path has no stated Lipschitz bound"
            cur = prev
        out[node.target] = {"why": why} if why else {"m": m, "L": L, "before": before}
    for n in names:  # a layer the trace never calls through call_module (shared, or called by a function)
        out.setdefault(n, {"why": "not applicable: the traced graph does not call this module directly"})
    return out


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(len(t), -1)


@torch.no_grad()
def measure_module(original: nn.Module, locked: nn.Module, x, y, batch: int = 256) -> dict:
    """Per parametrised layer and sample, d, G, e, B and the sandwich, with the chain bound where it applies
    (module doc); returns ``{"layers", "samples", "summary"}``. Measures in float64 on copies of the models."""
    if len(x) != len(y) or not len(x):
        raise UserError(f"{len(x)} inputs but {len(y)} labels" if len(x) != len(y) else "no inputs to measure on")
    orig, lock = copy.deepcopy(original).double().eval(), copy.deepcopy(locked).double().eval()
    layers, skipped = parametrised_layers(orig)
    names = [n for n, _ in layers]
    lmods = dict(lock.named_modules())
    if set(names) - set(lmods):
        raise UserError("the original and the locked model have different modules")
    calls: dict[str, list] = {}
    record = {"on": True}

    def hook(tag):
        def fn(mod, inputs, output, name=None):
            if record["on"]:  # copies: an in-place ReLU or += later in the forward would change them
                calls.setdefault((tag, fn.name), []).append((inputs[0].clone(), output.clone()))

        return fn

    handles = []
    for name, mod in layers:
        for tag, m in (("o", mod), ("l", lmods[name])):
            h = hook(tag)
            h.name = name
            handles.append(m.register_forward_hook(h))
    per = {k: {n: [] for n in names} for k in ("d", "G", "e", "y_prev", "x_norm")}
    hits, shapes, unused = np.zeros((2, 1)), {}, set(names)
    try:
        for i in range(0, len(x), batch):
            xb, yb = x[i : i + batch].double(), y[i : i + batch]
            calls.clear()
            try:
                out_o, out_l = orig(xb), lock(xb)
            except Exception as exc:  # noqa: BLE001  (the user's forward)
                raise UserError(
                    f"the model's forward fails on inputs of shape {list(xb.shape)} "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
                ) from None
            for j, logits in enumerate((out_o, out_l)):
                hits[j, 0] += float((logits.argmax(1) == yb).sum())
            record["on"] = False
            for name in names:
                co, cl = calls.get(("o", name), []), calls.get(("l", name), [])
                if len(co) > 1:
                    raise UserError(
                        f"module {name!r} is called {len(co)} times in one forward (a shared layer): its "
                        "input and output are not one layer's; measure a model with unshared layers"
                    )
                if not co:
                    continue
                unused.discard(name)
                (in_o, y_o), (_, y_l) = co[0], cl[0]
                cross = lmods[name](in_o)  # the locked layer on the original input
                shapes[name] = tuple(in_o.shape[1:])
                per["d"][name].append(_flat(y_l - y_o).norm(dim=1))
                per["G"][name].append(_flat(y_l - cross).norm(dim=1))
                per["e"][name].append(_flat(cross - y_o).norm(dim=1))
                per["y_prev"][name].append(_flat(in_o).norm(dim=1))
                per["x_norm"][name].append(_flat(xb).norm(dim=1))
            record["on"] = True
    finally:
        for h in handles:
            h.remove()
    chain = chain_positions(original, names)
    rows, frames, norms = [], [], {}
    for name in names:
        if name in unused:
            continue
        mo, ml = dict(orig.named_modules())[name], lmods[name]
        norms[name] = layer_norms(mo, ml, shapes[name])
        cols = {k: torch.cat(per[k][name]).numpy() for k in ("d", "G", "e", "y_prev", "x_norm")}
        row, frame = _layer_row(name, mo, ml, shapes[name], norms, chain[name], cols)
        rows.append(row)
        frames.append(frame)
    n = len(x)
    summary = dict(
        n_samples=n,
        acc_original=hits[0, 0] / n,
        acc_extracted=hits[1, 0] / n,
        n_layers=len(rows),
        sandwich_all_hold=bool(all(r["sandwich_holds_frac"] == 1.0 for r in rows)),
        not_measured=[f"{n_}: {why}" for n_, why in skipped]
        + [f"{n_}: never called in the forward (an unused branch?)" for n_ in sorted(unused)],
    )
    return {
        "layers": pd.DataFrame(rows),
        "samples": pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(),
        "summary": summary,
    }


def _layer_row(name, mo, ml, in_shape, norms: dict, chain: dict, cols: dict) -> tuple[dict, pd.DataFrame]:
    """One layer's row (d, G, e, B, the sandwich, Theorem 2's share, the chain bound where it applies) and its
    per-sample frame, from the per-sample norms ``cols``."""
    d, G, e, yp, xn = (cols[k] for k in ("d", "G", "e", "y_prev", "x_norm"))
    _, b = _affine(mo)
    _, bl = _affine(ml)
    db = float((bl - b).double().norm()) * math.sqrt(int(np.prod(_out_positions(mo, in_shape))))
    B = norms[name]["mu"] * yp + db
    tol = RTOL * (d + G + B + 1.0)
    moved = d > tol
    median_ratio = lambda upper: float(np.median(upper[moved] / d[moved])) if moved.any() else float("nan")  # noqa: E731
    row = dict(
        layer=name,
        kind=type(mo).__name__,
        n_extracted=int(sum(int((p != q).sum()) for p, q in zip(mo.parameters(), ml.parameters()))),
        mu=norms[name]["mu"],
        w_norm=norms[name]["w_norm"],
        norm_method=norms[name]["norm_method"],
        bias_change=db,
        d_median=float(np.median(d)),
        G_median=float(np.median(G)),
        e_median=float(np.median(e)),
        B_median=float(np.median(B)),
        sandwich_holds_frac=float(np.mean(d <= G + B + tol)),
        e_within_B_frac=float(np.mean(e <= B + tol)),
        theorem2_holds_frac=float(np.mean(d >= G - tol)),
        sandwich_tightness_median=median_ratio(G + B),
    )
    if "why" in chain:
        row.update(chain_bound=chain["why"])
    else:
        lam = max([norms[b]["w_norm"] for b in chain["before"] if b in norms] or [1.0])
        bound = G + norms[name]["mu"] * chain["L"] * lam ** (chain["m"] - 1) * xn
        row.update(
            chain_bound=f"Theorem 3, m = {chain['m']} on a chain from the input",
            chain_L=chain["L"],
            chain_lambda=lam,
            theorem3_holds_frac=float(np.mean(d <= bound + tol)),
            theorem3_tightness_median=median_ratio(bound),
        )
    frame = pd.DataFrame(dict(sample=np.arange(len(d)), layer=name, d=d, G=G, e=e, B=B, y_prev_norm=yp))
    return row, frame


def _out_positions(mod: nn.Module, in_shape) -> tuple:
    """The spatial positions a layer's bias is broadcast over (1 for Linear on flat inputs)."""
    if isinstance(mod, (nn.Linear,)):
        return in_shape[:-1] or (1,)
    if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return in_shape[1:] or (1,)
    with torch.no_grad():
        out = mod(torch.zeros((1, *in_shape), dtype=mod.weight.dtype))
    return tuple(out.shape[2:])
