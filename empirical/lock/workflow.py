"""The lock / unlock workflow on files (Section 3): what ``corelocker-bounds lock`` and ``unlock`` do.

**Fingerprints.** A checkpoint's tensors have ``params_sha256``; what a model *computes* also
depends on its spec — architecture, sizes, input normalisation, dataset. The *fingerprint* of a
checkpoint (``empirical.nets.checkpoint.fingerprint``) covers both. A key issued by ``lock_file``
records the spec's sha256 beside the tensor fingerprints of the original and the locked model,
the locked model's metadata names (``bound_to``) the original's fingerprint, the key's digest and
the spec's sha256, and an owner signature signs all of them (``signing.message``). So a locked
model whose spec was edited after locking — even with its metadata checksum recomputed — is
refused by ``unlock_file`` before anything is written, and ``--expect-sha256`` compares the
fingerprint of the restored file (tensors *and* spec) with the one the owner published.

Keys written before spec fingerprints existed (no ``spec_sha256``) still unlock, with a warning:
their fingerprints cover the tensors only.

**Files.** Outputs are refused when they alias an input or each other, or exist (unless
``force``); both files of a lock are committed together through a journal
(``empirical.safety.commit_files``): a crash at any moment leaves the old pair or the new pair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from empirical.errors import UserError
from empirical.lock import signing
from empirical.lock.extraction import candidates, extract
from empirical.lock.fill import FILLS, fill_key_positions
from empirical.lock.keys import AccessKey
from empirical.lock.ratio import check_ratio
from empirical.lock.utility import chance_of, ratio_for_utility, split_halves
from empirical.nets.checkpoint import (
    fingerprint,
    load_checkpoint,
    model_sha256,
    read_checkpoint,
    spec_sha256,
    write_checkpoint_file,
)
from empirical.nets.data import test_set_for
from empirical.nets.train import accuracy
from empirical.safety import commit_files, output_lock, recover_pending, refuse_aliasing, refuse_existing

log = logging.getLogger(__name__)


def checkpoint_path(p) -> Path:
    p = Path(p)
    return p / "model.safetensors" if p.is_dir() else p


@dataclass
class LockReport:
    key: AccessKey
    out_model: Path
    key_path: Path
    fingerprint: str  # the original checkpoint's fingerprint (tensors + spec): publish it for --expect-sha256
    found: object | None = None  # the UtilityChoice of a --target-accuracy search
    accuracy_original: float | None = None
    accuracy_locked: float | None = None
    signed: bool = False
    warnings: list[str] = field(default_factory=list)


def lock_file(
    checkpoint,
    out_model,
    key_path,
    *,
    ratio=None,
    k: int | None = None,
    target_accuracy: float | None = None,
    indicator: str = "l1",
    scope: str = "hidden",
    mode: str = "global",
    seed: int = 0,
    fill: str = "zero",
    sign_with=None,
    force: bool = False,
    tolerance: float = 0.0,
    window: int = 8,
    evaluate: bool = True,
    data_root=None,
    device: str = "cpu",
    builder=None,
) -> LockReport:
    """Lock ``checkpoint`` into ``out_model`` + ``key_path`` (module doc). Exactly one of ``ratio``, ``k``,
    ``target_accuracy``. ``evaluate``: also measure the locked model's test accuracy (printed by the CLI)."""
    _check_lock_args(ratio, k, target_accuracy, mode, fill, window)
    src, out_model, key_path = checkpoint_path(checkpoint), Path(out_model), Path(key_path)
    inputs = {
        "--checkpoint": src,
        **({"--sign-with": Path(sign_with)} if sign_with else {}),
        **({"--model": builder.path} if builder is not None else {}),
    }
    outputs = {"--out-model": out_model, "--key": key_path}
    recover_pending([*inputs.values(), *outputs.values()])  # an interrupted command's commit first
    refuse_aliasing(inputs, outputs)
    refuse_existing(outputs, force)
    if sign_with is not None:
        signing.load_private(sign_with)  # a bad signing key is refused before any work
    model, meta = load_checkpoint(src, device, builder=builder)
    spec = meta["spec"]
    candidates(model, indicator, scope)  # an indicator or scope this model cannot take: refused before any data
    x = y = None
    if evaluate or target_accuracy is not None:
        x, y = test_set_for(spec, data_root, device)
    found = None
    if target_accuracy is not None:

        def filled_at(k_):  # the search judges the model that will be written: filled, not zeroed
            locked_, key_ = extract(model, None, indicator, scope, "global", seed, k=k_)
            fill_key_positions(locked_, key_, fill, seed)
            return locked_

        found = ratio_for_utility(
            model,
            x,
            y,
            target_accuracy,
            indicator=indicator,
            scope=scope,
            seed=seed,
            tolerance=tolerance,
            window=window,
            model_at=filled_at if fill != "zero" else None,
            chance=chance_of(spec),
        )
        k = found.k
    locked, key = extract(model, ratio, indicator, scope, mode, seed, k=k)
    if fill != "zero":
        fill_key_positions(locked, key, fill, seed)
    if found is not None:  # the key states the accuracy of the model actually written, measured again
        (xs, ys), (xh, yh) = split_halves(x, y)
        found.accuracy, found.accuracy_heldout = accuracy(locked.eval(), xs, ys)[0], accuracy(locked, xh, yh)[0]
    report = LockReport(key, out_model, key_path, fingerprint(key.meta["original_sha256"], spec), found)
    bound = _seal(key, spec, report, found, sign_with)
    with output_lock([out_model, key_path], also=inputs.values()):
        refuse_existing(outputs, force)  # again, under the lock (an earlier unfinished commit may have completed)
        commit_files(
            {
                # what a recipient needs to load and verify it; the recipe (indicator, ratio, k, fill) stays in the key
                out_model: lambda tmp: write_checkpoint_file(tmp, locked, spec, {"bound_to": bound}),
                key_path: key.write_file,
            },
            modes={key_path: 0o600, out_model: 0o644},
        )
    read_checkpoint(out_model)  # re-read: a written file that does not verify is an error
    if evaluate:
        report.accuracy_original = accuracy(model.eval(), x, y)[0]
        report.accuracy_locked = accuracy(locked.eval(), x, y)[0]
    return report


