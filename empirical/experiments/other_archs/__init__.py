"""Tables 6–7 at CPU scale: CoreLocker on a ViT and an LSTM (the experiment's face; ``run`` trains, locks and
measures, ``report`` writes ``report.md``, the docs page and the README line)."""

from __future__ import annotations

from empirical.experiments.common.rundir import Options
from empirical.experiments.other_archs import page
from empirical.experiments.other_archs.config import PRESETS, OtherArchsConfig
from empirical.experiments.other_archs.report import verdicts, write_report
from empirical.experiments.other_archs.run import (
    DEFAULT_PRESET,
    DESCRIPTION,
    KIND,
    PRESET_ALIASES,
    add_arguments,
    options,
    summary,
)
from empirical.experiments.other_archs.run import run as _run_cells

Config = OtherArchsConfig
__all__ = [
    "page",
    "DESCRIPTION",
    "KIND",
    "PRESETS",
    "DEFAULT_PRESET",
    "PRESET_ALIASES",
    "Config",
    "add_arguments",
    "options",
    "run",
    "summary",
    "verdicts",
    "write_report",
]


def run(config: OtherArchsConfig, run_dir, options: Options | None = None):
    """Every model not finished yet, then the report."""
    tables = _run_cells(config, run_dir, options or Options())
    write_report(run_dir)
    return tables
