"""Figure 5 at CPU scale: the depth × width grid trained, locked and measured against the bounds (the experiment's
face; ``run`` trains and measures, ``report`` writes ``report.md``, the docs page and the README line)."""

from __future__ import annotations

from empirical.experiments.grid import page
from empirical.experiments.grid.config import PRESETS, GridConfig
from empirical.experiments.grid.report import verdicts, write_report
from empirical.experiments.grid.run import (
    DEFAULT_PRESET,
    DESCRIPTION,
    KIND,
    GridOptions,
    add_arguments,
    options,
    run,
    run_grid,
    summary,
)

Config = GridConfig
__all__ = [
    "page",
    "DESCRIPTION",
    "KIND",
    "PRESETS",
    "DEFAULT_PRESET",
    "Config",
    "GridOptions",
    "add_arguments",
    "options",
    "run",
    "run_grid",
    "summary",
    "verdicts",
    "write_report",
]
