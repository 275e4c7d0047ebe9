"""bf16 autocast vs fp32 training: same cells, same seeds, accuracy and time side by side (issue 6).

The grid's ``cpu`` preset may train in bf16 (AMX, ~3× faster here) only if it reaches the same
test accuracy as fp32. Each (cell, seed) is trained both ways with ``empirical.nets.train``; two
single-thread worker processes (the grid's layout). The difference bf16 − fp32 is compared with
the seed-to-seed spread of fp32.

Run: ``.venv/bin/python benchmarks/bench_precision.py [--epochs 5] [--cells 4x100,8x400,13x800] [--seeds 0,1]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import machine_line, markdown_table  # noqa: E402


def _one(job):
    import torch

    torch.set_num_threads(1)
    from empirical.nets.checkpoint import read_checkpoint
    from empirical.nets.train import RunOptions, TrainSpec, train

    h, w, seed, precision, epochs = job
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        path = train(TrainSpec(h, w, epochs, seed=seed, precision=precision), tmp, RunOptions(progress=False))
        seconds = time.perf_counter() - t
        _, meta = read_checkpoint(path)
    return h, w, seed, precision, float(meta["test_acc"]), seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--cells", default="4x100,8x400,13x800")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "precision.md")
    args = ap.parse_args(argv)
    cells = [tuple(int(v) for v in c.split("x")) for c in args.cells.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(h, w, s, p, args.epochs) for h, w in cells for s in seeds for p in ("fp32", "bf16")]
    jobs.sort(key=lambda j: -(j[0] * j[1] ** 2) * (3 if j[3] == "fp32" else 1))  # longest first
    with mp.get_context("spawn").Pool(2) as pool:
        res = {(h, w, s, p): (acc, sec) for h, w, s, p, acc, sec in pool.imap_unordered(_one, jobs)}
    rows, diffs = [], []
    for h, w in cells:
        for s in seeds:
            a32, t32 = res[(h, w, s, "fp32")]
            a16, t16 = res[(h, w, s, "bf16")]
            diffs.append(a16 - a32)
            rows.append(
                [
                    f"{h} × {w}",
                    s,
                    f"{a32:.4f}",
                    f"{a16:.4f}",
                    f"{100 * (a16 - a32):+.2f}",
                    f"{t32:.0f}",
                    f"{t16:.0f}",
                    f"{t32 / t16:.2f}×",
                ]
            )
    spread = [abs(res[(h, w, seeds[0], "fp32")][0] - res[(h, w, s, "fp32")][0]) for h, w in cells for s in seeds[1:]]
    text = (
        f"# bf16 autocast vs fp32 training ({args.epochs} epochs, MNIST, Adam 1e-3, batch 128)\n\n"
        f"Machine: {machine_line()}; two single-thread worker processes. "
        f"Command: `.venv/bin/python benchmarks/bench_precision.py --epochs {args.epochs} --cells {args.cells} "
        f"--seeds {args.seeds}`.\n\n"
        + markdown_table(
            ["cell", "seed", "fp32 test acc", "bf16 test acc", "bf16 − fp32 (pp)", "fp32 s", "bf16 s", "speed-up"],
            rows,
        )
        + f"\n\nmean bf16 − fp32: {100 * np.mean(diffs):+.3f} pp (max |diff| {100 * np.max(np.abs(diffs)):.2f} pp);"
        + (
            f" fp32 seed-to-seed |diff|: mean {100 * np.mean(spread):.2f} pp, max {100 * np.max(spread):.2f} pp.\n"
            if spread
            else "\n"
        )
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
