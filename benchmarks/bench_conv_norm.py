"""Conv operator norm, side by side in one run (issue 2).

Our FFT method (``bounds.conv_operator_norm``: half spectrum, singular values only) against
(a) a dense SVD of the explicit doubly-block-circulant ``conv_matrix`` and (b) the
straightforward per-frequency full SVD (whole FFT2 spectrum, U, S and V of every P⁽ᵘ'ᵛ⁾).
Float64 throughout; relative error against the dense SVD where it is affordable.

Run: ``.venv/bin/python benchmarks/bench_conv_norm.py [--out benchmarks/results/conv_norm.md]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import best_time, machine_line, markdown_table  # noqa: E402

import bounds  # noqa: E402


def per_frequency_full_svd(F, n):
    P = bounds.frequency_matrices(F, n, half=False)
    _, s, _ = np.linalg.svd(P, full_matrices=True)
    return float(s[..., 0].max())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "conv_norm.md")
    ap.add_argument("--no-dense", action="store_true", help="skip the dense SVDs (minutes)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)

    rows = []
    dense_cases = [] if args.no_dense else [(8, 8), (16, 8), (8, 16), (16, 12), (16, 16), (20, 16)]
    for c, n in dense_cases:
        F = rng.standard_normal((c, c, 3, 3)) / np.sqrt(9 * c)
        t_ours, ours = best_time(lambda: bounds.conv_operator_norm(F, n), repeat=5)
        t_freq, freq = best_time(lambda: per_frequency_full_svd(F, n), repeat=3)
        A = bounds.conv_matrix(F, n)
        t_dense, dense = best_time(lambda: float(np.linalg.svd(A, compute_uv=False)[0]), repeat=1)
        rows.append(
            [
                f"{c}×{c}×3×3, n={n}",
                f"{c * n * n}²",
                f"{t_dense:.3g}",
                f"{t_freq * 1e3:.3g}",
                f"{t_ours * 1e3:.3g}",
                f"{t_dense / t_ours:,.0f}×",
                f"{t_freq / t_ours:.1f}×",
                f"{abs(ours - dense) / dense:.1e}",
                f"{abs(freq - dense) / dense:.1e}",
            ]
        )
        print(rows[-1], flush=True)
    dense_table = markdown_table(
        [
            "kernel, input",
            "matrix",
            "dense SVD (s)",
            "per-freq full SVD (ms)",
            "ours (ms)",
            "vs dense",
            "vs per-freq",
            "ours rel. err",
            "per-freq rel. err",
        ],
        rows,
    )

    rows = []
    for c, n in [(64, 56), (128, 28), (256, 14), (512, 7)]:  # ResNet-18 stages, 3×3 kernels
        F = rng.standard_normal((c, c, 3, 3)) * np.sqrt(2 / (9 * c))  # He init
        t_ours, ours = best_time(lambda: bounds.conv_operator_norm(F, n), repeat=3)
        t_freq, freq = best_time(lambda: per_frequency_full_svd(F, n), repeat=1)
        rows.append(
            [
                f"{c}×{c}×3×3, n={n}",
                f"{t_freq:.3g}",
                f"{t_ours:.3g}",
                f"{t_freq / t_ours:.1f}×",
                f"{abs(ours - freq) / freq:.1e}",
            ]
        )
        print(rows[-1], flush=True)
    resnet_table = markdown_table(
        ["ResNet-18 layer", "per-freq full SVD (s)", "ours (s)", "speed-up", "rel. diff"], rows
    )

    text = (
        "# Conv operator norm benchmark\n\n"
        f"Machine: {machine_line()}. Command: `.venv/bin/python benchmarks/bench_conv_norm.py`.\n\n"
        "## Against a dense SVD of the explicit operator\n\n" + dense_table + "\n\n"
        "## ResNet-18-shaped layers (He-initialised weights)\n\n" + resnet_table + "\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
