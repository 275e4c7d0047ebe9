"""Handlers: ``train``, ``import``, ``export``."""

from __future__ import annotations

from pathlib import Path

from empirical.cli.common import check_writable_dir, checkpoint_path, device
from empirical.errors import UserError
from empirical.nets.checkpoint import read_checkpoint
from empirical.nets.convnets import DEFAULTS
from empirical.nets.importer import export_state_dict, import_module, import_sequential
from empirical.nets.models import ARCHS
from empirical.nets.others import OTHER_DEFAULTS
from empirical.nets.train import RunOptions, TrainSpec, train
from empirical.safety import refuse_aliasing, refuse_existing


def cmd_train(args) -> int:
    if args.arch not in ARCHS:
        raise UserError(f"unknown --arch {args.arch!r}; choose one of {', '.join(ARCHS)}")
    if args.arch == "fcn" and (args.hidden_layers is None or args.width is None):
        raise UserError("an FCN needs --hidden-layers and --width")
    h0, w0 = {**DEFAULTS, **OTHER_DEFAULTS}.get(args.arch, (None, None))
    spec = TrainSpec(
        hidden_layers=args.hidden_layers if args.hidden_layers is not None else h0,
        width=args.width if args.width is not None else w0,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        dataset=args.dataset,
        normalization=args.normalization,
        train_subset=args.train_subset,
        precision="bf16" if args.bf16 else "fp32",
        arch=args.arch,
        channels_last=args.channels_last,
        optimizer=args.optimizer,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        bn_init=args.bn_init,
        bn_sparsity=args.bn_sparsity,
    )
    opts = RunOptions(
        device=device(args.device), progress=not args.no_progress, data_root=args.data_root, restart=args.restart
    )
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} is a file; give a directory")
    check_writable_dir(args.out)
    path = train(spec, args.out, opts)
    _, meta = read_checkpoint(path)
    print(f"checkpoint {path} (test accuracy {meta.get('test_acc')})")
    return 0


def _builder_file(args) -> dict:
    """``--model FILE.py:FUNCTION``'s file, an input that no output may replace."""
    return {"--model": Path(args.model.rpartition(":")[0])} if getattr(args, "model", None) else {}


def cmd_import(args) -> int:
    refuse_aliasing({"--torch": args.torch_file, **_builder_file(args)}, {"--out": args.out})
    refuse_existing({"--out": args.out}, args.force)
    if args.data_root is not None and str(args.data_root).endswith(".npz"):
        args.dataset = "npz"  # your own data: --data FILE.npz
    if args.model:
        rep = import_module(
            args.torch_file, args.out, args.model, args.normalization, args.dataset, args.data_root, args.input_shape
        )
    else:
        if args.input_shape is not None:
            raise UserError("--input-shape goes with --model (an MLP without it takes 784 inputs)")
        rep = import_sequential(args.torch_file, args.out, args.normalization, args.dataset, args.data_root)
    print(f"wrote {rep.path}: {rep.description}")
    print(
        f"test accuracy with --normalization {args.normalization}: {rep.accuracy:.4f} on {rep.n_test} "
        f"{args.dataset} test images" + (f" — {rep.warning}" if rep.warning else "")
    )
    return 0


def cmd_export(args) -> int:
    # the file a run directory resolves to, not the directory: `--torch run/model.safetensors` names the input
    refuse_aliasing(
        {"--checkpoint": checkpoint_path(args.checkpoint), **_builder_file(args)}, {"--torch": args.torch_file}
    )
    refuse_existing({"--torch": args.torch_file}, args.force)
    names = export_state_dict(args.checkpoint, args.torch_file, args.model)
    print(
        f"wrote {args.torch_file}: a plain state dict ({len(names)} tensors: "
        f"{', '.join(names[:4])}{', …' if len(names) > 4 else ''})"
    )
    return 0
