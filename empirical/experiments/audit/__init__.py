"""``audit``: one command that tells a model owner what key to ship — the smallest key for the target utility per
unit kind, the bounds per named layer, how well it resists fine-tuning, pruning and key-position detection, and a
recommendation, in one report (the experiment's face; ``run`` measures, ``report`` writes ``audit.md``).

The same as an API: ``empirical.audit(model, data, target=0.15)`` returns an ``AuditResult`` with the tables as
DataFrames, the recommendation and ``to_markdown()``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from empirical.experiments.audit import page
from empirical.experiments.audit.config import PRESETS, AuditConfig
from empirical.experiments.audit.face import (
    DEFAULT_PRESET,
    DESCRIPTION,
    KIND,
    PRESET_FLAG,
    PRESET_HELP,
    AuditOptions,
    add_arguments,
    audit_into,
    options,
    run_cli,
    summary,
)
from empirical.experiments.audit.report import load, recommend, render, verdicts, write_report
from empirical.experiments.audit.run import AuditData
from empirical.nets.checkpoint import params_sha256

Config = AuditConfig
__all__ = [
    "page",
    "DESCRIPTION",
    "KIND",
    "PRESETS",
    "DEFAULT_PRESET",
    "PRESET_FLAG",
    "PRESET_HELP",
    "AuditData",
    "AuditOptions",
    "AuditResult",
    "Config",
    "add_arguments",
    "audit",
    "options",
    "run",
    "summary",
    "verdicts",
    "write_report",
]


def run(config: AuditConfig, run_dir, options: AuditOptions | None = None):
    """Audit the checkpoint ``options`` names into ``run_dir`` (resumable), then write ``audit.md``."""
    tables = run_cli(config, run_dir, options or AuditOptions())
    write_report(run_dir)
    return tables


@dataclass
class AuditResult:
    """What ``audit`` returns: the tables, the recommendation, and the report as Markdown."""

    tables: dict[str, pd.DataFrame]
    recommendation: dict
    run_dir: Path

    def to_markdown(self) -> str:
        return render(load(self.run_dir), self.recommendation, {})


def audit(model, data, target: float, budget: str = "quick", shares=None, owner_share=None, out=None) -> AuditResult:
    """Audit ``model`` on ``data`` (x_train, y_train, x_test, y_test as the model reads them) for ``target``: the same
    tables as ``corelocker-bounds audit`` (written into ``out``, or a temporary directory)."""
    data = data if isinstance(data, AuditData) else AuditData(*data)
    sha = params_sha256({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    config = AuditConfig(
        target=target,
        budget=budget,
        shares=tuple(shares) if shares else None,
        owner_share=owner_share,
        model_sha256=sha,
    )
    run_dir = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="corelocker-audit-"))
    audit_into(run_dir, model.eval(), data, config, progress=False)
    write_report(run_dir)
    t = load(run_dir)
    tables = {k: v for k, v in t.items() if k != "config"}
    return AuditResult(tables, recommend(t["keys"], t["finetune"], t["exposure"], t["config"]), run_dir)
