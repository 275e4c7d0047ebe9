"""What the experiments' presets share: the paper's ratio, the grid's ratios and tables, picking a preset by name
and the ``--size ARCH=H,W`` options of the conv experiments."""

from __future__ import annotations

import argparse
from dataclasses import field

from empirical.errors import UserError
from empirical.experiments.common.configure import option
from empirical.nets.convnets import DEFAULTS

PAPER_RATIO = 0.00002  # 0.002 % (Section 5.1.1, Figure 5)
# the tables a grid run writes (``empirical.experiments.grid.run``; read by its report)
TABLES = ("results", "bounds_checks", "disparities", "critical_ratios", "theorem1_mc", "train_log")
RATIOS = (0.00002, 0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)


def parse_size(item: str) -> tuple[str, list[int]]:
    """One ``--size ARCH=H,W``: an architecture's (hidden_layers, width) (an argparse type)."""
    try:
        arch, hw = item.split("=")
        h, w = (int(v) for v in hw.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{item!r}: expected ARCH=H,W, e.g. resnet=3,16") from None
    if arch not in DEFAULTS:
        raise argparse.ArgumentTypeError(f"{item!r}: unknown architecture {arch!r} (known: {', '.join(DEFAULTS)})")
    return arch, [h, w]


def with_sizes(sizes: dict, given: list[tuple[str, list[int]]]) -> dict:
    """The preset's sizes with the ``--size`` options given replacing theirs."""
    return {**{a: list(v) for a, v in sizes.items()}, **dict(given)}


def sizes_field(example: str):
    """A conv experiment's ``sizes`` config field: ``--size ARCH=H,W``, repeatable; an architecture not given keeps
    its default (``sizes_for``)."""
    return field(
        default_factory=dict,
        metadata=option(
            f"an architecture's (hidden_layers, width), e.g. {example}; repeatable",
            flag="--size",
            parse=parse_size,
            repeat=True,
            combine=with_sizes,
            metavar="ARCH=H,W",
        ),
    )


def sizes_for(archs, sizes: dict) -> dict:
    """The sizes of the architectures run, their defaults where ``sizes`` has none (a config's ``sizes``)."""
    out = {a: sizes.get(a, DEFAULTS[a]) for a in archs}
    return {a: list(v) if isinstance(v, (list, tuple)) else v for a, v in out.items()}


def check_sizes_given(before: dict, after: dict, archs) -> None:
    """One error line when a ``--size`` option changed an architecture that is not run."""
    extra = sorted(a for a, v in after.items() if list(before.get(a, ())) != list(v) and a not in archs)
    if extra:
        raise UserError(
            f"--size names {', '.join(extra)}, which is not run (the architectures run: {', '.join(archs)})"
        )
