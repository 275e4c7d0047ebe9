"""Conv nets, side by side in one run (issue 9).

(1) The per-layer conv norms of a trained ResNet (the ``table1`` checkpoint if it exists, else a
    freshly initialised one; say which): ‖W‖₂ of every conv layer with BN folded, by
    (a) our FFT bound on the padded grid (``bounds.conv_operator_norm_zero_padded_upper``),
    (b) Lemma 4's circular FFT on the layer's own n×n input (``bounds.conv_operator_norm``),
    (c) Lanczos on the zero-padded operator with conv2d / conv_transpose2d (exact),
    (d) a dense SVD of the layer's Jacobian where it fits (input dimension <= ``--dense-max``).
(2) Training throughput (images/s, one epoch's worth of steps) of each architecture in fp32,
    channels-last and bf16 autocast, same threads.

Run: ``.venv/bin/python benchmarks/bench_cnn.py [--checkpoint results/fashion-mnist/cells/resnet]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as nnf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import machine_line, markdown_table  # noqa: E402

import bounds  # noqa: E402
from empirical.measure.stages import folded  # noqa: E402
from empirical.nets.checkpoint import load_checkpoint  # noqa: E402
from empirical.nets.convnets import DEFAULTS, make_conv  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def conv_layers(model):
    """(name, folded weight float64, n_in, padding, stride) of every conv (BN folded when it follows)."""
    shapes, out = {}, []

    def hook(mod, inp, _):
        shapes[mod] = inp[0].shape[-1]

    mods = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    handles = [m.register_forward_hook(hook) for m in mods]
    with torch.no_grad():
        p = next(model.parameters())
        model.eval()(torch.zeros(1, 784, dtype=p.dtype))
    for h in handles:
        h.remove()
    names = {m: n for n, m in model.named_modules()}
    seq = [m for m in model.modules() if not list(m.children())]  # leaves in forward order
    for i, m in enumerate(seq):
        if isinstance(m, torch.nn.Conv2d):
            bn = seq[i + 1] if i + 1 < len(seq) and isinstance(seq[i + 1], torch.nn.BatchNorm2d) else None
            W, _ = folded(m, bn)
            out.append((names[m], W.detach().double().numpy(), shapes[m], m.padding[0], m.stride[0]))
    return out


def timed(fn):
    t = time.perf_counter()
    v = fn()
    return time.perf_counter() - t, v


def dense_jacobian_norm(W, n, p, s):
    x = torch.eye(W.shape[1] * n * n, dtype=torch.float64).reshape(-1, W.shape[1], n, n)
    J = torch.cat([nnf.conv2d(x[i : i + 512], torch.from_numpy(W), padding=p, stride=s) for i in range(0, len(x), 512)])
    return float(np.linalg.norm(J.reshape(len(J), -1).numpy(), 2))


def norms_table(model, dense_max):
    rows, tot = [], np.zeros(4)
    for name, W, n, p, s in conv_layers(model):
        t_up, up = timed(lambda: bounds.conv_operator_norm_zero_padded_upper(W, n, p))
        t_circ, circ = timed(lambda: bounds.conv_operator_norm(W, n))
        t_lz, lz = timed(lambda: bounds.conv_operator_norm_zero_padded(W, n, padding=p, stride=s))
        dim = W.shape[1] * n * n
        t_d, d = timed(lambda: dense_jacobian_norm(W, n, p, s)) if dim <= dense_max else (float("nan"), float("nan"))
        tot += [t_up, t_circ, t_lz, 0 if np.isnan(t_d) else t_d]
        rows.append([
            name, f"{W.shape[0]}×{W.shape[1]}×{W.shape[2]}², n={n}, s={s}", f"{lz:.5g}",
            f"{up / lz:.4f}", f"{circ / lz:.4f}", "—" if np.isnan(d) else f"{abs(d - lz) / d:.1e}",
            f"{t_up * 1e3:.2f}", f"{t_circ * 1e3:.2f}", f"{t_lz * 1e3:.0f}", "—" if np.isnan(t_d) else f"{t_d:.2f}",
        ])  # fmt: skip
        print(rows[-1], flush=True)
    header = ["layer", "kernel, input", "‖W‖₂ exact (Lanczos)", "FFT padded / exact", "circular / exact",
              "Lanczos vs dense", "FFT padded (ms)", "circular (ms)", "Lanczos (ms)", "dense SVD (s)"]  # fmt: skip
    summary = (
        f"All {len(rows)} layers: FFT padded {tot[0]:.3f} s, circular {tot[1]:.3f} s, Lanczos {tot[2]:.1f} s "
        f"({tot[2] / tot[0]:,.0f}× the FFT bound)."
    )
    return markdown_table(header, rows) + "\n\n" + summary


def throughput(arch, h, w, steps, channels_last, bf16):
    torch.manual_seed(0)
    model = make_conv(arch, h, w, seed=0)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    x, y = torch.randn(128, 784), torch.randint(0, 10, (128,))
    model.train()
    for i in range(steps + 2):
        if i == 2:
            t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = nnf.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return 128 * steps / (time.perf_counter() - t)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=ROOT / "results" / "fashion-mnist" / "cells" / "resnet")
    ap.add_argument("--dense-max", type=int, default=4096, help="largest input dimension for the dense SVD")
    ap.add_argument("--steps", type=int, default=20, help="training steps per throughput measurement")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "cnn.md")
    args = ap.parse_args(argv)

    if (args.checkpoint / "model.safetensors").exists() or args.checkpoint.is_file():
        model, meta = load_checkpoint(args.checkpoint)
        which = f"trained checkpoint `{args.checkpoint.relative_to(ROOT) if args.checkpoint.is_relative_to(ROOT) else args.checkpoint}` (test accuracy {meta.get('test_acc')})"  # noqa: E501
    else:
        model = make_conv("resnet", *DEFAULTS["resnet"], seed=0)
        which = "a freshly initialised ResNet-20 (no trained checkpoint found)"
    model = model.double().eval()
    print(which, flush=True)
    norms = norms_table(model, args.dense_max)

    rows = []
    for arch in ("vgg", "resnet", "densenet"):
        h, w = DEFAULTS[arch]
        r = {
            k: throughput(arch, h, w, args.steps, *k)
            for k in ((False, False), (True, False), (False, True), (True, True))
        }
        base = r[(False, False)]
        rows.append([arch, f"{base:.0f}"] + [f"{r[k]:.0f} ({r[k] / base:.2f}×)" for k in list(r)[1:]])
        print(rows[-1], flush=True)
    thr = markdown_table(["arch", "fp32 (img/s)", "channels-last", "bf16", "channels-last + bf16"], rows)
    text = (
        "# Conv nets benchmark\n\n"
        f"Machine: {machine_line()}; torch threads: {torch.get_num_threads()}. "
        f"Command: `.venv/bin/python benchmarks/bench_cnn.py`.\n\n"
        f"## Per-layer ‖W‖₂ (BN folded) of {which}\n\n" + norms + "\n\n"
        "## Training throughput (batch 128, Adam; images/s)\n\n" + thr + "\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
