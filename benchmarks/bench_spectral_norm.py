"""FC spectral norm ‖W‖₂: Lanczos (``bounds.spectral_norm``) vs a full SVD, side by side (issue 2).

Run: ``.venv/bin/python benchmarks/bench_spectral_norm.py [--sizes 1000,2000,4000,8000]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import best_time, machine_line, markdown_table  # noqa: E402

import bounds  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,2000,4000,8000")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "spectral_norm.md")
    args = ap.parse_args(argv)
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        torch.manual_seed(n)
        # a trained-like matrix: default init scale plus a rank-one component, float32 as stored
        W = (torch.rand(n, n) * 2 - 1) / np.sqrt(n) + 0.02 * torch.randn(n, 1) @ torch.randn(1, n) / np.sqrt(n)
        t_lz, lz = best_time(lambda: bounds.spectral_norm(W), repeat=2)
        t_svd, ref = best_time(lambda: float(torch.linalg.matrix_norm(W.double(), ord=2)), repeat=1)
        rows.append([f"{n}×{n}", f"{t_svd:.3g}", f"{t_lz:.3g}", f"{t_svd / t_lz:.0f}×", f"{abs(lz - ref) / ref:.1e}"])
        print(rows[-1], flush=True)
    text = (
        "# FC spectral norm benchmark\n\n"
        f"Machine: {machine_line()}. Command: `.venv/bin/python benchmarks/bench_spectral_norm.py`.\n\n"
        + markdown_table(["W (float32)", "full SVD, float64 (s)", "Lanczos (s)", "speed-up", "rel. error"], rows)
        + "\n"
    )
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
