"""Every experiment by its run kind: the one place that maps a kind (``config.json``'s, and the CLI command of
the same name) to the module that runs it, so the CLI, ``report DIR`` and run-kind detection name no experiment.

An experiment is one module with this face (``FACE``):

* ``KIND`` and ``DESCRIPTION`` (its ``--help``; the one-line help of ``corelocker-bounds --help`` is
  registered here, so listing the commands imports no experiment);
* ``Config``: the dataclass of everything that determines its results (its fields with ``option`` metadata are
  its command-line options), ``PRESETS``: named configs, and ``DEFAULT_PRESET``; a configuration is a preset with
  the options given replacing its values (``empirical.experiments.common.configure``), the only way to one;
* ``add_arguments(parser)``: the options of how it runs, beyond the shared ones (argparse only);
* ``options(args) -> Options``: those validated (one error line for a bad one);
* optional: ``ONLY`` (an example: the experiment takes ``--only``), ``DEADLINE`` (it takes ``--deadline``),
  ``PRESET_FLAG``/``PRESET_HELP`` (the audit's ``--budget``) and ``PRESET_ALIASES`` (``--quick``);
* ``run(config, run_dir, options) -> tables``: run or resume the cells not finished, write the report;
* ``summary(config, tables) -> str``: what the command prints when it finishes;
* ``verdicts(run_dir) -> DataFrame``: its conclusions on the paper's claims, one row per claim
  (``common.verdicts.COLUMNS``: where, claim, scope, verdict, numbers, tolerance), from which its report, its docs
  page and its README line write every verdict they state;
* ``write_report(run_dir, **options)``: the report from the committed tables, taking the options it knows
  (``report --ratio`` and ``--seeds-run`` for the grid, ``--grid-run`` and ``--backtest-run`` for the paper
  widths); an option it does not take is one error line naming the run's kind;
* ``page``: the module that writes its docs page and README lines from the committed run (``PAGE``, the path
  under ``docs/``; ``TITLE``; ``page()``, the body; ``glance()``, the README's lines), which ``scripts/docs.py``
  loops over.

An experiment is a package ``empirical/experiments/<kind>/``: ``config`` ← ``run`` (and its cells) and
``config`` ← ``report`` (and ``page``), composed by the package's ``__init__``. Register it here with
``register(KIND, "module.path", "one-line help")``: a seventh experiment is that package, its figure and one line
below. Modules are imported on first use (``corelocker-bounds --help`` stays instant).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path

from empirical.errors import UserError
from empirical.kinds import article, dir_kind

FACE = (
    "KIND",
    "DESCRIPTION",
    "Config",
    "PRESETS",
    "DEFAULT_PRESET",
    "add_arguments",
    "options",
    "run",
    "summary",
    "verdicts",
    "write_report",
    "page",
)
PAGE_FACE = ("PAGE", "TITLE", "NAV", "page", "glance")  # the docs page module: its path, title, body and README lines


@dataclass(frozen=True)
class Entry:
    kind: str
    module: str  # dotted path, imported on first use
    help: str  # the one line of `corelocker-bounds --help`


_ENTRIES: dict[str, Entry] = {}


def register(kind: str, module: str, help: str) -> None:
    """Make ``module`` the experiment of run kind ``kind`` (its command has the same name)."""
    _ENTRIES[kind] = Entry(kind, module, help)


def kinds() -> list[str]:
    return list(_ENTRIES)


def entries() -> list[Entry]:
    return list(_ENTRIES.values())


def experiment(kind: str):
    """The module of run kind ``kind`` (imported now), checked to have the whole face."""
    if kind not in _ENTRIES:
        raise UserError(f"no experiment writes {article(kind)} {kind} run (known kinds: {', '.join(kinds())})")
    mod = importlib.import_module(_ENTRIES[kind].module)  # lazy: a registered experiment package (tests/test_layers.py)
    missing = [name for name in FACE if not hasattr(mod, name)]
    missing += [f"page.{name}" for name in PAGE_FACE if hasattr(mod, "page") and not hasattr(mod.page, name)]
    if hasattr(mod, "run") and not callable(mod.run):
        missing.append("a callable run (the package's `run` must be the face function, not the run module)")
    if missing:
        raise TypeError(f"experiment {kind} ({mod.__name__}) lacks {', '.join(missing)} of the experiment face")
    return mod


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


register("grid", "empirical.experiments.grid", "train, lock and measure the depth × width grid (resumable)")
register(
    "paper-widths",
    "empirical.experiments.paper_widths",
    "Figure 5 at the paper's own widths, evaluated after every epoch (resumable)",
)
register(
    "table1",
    "empirical.experiments.table1",
    "Table 1 / Figure 6 at CPU scale: VGG, ResNet, DenseNet on Fashion-MNIST (resumable)",
)
register(
    "ablation",
    "empirical.experiments.ablation",
    "Table 1 as the authors ran it: which ingredient makes bn-scale lock (resumable)",
)
register(
    "attacks",
    "empirical.experiments.attacks",
    "fine-tuning, pruning and key-position attacks on locked models, with and without --fill noise",
)
register(
    "other-archs",
    "empirical.experiments.other_archs",
    "Tables 6-7 at CPU scale: lock a ViT (Fashion-MNIST) and an LSTM (MNIST); resumable",
)
register(
    "audit",
    "empirical.experiments.audit",
    "tell a model owner which key to ship: key size, bounds, fine-tuning, pruning and exposure (resumable)",
)
