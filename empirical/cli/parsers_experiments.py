"""The experiments' subcommands: table1, paper-widths, ablation, attacks, other-archs (argparse only)."""

from __future__ import annotations

from pathlib import Path

from empirical.cli.arguments import DATA_HELP, _common_device, float_list, int_list, out_file, seed_int  # noqa: F401


def _add_table1(sub):
    p = sub.add_parser(
        "table1",
        help="Table 1 / Figure 6 at CPU scale: VGG, ResNet, DenseNet on Fashion-MNIST (resumable)",
        description="Train each conv architecture, lock it at --ratio with l1 (filters), bn-scale and random "
        "filters (several seeds), sweep the accuracy over --ratios, check the bounds per stage; write "
        "table1.csv, curves.csv, bounds_checks.csv, figures/ and report.md. Run the same command to resume.",
    )
    p.add_argument("--out", type=Path, required=True, help="run directory")
    p.add_argument("--archs", default="vgg,resnet,densenet", help="comma-separated subset of vgg,resnet,densenet")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--ratio", type=float, default=0.05, help="Table 1's extraction ratio (default 0.05)")
    p.add_argument("--ratios", type=float_list, help="the curve's ratios (default 0.0001..0.05, 7 points)")
    p.add_argument("--random-seeds", type=int, default=5, help="random-filter seeds at --ratio (default 5)")
    p.add_argument("--curve-random-seeds", type=int, default=2, help="of those, swept over all --ratios (default 2)")
    p.add_argument("--check-samples", type=int, default=500, help="test images for the bound checks")
    p.add_argument("--train-subset", type=int, help="train on the first N training images only")
    p.add_argument(
        "--size",
        action="append",
        default=[],
        metavar="ARCH=H,W",
        help="override an architecture's (hidden_layers, width), e.g. resnet=1,8; repeatable",
    )
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--recheck",
        action="store_true",
        help="recompute the bound checks of the finished architectures from their local checkpoints, keep the rest",
    )
    _common_device(p)
    p.set_defaults(handler="experiments:cmd_table1")


def _add_ablation(sub):
    p = sub.add_parser(
        "ablation",
        help="Table 1 as the authors ran it: which ingredient makes bn-scale lock (resumable)",
        description="Train each architecture × recipe (adam, sgd, bn-init, sparsity, all) on Fashion-MNIST, lock "
        "every trained model with each extraction variant at --ratio, record accuracy, extracted counts per layer, "
        "predicted-class histograms and the |γ| distributions; write report.md. Run the same command to resume.",
    )
    p.add_argument("--out", type=Path, required=True, help="run directory")
    p.add_argument("--archs", default="vgg,resnet,preresnet", help="subset of vgg,resnet,preresnet,densenet")
    p.add_argument("--recipes", default="adam,sgd,bn-init,sparsity,all", help="subset of the recipes")
    p.add_argument("--epochs-adam", type=int, default=3)
    p.add_argument("--epochs-sgd", type=int, default=6)
    p.add_argument("--train-subset", type=int, default=30000, help="first N training images (default 30000)")
    p.add_argument("--ratio", type=float, default=0.05)
    p.add_argument("--size", action="append", default=[], metavar="ARCH=H,W", help="e.g. preresnet=2,16")
    p.add_argument("--only", help="cells to run now, e.g. vgg_adam,vgg_sgd,vgg_all_s1")
    p.add_argument(
        "--review-cells",
        action="store_true",
        help="extend the run by the review's cells: seeds 1-2 of the cells within 5 pp of the lock threshold, Adam "
        "as long as SGD (adam-long) and Network Slimming's sparsity dose (all-ns-dose); the run extends, finished "
        "cells are kept",
    )
    p.add_argument("--no-progress", action="store_true")
    _common_device(p)
    p.set_defaults(handler="experiments:cmd_ablation")


