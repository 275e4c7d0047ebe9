"""The ``corelocker-bounds`` command line: one entry point, ``--help`` on every subcommand.

Errors the user can fix (bad ratio, wrong shapes, corrupt or mismatched checkpoint, wrong key)
print one line ``corelocker-bounds: error: …`` and exit with status 2; nothing half-written is
left behind (every file is written to a temp file, then renamed).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from empirical.errors import UserError

log = logging.getLogger(__name__)
PROG = "corelocker-bounds"


def _float_list(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


# ---------------------------------------------------------------------------------------- theory
def _add_theory(sub):
    p = sub.add_parser(
        "theory",
        help="evaluate the closed forms over a grid of FCNs (no training)",
        description="Evaluate λ, output-norm bounds, probability terms and extracted counts per cell.",
    )
    p.add_argument("--preset", default="paper", help="grid preset (paper, cpu, quick, tiny); default paper")
    p.add_argument("--widths", type=_int_list, help="custom widths, e.g. 1000,2000 (overrides the preset)")
    p.add_argument("--hidden-layers", type=_int_list, help="custom depths, e.g. 4,5,6 (overrides the preset)")
    p.add_argument("--ratios", type=_float_list, help="extraction ratios, e.g. 0.00002,0.001")
    p.add_argument("--C-s", dest="C_s", type=float, default=1.0, help="universal constant C_s (default 1)")
    p.add_argument("--C-e", dest="C_e", type=float, default=1.0, help="universal constant C_e (default 1)")
    p.add_argument("--K-s", dest="K_s", type=float, help="K_s (default 1/√3: PyTorch default init)")
    p.add_argument("--C-w", dest="C_w", type=float, help="C_w (default 1/√min fan-in: PyTorch default init)")
    p.add_argument("--tau", type=float, default=2.0, help="τ of Lemma 1 (default 2)")
    p.add_argument("--x-norm", type=float, default=1.0, help="‖x‖₂ (default 1, Section 2.1)")
    p.add_argument("--out", type=Path, help="directory for theory.csv (printed table only if omitted)")
    p.set_defaults(func=_run_theory)


def _run_theory(args) -> int:
    from empirical import presets
    from empirical.ratio import check_ratio
    from empirical.theory_table import Constants, format_summary, theory_table

    preset = presets.get_preset(args.preset)
    ratios = args.ratios or list(preset.ratios)
    for r in ratios:
        check_ratio(r)
    for name, v in (("C_s", args.C_s), ("C_e", args.C_e), ("tau", args.tau), ("x_norm", args.x_norm)):
        if not v >= 0 or v == float("inf"):
            raise UserError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {v}")
    widths = args.widths or list(preset.widths)
    depths = args.hidden_layers or list(preset.hidden_layers)
    if min(widths) < 1 or min(depths) < 2:
        raise UserError("widths must be >= 1 and hidden layers >= 2 (the hidden scope needs W⁽²⁾)")
    consts = Constants(C_s=args.C_s, C_e=args.C_e, tau=args.tau, x_norm=args.x_norm, K_s=args.K_s, C_w=args.C_w)
    df = theory_table(depths, widths, ratios, consts)
    df.insert(0, "preset", args.preset if not (args.widths or args.hidden_layers) else "custom")
    shown = df[df["ratio"] == ratios[0]] if len(ratios) > 1 else df
    print(f"theory table: {len(depths)}×{len(widths)} cells × {len(ratios)} ratios (shown: ratio {ratios[0]})")
    print(format_summary(shown))
    if args.out:
        from empirical._io import write_csv

        write_csv(args.out / "theory.csv", df)
        print(f"wrote {args.out / 'theory.csv'} ({len(df)} rows)")
    return 0


# ------------------------------------------------------------------------------------------ main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_theory(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
