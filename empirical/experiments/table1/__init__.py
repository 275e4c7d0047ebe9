"""Table 1 and Figure 6 at CPU scale: conv nets with BN on Fashion-MNIST, locked at ratio 0.05 (the experiment's
face; ``run`` trains and measures, ``report`` writes ``report.md``, the docs page and the README line)."""

from __future__ import annotations

from empirical.experiments.table1 import page
from empirical.experiments.table1.config import PRESETS, Table1Config
from empirical.experiments.table1.report import verdicts, write_report
from empirical.experiments.table1.run import (
    DEFAULT_PRESET,
    DESCRIPTION,
    KIND,
    ONLY,
    Table1Options,
    add_arguments,
    options,
    summary,
)
from empirical.experiments.table1.run import run as _run_cells

Config = Table1Config
__all__ = [
    "page",
    "DESCRIPTION",
    "KIND",
    "PRESETS",
    "DEFAULT_PRESET",
    "ONLY",
    "Config",
    "Table1Options",
    "add_arguments",
    "options",
    "run",
    "summary",
    "verdicts",
    "write_report",
]


def run(config: Table1Config, run_dir, options: Table1Options | None = None):
    """Every architecture not finished yet (or the bound checks again, ``options.recheck``), then the report."""
    tables = _run_cells(config, run_dir, options or Table1Options())
    write_report(run_dir, tables)
    return tables
