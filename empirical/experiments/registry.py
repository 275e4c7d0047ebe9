"""Every experiment by its run kind: the one place that maps ``config.json``'s kind to the module that writes
its report, so ``report DIR`` (and anything else that dispatches on a run) names no experiment.

An experiment module registers with ``register(KIND, "module.path")``; the module exposes
``write_report(run_dir, **options)`` taking the options it knows (``report --ratio`` and ``--seeds-run`` for
the grid, ``--grid-run`` and ``--backtest-run`` for the paper widths); an option it does not take is one
error line naming the run's kind. Modules are imported on first use (``corelocker-bounds --help`` stays fast).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from empirical.errors import UserError
from empirical.safety import article, dir_kind

_MODULES: dict[str, str] = {}


def register(kind: str, module: str) -> None:
    """Make ``module`` (a dotted path) the experiment of run kind ``kind``."""
    _MODULES[kind] = module


def kinds() -> list[str]:
    return sorted(_MODULES)


def experiment(kind: str):
    """The module of run kind ``kind`` (imported now)."""
    if kind not in _MODULES:
        known = ", ".join(kinds())
        raise UserError(f"no experiment writes {article(kind)} {kind} run (known kinds: {known})")
    return importlib.import_module(_MODULES[kind])


def write_report(run_dir, **options) -> Path:
    """The report of the run in ``run_dir``, by its kind; ``options`` left at None are not passed."""
    kind = dir_kind(run_dir)
    if kind in (None, "unknown"):  # a directory of tables without our config: read as a grid run (as always)
        kind = "grid"
    mod = experiment(kind)
    given = {k: v for k, v in options.items() if v is not None}
    takes = inspect.signature(mod.write_report).parameters
    extra = [k for k in given if k not in takes]
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") for k in extra)
        raise UserError(f"{flags} does not apply to {article(kind)} {kind} run")
    return mod.write_report(run_dir, **given)


for _kind, _module in (
    ("grid", "empirical.experiments.report"),
    ("table1", "empirical.experiments.table1"),
    ("paper-widths", "empirical.experiments.paper_widths_report"),
    ("ablation", "empirical.experiments.ablation"),
    ("attacks", "empirical.experiments.attacks"),
    ("other-archs", "empirical.experiments.other_archs"),
):
    register(_kind, _module)
