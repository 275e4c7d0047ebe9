"""The extraction ratio for a target utility (Section 5.2, Figure 6, Table 5), measured on the real network.

``ratio_for_utility`` finds k, the number of extracted units, such that the locked network's
top-1 accuracy is at or below ``target + tolerance``:

1. bracket: from ``start_k`` (default 1) double k until the accuracy is at or below the target,
   or halve it until it is not (every candidate extracted and still above: unreachable, an error);
   from a close guess, ``step`` < 2 starts with a smaller factor that squares after each probe;
2. bisect on k inside the bracket (lo: above the target, hi: at or below): a crossing k;
3. walk down from the crossing, one k at a time, until ``window`` values in a row miss the
   target (at most ``max_scan`` steps); the smallest k that met it on the way is the answer.

What it guarantees: the returned k meets the target; the ``window`` values of k just below the
walk's end miss it, and so does every k probed by the bracketing and bisection below the answer.
Accuracy is not monotone in k (isolated k above the target sit inside the crossing band), which
is why step 3 exists; a smaller k far below, separated by ``window`` misses in a row, is possible
in principle. ``exhaustive_scan`` checks every k (small networks, tests).

The search uses one half of the test images (even indices, ``selection``) and reports the
accuracy on the other half (odd indices, ``held-out``) so the user sees how the choice generalises.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from empirical.errors import UserError
from empirical.lock.ratio import ratio_for_k
from empirical.lock.sweep import (
    LockedSweep,
    accuracy_curve,
    frozen_head,
    rank_units,
    tail,
    top_accuracy,
    unit_values_of,
)

CHANCE = 0.1  # MNIST / Fashion-MNIST: 10 classes


@dataclass
class UtilityChoice:
    target: float
    tolerance: float
    k: int  # units extracted
    ratio: float  # ≈ k / candidate units, exactly the ratio for which extract() takes k units
    share_of_parameters: float  # extracted values / all parameters (the paper's "global ratio")
    accuracy: float  # selection half
    accuracy_heldout: float
    top3: float
    top3_heldout: float
    accuracy_original: float
    accuracy_original_heldout: float
    bracket_lo: int
    bracket_hi: int
    evaluations: int
    n_candidates: int
    neighbours_checked: int
    scan_complete: bool  # the walk down ended on `window` misses in a row (not on max_scan)

    def as_row(self) -> dict:
        return asdict(self)


def chance_of(spec: dict) -> float:
    """Chance accuracy of a checkpoint's task: 1/#classes (your own data records them), else MNIST's 0.1."""
    return 1.0 / int(spec.get("n_classes", 1 / CHANCE))


def split_halves(x, y):
    """(selection x, y), (held-out x, y): even and odd test indices."""
    return (x[0::2], y[0::2]), (x[1::2], y[1::2])


AT_CHANCE = re.compile(r"^chance(?:\s*\+\s*(\d+(?:\.\d+)?)\s*pp)?$")


def check_target(target, original_accuracy: float, chance: float = CHANCE) -> float:
    """The target accuracy as a number in (chance, original]: a number, or ``chance`` (chance + 1 pp) or
    ``chance+Npp`` (chance + N pp) for an owner who wants the model at chance — chance itself cannot be a target,
    since no extraction is guaranteed to land exactly on it."""
    m = AT_CHANCE.match(str(target).strip().lower())
    if m:
        t = chance + float(m.group(1) or 1) / 100
    else:
        try:
            t = float(target)
        except (TypeError, ValueError):
            raise UserError(f"target accuracy must be a number or chance[+Npp], got {target!r}") from None
    if not (chance < t <= original_accuracy) or t != t:
        hint = " (to lock at chance, give `chance` or `chance+2pp`: chance plus a tolerance)" if t <= chance else ""
        raise UserError(
            f"target accuracy {target} is outside (chance {chance}, original accuracy {original_accuracy:.4f}]{hint}"
        )
    return t


def _check_search(x, y, tolerance, step) -> None:
    if not 1 < float(step) <= 2:
        raise UserError(f"the bracketing step must be in (1, 2], got {step}")
    if not 0 <= float(tolerance) < 1:
        raise UserError(f"tolerance must be in [0, 1), got {tolerance}")
    if len(x) < 2 or len(x) != len(y):
        raise UserError(f"the search needs at least 2 test images with one label each, got {len(x)} and {len(y)}")


def ratio_for_utility(
    model,
    x,
    y,
    target,
    *,
    indicator="l1",
    scope="hidden",
    seed=0,
    tolerance=0.0,
    window=8,
    batch=2000,
    chance=CHANCE,
    start_k: int = 1,
    rel_resolution: float = 0.0,
    max_scan: int = 256,
    decide_batch: int = 500,
    max_ratio: float | None = None,
    model_at=None,
    original: tuple[float, float] | None = None,
    step: float = 2.0,
) -> UtilityChoice:
    """The smallest k (see the module doc) whose accuracy is at or below ``target + tolerance``.

    ``start_k``: where bracketing starts (a guess, e.g. from a coarse sweep; doubling up or halving
    down from it). ``rel_resolution`` > 0 stops bisecting once the bracket is narrower than that
    share of k (the grid's critical ratios use 1 %); 0 gives the exact crossing. ``max_ratio``: rank
    and search only the first ``extract(model, max_ratio)`` units (a known upper end, e.g. the first
    ratio of a sweep that reaches the target); ranking every unit of a 774 M-parameter network would
    not fit in memory. A target not reached within it is an error naming ``max_ratio``. ``model_at(k)``: the
    locked model to judge at k when it is not the zero-filled one (``lock --fill noise``: the search must judge
    the model that will be written); by default the first k units of the ranking, zeroed in place.
    ``original``: the unlocked model's top-1 on the selection and held-out halves, when the caller has them
    (saves a pass over the test set per search). ``step`` in (1, 2]: the bracketing factor's first value
    (see ``_bracket``); below 2 when ``start_k`` is a close guess.
    """
    _check_search(x, y, tolerance, step)
    model.eval()
    (xs, ys), (xh, yh) = split_halves(x, y)
    if original is not None:
        acc0, acc0_h = original
    else:
        acc0, _ = top_accuracy(model, xs, ys, batch)
        acc0_h, _ = top_accuracy(model, xh, yh, batch)
    t = check_target(target, acc0, chance)
    goal = t + float(tolerance)
    ranking = rank_units(model, 1 - 1e-12 if max_ratio is None else max_ratio, indicator, scope, "global", seed)
    D = len(ranking.pos)  # ranked units (every candidate unless max_ratio is given)
    sweep = LockedSweep(model, ranking)
    locked_at = model_at if model_at is not None else sweep.set_k
    cache: dict[int, bool] = {}
    head, xs_head = frozen_head(model, ranking, xs)
    n = len(xs)
    if goal >= acc0:
        raise UserError(
            f"target {t} + tolerance {tolerance} = {goal:.4f} is not below the original accuracy {acc0:.4f} on the "
            "selection half: every extraction would qualify; lower the tolerance"
        )
    h_max = min(n, int(goal * n) + 1)  # the most hits that still count as "at or below the goal"
    while h_max > 0 and h_max / n > goal:
        h_max -= 1

    def meets(k: int) -> bool:
        """acc(k) <= goal on the selection half, decided as soon as the count of hits settles it."""
        if k not in cache:
            cache[k] = _at_most(tail(locked_at(k), head), xs_head, ys, h_max, decide_batch)
        return cache[k]

    def unreachable():
        acc_all = top_accuracy(locked_at(D), xs, ys, batch)[0]
        what = "all" if max_ratio is None else f"the first (ratio {max_ratio})"
        return UserError(
            f"no ratio reaches accuracy {t}: with {what} {D} candidate units extracted it is still {acc_all:.4f}"
        )

    lo, hi = _bracket(meets, min(max(int(start_k), 1), D), D, unreachable, step)
    bracket = (lo, hi)
    while hi - lo > max(1, rel_resolution * hi):  # bisect: lo misses the target, hi meets it
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if meets(mid) else (mid, hi)
    best, scanned, complete = _walk_down(meets, hi, window, max_scan)
    return _choice(
        model,
        sweep,
        ranking,
        best,
        (xs, ys),
        (xh, yh),
        batch,
        t,
        tolerance,
        (acc0, acc0_h),
        bracket,
        len(cache),
        scanned,
        complete,
        locked_at,
    )


def _choice(
    model, sweep, ranking, best, sel, held, batch, t, tolerance, acc0s, bracket, evals, scanned, complete, locked_at
):
    """The ``UtilityChoice`` of k = ``best``: accuracies on both halves and the extracted share."""
    sweep.set_k(best)  # the counts of the extracted share
    locked = locked_at(best)
    a_s, t3_s = top_accuracy(locked, *sel, batch)
    a_h, t3_h = top_accuracy(locked, *held, batch)
    n_params = sum(p.numel() for p in model.parameters())
    n_values = int(sum(sweep.counts[i] * unit_values_of(model, c) for i, c in enumerate(ranking.cands)))
    return UtilityChoice(
        target=t,
        tolerance=float(tolerance),
        k=best,
        ratio=ratio_for_k(best, ranking.n_candidates),
        share_of_parameters=n_values / n_params,
        accuracy=a_s,
        accuracy_heldout=a_h,
        top3=t3_s,
        top3_heldout=t3_h,
        accuracy_original=acc0s[0],
        accuracy_original_heldout=acc0s[1],
        bracket_lo=bracket[0],
        bracket_hi=bracket[1],
        evaluations=evals,
        n_candidates=ranking.n_candidates,
        neighbours_checked=scanned,
        scan_complete=complete,
    )


def _bracket(meets, hi: int, D: int, unreachable, step: float = 2.0) -> tuple[int, int]:
    """(lo, hi) with lo missing the target (or 0) and hi meeting it: step down from ``hi`` while it still
    meets, or up until it does (``unreachable()`` is raised when every unit is extracted and it still does
    not). The factor starts at ``step`` and squares after each probe, capped at 2: with 2, plain halving and
    doubling; with a ``step`` near 1 a good guess (the previous epoch's answer) brackets in two probes a few
    per cent apart, and a poor one still reaches doubling within three probes."""
    f = float(step)
    if meets(hi):
        while hi > 1:
            nxt = min(hi - 1, int(hi / f))
            if not meets(nxt):
                return nxt, hi
            hi, f = nxt, min(2.0, f * f)
        return 0, hi
    lo = 0
    while not meets(hi):
        if hi == D:
            raise unreachable()
        lo, hi = hi, min(max(hi + 1, math.ceil(hi * f)), D)
        f = min(2.0, f * f)
    return lo, hi


def _walk_down(meets, hi: int, window: int, max_scan: int) -> tuple[int, int, bool]:
    """From the crossing ``hi`` down one k at a time until ``window`` misses in a row (at most ``max_scan``
    steps): (the smallest k that met the target, steps taken, whether the walk ended on its misses)."""
    best, misses, k, scanned = hi, 0, hi - 1, 0
    while window and k >= 1 and misses < window and scanned < max_scan:
        scanned += 1
        if meets(k):
            best, misses = k, 0
        else:
            misses += 1
        k -= 1
    return best, scanned, misses >= window or k < 1


@torch.no_grad()
def _at_most(model, x, y, h_max: int, batch: int) -> bool:
    """Whether ``model`` classifies at most ``h_max`` of (x, y) correctly; stops once the answer is settled."""
    hits, n = 0, len(x)
    for i in range(0, n, batch):
        hits += int((model(x[i : i + batch]).argmax(dim=1) == y[i : i + batch]).sum())
        if hits > h_max:
            return False
        if hits + (n - i - batch) <= h_max:
            return True
    return hits <= h_max


def exhaustive_scan(model, x, y, indicator="l1", scope="hidden", seed=0, batch=2000) -> list[float]:
    """Top-1 accuracy at every k = 0..D on (x, y) (the reference for ``ratio_for_utility``; small nets only)."""
    ranking = rank_units(model, 1 - 1e-12, indicator, scope, "global", seed)
    sweep = LockedSweep(model, ranking)
    return [top_accuracy(sweep.set_k(k), x, y, batch)[0] for k in range(len(ranking.pos) + 1)]


DEFAULT_CURVE_RATIOS = tuple(sorted({float(f"{v:.3g}") for v in np.logspace(-5, np.log10(0.5), 40)} | {0.00002}))


def utility_curve(
    model, x, y, ratios=DEFAULT_CURVE_RATIOS, indicators=("l1", "random"), random_seeds=5, scope="hidden", batch=2000
) -> pd.DataFrame:
    """Accuracy (top-1, top-3) vs ratio for each indicator; ``random`` over ``random_seeds`` seeds (Figure 6)."""
    frames = []
    for ind in indicators:
        seeds = range(random_seeds) if ind == "random" else (0,)
        for s in seeds:
            frames.append(accuracy_curve(model, x, y, ratios, ind, scope, "global", s, batch))
    return pd.concat(frames, ignore_index=True)


def utility_bins(curve: pd.DataFrame, width: float = 0.05) -> pd.DataFrame:
    """Table 5: for each utility bin of ``width`` (top-1 accuracy), the range of ratios landing in it.

    ``random`` is averaged over its seeds first. Bins no ratio lands in are left out.
    """
    mean = curve.groupby(["indicator", "ratio"], as_index=False)["top1"].mean()
    mean["bin"] = np.minimum(np.floor(mean["top1"] / width + 1e-9), 1 / width - 1).astype(int)
    rows = []
    for (ind, b), g in mean.groupby(["indicator", "bin"]):
        rows.append(
            {
                "indicator": ind,
                "utility_bin": f"{100 * b * width:.0f}–{100 * (b + 1) * width:.0f} %",
                "bin_low": round(b * width, 10),
                "ratio_min": g["ratio"].min(),
                "ratio_max": g["ratio"].max(),
                "n_ratios": len(g),
                "accuracy_min": g["top1"].min(),
                "accuracy_max": g["top1"].max(),
            }
        )
    return pd.DataFrame(rows).sort_values(["indicator", "bin_low"], ascending=[True, False], ignore_index=True)
