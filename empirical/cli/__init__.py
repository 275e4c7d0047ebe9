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
    from empirical.experiments import presets
    from empirical.lock.ratio import check_ratio
    from empirical.experiments.theory_table import Constants, format_summary, theory_table

    preset = presets.get_preset(args.preset)
    for name in ("ratios", "widths", "hidden_layers"):
        if getattr(args, name) is not None and not getattr(args, name):
            raise UserError(f"--{name.replace('_', '-')} is empty")
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
    print(f"theory table: {len(depths)}×{len(widths)} cells × {len(ratios)} ratios")
    for r in ratios:
        print(f"\nratio {r}:")
        print(format_summary(df[df["ratio"] == r]))
    if args.out:
        from empirical._io import write_csv

        write_csv(args.out / "theory.csv", df)
        print(f"wrote {args.out / 'theory.csv'} ({len(df)} rows)")
    return 0


def _check_writable_dir(path: Path) -> None:
    """Fail before long work when ``path`` cannot hold our outputs."""
    import tempfile

    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test."):
            pass
    except OSError as exc:
        raise UserError(f"cannot write into {path}: {exc.strerror or exc}") from None


def _device(name: str) -> str:
    import torch

    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name} requested but CUDA is not available here (torch {torch.__version__})")
    if not (name == "cpu" or name.startswith("cuda") or name == "mps"):
        raise UserError(f"unknown device {name!r} (cpu, cuda, cuda:N)")
    return name


def _common_device(p):
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")


# ----------------------------------------------------------------------------------------- train
def _add_train(sub):
    p = sub.add_parser(
        "train",
        help="train one FCN or conv net (resumes an interrupted run)",
        description="Adam, lr 1e-3, batch 128 (Section 5.1.1); checkpoint + per-epoch log in --out. "
        "Conv nets (--arch vgg|resnet|densenet) take --hidden-layers/--width in their own sense "
        "(see empirical/convnets.py; defaults: the CPU-scale sizes of the README).",
    )
    p.add_argument("--arch", default="fcn", help="fcn (default), vgg, resnet or densenet")
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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", default="mnist", help="mnist (default) or fashion-mnist")
    p.add_argument("--normalization", default="standardize", help="standardize (default), unit, unit-norm")
    p.add_argument("--train-subset", type=int, help="train on the first N training images only")
    p.add_argument("--data-root", help="directory with the IDX files (default: cached MNIST)")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="bf16 autocast (AMX on Sapphire Rapids); part of the spec: it changes the weights",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--restart", action="store_true", help="discard an unfinished run's resume point, start over")
    p.add_argument("--out", type=Path, required=True, help="run directory")
    _common_device(p)
    p.set_defaults(func=_run_train)


def _run_train(args) -> int:
    from empirical.nets.convnets import DEFAULTS
    from empirical.nets.models import ARCHS
    from empirical.nets.train import RunOptions, TrainSpec, train

    if args.arch not in ARCHS:
        raise UserError(f"unknown --arch {args.arch!r}; choose one of {', '.join(ARCHS)}")
    if args.arch == "fcn" and (args.hidden_layers is None or args.width is None):
        raise UserError("an FCN needs --hidden-layers and --width")
    h0, w0 = DEFAULTS.get(args.arch, (None, None))
    spec = TrainSpec(
        args.hidden_layers if args.hidden_layers is not None else h0,
        args.width if args.width is not None else w0,
        args.epochs,
        args.lr,
        args.batch_size,
        args.seed,
        args.dataset,
        args.normalization,
        args.train_subset,
        "bf16" if args.bf16 else "fp32",
        args.arch,
        args.channels_last,
    )
    opts = RunOptions(
        device=_device(args.device), progress=not args.no_progress, data_root=args.data_root, restart=args.restart
    )
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} is a file; give a directory")
    _check_writable_dir(args.out)
    path = train(spec, args.out, opts)
    from empirical.nets.checkpoint import read_checkpoint

    _, meta = read_checkpoint(path)
    print(f"checkpoint {path} (test accuracy {meta.get('test_acc')})")
    return 0


