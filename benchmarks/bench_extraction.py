"""Extraction at paper scale (issue 3): our streamed exact top-k vs concatenate-and-topk.

Each method runs in a fresh process on the same seeded FCN; we report wall time of the
selection, and peak resident memory above the model itself. The obvious method concatenates
|w| of every candidate weight and calls ``torch.topk`` (16 bytes per element plus the copy); it
is run under an address-space cap so that running out of memory is reported, not fatal.

Run: ``.venv/bin/python benchmarks/bench_extraction.py [--cells 13x2000,13x8000]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import machine_line, markdown_table  # noqa: E402

RATIO = 0.00002
CAP_BYTES = 22 * 1024**3  # address-space cap for the obvious method (the machine has 24 GiB)


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _build(H, w):
    import torch

    from empirical.nets.models import FCN

    torch.manual_seed(0)
    with torch.no_grad():
        model = FCN.__new__(FCN)
        torch.nn.Module.__init__(model)
        model.hidden_layers, model.width = H, w
        dims = [784] + [w] * H + [10]
        layers = []
        for a, b in zip(dims[:-1], dims[1:]):
            lin = torch.nn.Linear(a, b, device="meta")
            lin.weight = torch.nn.Parameter(torch.empty(b, a).uniform_(-(a**-0.5), a**-0.5))
            lin.bias = torch.nn.Parameter(torch.empty(b).uniform_(-(a**-0.5), a**-0.5))
            layers.append(lin)
        model.layers = torch.nn.ModuleList(layers)
    return model


def ours(H, w):
    from empirical.lock.extraction import extract
    from empirical.lock.ranking import candidates, select
    from empirical.lock.ratio import n_extracted

    model = _build(H, w)
    base = _rss_gib()
    cands = candidates(model)
    k = n_extracted(RATIO, sum(c.n_units for c in cands))
    t = time.perf_counter()
    chosen = select(dict(model.named_parameters()), cands, k, "l1", 0)
    t_sel = time.perf_counter() - t
    sel_peak = _rss_gib() - base
    t = time.perf_counter()
    locked, key = extract(model, RATIO)
    t_full = time.perf_counter() - t
    t = time.perf_counter()
    restored = key.restore(locked, inplace=True)
    t_restore = time.perf_counter() - t
    assert restored is locked
    return {
        "k": k,
        "select_s": t_sel,
        "select_peak_gib": sel_peak,
        "lock_s": t_full,
        "unlock_s": t_restore,
        "positions": {n: p[:5].tolist() for n, p in chosen.items()},
        "model_gib": base,
    }


def obvious(H, w):
    import torch

    from empirical.lock.ranking import candidates
    from empirical.lock.ratio import n_extracted

    model = _build(H, w)
    base = _rss_gib()
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))
    cands = candidates(model)
    k = n_extracted(RATIO, sum(c.n_units for c in cands))
    params = dict(model.named_parameters())
    t = time.perf_counter()
    try:
        with torch.no_grad():
            flat = torch.cat([params[c.name].detach().abs().reshape(-1) for c in cands])
            idx = torch.topk(flat, k).indices
    except (RuntimeError, MemoryError) as exc:
        return {"k": k, "error": str(exc).splitlines()[0][:80], "select_peak_gib": _rss_gib() - base}
    t_sel = time.perf_counter() - t
    return {"k": k, "select_s": t_sel, "select_peak_gib": _rss_gib() - base, "n_idx": int(idx.numel())}


def _run(fn, H, w):
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        try:
            return pool.apply(fn, (H, w))
        except Exception as exc:  # the worker died (e.g. killed for memory)
            return {"error": f"{type(exc).__name__}: {exc}"[:80]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default="13x2000,13x8000")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "extraction.md")
    args = ap.parse_args(argv)
    rows = []
    for cell in args.cells.split(","):
        H, w = (int(v) for v in cell.split("x"))
        a = _run(ours, H, w)
        print("ours", cell, a, flush=True)
        b = _run(obvious, H, w)
        print("obvious", cell, b, flush=True)
        n = (H - 1) * w * w
        rows.append(
            [
                f"{H} × {w} ({n / 1e6:,.0f} M candidates, k = {a.get('k')})",
                f"{a['select_s']:.2f} s, +{a['select_peak_gib']:.2f} GiB",
                f"{a['lock_s']:.1f} s / {a['unlock_s']:.1f} s",
                b.get("error") or f"{b['select_s']:.2f} s, +{b['select_peak_gib']:.2f} GiB",
            ]
        )
    text = (
        f"# Extraction benchmark (ratio {RATIO}, l1, global, hidden scope)\n\n"
        f"Machine: {machine_line()}. Command: `.venv/bin/python benchmarks/bench_extraction.py`. "
        "Peak memory is resident memory above the model itself; lock includes the locked copy and the "
        "fingerprints, unlock verifies both fingerprints.\n\n"
        + markdown_table(["network", "ours: selection", "ours: lock / unlock", "concatenate + topk"], rows)
        + "\n"
    )
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
