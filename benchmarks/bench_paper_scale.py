"""The largest paper network (13 × 8000, ≈774 M parameters) end to end on this CPU (DESIGN.md, Scale).

Builds the FCN (default init, untrained: training it is a GPU job), saves and re-loads the
checkpoint, locks it at 0.002 %, unlocks it bit for bit, and measures disparities against the
bounds on real MNIST test images (float32 above 20 M parameters). Reports each step's wall time
and the process's peak resident memory.

Run: ``.venv/bin/python benchmarks/bench_paper_scale.py [--n-samples 500] [--workdir /tmp]``
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import machine_line, markdown_table  # noqa: E402

from empirical.lock.extraction import extract  # noqa: E402
from empirical.measure import measure  # noqa: E402
from empirical.nets.checkpoint import load_checkpoint, model_sha256, save_checkpoint  # noqa: E402
from empirical.nets.data import load_mnist, normalize  # noqa: E402
from empirical.nets.models import make_fcn  # noqa: E402


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden-layers", type=int, default=13)
    ap.add_argument("--width", type=int, default=8000)
    ap.add_argument("--n-samples", type=int, default=500)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "paper_scale.md")
    args = ap.parse_args(argv)
    rows = []

    def step(name, fn):
        t = time.perf_counter()
        out = fn()
        rows.append([name, f"{time.perf_counter() - t:.1f}", f"{peak_gib():.1f}"])
        print(rows[-1], flush=True)
        return out

    H, w = args.hidden_layers, args.width
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        model = step("build (default init)", lambda: make_fcn(H, w, seed=0))
        n_params = sum(p.numel() for p in model.parameters())
        path = Path(tmp) / "model.safetensors"
        step("save checkpoint", lambda: save_checkpoint(path, model, {"hidden_layers": H, "width": w}))
        del model
        model, _ = step("load + verify checkpoint", lambda: load_checkpoint(path))
        locked, key = step("lock at 0.002 %", lambda: extract(model, 0.00002))
        restored = step("unlock (verify both fingerprints)", lambda: key.restore(locked))
        assert model_sha256(restored) == model_sha256(model)
        del restored
        x_te, y_te = load_mnist()[2:]
        x, y = normalize(x_te[: args.n_samples]), torch.from_numpy(y_te[: args.n_samples])
        res = step(f"measure on {args.n_samples} test images", lambda: measure(model, locked, x, y, batch=250))
    s = res.summary
    text = (
        f"# Paper-scale network on the CPU ({H} × {w}, {n_params:,} parameters, untrained)\n\n"
        f"Machine: {machine_line()}. Command: `.venv/bin/python benchmarks/bench_paper_scale.py`.\n\n"
        + markdown_table(["step", "seconds", "peak RSS so far (GiB)"], rows)
        + f"\n\nkey: {key.meta['k_total']} weights; measured in {s['dtype']}; "
        f"sandwich holds on every sample: {s['sandwich_all_hold']}; "
        f"accuracy {s['acc_original']:.3f} → {s['acc_extracted']:.3f} (untrained network).\n"
    )
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