def _add_attacks(sub):
    p = sub.add_parser(
        "attacks",
        help="fine-tuning, pruning and key-position attacks on locked models, with and without --fill noise",
        description="Train the configured models (7×400 and 13×400 MNIST FCNs, a VGG on Fashion-MNIST), lock them, "
        "and attack each with a share of the training data: fine-tuning (FTLL/FTAL/RTLL/RTAL) beside training from "
        "scratch, pruning (magnitude, Fine-Pruning), and the key-position attack; write report.md. Resumable. "
        "With --checkpoint: attack YOUR locked model instead (fine-tuning under SGD and Adam, the key-position "
        "attack, training from scratch to convergence) and write attacks.csv.",
    )
    p.add_argument("--out", type=Path, required=True, help="run directory (with --checkpoint: where attacks.csv goes)")
    p.add_argument(
        "--checkpoint", type=Path, help="a locked model (from `lock`) to attack instead of the built-in ones"
    )
    p.add_argument("--key", type=Path, help="with --checkpoint: its key, for the original's accuracy and the "
                   "key-position attack's precision and recall (never used by an attack)")  # fmt: skip
    p.add_argument("--model", help="with --checkpoint: FILE.py:FUNCTION building your own nn.Module")
    p.add_argument(
        "--fractions",
        type=float_list,
        default=[0.01, 0.05],
        help="with --checkpoint: the attacker's shares of the training data (default 0.01,0.05)",
    )
    p.add_argument("--seeds", type=int, default=1, help="with --checkpoint: data draws per share (default 1)")
    p.add_argument("--epochs", type=int, default=20, help="with --checkpoint: fine-tuning epochs (default 20)")
    p.add_argument("--no-baseline", action="store_true", help="with --checkpoint: skip training from scratch")
    p.add_argument("--data-root", "--data", dest="data_root", help="with --checkpoint: " + DATA_HELP)
    p.add_argument("--only", help="cells to run now, e.g. fcn-7x400_zero,vgg_noise")
    p.add_argument("--quick", action="store_true", help="tiny models and shares (a smoke test, minutes)")
    p.add_argument(
        "--converged-baselines",
        action="store_true",
        help="only add scratch_converged.csv: from-scratch training to convergence (early stopping), 5 seeds, the "
        "model's own architecture, a 2 x 400 MLP and a small CNN (resumable; the run's cells are not touched)",
    )
    _common_device(p)
    p.set_defaults(handler="experiments:cmd_attacks")


def _add_other_archs(sub):
    p = sub.add_parser(
        "other-archs",
        help="Tables 6-7 at CPU scale: lock a ViT (Fashion-MNIST) and an LSTM (MNIST); resumable",
        description="Train each model, lock it at --ratio (l1 weights, l1 neurons, LayerNorm scale, random), sweep "
        "the utility curve (Table 7's bins) and measure every block; write report.md.",
    )
    p.add_argument("--out", type=Path, required=True, help="run directory")
    p.add_argument("--quick", action="store_true", help="tiny models, one epoch on 2,000 images (a smoke test)")
    p.add_argument("--no-progress", action="store_true")
    _common_device(p)
    p.set_defaults(handler="experiments:cmd_other_archs")


def _add_paper_widths(sub):
    p = sub.add_parser(
        "paper-widths",
        help="Figure 5 at the paper's own widths, evaluated after every epoch (resumable)",
        description="Train each cell of a paper-widths preset with the paper's protocol and, after every epoch, "
        "sweep the ratios (l1 and random), find the critical ratios and log time and memory. Presets: "
        "paper-corner (7x3000, 7x4000, 13x3000, 10x6000, 4x8000, 7x8000, 13x8000), "
        "epoch-trend (4/7/13 x 400, 50 epochs), tiny. "
        "Run the same command to resume; --only runs a subset of the cells (one process per core).",
    )
    p.add_argument("--preset", default="paper-corner", help="paper-corner (default), epoch-trend, tiny")
    p.add_argument("--out", type=Path, required=True, help="run directory (resumed if it exists)")
    p.add_argument("--only", help="cells to run now, e.g. 7x3000,13x3000 (default: all, in the preset's order)")
    p.add_argument("--stop-after-epoch", type=int, help="stop each cell once it has reached this epoch (resumable)")
    p.add_argument("--threads", type=int, help="torch and BLAS threads (default: torch's)")
    p.add_argument(
        "--state-dir",
        type=Path,
        help="where the resume points live (default: the user cache, $XDG_CACHE_HOME/corelocker-bounds/state, "
        "keyed by each cell's training spec), so a fresh clone on this machine continues where the last run stopped",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common_device(p)
    p.set_defaults(handler="experiments:cmd_paper_widths")
