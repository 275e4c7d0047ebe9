"""When bn-scale locks: Table 1 as the authors ran it, one training ingredient at a time (the experiment's face;
``run`` trains and locks, ``report`` writes ``report.md``, the docs page and the README line)."""

from __future__ import annotations

from empirical.experiments.ablation import page
from empirical.experiments.ablation.config import AblationConfig
from empirical.experiments.ablation.report import verdicts, write_report
from empirical.experiments.ablation.run import (
    DEFAULT_PRESET,
    DESCRIPTION,
    KIND,
    ONLY,
    PRESET_ALIASES,
    PRESETS,
    add_arguments,
    options,
    summary,
)
from empirical.experiments.ablation.run import run as _run_cells
from empirical.experiments.common.rundir import Options

Config = AblationConfig
__all__ = [
    "page",
    "DESCRIPTION",
    "KIND",
    "PRESETS",
    "DEFAULT_PRESET",
    "PRESET_ALIASES",
    "ONLY",
    "Config",
    "add_arguments",
    "options",
    "run",
    "summary",
    "verdicts",
    "write_report",
]


def run(config: AblationConfig, run_dir, options: Options | None = None):
    """Every cell not finished yet, then the report."""
    tables = _run_cells(config, run_dir, options or Options())
    write_report(run_dir)
    return tables