# ------------------------------------------------------------------------------------ lock/unlock
def _extraction_args(p):
    p.add_argument("--indicator", default="l1", help="l1 (default), random, bn-scale")
    p.add_argument("--scope", default="hidden", help="hidden (default: not the input/output layers) or all")
    p.add_argument("--mode", default="global", help="global (default) or per-layer")
    p.add_argument("--seed", type=int, default=0, help="seed of the random indicator")


def _add_lock(sub):
    p = sub.add_parser(
        "lock",
        help="extract an access key: write the locked model and the key",
        description="CoreLocker extraction (Section 3). The key file is written owner-only.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="original model (.safetensors or run dir)")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--ratio", help="extraction ratio in (0, 1), e.g. 0.00002")
    how.add_argument(
        "--target-accuracy",
        type=float,
        help="lock at the smallest extraction whose test accuracy is at or below this (ratio-for-utility)",
    )
    _extraction_args(p)
    p.add_argument("--out-model", type=Path, required=True, help="locked model (.safetensors)")
    p.add_argument("--key", type=Path, required=True, help="access key (.safetensors)")
    p.add_argument("--sign-with", type=Path, help="sign the pair with this Ed25519 private key (from `keygen`)")
    _utility_search_args(p)
    p.set_defaults(func=_run_lock)


def _checkpoint_path(p: Path) -> Path:
    return p / "model.safetensors" if p.is_dir() else p


def _run_lock(args) -> int:
    from empirical.lock import signing
    from empirical.nets.checkpoint import load_checkpoint, read_checkpoint, write_checkpoint_file
    from empirical.lock.extraction import extract
    from empirical.safety import commit_files, output_lock, refuse_aliasing

    src = _checkpoint_path(args.checkpoint)
    ins = {"--checkpoint": src, **({"--sign-with": args.sign_with} if args.sign_with else {})}
    refuse_aliasing(ins, {"--out-model": args.out_model, "--key": args.key})
    with output_lock([args.out_model, args.key]):
        ratio, found = args.ratio, None
        if args.target_accuracy is not None:
            if args.mode != "global":
                raise UserError(
                    "--target-accuracy searches a global ranking; it cannot be combined with --mode per-layer"
                )
            model, meta, x, y = _checkpoint_and_data(args)
            found = _search(args, model, x, y, args.indicator, args.scope, args.seed)
            ratio = found.ratio
        else:
            model, meta = load_checkpoint(args.checkpoint)
        locked, key = extract(model, ratio, args.indicator, args.scope, args.mode, args.seed)
        if found is not None:
            assert key.meta["k_total"] == found.k, (key.meta["k_total"], found.k)
            key.meta.update(
                target_accuracy=found.target,
                achieved_accuracy=found.accuracy,
                achieved_accuracy_heldout=found.accuracy_heldout,
            )
            print(
                f"target accuracy {found.target}: k = {found.k} (ratio {found.ratio:.6g}), accuracy "
                f"{found.accuracy:.4f} (selection half), {found.accuracy_heldout:.4f} (held-out half)"
            )
        key.meta["key_sha256"] = key.digest()
        bound = {
            "original_sha256": key.meta["original_sha256"],
            "locked_sha256": key.meta["locked_sha256"],
            "key_sha256": key.meta["key_sha256"],
        }
        if args.sign_with:
            sig = signing.sign(args.sign_with, signing.message(**bound))
            key.meta["signature"] = bound["signature"] = sig
        locked_by = {k: key.meta[k] for k in ("indicator", "ratio", "scope", "mode", "seed", "k_total")}
        commit_files(
            {
                args.out_model: lambda tmp: write_checkpoint_file(
                    tmp, locked, meta["spec"], {"locked_by": locked_by, "bound_to": bound}
                ),
                args.key: key.write_file,
            },
            modes={args.key: 0o600},
        )
    read_checkpoint(args.out_model)  # re-read: a written file that does not verify is an error
    rep = key.size_report()
    print(f"locked {key.meta['k_total']} units ({', '.join(f'{k}: {v}' for k, v in key.meta['counts'].items())})")
    share_cand = key.meta["k_total"] / sum(key.meta["candidates"].values())
    print(
        f"key {args.key}: {rep['values']} values, {args.key.stat().st_size} bytes on disk; "
        f"{share_cand:.4g} of the candidate units ({args.scope} layers), {rep['share_of_parameters']:.4g} of all "
        "parameters"
    )
    print(f"locked model {args.out_model}")
    print(f"original model fingerprint (publish it for `unlock --expect-sha256`): {key.meta['original_sha256']}")
    if args.sign_with:
        print(f"signed with {args.sign_with} (check with `unlock --verify-with PUBLIC_KEY`)")
    return 0


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
    p.add_argument("--out", type=Path, required=True, help="restored model (.safetensors)")
    p.add_argument("--expect-sha256", help="the original model's fingerprint, obtained from the owner out of band")
    p.add_argument("--verify-with", type=Path, help="the owner's Ed25519 public key (from `keygen`)")
    p.set_defaults(func=_run_unlock)


