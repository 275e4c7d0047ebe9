# ruff: noqa: E501  (the page template is prose)
"""The docs page "Audit your own model" (``docs/results/audit.md``) and its README line, from the committed example
audits under ``results/audit-*`` (``scripts/docs.py`` writes them)."""

from __future__ import annotations

import json
from pathlib import Path

RUNS = ("results/audit-fcn-7x400", "results/audit-vgg")
PAGE = "docs/results/audit.md"
TITLE = "Audit your own model (`corelocker-bounds audit`)"
NAV = "Audit your own model"
FIGURES = RUNS  # the runs whose figures the page shows (scripts/docs.py appends any not in the text)


def _committed() -> list[Path]:
    return [Path(r) for r in RUNS if (Path(r) / "summary.json").exists()]


def glance() -> str:
    """The README's line: each example audit's recommendation."""
    runs = _committed()
    if not runs:
        return "* *Audit*: `corelocker-bounds audit` recommends the key to ship; the example audits are still to run ([page](@docs/results/audit.md)).\n"
    parts = []
    for r in runs:
        rec = json.loads((r / "summary.json").read_text())["recommendation"]
        what = (
            f"ship the {rec['unit_kind']} key, k = {rec['k']}, {rec['fill']} fill"
            if rec["status"] == "recommended"
            else f"no key meets all three conditions (best: {rec.get('unit_kind')}, k = {rec.get('k')}: "
            + "; ".join(rec.get("fails", []))
            + ")"
        )
        parts.append(f"{r.name.removeprefix('audit-')}: {what}")
    parts += [f"{Path(r).name.removeprefix('audit-')}: still to run" for r in RUNS if Path(r) not in runs]
    return (
        "* *Audit* (which key to ship, `standard` budget): " + "; ".join(parts) + " ([page](@docs/results/audit.md)).\n"
    )


def page() -> str:
    runs = _committed()
    body = """`corelocker-bounds audit --checkpoint X [--model FILE.py:FUNCTION] [--data FILE.npz] --target-accuracy T --out DIR
[--attacker-share 0.01,0.05,0.1] [--budget quick|standard|thorough]` answers the owner's question in one command: which
key should I ship, so that the locked model is near the target and an attacker with a few percent of my data cannot do
better than training from scratch? The same from Python: `empirical.audit(model, (x_train, y_train, x_test, y_test),
target=0.15)`. The report (`DIR/audit.md`, `summary.json`, the CSV tables) has seven parts: the model; per unit kind
the smallest key for the target (searched on the even test images, checked on the odd); the bounds at that key per
named layer; fine-tuning (FTAL, RTAL) against training from scratch on the same subsets (paired); key-position exposure
with the zero and the noise fill against a null of random candidate units; pruning; and the recommendation — the
smallest key meeting all three conditions, or which fails and by how much — with the `lock` command that applies it.
The audit never writes a key.

Budgets: `quick` (1 seed, 2 unit kinds, shares 1 % and 5 %), `standard` (3 seeds, every applicable unit kind, 1/5/10 %),
`thorough` (5 seeds).

The examples below audit the attacks experiment's two owner models at `standard` with the target chance + 5 pp (15 %):
the 7 × 400 MNIST FCN (15 epochs) and the VGG on Fashion-MNIST (4 epochs). `scripts/example_audits.sh` trains both
into `runs/` and writes `results/audit-fcn-7x400` and `results/audit-vgg`; each audit's `audit_inputs.json` records its
checkpoint and data, and each unit kind's `cells/*/done.json` its host and seconds.
"""
    missing = [Path(r).name.removeprefix("audit-") for r in RUNS if Path(r) not in runs]
    if missing:
        body += f"\nStill to run at `standard`: {', '.join(f'`{m}`' for m in missing)}.\n"
    for r in runs:
        body += f"\n## {r.name}\n\n" + (r / "audit.md").read_text().split("\n", 2)[2].replace(
            "](figures/", f"]({r}/figures/"
        )
    return body
