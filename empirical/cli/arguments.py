"""Argument types and groups shared by the subcommands' parsers (argparse only: no library code)."""

from __future__ import annotations

import argparse
from pathlib import Path


def out_file(text: str) -> Path:
    """An output *file*: ``newdir/`` names a directory (``Path`` would drop the slash and write a file there)."""
    if text.endswith(("/", "\\")) or Path(text).name in ("", ".", ".."):
        raise argparse.ArgumentTypeError(f"{text!r} names a directory; give a file path")
    return Path(text)


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


def _extraction_args(p):
    p.add_argument("--indicator", default="l1", help=INDICATOR_HELP)
    p.add_argument("--scope", default="hidden", help="hidden (default: not the input/output layers) or all")
    p.add_argument("--mode", default="global", help="global (default) or per-layer")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the random indicator")


def _utility_search_args(p):
    p.add_argument("--tolerance", type=float, default=0.0, help="accept accuracy <= target + T (default 0)")
    p.add_argument("--window", type=int, default=8, help="misses in a row that end the walk down (default 8)")
    p.add_argument("--data-root", "--data", dest="data_root", help=DATA_HELP)
    if not any(a.dest == "device" for a in p._actions):
        _common_device(p)


def _grid_args(p):
    p.add_argument("--preset", default="quick", help="paper, cpu, quick (default), tiny")
    p.add_argument("--widths", type=int_list, help="custom widths, e.g. 100,200 (overrides the preset)")
    p.add_argument("--hidden-layers", type=int_list, help="custom depths, e.g. 4,8,13 (overrides the preset)")
    p.add_argument("--epochs", type=int, help="training epochs (overrides the preset)")
    p.add_argument("--ratios", type=float_list, help="extraction ratios, e.g. 0.00002,0.001 (overrides the preset)")
    p.add_argument("--seeds", type=int_list, default=None, help="training seeds, e.g. 0,1 (default 0)")
    p.add_argument("--random-seeds", type=int, help="seeds of the random-extraction baseline (preset default)")
    p.add_argument("--train-subset", type=int, help="train on the first N training images (overrides the preset)")
    p.add_argument("--bf16", action="store_true", help="train with bf16 autocast (part of the configuration)")
    p.add_argument("--fp32", action="store_true", help="train in fp32 even if the preset says bf16")
    p.add_argument("--executor", default="local", help="local (default: worker processes), ray, ray://ADDRESS")
    p.add_argument("--workers", type=int, default=2, help="local worker processes (default 2: one per core)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    p.add_argument("--max-cells", type=int, help="stop after this many cells (the run resumes later)")
    p.add_argument("--data-root", help="directory with the IDX files (default: cached MNIST)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", type=Path, required=True, help="run directory (resumed if it exists)")
    _common_device(p)
