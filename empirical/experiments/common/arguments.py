"""Argument types and groups for the command line, shared by the CLI's parsers and each experiment's
``add_arguments`` (argparse only: importing this loads no library code, so ``--help`` stays instant)."""

from __future__ import annotations

import argparse
from pathlib import Path


class OutputPath(type(Path())):
    """A path the command writes (``out_file``): the CLI protects every other file named on its command line."""


def out_file(text: str) -> Path:
    """An output *file*: ``newdir/`` names a directory (``Path`` would drop the slash and write a file there)."""
    if text.endswith(("/", "\\")) or Path(text).name in ("", ".", ".."):
        raise argparse.ArgumentTypeError(f"{text!r} names a directory; give a file path")
    return OutputPath(text)


def float_list(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def seed_int(text: str) -> int:
    """A seed: a whole number in 0 .. 2^63 − 1 (what torch and numpy generators accept)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= v < 2**63:
        raise argparse.ArgumentTypeError(f"a seed must be in 0 .. 2^63 - 1, got {text}")
    return v


def _common_device(p):
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")


DATA_HELP = (
    "directory with the IDX files (default: cached data), or your own FILE.npz (x_train, y_train, x_test, y_test)"
)
INDICATOR_HELP = "l1 (default), random, bn-scale, bn-folded, bn-filter, l1-channel, l1-neuron"
