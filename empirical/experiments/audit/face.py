"""How the audit runs: its command-line options, the model and data it loads, and the resumable run directory
(one cell per unit kind; the model table and the inputs beside them)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

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


def expected_minutes(model, data: AuditData, config: AuditConfig) -> float:
    """A rough time for the budget on this machine, from the model's size and the data (printed before the audit
    starts; ``benchmarks/bench_audit.py`` measures the real one)."""
    params = sum(p.numel() for p in model.parameters())
    b = BUDGETS[config.budget]
    images = sum(config.attacker_shares()) * len(data.y_train) * b["seeds"] * (b["epochs"] * 2 + 10)
    kinds = b["kinds"] or 4
    return kinds * (6 * params * images / 2e10 + 6 * params * len(data.y_test) * 40 / 2e10) / 60


def audit_into(
    run_dir, model, data: AuditData, config: AuditConfig, inputs: dict | None = None, progress: bool = True
) -> dict[str, pd.DataFrame]:
    """Every unit kind not audited yet into ``run_dir`` (resumable: a finished kind is read back, not redone)."""
    acc = check_reachable(model, data, config.target)
    kinds = applicable_kinds(model, config.budget)
    rd = RunDir(run_dir, KIND, config.to_json(), TABLES)
    with rd.open():
        if progress:
            log.info(
                "audit: %s, %d unit kind(s) (%s), about %.0f min on this machine",
                config.budget,
                len(kinds),
                ", ".join(kinds),
                expected_minutes(model, data, config),
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
