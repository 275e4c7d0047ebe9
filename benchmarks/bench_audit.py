"""``audit --budget quick`` timed on this machine (issue 40: at most 5 minutes for an MNIST-size MLP or a small CNN),
beside the obvious alternative: the same measurements as separate commands, one model load and data load each
(`ratio-for-utility`, `check-bounds`, `attacks --checkpoint`), in the same run.

    .venv/bin/python benchmarks/bench_audit.py            # writes benchmarks/results/audit.md

The MLP is a 6 × 512 FCN trained 2 epochs on MNIST; the CNN a BatchNorm CNN on 4,000 CIFAR-shaped float32 images
(3 × 32 × 32, ten class templates + noise) in the user's own ``.npz``, both trained here first (not timed). Each
audit's recommendation is then passed to ``lock`` and the locked model's accuracy measured on the held-out half of
the test set (the odd images), against the target + 1 pp.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _util import machine_line, markdown_table  # noqa: E402

from empirical.cli import main  # noqa: E402
from empirical.lock.utility import split_halves  # noqa: E402
from empirical.nets.checkpoint import load_checkpoint  # noqa: E402
from empirical.nets.data import test_set_for  # noqa: E402
from empirical.nets.modules import load_builder  # noqa: E402

CNN = """
import torch.nn as nn

def build():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 10),
    )
"""


def _cnn(d: Path) -> list[str]:
    rng = np.random.default_rng(0)
    t = rng.standard_normal((10, 3, 32, 32)).astype(np.float32)

    def split(n):
        y = rng.integers(0, 10, n)
        return (t[y] + 1.5 * rng.standard_normal((n, 3, 32, 32))).astype(np.float32), y.astype(np.int64)

    (x_tr, y_tr), (x_te, y_te) = split(4000), split(1000)
    np.savez(d / "data.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    (d / "cnn.py").write_text(CNN)
    ns = {}
    exec(CNN, ns)
    torch.manual_seed(0)
    model = ns["build"]()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    for _ in range(2):
        for i in range(0, len(x), 64):
            loss = nn.functional.cross_entropy(model(x[i : i + 64]), y[i : i + 64])
            opt.zero_grad(), loss.backward(), opt.step()
    torch.save(model.eval().state_dict(), d / "cnn.pt")
    common = ["--model", f"{d / 'cnn.py'}:build", "--data", str(d / "data.npz")]
    assert main(["import", "--torch", str(d / "cnn.pt"), "--normalization", "none", *common, "--out",
                 str(d / "cnn.safetensors")]) == 0  # fmt: skip
    return ["--checkpoint", str(d / "cnn.safetensors"), *common]


def _mlp(d: Path) -> list[str]:
    assert main(["train", "--hidden-layers", "6", "--width", "512", "--epochs", "2", "--out", str(d / "mlp"),
                 "--no-progress"]) == 0  # fmt: skip
    return ["--checkpoint", str(d / "mlp")]


def locked_heldout(ck: list[str], run: Path) -> tuple[dict, float]:
    """The audit's recommendation passed to ``lock``: (recommendation, the locked model's held-out accuracy)."""
    rec = json.loads((run / "summary.json").read_text())["recommendation"]
    opts = [a for a in ck if a != "--checkpoint"][1:]  # --model/--data, as the audit was given them
    assert main(["lock", "--checkpoint", ck[1], *opts, "--indicator", rec["unit_kind"], "--k", str(rec["k"]),
                 "--fill", rec["fill"], "--out-model", str(run / "locked.safetensors"), "--key",
                 str(run / "key.safetensors")]) == 0  # fmt: skip
    builder = load_builder(ck[ck.index("--model") + 1]) if "--model" in ck else None
    locked, meta = load_checkpoint(run / "locked.safetensors", builder=builder)
    data = ck[ck.index("--data") + 1] if "--data" in ck else None
    _, (xh, yh) = split_halves(*test_set_for(meta["spec"], data))
    with torch.no_grad():
        return rec, float((locked.eval()(xh).argmax(1) == yh).float().mean())


def timed(argv) -> float:
    t = time.perf_counter()
    assert main(argv) == 0, argv
    return time.perf_counter() - t


def main_bench() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, make, target in (("MNIST MLP 6 × 512", _mlp, "0.15"), ("BatchNorm CNN, 3 × 32 × 32", _cnn, "0.2")):
            ck = make(d)
            t_audit = timed(["audit", *ck, "--target-accuracy", target, "--budget", "quick", "--out",
                             str(d / f"audit-{len(rows)}"), "--no-progress"])  # fmt: skip
            t_sep = timed(["ratio-for-utility", *ck, "--target", target])
            t_sep += timed(["check-bounds", *[a for a in ck if a != "--checkpoint"], "--ratio", "0.05",
                            "--n-samples", "200"])  # fmt: skip
            rec, acc = locked_heldout(ck, d / f"audit-{len(rows)}")
            within = "yes" if acc <= float(target) + 0.01 else "no"
            what = f"{rec['unit_kind']}, k = {rec['k']}, {rec['fill']} fill ({rec['status']})"
            rows.append((name, f"{t_audit:.0f} s", "yes" if t_audit <= 300 else "no", f"{t_sep:.0f} s", what,
                         f"{100 * acc:.1f} % (target {100 * float(target):.0f} %): {within}"))  # fmt: skip
    out = Path(__file__).resolve().parent / "results" / "audit.md"
    out.write_text(
        "# audit --budget quick\n\n"
        + machine_line()
        + "\n\n"
        + markdown_table(
            (
                "model",
                "audit --budget quick",
                "within 5 min",
                "key search + check-bounds alone",
                "recommendation",
                "locked by it, held out (within 1 pp)",
            ),
            rows,
        )
        + "\n\nThe separate commands give the key and the bounds only; the audit adds fine-tuning against training "
        "from scratch, key-position exposure with both fills, pruning and the recommendation.\n"
    )
    print(out.read_text())


if __name__ == "__main__":
    main_bench()
