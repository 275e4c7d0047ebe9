"""Training throughput at the paper's widths against the machine's matmul peak, side by side in one run.

For each cell (default 7 × 3000 and 13 × 8000, batch 128, fp32, fused Adam, the training loop of
``empirical.nets.train``), in a fresh process each (malloc settings are per process):

* ``default``: glibc's allocator as it comes — every tensor above 32 MiB is its own mmap, so each
  step maps and page-faults its big gradients and activations again;
* ``ours``: ``empirical.nets.threads.reuse_freed_memory`` (mmap off, no trimming: freed memory is reused).

Per step: total, forward, forward + backward, the Adam step and zero_grad, as seconds and as a share
of the step; the achieved rate 6·#params·batch / step time against the fp32 matmul peak measured in
the same process (a 4096³ GEMM, best of 5) and against the layer-shaped GEMM (batch × width × width).

Run: ``.venv/bin/python benchmarks/bench_paper_training.py [--cells 7x3000,13x8000 --threads 2 --steps 3]``
Writes ``benchmarks/results/paper_training.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import machine_line, markdown_table  # noqa: E402

CHILD = r"""
import json, sys, time, torch
import torch.nn.functional as F
cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
if cfg["mode"] == "ours":
    from empirical.nets.threads import reuse_freed_memory
    assert reuse_freed_memory()
from empirical.nets.models import make_fcn

def rate(m, k, n, reps):
    a, b = torch.randn(m, k), torch.randn(k, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)
    return 2 * m * k * n / best

peak = rate(4096, 4096, 4096, 5)
layer = rate(cfg["batch"], cfg["width"], cfg["width"], 5)
model = make_fcn(cfg["hidden"], cfg["width"], seed=0)
opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
x, y = torch.randn(cfg["batch"], 784), torch.randint(0, 10, (cfg["batch"],))
P = sum(p.numel() for p in model.parameters())

def timed(fn):
    t = time.perf_counter(); fn(); return time.perf_counter() - t

def fwd():
    with torch.no_grad():
        model(x)

def fwd_bwd():
    F.cross_entropy(model(x), y).backward()

def step():
    opt.zero_grad(set_to_none=True); fwd_bwd(); opt.step()

step()  # warm-up: Adam state allocated
res = {"params": P, "peak": peak, "layer_gemm": layer}
steps = [timed(step) for _ in range(cfg["steps"])]
res["step"] = sum(steps) / len(steps)  # the mean: what an epoch costs (page-fault storms come and go)
res["step_best"] = min(steps)
res["forward"] = min(timed(fwd) for _ in range(cfg["steps"]))
def fb():
    opt.zero_grad(set_to_none=True); fwd_bwd()
res["forward_backward"] = min(timed(fb) for _ in range(cfg["steps"]))
res["adam"] = min(timed(opt.step) for _ in range(cfg["steps"]))
res["zero_grad"] = min(timed(lambda: opt.zero_grad(set_to_none=False)) for _ in range(cfg["steps"]))
print(json.dumps(res))
"""


def run(cell: str, mode: str, threads: int, steps: int, batch: int = 128) -> dict:
    h, w = (int(v) for v in cell.split("x"))
    cfg = dict(hidden=h, width=w, mode=mode, threads=threads, steps=steps, batch=batch)
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True, text=True, check=True)
    return {**cfg, **json.loads(out.stdout.strip().splitlines()[-1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default="7x3000,13x8000")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "paper_training.md")
    args = ap.parse_args()
    rows, parts = [], []
    for cell in args.cells.split(","):
        for mode in ("default", "ours"):
            t0 = time.perf_counter()
            r = run(cell, mode, args.threads, args.steps)
            flop = 6 * r["params"] * r["batch"]
            gf = flop / r["step"] / 1e9
            rows.append([
                cell, mode, f"{r['params'] / 1e6:.1f} M", f"{r['step']:.3f} ({r['step_best']:.3f})",
                f"{r['forward']:.3f}", f"{r['forward_backward']:.3f}", f"{r['adam']:.3f}", f"{r['zero_grad']:.4f}",
                f"{gf:.0f}",
                f"{r['peak'] / 1e9:.0f}", f"{gf / (r['peak'] / 1e9):.0%}", f"{r['layer_gemm'] / 1e9:.0f}",
            ])  # fmt: skip
            print(cell, mode, f"{r['step']:.3f} s/step, {gf:.0f} GFLOP/s ({time.perf_counter() - t0:.0f}s)", flush=True)
    header = ["cell", "allocator", "parameters", "step, mean (best) (s)", "forward (s)", "forward+backward (s)",
              "Adam (s)", "zero_grad (s)", "GFLOP/s", "fp32 peak (GFLOP/s)", "share of peak",
              "layer GEMM (GFLOP/s)"]  # fmt: skip
    parts = [
        "# Training throughput at the paper's widths (fp32, batch 128, fused Adam)",
        "",
        f"Machine: {machine_line()}; {args.threads} threads per process; the step is the mean (and best) of "
        f"{args.steps} steps after a warm-up, the parts the best of {args.steps}. "
        "Command: `.venv/bin/python benchmarks/bench_paper_training.py`. GFLOP/s = 6·#params·batch / step time; "
        "the peak is a 4096³ fp32 GEMM in the same process, the layer GEMM is batch × width × width.",
        "",
        markdown_table(header, rows),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(parts))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
