"""Denormals kept against flushed (FTZ/DAZ), side by side in one run: a training step of a paper-width FCN whose
Adam state holds denormals, as every long run's does (``empirical.nets.threads.flushed_denormals``).

Adam's first moment of a weight whose gradient stops decays by 0.9 a step into the denormal range; the 7 × 4000
resume point after 15 epochs has 61–95 % of each layer's ``exp_avg`` there. ``--state PATH`` loads such a resume
point (``~/.cache/corelocker-bounds/state/<hash>.train_state.safetensors``, the same shape as ``--hidden-layers``
and ``--width``); without it the state is built: one real step, then ``--denormal-share`` of the first moments
scaled into the denormal range and their gradients set to 0 (dead units). The weights after the measured steps
are compared bit for bit between the two modes.

Run: ``.venv/bin/python benchmarks/bench_denormals.py [--hidden-layers 7 --width 4000 --steps 5 --state PATH]``
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as nnf
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import machine_line, markdown_table  # noqa: E402

from empirical.nets.models import make_fcn  # noqa: E402
from empirical.nets.spec import TrainSpec  # noqa: E402
from empirical.nets.threads import denormals_flushed, flushed_denormals  # noqa: E402
from empirical.nets.train import make_optimizer  # noqa: E402

ADAM = TrainSpec(hidden_layers=1, width=1, epochs=1)  # the paper's optimiser: Adam, lr 1e-3 (fused)


def built_state(H, w, share, x, y):
    model = make_fcn(H, w, seed=0)
    opt = make_optimizer(model, ADAM, "cpu")
    nnf.cross_entropy(model(x[:128]), y[:128]).backward()
    opt.step()
    g = torch.Generator().manual_seed(1)
    dead = {p: torch.rand(p.shape, generator=g) < share for p in model.parameters()}
    for p in model.parameters():
        opt.state[p]["exp_avg"][dead[p]] *= 1e-36  # |m| ~ 1e-3 → ~1e-39: denormal
    return model, opt, dead


def loaded_state(path, H, w):
    t = load_file(str(path))
    model = make_fcn(H, w, seed=0)
    model.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model.")})
    opt = make_optimizer(model, ADAM, "cpu")
    sd = opt.state_dict()
    sd["state"] = {}
    for k, v in t.items():
        if k.startswith("opt."):
            _, i, name = k.split(".", 2)
            sd["state"].setdefault(int(i), {})[name] = v
    opt.load_state_dict(sd)
    return model, opt, None


def steps(model, opt, dead, x, y, n):
    """``n`` training steps; seconds per step (whole step, Adam's step alone) and the weights after."""
    model = copy.deepcopy(model)
    opt2 = make_optimizer(model, ADAM, "cpu")
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    params = list(model.parameters())
    total = adam = 0.0
    for i in range(n):
        t0 = time.perf_counter()
        idx = slice(128 * i, 128 * (i + 1))
        opt2.zero_grad(set_to_none=True)
        nnf.cross_entropy(model(x[idx]), y[idx]).backward()
        if dead is not None:
            for p, q in zip(params, dead.values()):
                p.grad[q] = 0.0
        t1 = time.perf_counter()
        opt2.step()
        t2 = time.perf_counter()
        total, adam = total + t2 - t0, adam + t2 - t1
    return total / n, adam / n, [p.detach().clone() for p in params], opt2


def denormal_share(opt) -> float:
    tiny = torch.finfo(torch.float32).tiny
    n = d = 0
    for st in opt.state.values():
        m = st["exp_avg"].abs()
        n, d = n + m.numel(), d + int(((m > 0) & (m < tiny)).sum())
    return d / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden-layers", type=int, default=7)
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--denormal-share", type=float, default=0.85)
    ap.add_argument("--state", type=Path, default=None, help="a paper-widths resume point of this shape")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "denormals.md")
    args = ap.parse_args()
    H, w = args.hidden_layers, args.width
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(128 * args.steps, 784, generator=g), torch.randint(0, 10, (128 * args.steps,), generator=g)
    if args.state is not None:
        model, opt, dead = loaded_state(args.state, H, w)
        source = "a real resume point (`--state`)"
    else:
        model, opt, dead = built_state(H, w, args.denormal_share, x, y)
        source = f"built: {args.denormal_share:.0%} of the first moments denormal, their gradients 0"
    share = denormal_share(opt)
    kept = steps(model, opt, dead, x, y, args.steps)
    with flushed_denormals("cpu"):
        assert denormals_flushed()
        flushed = steps(model, opt, dead, x, y, args.steps)
    same = all(torch.equal(a, b) for a, b in zip(kept[2], flushed[2]))
    rows = [
        ["kept (IEEE default)", f"{kept[0]:.3f}", f"{kept[1]:.3f}", "1.00×"],
        ["flushed (FTZ/DAZ)", f"{flushed[0]:.3f}", f"{flushed[1]:.3f}", f"{kept[0] / flushed[0]:.2f}×"],
    ]
    text = (
        f"# Denormals kept or flushed ({H} × {w} FCN, fused Adam, batch 128)\n\n"
        f"Machine: {machine_line()}. State: {source}; {share:.0%} of `exp_avg` denormal before the steps. "
        f"Mean of {args.steps} steps. Command: `.venv/bin/python benchmarks/bench_denormals.py"
        f"{' --state PATH' if args.state else ''}`.\n\n"
        + markdown_table(["denormals", "training step (s)", "Adam's step (s)", "speed-up"], rows)
        + f"\n\nWeights after {args.steps} steps identical bit for bit: {'yes' if same else 'NO'}.\n"
    )
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
