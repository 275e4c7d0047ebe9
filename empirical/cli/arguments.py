"""Argument types and groups shared by the subcommands' parsers (argparse only: no library code)."""

from __future__ import annotations

from empirical.experiments.common.arguments import (  # noqa: F401  (shared with the experiments' own arguments)
    DATA_HELP,
    INDICATOR_HELP,
    _common_device,
    float_list,
    int_list,
    out_file,
    seed_int,
)


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