def _run_unlock(args) -> int:
    from empirical.lock import signing
    from empirical.nets.checkpoint import load_checkpoint, save_checkpoint
    from empirical.lock.extraction import AccessKey
    from empirical.safety import output_lock, refuse_aliasing

    if args.expect_sha256 is not None and not (
        len(args.expect_sha256) == 64 and all(c in "0123456789abcdef" for c in args.expect_sha256.lower())
    ):
        raise UserError("--expect-sha256 must be 64 hexadecimal digits")
    ins = {"--checkpoint": _checkpoint_path(args.checkpoint), "--key": args.key}
    if args.verify_with:
        ins["--verify-with"] = args.verify_with
    refuse_aliasing(ins, {"--out": args.out})
    locked, meta = load_checkpoint(args.checkpoint)
    key = AccessKey.load(args.key)
    bound = meta.get("bound_to")
    if bound is not None and any(key.meta.get(k) != bound.get(k) for k in ("original_sha256", "key_sha256")):
        raise UserError("this key does not belong to this locked model: it is not the key the model was published with")
    if args.expect_sha256 is not None and key.meta["original_sha256"] != args.expect_sha256.lower():
        raise UserError("the key would restore a model whose fingerprint differs from --expect-sha256")
    if args.verify_with:
        msg = signing.message(key.meta["original_sha256"], key.meta["locked_sha256"], key.meta["key_sha256"])
        signing.verify(args.verify_with, msg, key.meta.get("signature"))
        if bound is not None and bound.get("signature") != key.meta.get("signature"):
            raise UserError("the locked model and the key carry different signatures")
    restored = key.restore(locked)  # checks the key's digest, the locked and the restored fingerprints
    with output_lock([args.out]):
        save_checkpoint(args.out, restored, meta["spec"])
    checks = ["fingerprints in the key"]
    if bound is not None:
        checks.append("bound to the locked model")
    if args.expect_sha256:
        checks.append("--expect-sha256")
    if args.verify_with:
        checks.append("owner signature")
    print(
        f"restored {args.out} (fingerprint {key.meta['original_sha256'][:16]}…, identical to the original; "
        f"checked: {', '.join(checks)})"
    )
    return 0


def _add_import(sub):
    p = sub.add_parser(
        "import",
        help="convert an nn.Sequential MLP state dict (torch.save) into a checkpoint",
        description="Reads the file with torch.load(weights_only=True); the Linear layers must chain "
        "784 → w → … → w → 10. The input normalisation the network was trained with is recorded.",
    )
    p.add_argument("--torch", dest="torch_file", type=Path, required=True, help="state dict file (.pt/.pth)")
    p.add_argument("--normalization", required=True, help="standardize, unit or unit-norm (what training used)")
    p.add_argument("--dataset", default="mnist", help="mnist (default) or fashion-mnist")
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write (.safetensors)")
    p.set_defaults(func=_run_import)


def _run_import(args) -> int:
    from empirical.nets.importer import import_sequential
    from empirical.safety import refuse_aliasing

    refuse_aliasing({"--torch": args.torch_file}, {"--out": args.out})
    path = import_sequential(args.torch_file, args.out, args.normalization, args.dataset)
    print(f"wrote {path}")
    return 0


def _add_keygen(sub):
    p = sub.add_parser(
        "keygen",
        help="create an Ed25519 key pair for signing locks (lock --sign-with, unlock --verify-with)",
        description="Writes PREFIX.key (private, mode 0600) and PREFIX.pub (public).",
    )
    p.add_argument("--out", type=Path, required=True, help="path prefix, e.g. owner → owner.key, owner.pub")
    p.set_defaults(func=_run_keygen)


