"""Handler: ``check-bounds``."""

from __future__ import annotations

import json
import math

import figures
from empirical.cli.common import builder, check_writable_dir, device, positive
from empirical.errors import UserError
from empirical.kinds import claim_dir, mark_dir
from empirical.lock.extraction import extract
from empirical.measure import Constants, format_table, measure, measure_module, supports_stages
from empirical.nets.checkpoint import load_checkpoint
from empirical.nets.data import test_set_for
from empirical.nets.models import describe_spec, make_fcn
from empirical.safety import commit_files, output_lock

OUTPUTS = ("bounds_checks.csv", "samples.csv", "summary.json", "disparity_by_layer.png")


def cmd_check_bounds(args) -> int:
    positive(args, "batch")
    for name in ("C_s", "C_e", "tau"):
        v = getattr(args, name)
        if not (math.isfinite(v) and v > 0):
            raise UserError(f"--{name.replace('_', '-')} must be a finite number > 0, got {v}")
    if args.out:
        check_writable_dir(args.out)
        claim_dir(args.out, "check-bounds", OUTPUTS)
    model, meta = load_checkpoint(args.checkpoint, device(args.device), builder=builder(args))
    spec = meta["spec"]
    x, y = test_set_for(spec, args.data_root, n=args.n_samples, n_label="--n-samples")
    locked, key = extract(model, args.ratio, args.indicator, args.scope, args.mode, args.seed)
    if not supports_stages(model):  # any other nn.Module: layer by layer, through hooks
        return _check_module(args, model, locked, key, x, y, spec)
    initial = None
    if spec.get("arch", "fcn") == "fcn" and "seed" in spec:  # how far training moved each layer from its init
        initial = make_fcn(int(spec["hidden_layers"]), int(spec["width"]), seed=int(spec["seed"]))
    res = measure(
        model, locked, x, y, constants=Constants(args.C_s, args.C_e, args.tau), batch=args.batch, initial=initial
    )
    s = res.summary
    print(
        f"{describe_spec(spec)}, ratio {key.meta['ratio']} ({args.indicator}, {args.mode}, {args.scope}): "
        f"{key.meta['k_total']} units extracted; {len(x)} test images, {s['dtype']}"
    )
    print(
        f"accuracy {s['acc_original']:.4f} → {s['acc_extracted']:.4f}; "
        f"top-3 {s['top3_original']:.4f} → {s['top3_extracted']:.4f}"
    )
    print(f"sandwich d <= G + B (B: the stage's chain bound) holds on every sample and layer: {s['sandwich_all_hold']}")
    print(format_table(res.layers))
    if args.out:
        layers = res.layers.copy()
        layers.insert(0, "ratio", key.meta["ratio"])
        clean = {k: (v.item() if hasattr(v, "item") else v) for k, v in s.items()}
        fig = figures.disparity_by_layer(res.layers, f"{describe_spec(spec)}, {args.indicator} at {key.meta['ratio']}")
        path = args.out / f"disparity_by_layer.{args.format}"
        args.out.mkdir(parents=True, exist_ok=True)
        with output_lock([path]):  # the whole set or none of it (e.g. on a full disk)
            mark_dir(args.out, "check-bounds")
            commit_files(
                {
                    args.out / "bounds_checks.csv": lambda t: layers.to_csv(t, index=False),
                    args.out / "samples.csv": lambda t: res.samples.to_csv(t, index=False),
                    args.out / "summary.json": lambda t: t.write_text(
                        json.dumps({**clean, "key": key.meta}, indent=1, default=str)
                    ),
                    path: lambda t: fig.savefig(t, format=args.format, dpi=110),
                },
                mode=0o644,
            )
        print(
            f"wrote {args.out}/bounds_checks.csv (per layer), samples.csv (per sample and layer), summary.json, "
            f"{path.name}"
        )
    return 0 if s["sandwich_all_hold"] else 1


def _check_module(args, model, locked, key, x, y, spec) -> int:
    """check-bounds on a network that is not a chain of the stages' layers (``empirical.measure.hooks``)."""
    res = measure_module(model, locked, x, y, batch=args.batch)
    layers, s = res["layers"], res["summary"]
    print(
        f"{describe_spec(spec)}, ratio {key.meta['ratio']} ({args.indicator}, {args.mode}, {args.scope}): "
        f"{key.meta['k_total']} units extracted; {len(x)} test images, measured layer by layer through hooks"
    )
    print(f"accuracy {s['acc_original']:.4f} → {s['acc_extracted']:.4f}")
    print(f"sandwich d <= G + B holds on every sample and layer: {s['sandwich_all_hold']}")
    for line in s["not_measured"]:
        print(f"not measured: {line}")
    cols = [
        "layer",
        "kind",
        "n_extracted",
        "mu",
        "d_median",
        "G_median",
        "B_median",
        "sandwich_holds_frac",
        "theorem2_holds_frac",
        "chain_bound",
    ]
    print(layers[[c for c in cols if c in layers]].to_string(index=False))
    if args.out:
        table = layers.copy()
        table.insert(0, "ratio", key.meta["ratio"])
        fig = figures.disparity_by_layer(
            layers.assign(module=layers["layer"], layer=range(1, len(layers) + 1)),
            f"{describe_spec(spec)}, {args.indicator} at {key.meta['ratio']}",
        )
        path = args.out / f"disparity_by_layer.{args.format}"
        args.out.mkdir(parents=True, exist_ok=True)
        with output_lock([path]):
            mark_dir(args.out, "check-bounds")
            commit_files(
                {
                    args.out / "bounds_checks.csv": lambda t: table.to_csv(t, index=False),
                    args.out / "samples.csv": lambda t: res["samples"].to_csv(t, index=False),
                    args.out / "summary.json": lambda t: t.write_text(
                        json.dumps({**s, "key": key.meta}, indent=1, default=str)
                    ),
                    path: lambda t: fig.savefig(t, format=args.format, dpi=110),
                },
                mode=0o644,
            )
        print(f"wrote {args.out}/bounds_checks.csv (per layer), samples.csv, summary.json, {path.name}")
    return 0 if s["sandwich_all_hold"] else 1
