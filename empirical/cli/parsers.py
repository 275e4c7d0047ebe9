"""Every subcommand's arguments (argparse only: building the parser imports no library code, so
``--help`` is instant). Each parser names its handler as ``"module:function"`` inside ``empirical.cli``;
``empirical.cli.main`` imports only the one that runs.

The experiments' subcommands come from ``empirical.experiments.common.registry`` (their options from
``empirical.experiments.common.configure``). Only the experiment that runs is imported: ``build_parser(command)``
completes that one subcommand; ``build_parser()`` completes all (the reference, the tests)."""

from __future__ import annotations

import argparse
from pathlib import Path

from empirical.cli.arguments import (  # noqa: F401  (float_list and friends: also imported from here)
    DATA_HELP,
    INDICATOR_HELP,
    _common_device,
    _extraction_args,
    _utility_search_args,
    float_list,
    int_list,
    out_file,
    seed_int,
)
from empirical.errors import UserError
from empirical.experiments.common import configure, registry

PROG = "corelocker-bounds"
DESCRIPTION = "Bounds, measurements and figures that put the theory of CoreLocker (IEEE S&P 2024) to the test."


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistyped option is one error line (``UserError``), not a usage dump."""

    def error(self, message):

        where = self.prog[len(PROG) :].strip()
        raise UserError(f"{where}: {message}" if where else message)


def _add_theory(sub):
    p = sub.add_parser(
        "theory",
        help="evaluate the closed forms over a grid of FCNs (no training)",
        description="Evaluate λ, output-norm bounds, probability terms and extracted counts per cell.",
    )
    p.add_argument("--preset", default="paper", help="grid preset (paper, cpu, quick, tiny); default paper")
    p.add_argument("--widths", type=int_list, help="custom widths, e.g. 1000,2000 (overrides the preset)")
    p.add_argument("--hidden-layers", type=int_list, help="custom depths, e.g. 4,5,6 (overrides the preset)")
    p.add_argument("--ratios", type=float_list, help="extraction ratios, e.g. 0.00002,0.001")
    p.add_argument("--C-s", dest="C_s", type=float, default=1.0, help="universal constant C_s (default 1)")
    p.add_argument("--C-e", dest="C_e", type=float, default=1.0, help="universal constant C_e (default 1)")
    p.add_argument("--K-s", dest="K_s", type=float, help="K_s (default 1/√3: PyTorch default init)")
    p.add_argument("--C-w", dest="C_w", type=float, help="C_w (default 1/√min fan-in: PyTorch default init)")
    p.add_argument("--tau", type=float, default=2.0, help="τ of Lemma 1 (default 2)")
    p.add_argument("--x-norm", type=float, default=1.0, help="‖x‖₂ (default 1, Section 2.1)")
    p.add_argument("--out", type=Path, help="directory for theory.csv (printed table only if omitted)")
    p.set_defaults(handler="experiments:cmd_theory")


def _add_train(sub):
    p = sub.add_parser(
        "train",
        help="train one FCN or conv net (resumes an interrupted run)",
        description="Adam, lr 1e-3, batch 128 (Section 5.1.1) unless a training recipe is given; checkpoint + "
        "per-epoch log in --out. "
        "Conv nets (--arch vgg|resnet|densenet) take --hidden-layers/--width in their own sense "
        "(see empirical/convnets.py; defaults: the CPU-scale sizes of the README).",
    )
    p.add_argument("--arch", default="fcn", help="fcn (default), vgg, resnet, preresnet, densenet, vit or lstm")
    p.add_argument(
        "--hidden-layers",
        type=int,
        help="FCN: hidden layers (required); vgg: convs per stage; resnet: blocks per "
        "stage (3 = ResNet-20); densenet: layers per dense block",
    )
    p.add_argument(
        "--width",
        type=int,
        help="FCN: neurons per layer (required); vgg/resnet: first-stage channels; densenet: growth rate",
    )
    p.add_argument("--channels-last", action="store_true", help="conv nets: channels-last memory format")
    p.add_argument("--epochs", type=int, default=5, help="epochs (paper: 50)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--dataset", default="mnist", help="mnist (default) or fashion-mnist")
    p.add_argument("--normalization", default="standardize", help="standardize (default), unit, unit-norm")
    p.add_argument("--train-subset", type=int, help="train on the first N training images only")
    p.add_argument("--data-root", help="directory with the IDX files (default: cached MNIST)")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="bf16 autocast (AMX on Sapphire Rapids); part of the spec: it changes the weights",
    )
    recipe = p.add_argument_group(
        "training recipe", "defaults: the paper's protocol (Adam 1e-3, no schedule); every choice is part of the spec"
    )
    recipe.add_argument("--optimizer", default="adam", help="adam (default) or sgd")
    recipe.add_argument("--momentum", type=float, default=0.9, help="sgd momentum (default 0.9)")
    recipe.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay (default 0)")
    recipe.add_argument(
        "--schedule", default="none", help="none (default), step (lr ÷ 10 at 50 %% and 75 %% of the epochs) or cosine"
    )
    recipe.add_argument("--bn-init", type=float, help="initialise every batch-norm γ to this (Network Slimming: 0.5)")
    recipe.add_argument(
        "--bn-sparsity", type=float, default=0.0, help="Network Slimming's sparsity penalty s·Σ|γ| (e.g. 1e-4)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--restart", action="store_true", help="discard an unfinished run's resume point, start over")
    p.add_argument("--out", type=Path, required=True, help="run directory")
    _common_device(p)
    p.set_defaults(handler="nets:cmd_train")


def _add_lock(sub):
    p = sub.add_parser(
        "lock",
        help="extract an access key: write the locked model and the key",
        description="CoreLocker extraction (Section 3). The key file is written owner-only.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="original model (.safetensors or run dir)")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--ratio", help="extraction ratio in (0, 1), e.g. 0.00002 (k = ceil(ratio x candidates))")
    how.add_argument("--k", help="extract exactly this many units (global ranking), e.g. from ratio-for-utility")
    how.add_argument(
        "--target-accuracy",
        help="lock at the smallest extraction whose test accuracy is at or below this (ratio-for-utility); "
        "`chance` or `chance+2pp` for a model at chance",
    )
    _extraction_args(p)
    p.add_argument(
        "--out-model", type=out_file, required=True, help="locked model (.safetensors, shareable: mode 0644)"
    )
    p.add_argument("--key", type=out_file, required=True, help="access key (.safetensors, owner-only: mode 0600)")
    p.add_argument("--sign-with", type=Path, help="sign the pair with this Ed25519 private key (from `keygen`)")
    p.add_argument(
        "--fill",
        default="zero",
        help="what the locked model holds at the key positions: zero (default, the paper) or noise (values drawn "
        "from the same layer, so no exact zero marks the key)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out-model / --key")
    p.add_argument("--no-eval", action="store_true", help="do not measure the locked model's test accuracy")
    _utility_search_args(p)
    p.add_argument(
        "--model", help="FILE.py:FUNCTION building your own nn.Module (for a checkpoint made by import --model)"
    )
    p.set_defaults(handler="lock:cmd_lock")


def _add_unlock(sub):
    p = sub.add_parser(
        "unlock",
        help="restore the original model from a locked model and its key",
        description="Refuses a key that belongs to another model, was tampered with, is not the key the locked "
        "model was published with, or (with --expect-sha256 / --verify-with) does not restore the fingerprint "
        "or carry the signature you expect.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="locked model (.safetensors)")
    p.add_argument("--key", type=Path, required=True, help="access key (.safetensors)")
    p.add_argument("--out", type=out_file, required=True, help="restored model (.safetensors)")
    p.add_argument("--expect-sha256", help="the original model's fingerprint, obtained from the owner out of band")
    p.add_argument("--verify-with", type=Path, help="the owner's Ed25519 public key (from `keygen`)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.add_argument(
        "--model", help="FILE.py:FUNCTION building your own nn.Module (for a checkpoint made by import --model)"
    )
    p.set_defaults(handler="lock:cmd_unlock")


def _add_import(sub):
    p = sub.add_parser(
        "import",
        help="turn a state dict (torch.save) of your own model into a checkpoint every command reads",
        description="Reads the file with torch.load(weights_only=True). Without --model: an nn.Sequential MLP "
        "whose Linear layers chain 784 → w → … → w → 10. With --model FILE.py:FUNCTION: any nn.Module that "
        "FUNCTION() builds (your own names are kept; pass the same --model to later commands). The input "
        "normalisation the network was trained with is recorded; the test accuracy it gives is printed.",
    )
    p.add_argument("--torch", dest="torch_file", type=Path, required=True, help="state dict file (.pt/.pth)")
    p.add_argument("--model", help="FILE.py:FUNCTION returning your untrained nn.Module (any architecture)")
    p.add_argument(
        "--normalization",
        required=True,
        help="standardize, unit, unit-norm, or none (your own --data "
        "as stored, normalised as you trained): what training used",
    )
    p.add_argument("--dataset", default="mnist", help="mnist (default), fashion-mnist, or npz (your own --data)")
    p.add_argument("--data-root", "--data", dest="data_root", help=DATA_HELP)
    p.add_argument("--input-shape", help="C,H,W (or N) of one input, for a model that is not MNIST-shaped")
    p.add_argument("--out", type=out_file, required=True, help="checkpoint to write (.safetensors)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.set_defaults(handler="nets:cmd_import")


def _add_export(sub):
    p = sub.add_parser(
        "export",
        help="write a checkpoint's weights back as a plain torch state dict",
        description="torch.save(state_dict) with the names the model had before import (an imported MLP gets "
        "its 0.weight, 2.weight, … names back; a --model checkpoint keeps its own).",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint (.safetensors or run dir)")
    p.add_argument("--torch", dest="torch_file", type=out_file, required=True, help="state dict file to write (.pt)")
    p.add_argument("--model", help="FILE.py:FUNCTION (for a checkpoint made by import --model)")
    p.add_argument("--force", action="store_true", help="replace an existing --torch file")
    p.set_defaults(handler="nets:cmd_export")


def _add_keygen(sub):
    p = sub.add_parser(
        "keygen",
        help="create an Ed25519 key pair for signing locks (lock --sign-with, unlock --verify-with)",
        description="Writes PREFIX.key (private, mode 0600) and PREFIX.pub (public).",
    )
    p.add_argument("--out", required=True, help="path prefix, e.g. owner → owner.key, owner.pub")
    p.set_defaults(handler="lock:cmd_keygen")


def _add_check_bounds(sub):
    p = sub.add_parser(
        "check-bounds",
        help="lock a checkpoint and measure disparities against the bounds",
        description="Per-layer d, G, sandwich, Theorems 2-3, Properties 1/3, weight statistics (FCNs); "
        "per-stage d, G, sandwich, μ three ways, Theorem 4 (conv nets).",
    )
    p.add_argument("checkpoint", type=Path, help="trained model (.safetensors or run dir)")
    p.add_argument("--ratio", default="0.00002", help="extraction ratio (default 0.00002 = 0.002%%)")
    _extraction_args(p)
    p.add_argument("--n-samples", type=int, help="the first N test images (default: every test image of the data)")
    p.add_argument("--batch", type=int, default=1000, help="inputs per measured batch")
    p.add_argument(
        "--C-s", dest="C_s", type=float, default=1.0, help="Property 1's universal constant C_s in λ (default 1)"
    )
    p.add_argument(
        "--C-e",
        dest="C_e",
        type=float,
        default=1.0,
        help="Property 1's universal constant C_e in its probability (default 1)",
    )
    p.add_argument("--tau", type=float, default=2.0, help="τ of Lemma 1 / Property 1 (default 2)")
    p.add_argument("--data-root", "--data", dest="data_root", help=DATA_HELP)
    p.add_argument(
        "--out",
        type=Path,
        help="write bounds_checks.csv (per layer), samples.csv (per sample), summary.json and a figure",
    )
    p.add_argument("--format", default="png", choices=("png", "pdf", "svg"), help="figure format (default png)")
    _common_device(p)
    p.add_argument(
        "--model", help="FILE.py:FUNCTION building your own nn.Module (for a checkpoint made by import --model)"
    )
    p.set_defaults(handler="measure:cmd_check_bounds")


def _add_utility_curve(sub):
    p = sub.add_parser(
        "utility-curve",
        help="accuracy vs extraction ratio for l1 and the random baseline (Figure 6, Table 5)",
        description="Ranks the units once and sweeps the ratios (nested top-k sets). Writes curve.csv, "
        "table5.csv (ratio range per 5 % utility bin) and utility_curve.FORMAT into --out.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="trained model (.safetensors or run dir)")
    p.add_argument("--ratios", type=float_list, help="ratios (default: 41 log-spaced from 1e-5 to 0.5)")
    p.add_argument("--random-seeds", type=int, default=5, help="seeds of the random baseline (default 5)")
    p.add_argument("--scope", default="hidden", help="hidden (default) or all")
    p.add_argument("--targets", type=float_list, default=[0.5], help="utility bands drawn on the figure")
    p.add_argument("--format", default="png", choices=("png", "pdf", "svg"), help="figure format (default png)")
    p.add_argument("--data-root", "--data", dest="data_root", help=DATA_HELP)
    p.add_argument("--out", type=Path, required=True, help="output directory")
    _common_device(p)
    p.add_argument(
        "--model", help="FILE.py:FUNCTION building your own nn.Module (for a checkpoint made by import --model)"
    )
    p.set_defaults(handler="lock:cmd_utility_curve")


def _add_ratio_for_utility(sub):
    p = sub.add_parser(
        "ratio-for-utility",
        help="the smallest extraction for a target accuracy, searched on the real network",
        description="Bracketing and bisection on k (units extracted) on the even test images, a walk down the "
        "crossing band, and the accuracy on the odd (held-out) images.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="trained model (.safetensors or run dir)")
    p.add_argument("--target", required=True, help="target top-1 accuracy, e.g. 0.5")
    p.add_argument("--indicator", default="l1", help=INDICATOR_HELP)
    p.add_argument("--scope", default="hidden", help="hidden (default: not the input/output layers) or all")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the random indicator")
    _utility_search_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--model", help="FILE.py:FUNCTION building your own nn.Module (for a checkpoint made by import --model)"
    )
    p.set_defaults(handler="lock:cmd_ratio_for_utility")


def _add_predict_ratio(sub):
    p = sub.add_parser(
        "predict-ratio",
        help="predict the ratio for a target accuracy from the theory (fitted constants) and a baseline",
        description="Fits the free constants of Theorem 3 + Property 3 (link slope, offset, C_s) on a grid run's "
        "results.csv, predicts each network's ratio for --target, and reports held-out errors against a plain "
        "empirical baseline (see empirical/predict.py).",
    )
    p.add_argument("--run", type=Path, required=True, help="grid run directory (results.csv)")
    p.add_argument("--target", required=True, help="target top-1 accuracy, e.g. 0.5, or chance[+Npp] (chance + N pp)")
    p.add_argument("--out", type=Path, help="write predictions.csv, heldout_one_network.csv, heldout_across.csv")
    p.add_argument("--json", action="store_true", help="print the held-out summary as one JSON object")
    p.set_defaults(handler="experiments:cmd_predict_ratio")


def _add_experiment(sub, entry, complete: bool):
    p = sub.add_parser(entry.kind, help=entry.help)
    p.set_defaults(handler="experiments:cmd_experiment", kind=entry.kind)
    if complete:  # imports the experiment (and torch): only for the subcommand that runs
        mod = registry.experiment(entry.kind)
        p.description = mod.DESCRIPTION
        configure.add_experiment_arguments(p, mod)
    return p


def _add_reproduce(sub, complete: bool):
    p = sub.add_parser(
        "reproduce",
        help="the main job: grid + figures + report for a preset",
        description="Run (or resume) the grid, then draw the figures and write report.md.",
    )
    p.set_defaults(handler="experiments:cmd_experiment", kind="grid", report=True)
    if complete:
        configure.add_experiment_arguments(p, registry.experiment("grid"))
        p.add_argument(
            "--figure-ratio", type=float, help="also draw Figure 5 at this ratio (the closest one of the list)"
        )


def _add_figures(sub):
    p = sub.add_parser("figures", help="draw the figures of a grid run", description="Writes DIR/figures/*.FORMAT.")
    p.add_argument("run_dir", type=Path, help="grid run directory")
    p.add_argument(
        "--ratio", type=float, help="also draw Figure 5 at this ratio in (0, 1) (the closest of the run's, announced)"
    )
    p.add_argument("--vmax", type=float, default=100.0, help="the drop map's fixed colour scale, ±pp (default 100)")
    p.add_argument("--format", default="png", choices=("png", "pdf", "svg"), help="figure format (default png)")
    p.set_defaults(handler="experiments:cmd_figures")


def _add_report(sub):
    p = sub.add_parser(
        "report",
        help="write report.md for any run (grid, paper widths, table1, ablation, attacks, other-archs)",
        description="One line per claim of the paper (PASS / FAIL / VACUOUS / INCONCLUSIVE / NOT TESTED).",
    )
    p.add_argument("run_dir", type=Path, help="run directory of any experiment (its kind is read from config.json)")
    p.add_argument("--ratio", type=float, help="grid: also draw Figure 5 at this ratio (the closest of the list)")
    p.add_argument(
        "--seeds-run", type=Path, help="grid: a run of the same cells with more training seeds (seed variance)"
    )
    p.add_argument("--grid-run", type=Path, help="paper widths: a grid run to extrapolate critical ratios from")
    p.add_argument(
        "--backtest-run",
        type=Path,
        help="paper widths: a paper-widths run measured to epoch 50 (results/epoch-trend) that scores the projections",
    )
    p.add_argument(
        "--earlier-run",
        type=Path,
        help="paper widths: another paper-widths run whose cells join the claims and the grid figure (the furthest-"
        "trained row of a cell wins) and whose cells trained again here give the rerun noise",
    )
    p.set_defaults(handler="experiments:cmd_report")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``command``, only that experiment's subcommand is completed (the others
    list their one-line help), so parsing one command imports one experiment."""
    parser = OneLineParser(prog=PROG, description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_theory(sub)
    _add_train(sub)
    _add_lock(sub)
    _add_unlock(sub)
    _add_keygen(sub)
    _add_import(sub)
    _add_export(sub)
    _add_check_bounds(sub)
    entries = {e.kind: e for e in registry.entries()}
    _add_experiment(sub, entries.pop("grid"), command in (None, "grid"))
    _add_reproduce(sub, command in (None, "reproduce"))
    _add_figures(sub)
    _add_report(sub)
    _add_utility_curve(sub)
    _add_ratio_for_utility(sub)
    _add_predict_ratio(sub)
    for entry in entries.values():
        _add_experiment(sub, entry, command in (None, entry.kind))
    return parser