def _run_keygen(args) -> int:
    from empirical.lock import signing

    priv, pub = Path(f"{args.out}.key"), Path(f"{args.out}.pub")
    for p in (priv, pub):
        if p.exists():
            raise UserError(f"{p} exists; refusing to overwrite a key")
    _check_writable_dir(priv.parent)
    signing.keygen(priv, pub)
    print(f"private key {priv} (keep it secret), public key {pub}")
    return 0


# ---------------------------------------------------------------------------------- check-bounds
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
    p.add_argument("--n-samples", type=int, help="first N test images (default: all 10,000)")
    p.add_argument("--batch", type=int, default=1000, help="inputs per measured batch")
    p.add_argument("--C-s", dest="C_s", type=float, default=1.0)
    p.add_argument("--C-e", dest="C_e", type=float, default=1.0)
    p.add_argument("--tau", type=float, default=2.0)
    p.add_argument("--data-root", help="directory with the IDX files (default: cached MNIST)")
    p.add_argument("--out", type=Path, help="write bounds_checks.csv, disparities.csv, summary.json here")
    _common_device(p)
    p.set_defaults(func=_run_check_bounds)


def _run_check_bounds(args) -> int:
    import json
    import math

    from empirical.nets import data as data_mod
    from empirical._io import write_csv, write_text
    from empirical.nets.checkpoint import load_checkpoint
    from empirical.lock.extraction import extract
    from empirical.measure.fcn import Constants, format_layers, measure

    if args.batch < 1:
        raise UserError(f"--batch must be >= 1, got {args.batch}")
    for name in ("C_s", "C_e", "tau"):
        v = getattr(args, name)
        if not (math.isfinite(v) and v > 0):
            raise UserError(f"--{name.replace('_', '-')} must be a finite number > 0, got {v}")
    if args.out:
        _check_writable_dir(args.out)
    device = _device(args.device)
    model, meta = load_checkpoint(args.checkpoint, device)
    spec = meta["spec"]
    x, y = data_mod.test_set_for(spec, args.data_root, n=args.n_samples, n_label="--n-samples")
    n = len(x)
    locked, key = extract(model, args.ratio, args.indicator, args.scope, args.mode, args.seed)
    arch = spec.get("arch", "fcn")
    constants = Constants(args.C_s, args.C_e, args.tau)
    if arch == "fcn":
        initial = None
        if "seed" in spec:  # re-create the initialisation for how far training moved each layer
            from empirical.nets.models import make_fcn

            initial = make_fcn(int(spec["hidden_layers"]), int(spec["width"]), seed=int(spec["seed"]))
        res = measure(model, locked, x, y, constants=constants, batch=args.batch, initial=initial)
        name, table = f"{spec['hidden_layers']}×{spec['width']} FCN", format_layers
    else:
        from empirical.nets.convnets import describe
        from empirical.measure.conv import format_net_layers, measure_net

        res = measure_net(model, locked, x, y, constants=constants, batch=args.batch)
        name, table = describe(arch, int(spec["hidden_layers"]), int(spec["width"])), format_net_layers
    s = res.summary
    print(
        f"{name}, ratio {key.meta['ratio']} ({args.indicator}, "
        f"{args.mode}, {args.scope}): {key.meta['k_total']} units extracted; {n} test images, {s['dtype']}"
    )
    print(
        f"accuracy {s['acc_original']:.4f} → {s['acc_extracted']:.4f}; "
        f"top-3 {s['top3_original']:.4f} → {s['top3_extracted']:.4f}"
    )
    what = "d <= G + Lμ‖y*‖" if arch == "fcn" else "d <= G + B (B: the stage's chain bound)"
    print(f"sandwich {what} holds on every sample and layer: {s['sandwich_all_hold']}")
    print(table(res.layers))
    if args.out:
        res.layers.insert(0, "ratio", key.meta["ratio"])
        write_csv(args.out / "bounds_checks.csv", res.layers)
        write_csv(args.out / "disparities.csv", res.samples)
        clean = {k: (v.item() if hasattr(v, "item") else v) for k, v in s.items()}
        write_text(args.out / "summary.json", json.dumps({**clean, "key": key.meta}, indent=1, default=str))
        print(f"wrote {args.out}/bounds_checks.csv, disparities.csv, summary.json")
    return 0 if s["sandwich_all_hold"] else 1


