"""Training throughput, side by side in one run (issue 3).

(a) the textbook loop: DataLoader over a TensorDataset, default ``torch.optim.Adam``;
(b) ours (``empirical.nets.train``'s loop): the dataset as one tensor, index batches, fused Adam;
(c) ours with bf16 autocast (AMX);
then (d) one process with 1 thread, one with 2 threads, and two single-thread processes at once.
Samples/s and the share of the machine's measured GEMM rate (training ≈ 6·#params FLOP/sample).

Run: ``.venv/bin/python benchmarks/bench_training.py [--hidden-layers 4 --width 1000 --steps 150]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as nnf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import machine_line, markdown_table  # noqa: E402

from empirical.experiments.grid.theory_table import n_parameters  # noqa: E402
from empirical.nets.models import make_fcn  # noqa: E402


def gemm_rate(dtype, n=2048, reps=10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


def data(n=60_000):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 784, generator=g), torch.randint(0, 10, (n,), generator=g)


def textbook(H, w, steps, batch=128):
    x, y = data()
    model = make_fcn(H, w, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch, shuffle=True)
    it = iter(loader)
    t = None
    for i in range(steps + 5):
        if i == 5:
            t = time.perf_counter()
        xb, yb = next(it)
        loss = nnf.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t)


def ours(H, w, steps, batch=128, bf16=False):
    x, y = data()
    model = make_fcn(H, w, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    t = None
    for i in range(steps + 5):
        if i == 5:
            t = time.perf_counter()
        idx = perm[i * batch : (i + 1) * batch]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x[idx])
        loss = nnf.cross_entropy(logits.float(), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t)


def _worker(args):
    threads, H, w, steps = args
    torch.set_num_threads(threads)
    return ours(H, w, steps)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden-layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "training.md")
    args = ap.parse_args(argv)
    H, w, steps = args.hidden_layers, args.width, args.steps
    flop = 6 * n_parameters(H, w)
    fp32, bf16 = gemm_rate(torch.float32), gemm_rate(torch.bfloat16)
    print(f"GEMM fp32 {fp32 / 1e9:.0f} GFLOP/s, bf16 {bf16 / 1e9:.0f} GFLOP/s", flush=True)
    rows = []
    base = None
    for name, fn, peak in [
        ("textbook: DataLoader + default Adam", lambda: textbook(H, w, steps), fp32),
        ("ours: resident tensor + fused Adam", lambda: ours(H, w, steps), fp32),
        ("ours + bf16 autocast", lambda: ours(H, w, steps, bf16=True), bf16),
    ]:
        sps = fn()
        base = base or sps
        rows.append([name, f"{sps:,.0f}", f"{sps / base:.2f}×", f"{sps * flop / peak:.0%} of {peak / 1e9:.0f}"])
        print(rows[-1], flush=True)
    ctx = mp.get_context("spawn")
    par = []
    for label, jobs in [
        ("1 process × 1 thread", [(1, H, w, steps)]),
        ("1 process × 2 threads", [(2, H, w, steps)]),
        ("2 processes × 1 thread", [(1, H, w, steps)] * 2),
    ]:
        with ctx.Pool(len(jobs)) as pool:
            total = sum(pool.map(_worker, jobs))
        par.append([label, f"{total:,.0f}", f"{total * flop / fp32:.0%}"])
        print(par[-1], flush=True)
    text = (
        f"# Training throughput ({H} × {w} FCN, {n_parameters(H, w):,} parameters, batch 128)\n\n"
        f"Machine: {machine_line()}; measured GEMM fp32 {fp32 / 1e9:.0f} GFLOP/s, bf16 {bf16 / 1e9:.0f} GFLOP/s. "
        "Command: `.venv/bin/python benchmarks/bench_training.py`.\n\n"
        + markdown_table(["loop", "samples/s", "vs textbook", "share of GEMM rate (GFLOP/s)"], rows)
        + "\n\n## Threads and processes (ours, fp32; aggregate samples/s)\n\n"
        + markdown_table(["layout", "samples/s", "share of 2-core fp32 GEMM rate"], par)
        + "\n"
    )
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
