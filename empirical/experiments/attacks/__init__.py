"""Attacks on a locked model: fine-tuning (Table 2), pruning (Table 3), the key positions, and training from scratch
as the baseline (the experiment's face; ``run`` attacks, ``report`` writes ``report.md``, the docs page and the
README line)."""

from __future__ import annotations

from empirical.experiments.attacks import page
from empirical.experiments.attacks.config import AttackConfig
from empirical.experiments.attacks.report import write_report
from empirical.experiments.attacks.run import (
    DEFAULT_PRESET,
    DESCRIPTION,
    KIND,
    ONLY,
    PRESET_ALIASES,
    PRESETS,
    AttackOptions,
    add_arguments,
    options,
    summary,
)
from empirical.experiments.attacks.run import run as _run_cells
from empirical.experiments.attacks.verdicts import verdicts

Config = AttackConfig
__all__ = [
    "page",
    "DESCRIPTION",
    "KIND",
    "PRESETS",
    "DEFAULT_PRESET",
    "PRESET_ALIASES",
    "ONLY",
    "AttackOptions",
    "Config",
    "add_arguments",
    "options",
    "run",
    "summary",
    "verdicts",
    "write_report",
]


def run(config: AttackConfig, run_dir, options: AttackOptions | None = None):
    """Every cell not finished yet and the Adam baseline, then the report; the converged baselines alone
    (``options.converged_baselines``) or the user's own locked model (``options.own``) write their own tables."""
    options = options or AttackOptions()
    tables = _run_cells(config, run_dir, options)
    if options.own is None and not options.converged_baselines:
        write_report(run_dir)
    return tables
