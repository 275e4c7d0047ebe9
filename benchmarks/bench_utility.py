"""Utility ↔ ratio speed, side by side in one run (issue 7).

(a) accuracy at 100 log-spaced ratios of one network: our nested sweep (rank once, move the
    extracted prefix in place) vs re-extracting from scratch at every ratio (``extract``); the
    same accuracy evaluation in both, and the extraction work alone;
(b) ``ratio-for-utility`` on the same network: seconds and evaluations for several targets.

The network is the README's 6 × 512 FCN (5 epochs), trained here unless ``--checkpoint`` is given.
Run: ``.venv/bin/python benchmarks/bench_utility.py [--checkpoint DIR] [--n-eval 10000]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import machine_line, markdown_table  # noqa: E402

from empirical.lock.extraction import extract  # noqa: E402
from empirical.lock.sweep import LockedSweep, accuracy_curve, rank_units, top_accuracy  # noqa: E402
from empirical.lock.utility import ratio_for_utility  # noqa: E402
from empirical.nets.checkpoint import load_checkpoint, model_sha256  # noqa: E402
from empirical.nets.data import test_set_for  # noqa: E402
from empirical.nets.train import RunOptions, TrainSpec, train  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--n-ratios", type=int, default=100)
    ap.add_argument("--n-eval", type=int, default=10000, help="test images per accuracy evaluation")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "utility.md")
    args = ap.parse_args(argv)
    tmp = None
    if args.checkpoint is None:
        tmp = tempfile.TemporaryDirectory()
        args.checkpoint = train(TrainSpec(6, 512, 5), tmp.name, RunOptions(progress=False))
    model, meta = load_checkpoint(args.checkpoint)
    model.eval()
    x, y = test_set_for(meta["spec"], n=args.n_eval)
    ratios = sorted({float(f"{v:.3g}") for v in np.logspace(-5, np.log10(0.5), args.n_ratios)})

    # ---- (a) sweep vs re-extraction ---------------------------------------------------------
    t = time.perf_counter()
    sweep = LockedSweep(model, rank_units(model, ratios[-1]))
    t_rank = time.perf_counter() - t
    t = time.perf_counter()
    for r in ratios:
        sweep.set_ratio(r)
    t_move = time.perf_counter() - t
    t_sweep_extract = t_rank + t_move
    t = time.perf_counter()
    curve = accuracy_curve(model, x, y, ratios)  # what utility-curve runs: rank once, sweep, cached first layer
    t_sweep_total = time.perf_counter() - t
    sweep_acc = list(zip(curve["top1"], curve["top3"]))

    re_acc, t_extract, t_eval_re = [], 0.0, 0.0
    for r in ratios:
        t = time.perf_counter()
        locked, _ = extract(model, r)
        t_extract += time.perf_counter() - t
        t = time.perf_counter()
        re_acc.append(top_accuracy(locked, x, y))
        t_eval_re += time.perf_counter() - t
    same = [(float(a), float(b)) for a, b in sweep_acc] == re_acc and model_sha256(
        sweep.set_ratio(ratios[-1])
    ) == model_sha256(extract(model, ratios[-1])[0])

    rows_a = [
        ["extraction only", f"{t_extract:.2f}", f"{t_sweep_extract:.2f}", f"{t_extract / t_sweep_extract:.1f}×"],
        [
            f"extraction + accuracy on {len(x):,} images",
            f"{t_extract + t_eval_re:.2f}",
            f"{t_sweep_total:.2f}",
            f"{(t_extract + t_eval_re) / t_sweep_total:.1f}×",
        ],
    ]

    # ---- (b) ratio-for-utility ------------------------------------------------------------
    x_full, y_full = test_set_for(meta["spec"])
    rows_b = []
    for target in (0.9, 0.5, 0.15):
        t = time.perf_counter()
        found = ratio_for_utility(model, x_full, y_full, target)
        sec = time.perf_counter() - t
        rows_b.append(
            [
                target,
                f"{found.k:,}",
                f"{found.ratio:.4g}",
                f"{found.accuracy:.4f} / {found.accuracy_heldout:.4f}",
                found.evaluations,
                f"{sec:.2f}",
            ]
        )
    spec = meta["spec"]
    text = (
        f"# Utility ↔ ratio ({spec['hidden_layers']} × {spec['width']} FCN, test accuracy {meta.get('test_acc')})\n\n"
        f"Machine: {machine_line()}. Command: `.venv/bin/python benchmarks/bench_utility.py`.\n\n"
        f"## (a) Accuracy at {len(ratios)} ratios (1e-5 … 0.5): re-extraction vs nested sweep\n\n"
        + markdown_table(["work", "re-extract every ratio (s)", "sweep (s)", "speed-up"], rows_a)
        + f"\n\nSweep: rank once {t_rank:.2f} s, move the prefix {t_move:.2f} s in total. "
        f"Identical accuracies at every ratio: {same}.\n\n"
        "## (b) `ratio-for-utility` (chosen on the even test images, checked on the odd ones)\n\n"
        + markdown_table(["target", "k", "ratio", "accuracy select / held-out", "evaluations", "seconds"], rows_b)
        + "\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
