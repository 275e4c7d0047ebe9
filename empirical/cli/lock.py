"""Handlers: ``lock``, ``unlock``, ``keygen``, ``ratio-for-utility``, ``utility-curve``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import figures
from empirical.cli.common import builder, check_writable_dir, checkpoint_and_data, device, positive
from empirical.errors import UserError
from empirical.kinds import claim_dir, mark_dir
from empirical.lock import signing
from empirical.lock.ratio import check_ratio
from empirical.lock.utility import DEFAULT_CURVE_RATIOS, chance_of, ratio_for_utility, utility_bins, utility_curve
from empirical.lock.workflow import layer_shares, lock_file, unlock_file
from empirical.nets.models import describe_spec
from empirical.safety import commit_files, output_lock

UTILITY_OUTPUTS = ("curve.csv", "table5.csv", "utility_curve.png")
log = logging.getLogger("empirical.attacks")


def _int_k(text):
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise UserError(f"--k must be a whole number of units, got {text!r}") from None


def cmd_lock(args) -> int:
    rep = lock_file(
        args.checkpoint,
        args.out_model,
        args.key,
        ratio=args.ratio,
        k=_int_k(args.k),
        target_accuracy=args.target_accuracy,
        indicator=args.indicator,
        scope=args.scope,
        mode=args.mode,
        seed=args.seed,
        fill=args.fill,
        sign_with=args.sign_with,
        force=args.force,
        tolerance=args.tolerance,
        window=args.window,
        data_root=args.data_root,
        device=device(args.device),
        builder=builder(args),
        evaluate=not args.no_eval,
    )
    key, found = rep.key, rep.found
    if found is not None:
        print(
            f"target accuracy {found.target}: k = {found.k} (ratio {found.ratio!r}), accuracy "
            f"{found.accuracy:.4f} (selection half), {found.accuracy_heldout:.4f} (held-out half)"
        )
    shares = layer_shares(key)
    print(
        f"locked {key.meta['k_total']} units ("
        + ", ".join(f"{n}: {c} of {u} ({c / u:.1%})" for n, c, u in shares)
        + ")"
    )
    for n, c, u in shares:
        if c > u / 2:
            print(f"warning: {n} loses {c / u:.0%} of its units ({c} of {u}); --mode per-layer spreads the extraction")
    size = key.size_report()
    share_cand = key.meta["k_total"] / sum(key.meta["candidates"].values())
    print(
        f"key {rep.key_path}: {size['values']} values, {rep.key_path.stat().st_size} bytes on disk; "
        f"{share_cand:.4g} of the candidate units ({args.scope} layers; ratio {key.meta['ratio']!r}), "
        f"{size['share_of_parameters']:.4g} of all parameters"
    )
    if rep.accuracy_locked is not None:
        print(f"test accuracy {rep.accuracy_original:.4f} → {rep.accuracy_locked:.4f} (locked, fill: {args.fill})")
    print(f"locked model {rep.out_model}")
    print(f"original model fingerprint, tensors and spec (publish it for `unlock --expect-sha256`): {rep.fingerprint}")
    if rep.signed:
        print(f"signed with {args.sign_with} (check with `unlock --verify-with PUBLIC_KEY`)")
    return 0


def cmd_unlock(args) -> int:
    rep = unlock_file(
        args.checkpoint,
        args.key,
        args.out,
        expect_sha256=args.expect_sha256,
        verify_with=args.verify_with,
        force=args.force,
        builder=builder(args),
    )
    for w in rep.warnings:
        print(f"warning: {w}")
    print(
        f"restored {rep.out} (fingerprint {rep.fingerprint[:16]}…, identical to the original; "
        f"checked: {', '.join(rep.checks)})"
    )
    return 0


def cmd_keygen(args) -> int:
    text = str(args.out)
    if not text.strip() or text.endswith(("/", "\\")) or Path(text).name in ("", ".", ".."):
        raise UserError(f"--out {text!r} is not a path prefix (e.g. keys/owner → keys/owner.key, keys/owner.pub)")
    priv, pub = Path(f"{text}.key"), Path(f"{text}.pub")
    check_writable_dir(priv.parent)
    signing.keygen(priv, pub)
    print(f"private key {priv} (keep it secret), public key {pub}")
    return 0


def _search(args, model, x, y, spec):
    positive(args, "window", allow_zero=True)
    return ratio_for_utility(
        model,
        x,
        y,
        args.target,
        indicator=args.indicator,
        scope=args.scope,
        seed=args.seed,
        tolerance=args.tolerance,
        window=args.window,
        chance=chance_of(spec),
    )


def cmd_ratio_for_utility(args) -> int:
    model, meta, x, y = checkpoint_and_data(args)
    found = _search(args, model, x, y, meta["spec"])
    if args.json:
        print(json.dumps(found.as_row()))
        return 0
    print(
        f"target accuracy {found.target}: extract k = {found.k} of {found.n_candidates} candidate units "
        f"({args.scope} layers; ratio {found.ratio!r}, i.e. `lock --k {found.k}`; "
        f"{found.share_of_parameters:.3g} of all parameters)"
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


def cmd_utility_curve(args) -> int:
    ratios = args.ratios if args.ratios is not None else DEFAULT_CURVE_RATIOS
    if not ratios:
        raise UserError("--ratios is empty")
    for r in ratios:
        check_ratio(r)
    positive(args, "random_seeds")
    for t in args.targets:
        if not 0 < t < 1:  # also NaN
            raise UserError(f"--targets: {t} is not an accuracy in (0, 1)")
    check_writable_dir(args.out)
    claim_dir(args.out, "utility-curve", UTILITY_OUTPUTS)
    model, meta, x, y = checkpoint_and_data(args)
    curve = utility_curve(model, x, y, ratios, random_seeds=args.random_seeds, scope=args.scope)
    table = utility_bins(curve)
    name = describe_spec(meta["spec"])
    fig = figures.accuracy_curves(curve, args.targets, title=f"{name}: accuracy vs extraction ratio")
    path = args.out / f"utility_curve.{args.format}"
    args.out.mkdir(parents=True, exist_ok=True)
    with output_lock([path]):  # curve, table and figure land together or not at all
        mark_dir(args.out, "utility-curve")
        commit_files(
            {
                args.out / "curve.csv": lambda t: curve.to_csv(t, index=False),
                args.out / "table5.csv": lambda t: table.to_csv(t, index=False),
                path: lambda t: fig.savefig(t, format=args.format, dpi=110),
            },
            mode=0o644,
        )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {args.out}/curve.csv, table5.csv, {path.name}")
    return 0