def layer_shares(key: AccessKey) -> list[tuple[str, int, int]]:
    """(layer, units extracted, candidate units) per candidate layer of a lock, in the key's order."""
    return [(name, int(c), int(key.meta["candidates"][name])) for name, c in key.meta["counts"].items()]


def _check_lock_args(ratio, k, target_accuracy, mode, fill, window) -> None:
    if sum(v is not None for v in (ratio, k, target_accuracy)) != 1:
        raise UserError("give exactly one of --ratio, --k, --target-accuracy")
    if ratio is not None:
        check_ratio(ratio)
    if (k is not None or target_accuracy is not None) and mode != "global":
        raise UserError(
            "--k and --target-accuracy take a global ranking; they cannot be combined with --mode per-layer"
        )
    if fill not in FILLS:
        raise UserError(f"unknown --fill {fill!r}; choose one of {', '.join(FILLS)}")
    if window < 0:
        raise UserError(f"--window must be >= 0, got {window}")


def _seal(key: AccessKey, spec: dict, report: LockReport, found, sign_with) -> dict:
    """The key's final metadata (target, spec fingerprint, digest, signature) and the locked model's
    ``bound_to`` naming the original's fingerprint, the key's digest and the spec's."""
    if found is not None:
        key.meta.update(
            target_accuracy=found.target,
            achieved_accuracy=found.accuracy,
            achieved_accuracy_heldout=found.accuracy_heldout,
        )
    key.meta.update(spec_sha256=spec_sha256(spec), original_fingerprint=report.fingerprint)
    key.meta["key_sha256"] = key.digest()
    bound = {k_: key.meta[k_] for k_ in ("original_sha256", "locked_sha256", "key_sha256", "spec_sha256")}
    if sign_with is not None:
        key.meta["signature"] = bound["signature"] = signing.sign(sign_with, signing.message_for(key.meta))
        report.signed = True
    return bound


