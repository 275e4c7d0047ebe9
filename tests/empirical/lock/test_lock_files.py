"""Locking and unlocking files under attack and failure: aliasing, forged keys and signatures, kill -9,
full disk, a file where a directory goes (``empirical.lock.workflow`` through the CLI)."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from empirical.cli import main
from empirical.lock.keys import AccessKey
from empirical.nets.checkpoint import meta_sha256, model_sha256, params_sha256
from tests.helpers import rewrite_safetensors as _rewrite


def _lock(src, model, key, *extra):
    return main(
        ["lock", "--checkpoint", str(src), "--ratio", "0.05", "--out-model", str(model), "--key", str(key), *extra]
    )


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("alias", ["model=checkpoint", "key=checkpoint", "model=key", "hardlink", "symlink"])
def test_outputs_never_alias_inputs(src, tmp_path, capsys, alias, one_error):
    before = _digest(src)
    model, key = tmp_path / "m.safetensors", tmp_path / "k.safetensors"
    if alias == "model=checkpoint":
        model = src
    elif alias == "key=checkpoint":
        key = src
    elif alias == "model=key":
        key = model
    elif alias == "hardlink":
        os.link(src, model)
    else:
        key.symlink_to(src)
    one_error(_lock(src, model, key), "name the same file")
    assert _digest(src) == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_pair_is_written_together_or_not_at_all(src, tmp_path, capsys, monkeypatch, one_error):
    model, key = tmp_path / "m.safetensors", tmp_path / "k.safetensors"

    def fail(self, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(AccessKey, "write_file", fail)
    one_error(_lock(src, model, key), "No space left on device")
    assert not model.exists() and not key.exists() and not list(tmp_path.glob(".*.tmp"))


def test_concurrent_writer_is_refused(src, tmp_path, capsys):
    from empirical.safety import output_lock

    model, key = tmp_path / "out" / "m.safetensors", tmp_path / "out" / "k.safetensors"
    with output_lock([model]):
        assert _lock(src, model, key) == 2
    assert "another corelocker-bounds command" in capsys.readouterr().err
    assert not model.exists() and not key.exists()


def _forge_key(key_path, locked_path, also_rebind: bool):
    """Change one key value and recompute every hash a forger can recompute (no secret needed)."""
    from empirical.nets.checkpoint import load_checkpoint

    key = AccessKey.load(key_path)
    key.entries[0].values[0] += 1.0
    locked, _ = load_checkpoint(locked_path)
    restored = copy_restore(key, locked)
    key.meta["original_sha256"] = model_sha256(restored)
    key.meta["key_sha256"] = key.digest()
    key.save(key_path)
    if also_rebind:

        def edit(meta):
            bound = json.loads(meta["bound_to"])
            bound.update(original_sha256=key.meta["original_sha256"], key_sha256=key.meta["key_sha256"])
            meta["bound_to"] = json.dumps(bound)
            meta["meta_sha256"] = meta_sha256(meta)

        _rewrite(locked_path, edit_meta=edit)


def copy_restore(key, locked):
    import copy

    target = copy.deepcopy(locked)
    params = dict(target.named_parameters())
    with torch.no_grad():
        for e in key.entries:
            params[e.name].view(-1, e.unit_size)[e.positions] = e.values
    return target


def test_forged_key_with_recomputed_hashes(src, tmp_path, capsys):
    model, key, out = tmp_path / "m.safetensors", tmp_path / "k.safetensors", tmp_path / "r.safetensors"
    pub, priv = tmp_path / "owner.pub", tmp_path / "owner.key"
    assert main(["keygen", "--out", str(tmp_path / "owner")]) == 0
    assert oct(priv.stat().st_mode & 0o777) == "0o600"
    assert _lock(src, model, key, "--sign-with", str(priv)) == 0
    original_fp = AccessKey.load(key).meta["original_fingerprint"]  # tensors + spec, as `lock` prints it
    unlock = ["unlock", "--checkpoint", str(model), "--key", str(key), "--out", str(out)]
    assert main([*unlock, "--expect-sha256", original_fp, "--verify-with", str(pub)]) == 0
    out.unlink()
    capsys.readouterr()

    # 1) a forged key alone: the locked model is bound to the real key
    _forge_key(key, model, also_rebind=False)
    assert main(unlock) == 2 and "does not belong" in capsys.readouterr().err
    # 2) forged key + re-published locked model (bound fingerprints edited, checksums recomputed):
    #    only an out-of-band fingerprint or the owner's signature can tell
    _forge_key(key, model, also_rebind=True)
    assert main([*unlock, "--expect-sha256", original_fp]) == 2
    assert "--expect-sha256" in capsys.readouterr().err
    assert main([*unlock, "--verify-with", str(pub)]) == 2
    assert "signature does not verify" in capsys.readouterr().err
    assert not out.exists()


def test_wrong_public_key_and_unsigned_key_are_refused(src, tmp_path, capsys):
    model, key, out = tmp_path / "m.safetensors", tmp_path / "k.safetensors", tmp_path / "r.safetensors"
    main(["keygen", "--out", str(tmp_path / "a")])
    main(["keygen", "--out", str(tmp_path / "b")])
    assert _lock(src, model, key, "--sign-with", str(tmp_path / "a.key")) == 0
    capsys.readouterr()
    unlock = ["unlock", "--checkpoint", str(model), "--key", str(key), "--out", str(out)]
    assert main([*unlock, "--verify-with", str(tmp_path / "b.pub")]) == 2
    assert "does not verify" in capsys.readouterr().err
    assert _lock(src, tmp_path / "m2.safetensors", tmp_path / "k2.safetensors") == 0
    capsys.readouterr()
    assert (
        main(
            [
                "unlock",
                "--checkpoint",
                str(tmp_path / "m2.safetensors"),
                "--key",
                str(tmp_path / "k2.safetensors"),
                "--out",
                str(out),
                "--verify-with",
                str(tmp_path / "a.pub"),
            ]
        )
        == 2
    )
    assert "no owner signature" in capsys.readouterr().err
    assert main(["keygen", "--out", str(tmp_path / "a")]) == 2  # never overwrite a key


def test_edited_spec_is_refused(src, tmp_path, capsys):
    def edit(meta):
        spec = json.loads(meta["spec"])
        spec["hidden_layers"] = 3_000_000
        meta["spec"] = json.dumps(spec)

    _rewrite(src, edit_meta=edit)
    assert _lock(src, tmp_path / "m.safetensors", tmp_path / "k.safetensors") == 2
    assert "metadata (spec) does not match" in capsys.readouterr().err


@pytest.mark.parametrize("delay", [0.3, 1.0, 1.6, 2.2, 2.8])
def test_kill9_during_lock_leaves_a_pair_or_nothing(src, tmp_path, delay):
    before = _digest(src)
    model, key = tmp_path / "m.safetensors", tmp_path / "k.safetensors"
    cmd = [
        sys.executable,
        "-m",
        "empirical.cli",
        "lock",
        "--checkpoint",
        str(src),
        "--ratio",
        "0.05",
        "--out-model",
        str(model),
        "--key",
        str(key),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _digest(src) == before
    from empirical.safety import recover

    recover(tmp_path)  # what the next command does first: finish a commit the killed run had journaled
    assert model.exists() == key.exists()
    if model.exists():  # a complete, matching pair
        from empirical.nets.checkpoint import load_checkpoint

        locked, _ = load_checkpoint(model)
        AccessKey.load(key).restore(locked)
    # a rerun cleans the temp files the killed run left and completes (--force: the pair may exist by now)
    assert subprocess.run([*cmd, "--force"], capture_output=True).returncode == 0
    assert not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob(".corelocker-commit.*"))


def _self_consistent(key_path, edit):
    """A malformed key whose own checksum is recomputed (so only the structural checks can catch it)."""
    key = AccessKey.load(key_path)
    edit(key.entries[0])
    key.meta["key_sha256"] = key.digest()
    return key


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda e: setattr(e, "positions", e.positions + 10**9), "outside"),
        (lambda e: setattr(e, "name", "../../etc/passwd"), "does not have"),
        (lambda e: setattr(e, "unit_size", 0), "unit size"),
        (lambda e: setattr(e, "positions", e.positions.double()), "int64"),
        (lambda e: setattr(e, "values", e.values[:-1]), "do not match"),
    ],
)
def test_malformed_self_consistent_keys_are_refused(src, tmp_path, edit, match):
    from empirical.errors import UserError
    from empirical.nets.checkpoint import load_checkpoint

    model, key = tmp_path / "m.safetensors", tmp_path / "k.safetensors"
    assert _lock(src, model, key) == 0
    locked, _ = load_checkpoint(model)
    before = model_sha256(locked)
    forged = _self_consistent(key, edit)
    with pytest.raises(UserError, match=match):
        forged.restore(locked, inplace=True)
    assert model_sha256(locked) == before  # nothing changed


def test_a_file_where_a_directory_goes(src, tmp_path, capsys, one_error):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_error(_lock(src, blocker / "m.safetensors", blocker / "k.safetensors"), "is not a directory")


def test_full_disk(src, tmp_path, capsys, one_error):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights)")
    try:
        before = _digest(src)
        one_error(_lock(src, mnt / "m.safetensors", mnt / "k.safetensors"), "No space left")
        assert _digest(src) == before
        assert not list(mnt.iterdir())  # neither file, no temp files
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_read_only_directory(src, tmp_path, capsys, one_error):
    if os.geteuid() == 0:
        pytest.skip("running as root: directory permissions do not stop root (the full-disk test covers write errors)")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        one_error(_lock(src, ro / "m.safetensors", ro / "k.safetensors"), "ro")
    finally:
        ro.chmod(0o700)


def test_api_helpers(src):
    from empirical import accuracy, test_set_for
    from empirical.nets.checkpoint import load_checkpoint
    from empirical.nets.train import TrainSpec

    model, meta = load_checkpoint(src)
    spec = TrainSpec.from_spec(meta["spec"])  # extra keys (fingerprint, key, …) are ignored
    assert spec.hidden_layers == meta["spec"]["hidden_layers"]
    x, y = test_set_for(meta["spec"], n=500)
    assert accuracy(model, x, y)[0] > 0.5


def _locked_pair(src, d):
    d.mkdir(exist_ok=True)
    model, key = d / "locked.safetensors", d / "key.safetensors"
    assert main(["lock", "--checkpoint", str(src), "--ratio", "0.05", "--out-model", str(model), "--key", str(key),
                 "--no-eval"]) == 0  # fmt: skip
    return model, key


def _plant(bundle, body, name=".corelocker-commit.0.json"):
    bundle.mkdir(exist_ok=True)
    (bundle / name).write_text(body if isinstance(body, str) else json.dumps(body))


@pytest.mark.parametrize(
    "case",
    ["audit", "across-directories", "token-mismatch", "deep-nesting", "three-element-pair", "not-an-object",
     "foreign-copies"],
)  # fmt: skip
def test_a_planted_journal_moves_and_deletes_nothing(src, tmp_path, capsys, monkeypatch, one_error, case):
    """Issue 26, item 1: a journal dropped into an output folder made the next unlock overwrite any file and delete
    the key. Now every journal we could not have written is refused in one line, and nothing moves."""
    model, key = _locked_pair(src, tmp_path / "pair")
    monkeypatch.chdir(tmp_path)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "payload").write_text("evil")
    notes = tmp_path / "notes.txt"
    notes.write_text("secret")
    token = "0123abcd"
    tmp_ok = str(bundle / f".restored.safetensors.{token}.tmp")
    bodies = {
        "audit": (".corelocker-commit.0.json", {"pairs": [["bundle/payload", "notes.txt"]], "journals": [str(key)]}),
        "across-directories": (
            f".corelocker-commit.{token}.json",
            {"pairs": [[str(bundle / "payload"), str(notes)]], "journals": [str(key)]},
        ),
        "token-mismatch": (
            f".corelocker-commit.{token}.json",
            {
                "pairs": [[str(bundle / "payload"), str(bundle / "restored.safetensors")]],
                "journals": [str(bundle / f".corelocker-commit.{token}.json")],
            },
        ),
        "deep-nesting": (f".corelocker-commit.{token}.json", "[" * 100_000),
        "three-element-pair": (f".corelocker-commit.{token}.json", {"pairs": [[1, 2, 3]], "journals": []}),
        "not-an-object": (f".corelocker-commit.{token}.json", []),
        "foreign-copies": (
            f".corelocker-commit.{token}.json",
            {"pairs": [[tmp_ok, str(bundle / "restored.safetensors")]], "journals": [str(key)]},
        ),
    }
    name, body = bodies[case]
    _plant(bundle, body, name)
    before = {p: p.read_bytes() for p in (model, key, notes, bundle / "payload")}
    code = main(
        ["unlock", "--checkpoint", str(model), "--key", str(key), "--out", str(bundle / "restored.safetensors")]
    )
    one_error(code, "not a commit journal of this toolkit")
    assert {p: p.read_bytes() for p in before} == before  # nothing moved, nothing deleted
    assert not (bundle / "restored.safetensors").exists()


def test_an_interrupted_commit_is_finished_before_any_check(src, tmp_path, monkeypatch):
    """Issue 26, item 5: a kill between the two renames of a lock left the new model beside the old key; the next
    unlock said "this key does not belong to this model". The pending journal is now finished first."""
    import empirical.safety as safety

    model, key = _locked_pair(src, tmp_path / "pair")

    def crash(step):
        if step.startswith("renamed"):
            raise KeyboardInterrupt  # after the first rename: one new file in place, the journal pending

    monkeypatch.setattr(safety, "FAULT", crash)
    code = main(["lock", "--checkpoint", str(src), "--ratio", "0.1", "--out-model", str(model), "--key", str(key),
                 "--no-eval", "--force"])  # fmt: skip
    assert code != 0  # the CLI reports the interruption
    monkeypatch.setattr(safety, "FAULT", None)
    assert list(model.parent.glob(".corelocker-commit.*.json"))  # the journal is pending
    out = tmp_path / "restored.safetensors"
    assert main(["unlock", "--checkpoint", str(model), "--key", str(key), "--out", str(out)]) == 0
    assert not list(model.parent.glob(".corelocker-commit.*.json"))
    assert AccessKey.load(key).meta["ratio"] == 0.1  # the pair the interrupted command committed


def test_target_accuracy_with_the_noise_fill_states_the_written_models_accuracy(src, tmp_path):
    """Issue 27, item 2: the search ran with zeros while the written model was noise-filled, so the signed key
    recorded an accuracy the written model does not have. Now the search judges the filled model and the key's
    ``achieved_accuracy`` is the written model's, re-measured (selection half: even test images)."""
    from empirical.lock.utility import split_halves
    from empirical.nets.checkpoint import load_checkpoint
    from empirical.nets.data import test_set_for
    from empirical.nets.train import accuracy

    model, key = tmp_path / "m.safetensors", tmp_path / "k.safetensors"
    assert main(["lock", "--checkpoint", str(src), "--target-accuracy", "0.5", "--fill", "noise",
                 "--out-model", str(model), "--key", str(key), "--no-eval"]) == 0  # fmt: skip
    locked, meta = load_checkpoint(model)
    x, y = test_set_for(meta["spec"])
    (xs, ys), (xh, yh) = split_halves(x, y)
    k = AccessKey.load(key).meta
    assert k["fill"] == "noise"
    assert k["achieved_accuracy"] == accuracy(locked, xs, ys)[0] <= 0.5
    assert k["achieved_accuracy_heldout"] == accuracy(locked, xh, yh)[0]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_file_modes_as_documented(src, tmp_path, umask):
    """Issue 26 item 13: the locked and the restored model are 0644 (meant to be shared), the key 0600, whatever
    the umask (safetensors re-creates the file it writes, so the mode is set after writing)."""
    old = os.umask(umask)
    try:
        model, key = tmp_path / "m.safetensors", tmp_path / "k.safetensors"
        assert main(["lock", "--checkpoint", str(src), "--ratio", "0.05", "--out-model", str(model), "--key",
                     str(key), "--no-eval"]) == 0  # fmt: skip
        out = tmp_path / "r.safetensors"
        assert main(["unlock", "--checkpoint", str(model), "--key", str(key), "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert (model.stat().st_mode & 0o777, out.stat().st_mode & 0o777, key.stat().st_mode & 0o777) == (
        0o644,
        0o644,
        0o600,
    )


def test_the_locked_model_carries_no_recipe(src, tmp_path):
    """Issue 27 item 6: the locked model's metadata is what a recipient needs to load and verify it; the recipe
    (indicator, ratio, k, fill) stays in the key."""
    from safetensors import safe_open

    model, key = tmp_path / "m.safetensors", tmp_path / "k.safetensors"
    assert main(["lock", "--checkpoint", str(src), "--ratio", "0.05", "--fill", "noise", "--out-model", str(model),
                 "--key", str(key), "--no-eval"]) == 0  # fmt: skip
    with safe_open(str(model), framework="pt") as fh:
        meta = fh.metadata()
    assert "locked_by" not in meta and "bound_to" in meta
    assert not any(word in json.dumps(meta) for word in ('"ratio"', '"fill"', '"k_total"', '"indicator"'))
    assert AccessKey.load(key).meta["fill"] == "noise"


def _forge_spec(path, edit):
    """Edit a checkpoint's spec and recompute every checksum (only the type checks can catch it)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata())
    spec = json.loads(meta["spec"])
    edit(spec, tensors)
    meta["spec"] = json.dumps(spec, sort_keys=True)
    meta["params_sha256"] = params_sha256(tensors)
    meta["meta_sha256"] = meta_sha256(meta)
    save_file(tensors, str(path), metadata=meta)


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (lambda s, t: s.update(dataset=["mnist"]), "spec field 'dataset' must be a string"),
        (lambda s, t: s.update(normalization=["unit"]), "spec field 'normalization' must be a string"),
        (lambda s, t: s.update(input_shape="abc"), "spec field 'input_shape' must be a list"),
        (lambda s, t: s.update(input_shape=[2, 2]), "input_shape [2, 2] does not fit"),
        (lambda s, t: s.update(seed="abc"), "spec field 'seed' must be a whole number"),
        (lambda s, t: t.update({k: v.double() for k, v in t.items()}), "float64 tensors"),
        (lambda s, t: t.update({k: v.bfloat16() for k, v in t.items()}), "bfloat16 tensors"),
    ],
)
def test_forged_checkpoint_fields_are_one_error_line(src, tmp_path, capsys, one_error, edit, fragment):
    """Issue 26 items 7-8: spec fields of the wrong type, and float64 or bf16 tensors, with the checksums
    recomputed, gave tracebacks (some after the lock pair was written). One line, nothing written."""
    import shutil

    forged = tmp_path / "forged.safetensors"
    shutil.copy(src / "model.safetensors" if src.is_dir() else src, forged)
    _forge_spec(forged, edit)
    model, key = tmp_path / "m.safetensors", tmp_path / "k.safetensors"
    one_error(main(["lock", "--checkpoint", str(forged), "--ratio", "0.05", "--out-model", str(model),
                    "--key", str(key)]), fragment)  # fmt: skip
    assert not model.exists() and not key.exists()
