"""Figure 5 at the paper's own widths, epoch by epoch (the experiment's face; ``run`` trains and evaluates each
cell after every epoch, ``report`` writes ``report.md``, the docs page and the README line)."""

from __future__ import annotations

from empirical.experiments.paper_widths import page
from empirical.experiments.paper_widths.config import PRESETS, PaperWidthsConfig
from empirical.experiments.paper_widths.report import verdicts, write_report
from empirical.experiments.paper_widths.run import (
    DEADLINE,
    DEFAULT_PRESET,
    DESCRIPTION,
    KIND,
    ONLY,
    PaperWidthsOptions,
    add_arguments,
    options,
    run,
    summary,
)

Config = PaperWidthsConfig
__all__ = [
    "page",
    "DESCRIPTION",
    "KIND",
    "PRESETS",
    "DEFAULT_PRESET",
    "ONLY",
    "DEADLINE",
    "Config",
    "PaperWidthsOptions",
    "add_arguments",
    "options",
    "run",
    "summary",
    "verdicts",
    "write_report",
]
