# ruff: noqa: E501  (table rows and the report template)
"""Where a paper-widths epoch's evaluation goes, beside the epoch's training, in one run.

For one cell (default 7 × 3000: the paper's protocol, MNIST, batch 128, fp32) a network is trained for a
few hundred Adam steps (so its critical ratios sit where a trained one's do), then every part of
``empirical.experiments.paper_widths.evaluate.evaluate_epoch`` is timed on the whole test set:

* one training step (mean of the last 20), times the 469 steps of an epoch: the reference;
* the original accuracy (top-1/top-3), the ℓ1 row at the paper's 0.002 % (every epoch);
* the full ℓ1 sweep over the preset's ratios and one random-baseline sweep (every 5th / 10th epoch);
* the critical-ratio search per target, searched from scratch (a full-sweep epoch) and from the previous
  epoch's answer (the other epochs), with its parts: ranking up to the search's upper ratio, and the
  accuracy probes;
* ``evaluate_epoch`` as a whole, on a sweep epoch and on an ordinary one;
* the search from a previous answer ×1.00, ×1.10, ×1.23 and ×1.48 the crossing (the committed runs' quartiles
  and 90th percentile of the epoch-to-epoch move), with halving and doubling (step 2) and with the galloping
  first step ``HINT_STEP`` that the ordinary epochs use: probes and seconds side by side.

Run: ``.venv/bin/python benchmarks/bench_paper_eval.py [--cell 7x3000 --threads 2 --train-steps 300]``.
Writes ``benchmarks/results/paper_eval.md`` (the load average is recorded: other processes inflate every row).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _util import machine_line, markdown_table  # noqa: E402

from empirical.experiments.common.presets import PAPER_RATIO  # noqa: E402
from empirical.experiments.paper_widths import evaluate as ev  # noqa: E402
from empirical.experiments.paper_widths.config import PRESETS  # noqa: E402
from empirical.lock.sweep import LockedSweep, accuracy_curve, rank_units, top_accuracy  # noqa: E402
from empirical.lock.utility import ratio_for_utility  # noqa: E402
from empirical.nets.data import load_mnist, normalize  # noqa: E402
from empirical.nets.models import make_fcn  # noqa: E402
from empirical.nets.threads import reuse_freed_memory  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", default="7x3000")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "paper_eval.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    reuse_freed_memory()
    h, w = (int(v) for v in args.cell.split("x"))
    config = PRESETS["paper-corner"]
    x_tr, y_tr, x_te, y_te = load_mnist()
    x_tr, y_tr = normalize(x_tr, "standardize"), torch.from_numpy(y_tr)
    x, y = normalize(x_te, "standardize"), torch.from_numpy(y_te)
    model = make_fcn(h, w, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    g = torch.Generator().manual_seed(0)
    step_times = []
    for s in range(args.train_steps):
        idx = torch.randint(len(x_tr), (128,), generator=g)
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if s >= args.train_steps - 20:
            step_times.append(time.perf_counter() - t0)
    model.eval()
    epoch_s = sum(step_times) / len(step_times) * 469
    rows = [("training: one epoch (469 steps × mean of the last 20)", epoch_s)]
    rows.append(("original accuracy, top-1/top-3", timed(lambda: top_accuracy(model, x, y))[0]))
    rows.append(("ℓ1 at 0.002 % (rank + one forward)", timed(lambda: accuracy_curve(model, x, y, (PAPER_RATIO,)))[0]))
    rows.append(
        (f"full ℓ1 sweep ({len(config.ratios)} ratios)", timed(lambda: accuracy_curve(model, x, y, config.ratios))[0])
    )
    rows.append(("random sweep, one seed", timed(lambda: accuracy_curve(model, x, y, config.ratios, "random"))[0]))
    t_full, (_, crit) = timed(lambda: ev.evaluate_epoch(model, x, y, config, True, False))
    hints = {float(r.target): (int(r.k), float(r.ratio)) for r in crit.itertuples() if r.status == "found"}
    for r in crit.itertuples():
        upper = min(4 * float(r.ratio), max(config.ratios)) if r.status == "found" else max(config.ratios)
        rows.append((f"  ranking up to ratio {upper:.3g} (target {r.target:.0%})",
                     timed(lambda u=upper: LockedSweep(model, rank_units(model, u)))[0]))  # fmt: skip
    rows.append(("evaluate_epoch, full-sweep epoch (no random)", t_full))
    t_hint, (_, crit_h) = timed(lambda: ev.evaluate_epoch(model, x, y, config, False, False, hints))
    rows.append(("evaluate_epoch, ordinary epoch (hinted searches)", t_hint))
    original = ev.accuracy_by_halves(model, x, y)  # what the training loop's test pass now computes (paper-widths)
    t_shared, _ = timed(lambda: ev.evaluate_epoch(model, x, y, config, False, False, hints, original))
    rows.append(("evaluate_epoch, ordinary epoch, test pass shared with training (as run)", t_shared))
    # the search from the previous epoch's answer when the answer has moved down by the committed runs' quartiles
    # and 90th percentile (×1.00, ×1.10, ×1.23, ×1.48): halving/doubling (step 2, before) against HINT_STEP
    for moved in (1.0, 1 / 1.1, 1 / 1.23, 1 / 1.48):
        for step in (2.0, ev.HINT_STEP):
            for r in crit.itertuples():
                if r.status != "found":
                    continue
                start, upper = int(r.k / moved), min(4 * float(r.ratio) / moved, max(config.ratios))
                t, got = timed(lambda s=start, u=upper, tg=r.target, st=step: ratio_for_utility(
                    model, x, y, tg, start_k=s, window=0, rel_resolution=config.crit_resolution, max_ratio=u,
                    original=original[2], step=st))  # fmt: skip
                rows.append((f"  search, target {r.target:.0%}, previous answer ×{1 / moved:.2f}, step {step:g}: "
                             f"{got.evaluations} probes, k = {got.k}", t))  # fmt: skip
    table = markdown_table(["part", "seconds", "share of the epoch's training"],
                           [(n, f"{t:.1f}", f"{t / epoch_s:.0%}") for n, t in rows])  # fmt: skip
    load = os.getloadavg()
    found = lambda df: ", ".join(f"{r.target:.0%}: k = {getattr(r, 'k', 'not found')}" for r in df.itertuples())  # noqa: E731
    text = (f"# Paper-widths evaluation cost, {h} × {w} (`benchmarks/bench_paper_eval.py --cell {args.cell} "
            f"--threads {args.threads} --train-steps {args.train_steps}`)\n\n{machine_line()}; load average "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) at the end\n\n{table}\n\n"
            f"Critical ratios found: {found(crit)} (searched from the previous answer: {found(crit_h)})\n")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
