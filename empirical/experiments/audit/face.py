"""How the audit runs: its command-line options, the model and data it loads, and the resumable run directory
(one cell per unit kind; the model table and the inputs beside them)."""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from empirical._io import write_csv, write_text
from empirical.errors import UserError
from empirical.experiments.audit.config import BUDGETS, TABLES, AuditConfig
from empirical.experiments.audit.run import AuditData, applicable_kinds, audit_kind, check_reachable, model_rows
from empirical.experiments.common.arguments import DATA_HELP
from empirical.experiments.common.configure import common_options
from empirical.experiments.common.rundir import Options, RunDir
from empirical.nets.checkpoint import load_checkpoint, params_sha256
from empirical.nets.data import test_set_for, train_set_for
from empirical.nets.modules import load_builder

log = logging.getLogger(__name__)
KIND = "audit"
DEFAULT_PRESET = "quick"
PRESET_FLAG = "--budget"
PRESET_HELP = (
    "quick (1 seed, 2 unit kinds, shares 1 %% and 5 %%; minutes; the default), standard (3 seeds, every unit kind, "
    "1/5/10 %%), thorough (5 seeds); the options below replace its values"
)
DESCRIPTION = (
    "Tell a model owner which key to ship: per unit kind the smallest key that reaches --target-accuracy (held out), "
    "the bounds at it, fine-tuning against training from scratch, pruning and key-position exposure, and a "
    "recommendation with the `lock` command that applies it (the audit never writes a key). Resumable."
)


@dataclass(frozen=True)
class AuditOptions(Options):
    checkpoint: Path | None = None
    model: str | None = None  # FILE.py:FUNCTION
    data_root: str | None = None


def add_arguments(p) -> None:
    """What the audit runs on: the checkpoint, its builder and its data (its configuration's options come from
    ``AuditConfig``; the budget is its preset)."""
    p.add_argument("--checkpoint", type=Path, required=True, help="the trained model (.safetensors or run dir)")
    p.add_argument("--model", help="FILE.py:FUNCTION building your nn.Module (for a checkpoint made by import --model)")
    p.add_argument("--data", "--data-root", dest="data_root", help=DATA_HELP)


def load_inputs(options: AuditOptions):
    """(model, data, fingerprint) from a checkpoint, its builder and the data it was trained on."""
    builder = load_builder(options.model) if options.model else None
    model, meta = load_checkpoint(options.checkpoint, options.device, builder=builder)
    spec = meta["spec"]
    (x_tr, y_tr), (x_te, y_te) = (
        train_set_for(spec, options.data_root, options.device),
        test_set_for(spec, options.data_root, options.device),
    )
    sha = params_sha256({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    return model.eval(), AuditData(x_tr, y_tr, x_te, y_te), sha


def options(args) -> AuditOptions:
    return AuditOptions(**common_options(args), checkpoint=args.checkpoint, model=args.model, data_root=args.data_root)


def seconds_per_image(model, data: AuditData, batch: int = 64) -> tuple[float, float]:
    """(training, evaluation) seconds per image on this machine: one Adam step on a batch of training images and
    one forward pass of test images, each timed after a warm-up (a copy of the model; nothing is kept)."""
    m = copy.deepcopy(model).train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    x, y = data.x_train[:batch], data.y_train[:batch]

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(x), y).backward()
        opt.step()

    def forward():
        with torch.no_grad():
            m.eval()(data.x_test[: 4 * batch])

    out = []
    for f, n in ((step, len(x)), (forward, len(data.x_test[: 4 * batch]))):
        f()
        t = time.perf_counter()
        f()
        out.append((time.perf_counter() - t) / n)
    return out[0], out[1]


SCRATCH_SHARE_OF_CAP = 0.25  # training from scratch stopped at 7-73 % of its step cap in the attacks run (mean ~25 %)


def expected_minutes(model, data: AuditData, config: AuditConfig, kinds: int) -> tuple[float, float]:
    """(about, at most) how many minutes the budget takes on this machine: the image passes each unit kind trains
    and evaluates, counted from the budget, times one measured step (``seconds_per_image``). Training from scratch
    stops early: "about" counts it at ``SCRATCH_SHARE_OF_CAP`` of its step cap, "at most" at the cap."""
    b = BUDGETS[config.budget]
    n, shares = len(data.y_train), config.attacker_shares()
    modes = 2 if b["rtal"] else 1
    finetune = sum(shares) * n * b["seeds"] * b["epochs"] * modes
    scratch = b["seeds"] * sum(max(600, 10 * b["epochs"] * math.ceil(s * n / 100)) * 100 for s in shares)
    smallest = min(shares) * n
    other = smallest * (2 * len(b["prune"]) * max(1, b["epochs"] // 2) + 2 * 3 + 2)  # pruning, restoration, detectors
    # test-set passes: the key search and its curve (~40), each attack's score, pruning and restoration
    evals = len(data.y_test) * (40 + b["seeds"] * len(shares) * (modes + 1) + 4 * len(b["prune"]) + 2)
    train_s, eval_s = seconds_per_image(model, data)
    minutes = lambda share: kinds * ((finetune + share * scratch + other) * train_s + evals * eval_s) / 60  # noqa: E731
    return minutes(SCRATCH_SHARE_OF_CAP), minutes(1.0)


def audit_into(
    run_dir, model, data: AuditData, config: AuditConfig, inputs: dict | None = None, progress: bool = True
) -> dict[str, pd.DataFrame]:
    """Every unit kind not audited yet into ``run_dir`` (resumable: a finished kind is read back, not redone)."""
    acc = check_reachable(model, data, config.target)
    kinds = applicable_kinds(model, config.budget)
    rd = RunDir(run_dir, KIND, config.to_json(), TABLES)
    with rd.open():
        log.info(  # shown with --no-progress too: the one sign of how long the silence will last
            "audit: %s, %d unit kind(s) (%s), about %.0f min on this machine (at most %.0f)",
            config.budget,
            len(kinds),
            ", ".join(kinds),
            *expected_minutes(model, data, config, len(kinds)),
        )
        write_csv(Path(run_dir) / "model.csv", model_rows(model, data, acc))
        write_text(Path(run_dir) / "audit_inputs.json", json.dumps(inputs or {}, indent=1) + "\n")

        def one(kind):
            t0 = time.perf_counter()
            tables = audit_kind(model, data, config, kind)
            rd.finish(kind, tables, {"unit_kind": kind, "seconds": round(time.perf_counter() - t0, 1)})

        return rd.run_cells(kinds, one, None)


def run_cli(config: AuditConfig, run_dir, options: AuditOptions):
    if options.checkpoint is None:
        raise UserError("audit needs --checkpoint")
    model, data, sha = load_inputs(options)
    config = AuditConfig(**{**config.to_json(), "shares": config.shares, "model_sha256": sha})
    inputs = dict(checkpoint=str(options.checkpoint), model_builder=options.model, data=options.data_root)
    return audit_into(run_dir, model, data, config, inputs, options.progress)


def summary(config: AuditConfig, tables: dict[str, pd.DataFrame]) -> str:
    keys = tables.get("keys", pd.DataFrame())
    if not len(keys):
        return "no unit kind audited yet"
    return keys[["unit_kind", "k", "key_values", "accuracy_heldout", "meets_target"]].to_string(index=False)