# ------------------------------------------------------------------------------- utility ↔ ratio
def _checkpoint_and_data(args):
    from empirical.nets.checkpoint import load_checkpoint
    from empirical.nets.data import test_set_for

    device = _device(args.device)
    model, meta = load_checkpoint(args.checkpoint, device)
    x, y = test_set_for(meta["spec"], args.data_root, device)
    return model.eval(), meta, x, y


def _add_utility_curve(sub):
    p = sub.add_parser(
        "utility-curve",
        help="accuracy vs extraction ratio for l1 and the random baseline (Figure 6, Table 5)",
        description="Ranks the units once and sweeps the ratios (nested top-k sets). Writes curve.csv, "
        "table5.csv (ratio range per 5%% utility bin) and utility_curve.png into --out.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="trained model (.safetensors or run dir)")
    p.add_argument("--ratios", type=_float_list, help="ratios (default: 41 log-spaced from 1e-5 to 0.5)")
    p.add_argument("--random-seeds", type=int, default=5, help="seeds of the random baseline (default 5)")
    p.add_argument("--scope", default="hidden", help="hidden (default) or all")
    p.add_argument("--targets", type=_float_list, default=[0.5], help="utility bands drawn on the figure")
    p.add_argument("--data-root", help="directory with the IDX files (default: cached data)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    _common_device(p)
    p.set_defaults(func=_run_utility_curve)


def _run_utility_curve(args) -> int:
    from empirical._io import write_csv
    from empirical.lock.ratio import check_ratio
    from empirical.experiments.report import _save
    from empirical.lock.utility import DEFAULT_CURVE_RATIOS, utility_bins, utility_curve
    from figures import accuracy_curves

    ratios = args.ratios if args.ratios is not None else DEFAULT_CURVE_RATIOS
    if not ratios:
        raise UserError("--ratios is empty")
    for r in ratios:
        check_ratio(r)
    if args.random_seeds < 1:
        raise UserError(f"--random-seeds must be >= 1, got {args.random_seeds}")
    _check_writable_dir(args.out)
    model, meta, x, y = _checkpoint_and_data(args)
    curve = utility_curve(model, x, y, ratios, random_seeds=args.random_seeds, scope=args.scope)
    table = utility_bins(curve)
    write_csv(args.out / "curve.csv", curve)
    write_csv(args.out / "table5.csv", table)
    spec = meta["spec"]
    name = f"{spec.get('hidden_layers')}×{spec.get('width')} FCN"
    _save(
        accuracy_curves(curve, args.targets, title=f"{name}: accuracy vs extraction ratio"),
        args.out / "utility_curve.png",
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {args.out}/curve.csv, table5.csv, utility_curve.png")
    return 0


def _add_ratio_for_utility(sub):
    p = sub.add_parser(
        "ratio-for-utility",
        help="the smallest extraction for a target accuracy, searched on the real network",
        description="Bracketing and bisection on k (units extracted) on the even test images, a walk down the "
        "crossing band, and the accuracy on the odd (held-out) images.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="trained model (.safetensors or run dir)")
    p.add_argument("--target", required=True, help="target top-1 accuracy, e.g. 0.5")
    _utility_search_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run_ratio_for_utility)


def _utility_search_args(p):
    p.add_argument("--tolerance", type=float, default=0.0, help="accept accuracy <= target + T (default 0)")
    p.add_argument("--window", type=int, default=8, help="misses in a row that end the walk down (default 8)")
    p.add_argument("--data-root", help="directory with the IDX files (default: cached data)")
    if not any(a.dest == "device" for a in p._actions):
        _common_device(p)


def _search(args, model, x, y, indicator="l1", scope="hidden", seed=0):
    from empirical.lock.utility import ratio_for_utility

    if args.window < 0:
        raise UserError(f"--window must be >= 0, got {args.window}")
    return ratio_for_utility(
        model,
        x,
        y,
        args.target_accuracy if hasattr(args, "target_accuracy") else args.target,
        indicator=indicator,
        scope=scope,
        seed=seed,
        tolerance=args.tolerance,
        window=args.window,
    )


def _run_ratio_for_utility(args) -> int:
    import json

    model, _, x, y = _checkpoint_and_data(args)
    found = _search(args, model, x, y)
    if args.json:
        print(json.dumps(found.as_row()))
        return 0
    print(
        f"target accuracy {found.target}: extract k = {found.k} of {found.n_candidates} candidate units "
        f"(ratio {found.ratio:.6g}; {found.share_of_parameters:.3g} of all parameters)"
    )
    print(
        f"accuracy {found.accuracy:.4f} on the selection half (original {found.accuracy_original:.4f}), "
        f"{found.accuracy_heldout:.4f} on the held-out half (original {found.accuracy_original_heldout:.4f})"
    )
    print(
        f"bracket k in ({found.bracket_lo}, {found.bracket_hi}], {found.evaluations} evaluations; "
        f"walk down checked {found.neighbours_checked} neighbours"
        + ("" if found.scan_complete else " (stopped at the scan limit: a smaller k may exist)")
    )
    return 0


def _add_predict_ratio(sub):
    p = sub.add_parser(
        "predict-ratio",
        help="predict the ratio for a target accuracy from the theory (fitted constants) and a baseline",
        description="Fits the free constants of Theorem 3 + Property 3 (link slope, offset, C_s) on a grid run's "
        "results.csv, predicts each network's ratio for --target, and reports held-out errors against a plain "
        "empirical baseline (see empirical/predict.py).",
    )
    p.add_argument("--run", type=Path, required=True, help="grid run directory (results.csv)")
    p.add_argument("--target", type=float, required=True, help="target top-1 accuracy, e.g. 0.5")
    p.add_argument("--out", type=Path, help="write predictions.csv, heldout_one_network.csv, heldout_across.csv")
    p.add_argument("--json", action="store_true", help="print the held-out summary as one JSON object")
    p.set_defaults(func=_run_predict_ratio)


def _run_predict_ratio(args) -> int:
    import json
    import math

    from empirical._io import write_csv
    from empirical.experiments.predict import evaluate, predict_ratios
    from empirical.experiments.report import load_run

    if not (0.1 < args.target < 1) or math.isnan(args.target):
        raise UserError(f"target accuracy {args.target} is outside (chance 0.1, 1)")
    if args.out:
        _check_writable_dir(args.out)
    t = load_run(args.run)
    res = t["results"]
    if "D_w" not in res or res[res["indicator"] == "l1"]["D_w"].notna().sum() < 3:
        raise UserError(f"{args.run}/results.csv has too few ℓ1 rows with bound checks to fit anything")
    preds, th, bl = predict_ratios(res, args.target)
    ev = evaluate(res, t["critical_ratios"], args.target)
    summary = {**ev["summary"], "theory_fit": vars(th), "baseline_coef": [float(c) for c in bl.coef]}
    if args.out:
        write_csv(args.out / "predictions.csv", preds)
        write_csv(args.out / "heldout_one_network.csv", ev["one_network"])
        write_csv(args.out / "heldout_across.csv", ev["across_networks"])
    if args.json:
        print(json.dumps(summary, default=float))
        return 0
    print(
        f"theory fit on {summary['n_networks']} networks: link slope {th.slope:.3g}, offset {th.offset:.3g}, "
        f"C_s = {th.C_s:.3g}"
    )
    print(preds.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("held-out errors (median over networks): accuracy in pp, ratio for the target in |log10|")
    for k, v in ev["summary"].items():
        if k not in ("target", "n_networks"):
            print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
    return 0


# ------------------------------------------------------------------------------------------- grid
def _grid_args(p):
    p.add_argument("--preset", default="quick", help="paper, cpu, quick (default), tiny")
    p.add_argument("--widths", type=_int_list, help="custom widths, e.g. 100,200 (overrides the preset)")
    p.add_argument("--hidden-layers", type=_int_list, help="custom depths, e.g. 4,8,13 (overrides the preset)")
    p.add_argument("--epochs", type=int, help="training epochs (overrides the preset)")
    p.add_argument("--ratios", type=_float_list, help="extraction ratios; must include 0.00002 (overrides the preset)")
    p.add_argument("--seeds", type=_int_list, default=None, help="training seeds, e.g. 0,1 (default 0)")
    p.add_argument("--random-seeds", type=int, help="seeds of the random-extraction baseline (preset default)")
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


def _grid_config(args):
    from empirical.experiments import presets
    from empirical.experiments.grid import GridConfig

    if args.bf16 and args.fp32:
        raise UserError("--bf16 and --fp32 exclude each other")
    for name in ("epochs", "random_seeds", "workers", "threads", "max_cells"):
        v = getattr(args, name, None)
        if v is not None and v < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    for name in ("widths", "hidden_layers", "ratios", "seeds"):
        if getattr(args, name) is not None and not getattr(args, name):
            raise UserError(f"--{name.replace('_', '-')} is empty")
    preset = presets.get_preset(args.preset)
    precision = "bf16" if args.bf16 else "fp32" if args.fp32 else None
    return GridConfig.from_preset(
        preset,
        widths=args.widths,
        hidden_layers=args.hidden_layers,
        epochs=args.epochs,
        ratios=args.ratios,
        seeds=args.seeds,
        random_seeds=args.random_seeds,
        precision=precision,
    )


def _grid_options(args):
    from empirical.experiments.grid import GridOptions

    return GridOptions(
        device=_device(args.device),
        workers=args.workers,
        threads=args.threads,
        executor=args.executor,
        progress=not args.no_progress,
        data_root=args.data_root,
        max_cells=args.max_cells,
    )


def _add_grid(sub):
    p = sub.add_parser(
        "grid",
        help="train, lock and measure the depth × width grid (resumable)",
        description="Figure 5's grid: each cell trains (or reuses its checkpoint), sweeps the ratios for l1 and "
        "the random baseline, finds critical ratios and checks the bounds per layer. Safe to interrupt: "
        "run the same command again to continue.",
    )
    _grid_args(p)
    p.set_defaults(func=_run_grid)


def _finished_cells(tables) -> int:
    res = tables["results"]
    return res.groupby(["hidden_layers", "width", "seed"]).ngroups if len(res) else 0


def _run_grid(args) -> int:
    from empirical.experiments.grid import run_grid

    config, options = _grid_config(args), _grid_options(args)
    tables = run_grid(config, args.out, options)
    print(f"grid {args.out}: {_finished_cells(tables)} of {len(config.cells())} cells finished")
    return 0


def _add_reproduce(sub):
    p = sub.add_parser(
        "reproduce",
        help="the main job: grid + figures + report for a preset",
        description="Run (or resume) the grid, then draw the figures and write report.md.",
    )
    _grid_args(p)
    p.set_defaults(func=_run_reproduce)


def _run_reproduce(args) -> int:
    from empirical.experiments.grid import run_grid
    from empirical.experiments.report import write_report

    config, options = _grid_config(args), _grid_options(args)
    tables = run_grid(config, args.out, options)
    done = _finished_cells(tables)
    if done < len(config.cells()):
        print(f"grid {args.out}: {done} of {len(config.cells())} cells finished; report covers those")
    path = write_report(args.out)
    print(f"wrote {path} and {args.out / 'figures'}/")
    return 0


def _add_figures(sub):
    p = sub.add_parser("figures", help="draw the figures of a grid run", description="Writes DIR/figures/*.png.")
    p.add_argument("run_dir", type=Path, help="grid run directory")
    p.set_defaults(func=_run_figures)


def _run_figures(args) -> int:
    from empirical.experiments.report import write_figures

    for path in write_figures(args.run_dir):
        print(f"wrote {path}")
    return 0


def _add_report(sub):
    p = sub.add_parser(
        "report",
        help="write report.md for a grid run: a verdict per claim, figures, errata",
        description="One line per claim of the paper (PASS / FAIL / VACUOUS / INCONCLUSIVE / NOT TESTED).",
    )
    p.add_argument("run_dir", type=Path, help="grid run directory")
    p.set_defaults(func=_run_report)


def _run_report(args) -> int:
    from empirical.experiments.report import write_report

    path = write_report(args.run_dir)
    print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------------------------------- table 1
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
    p.add_argument("--ratios", type=_float_list, help="the curve's ratios (default 0.0001..0.05, 7 points)")
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
    p.set_defaults(func=_run_table1)


def _run_table1(args) -> int:
    from empirical.nets.convnets import CONV_ARCHS, DEFAULTS
    from empirical.experiments.table1 import Table1Config, recheck, run_table1

    if args.recheck:
        recheck(args.out, _device(args.device))
        print(f"rechecked the bounds in {args.out}; wrote bounds_checks.csv and report.md")
        return 0

    archs = tuple(a.strip() for a in args.archs.split(",") if a.strip())
    sizes = {a: list(DEFAULTS[a]) for a in CONV_ARCHS}
    for item in args.size:
        try:
            arch, hw = item.split("=")
            h, w = (int(v) for v in hw.split(","))
        except ValueError:
            raise UserError(f"--size {item!r}: expected ARCH=H,W, e.g. resnet=3,16") from None
        if arch not in sizes:
            raise UserError(f"--size {item!r}: unknown architecture {arch!r}")
        sizes[arch] = [h, w]
    kw = dict(
        archs=archs,
        sizes=sizes,
        epochs=args.epochs,
        ratio=args.ratio,
        random_seeds=args.random_seeds,
        curve_random_seeds=min(args.curve_random_seeds, args.random_seeds),
        check_samples=args.check_samples,
        train_subset=args.train_subset,
    )
    if args.ratios:
        kw["ratios"] = tuple(args.ratios)
    config = Table1Config(**kw)
    _check_writable_dir(args.out)
    tables = run_table1(config, args.out, _device(args.device), progress=not args.no_progress)
    t = tables["table1"]
    print(t[["arch", "original", "random_mean", "random_sd", "l1", "bn_scale"]].round(2).to_string(index=False))
    print(f"wrote {args.out}/table1.csv, curves.csv, bounds_checks.csv, report.md")
    return 0


# ----------------------------------------------------------------------------------- paper widths
def _add_paper_widths(sub):
    p = sub.add_parser(
        "paper-widths",
        help="Figure 5 at the paper's own widths, evaluated after every epoch (resumable)",
        description="Train each cell of a paper-widths preset with the paper's protocol and, after every epoch, "
        "sweep the ratios (l1 and random), find the critical ratios and log time and memory. Presets: "
        "paper-corner (7x3000, 13x3000, 4x8000, 7x8000, 13x8000), epoch-trend (4/7/13 x 400, 50 epochs), tiny. "
        "Run the same command to resume; --only runs a subset of the cells (one process per core).",
    )
    p.add_argument("--preset", default="paper-corner", help="paper-corner (default), epoch-trend, tiny")
    p.add_argument("--out", type=Path, required=True, help="run directory (resumed if it exists)")
    p.add_argument("--only", help="cells to run now, e.g. 7x3000,13x3000 (default: all, in the preset's order)")
    p.add_argument("--stop-after-epoch", type=int, help="stop each cell once it has reached this epoch (resumable)")
    p.add_argument("--threads", type=int, help="torch and BLAS threads (default: torch's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common_device(p)
    p.set_defaults(func=_run_paper_widths)


def _run_paper_widths(args) -> int:
    from empirical.experiments.paper_widths import get_preset, parse_cells, run

    config = get_preset(args.preset)
    only = parse_cells(args.only) if args.only is not None else None
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be >= 1, got {args.threads}")
    _check_writable_dir(args.out)
    device = _device(args.device)
    if args.threads is not None:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(limits=args.threads)
    tables = run(config, args.out, only, device, not args.no_progress, args.stop_after_epoch)
    cells = tables["cells"]
    print(cells.to_string(index=False))
    return 0


# ------------------------------------------------------------------------------------------ main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_theory(sub)
    _add_train(sub)
    _add_lock(sub)
    _add_unlock(sub)
    _add_keygen(sub)
    _add_import(sub)
    _add_check_bounds(sub)
    _add_grid(sub)
    _add_reproduce(sub)
    _add_figures(sub)
    _add_report(sub)
    _add_utility_curve(sub)
    _add_ratio_for_utility(sub)
    _add_predict_ratio(sub)
    _add_table1(sub)
    _add_paper_widths(sub)
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
    except OSError as exc:  # read-only or full disk, a directory where a file goes, …: one line naming the file
        if isinstance(exc, BrokenPipeError):
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"{PROG}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from safetensors import SafetensorError

        if not isinstance(exc, SafetensorError):  # a bug: let the traceback show
            raise
        print(f"{PROG}: error: {str(exc).splitlines()[0]}", file=sys.stderr)  # e.g. a full disk while writing
        return 2
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