@dataclass
class UnlockReport:
    out: Path
    fingerprint: str
    checks: list[str]
    warnings: list[str] = field(default_factory=list)


def _check_bound(bound) -> dict | None:
    if bound is None:
        return None
    if not isinstance(bound, dict) or not all(isinstance(v, str) for v in bound.values()):
        raise UserError("the locked model's bound_to metadata is malformed (expected a JSON object of strings)")
    return bound


def unlock_file(
    checkpoint, key_path, out, *, expect_sha256: str | None = None, verify_with=None, force=False, builder=None
) -> UnlockReport:
    """Restore the original of a locked checkpoint with its key into ``out``; every check first (module doc)."""
    if expect_sha256 is not None:
        expect_sha256 = expect_sha256.strip().lower()
        if not (len(expect_sha256) == 64 and all(c in "0123456789abcdef" for c in expect_sha256)):
            raise UserError("--expect-sha256 must be 64 hexadecimal digits")
    src, key_path, out = checkpoint_path(checkpoint), Path(key_path), Path(out)
    inputs = {
        "--checkpoint": src,
        "--key": key_path,
        **({"--verify-with": Path(verify_with)} if verify_with else {}),
        **({"--model": builder.path} if builder is not None else {}),
    }
    recover_pending([*inputs.values(), out])  # an interrupted command's commit first
    refuse_aliasing(inputs, {"--out": out})
    refuse_existing({"--out": out}, force)
    locked, meta = load_checkpoint(src, builder=builder)
    key = AccessKey.load(key_path)
    spec = meta["spec"]
    bound = _check_bound(meta.get("bound_to"))
    report = UnlockReport(out, "", ["fingerprints in the key"])
    if model_sha256(locked) != key.meta["locked_sha256"]:
        raise UserError("this key does not belong to this model (the locked model's fingerprint differs)")
    legacy = "spec_sha256" not in key.meta
    if legacy:
        report.warnings.append(
            "this key predates spec fingerprints: it checks the tensors only, not the spec (normalisation, "
            "architecture); re-lock the original to protect both"
        )
    elif key.meta["spec_sha256"] != spec_sha256(spec):
        raise UserError(
            "the locked model's spec (architecture, sizes or normalisation) differs from the one this key was issued "
            "for: refusing to restore a model that would compute something else"
        )
    if bound is not None:
        for k_ in ("original_sha256", "key_sha256", "spec_sha256"):
            if k_ in bound and key.meta.get(k_) != bound[k_]:
                raise UserError(
                    "this key does not belong to this locked model: it is not the key the model was published with"
                )
        report.checks.append("bound to the locked model")
    if verify_with is not None:
        signing.verify(verify_with, signing.message_for(key.meta), key.meta.get("signature"))
        if bound is not None and bound.get("signature") != key.meta.get("signature"):
            raise UserError("the locked model and the key carry different signatures")
        report.checks.append("owner signature")
    restored = key.restore(locked)  # the key's digest, the locked and the restored tensor fingerprints
    report.fingerprint = fingerprint(key.meta["original_sha256"], spec)
    if expect_sha256 is not None:
        ok = expect_sha256 == report.fingerprint or (legacy and expect_sha256 == key.meta["original_sha256"])
        if not ok:
            raise UserError("the key would restore a model whose fingerprint differs from --expect-sha256")
        report.checks.append("--expect-sha256")
    with output_lock([out], also=inputs.values()):
        refuse_existing({"--out": out}, force)
        commit_files({out: lambda tmp: write_checkpoint_file(tmp, restored, spec)}, modes={out: 0o644})
    return report
