"""The lock/unlock workflow: what fingerprints and signatures cover, refusals that change nothing, and the
pair commit under injected faults at every step (``empirical.lock.workflow``, ``empirical.safety``)."""

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from empirical import safety
from empirical.cli import main
from empirical.errors import UserError
from empirical.lock.extraction import extract
from empirical.lock.keys import AccessKey
from empirical.lock.workflow import lock_file, unlock_file
from empirical.nets.checkpoint import fingerprint, load_checkpoint, meta_sha256, model_sha256, save_checkpoint
from empirical.nets.models import make_fcn

SPEC = {"hidden_layers": 2, "width": 16, "dataset": "mnist", "normalization": "standardize", "seed": 0}


@pytest.fixture()
def untrained(tmp_path):
    """An untrained 2 × 16 FCN checkpoint (no data needed: locks here use --ratio and no evaluation)."""
    return save_checkpoint(tmp_path / "original.safetensors", make_fcn(2, 16, seed=0), SPEC)


def _lock(untrained, tmp_path, **kw):
    return lock_file(
        untrained, tmp_path / "locked.safetensors", tmp_path / "key.safetensors", ratio=0.1, evaluate=False, **kw
    )


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edit_spec(path, **changes):
    """What an attacker can do without any secret: edit the spec and recompute the metadata checksum."""
    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata())
    spec = json.loads(meta["spec"])
    spec.update(changes)
    meta["spec"] = json.dumps(spec, sort_keys=True)
    meta["meta_sha256"] = meta_sha256(meta)
    save_file(tensors, str(path), metadata=meta)


# --------------------------------------------------------------------------- what is covered
def test_edited_spec_of_a_signed_lock_is_refused(untrained, tmp_path):
    from empirical.lock import signing

    signing.keygen(tmp_path / "owner.key", tmp_path / "owner.pub")
    rep = _lock(untrained, tmp_path, sign_with=tmp_path / "owner.key")
    _edit_spec(tmp_path / "locked.safetensors", normalization="unit")
    out = tmp_path / "restored.safetensors"
    with pytest.raises(UserError, match="spec .* differs from the one this key was issued for"):
        unlock_file(
            tmp_path / "locked.safetensors", tmp_path / "key.safetensors", out,
            expect_sha256=rep.fingerprint, verify_with=tmp_path / "owner.pub",
        )  # fmt: skip
    assert not out.exists()


def test_forged_key_for_an_edited_spec_fails_expect_sha256(untrained, tmp_path):
    """The forger also rewrites the key's spec fingerprint and digest and rebinds the locked model: without a
    signature only --expect-sha256 (tensors *and* spec) can catch it — and it does."""
    rep = _lock(untrained, tmp_path)
    locked_path, key_path = tmp_path / "locked.safetensors", tmp_path / "key.safetensors"
    _edit_spec(locked_path, normalization="unit")
    key = AccessKey.load(key_path)
    _, meta = load_checkpoint(locked_path)
    from empirical.nets.checkpoint import spec_sha256

    key.meta["spec_sha256"] = spec_sha256(meta["spec"])
    key.meta["key_sha256"] = key.digest()
    key.save(key_path)
    tensors = load_file(str(locked_path))
    with safe_open(str(locked_path), framework="pt") as fh:
        raw = dict(fh.metadata())
    bound = json.loads(raw["bound_to"])
    bound.update(key_sha256=key.meta["key_sha256"], spec_sha256=key.meta["spec_sha256"])
    raw["bound_to"] = json.dumps(bound)
    raw["meta_sha256"] = meta_sha256(raw)
    save_file(tensors, str(locked_path), metadata=raw)
    with pytest.raises(UserError, match="differs from --expect-sha256"):
        unlock_file(locked_path, key_path, tmp_path / "r.safetensors", expect_sha256=rep.fingerprint)
    # without --expect-sha256 the forgery restores (documented: the bound pair stops mix-ups, not forgers)
    out = unlock_file(locked_path, key_path, tmp_path / "r.safetensors")
    assert out.fingerprint != rep.fingerprint


def test_fingerprint_covers_the_spec(untrained):
    model, meta = load_checkpoint(untrained)
    a = fingerprint(model_sha256(model), meta["spec"])
    assert a != fingerprint(model_sha256(model), {**meta["spec"], "normalization": "unit"})
    assert a == fingerprint(model_sha256(model), dict(reversed(list(meta["spec"].items()))))  # key order is not content


def test_refused_inplace_restore_leaves_the_model_exactly_as_it_was():
    model = make_fcn(2, 16, seed=1)
    locked, key = extract(model, 0.1)
    before = model_sha256(locked)
    e = key.entries[0]
    others = torch.tensor(sorted(set(range(256)) - set(e.positions.tolist())))[: len(e.positions)]
    e.positions = others.to(torch.int64)  # positions where the locked model holds non-zero weights
    key.meta["key_sha256"] = key.digest()
    assert (dict(locked.named_parameters())[e.name].view(-1)[e.positions] != 0).all()
    with pytest.raises(UserError, match="does not give the original"):
        key.restore(locked, inplace=True)
    assert model_sha256(locked) == before


# ---------------------------------------------------------------------------- no overwrite
def test_existing_outputs_are_refused_unless_force(untrained, tmp_path):
    _lock(untrained, tmp_path)
    key_before = _digest(tmp_path / "key.safetensors")
    with pytest.raises(UserError, match="exists; refusing to overwrite it"):
        lock_file(untrained, tmp_path / "other.safetensors", tmp_path / "key.safetensors", ratio=0.2, evaluate=False)
    assert _digest(tmp_path / "key.safetensors") == key_before and not (tmp_path / "other.safetensors").exists()
    _lock(untrained, tmp_path, force=True)  # --force replaces the pair
    unlock_file(tmp_path / "locked.safetensors", tmp_path / "key.safetensors", tmp_path / "r.safetensors")
    with pytest.raises(UserError, match="exists"):
        unlock_file(tmp_path / "locked.safetensors", tmp_path / "key.safetensors", tmp_path / "r.safetensors")


# ------------------------------------------------------------------- the pair commit under faults
STEPS = [
    "written locked.safetensors",
    "written key.safetensors",
    "journal written",
    "renamed locked.safetensors",
    "renamed key.safetensors",
    "journal removed",
]


def _pair_state(tmp_path):
    """'none', 'old' or 'new' pair on disk (or 'split' — the failure this guards against)."""
    m, k = tmp_path / "locked.safetensors", tmp_path / "key.safetensors"
    if not m.exists() and not k.exists():
        return "none"
    if m.exists() != k.exists():
        return "split"
    key = AccessKey.load(k)
    locked, _ = load_checkpoint(m)
    key.restore(locked)  # raises on a mixed pair
    return "new" if key.meta["ratio"] == 0.2 else "old"


@pytest.mark.parametrize("step", STEPS)
def test_an_exception_at_any_step_leaves_old_or_new_pair(untrained, tmp_path, monkeypatch, step):
    _lock(untrained, tmp_path)  # the old pair (ratio 0.1)

    def crash(name):
        if name == step:
            raise OSError(5, f"injected fault at {name}")

    monkeypatch.setattr(safety, "FAULT", crash)
    with pytest.raises(OSError, match="injected"):
        lock_file(untrained, tmp_path / "locked.safetensors", tmp_path / "key.safetensors", ratio=0.2, force=True,
                  evaluate=False)  # fmt: skip
    monkeypatch.setattr(safety, "FAULT", None)
    # the next command that names both files completes a started commit (one naming only one of them refuses it)
    with pytest.raises(UserError, match="not given") if STEPS.index(step) >= STEPS.index("journal written") and \
            STEPS.index(step) < STEPS.index("journal removed") else contextlib.nullcontext():  # fmt: skip
        with safety.output_lock([tmp_path / "locked.safetensors"]):
            pass
    with safety.output_lock([tmp_path / "locked.safetensors", tmp_path / "key.safetensors"]):
        pass
    expected = "old" if STEPS.index(step) < STEPS.index("journal written") else "new"
    assert _pair_state(tmp_path) == expected
    assert not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob(".corelocker-commit.*"))


KILL_AT = textwrap.dedent(
    """
    import os, signal, sys
    from empirical import safety
    from empirical.cli import main
    # a shell without job control (`make test &`, nohup, some CI runners) starts us with SIGINT ignored, and
    # Python then installs no handler: the test sets the disposition it is about
    signal.signal(signal.SIGINT, {"sigint": signal.default_int_handler, "ignored": signal.SIG_IGN}.get(sys.argv[2],
                                                                                                  signal.SIG_DFL))
    step = sys.argv[1]
    def hook(name):
        if name == step:
            if sys.argv[2] == "kill":
                os._exit(9)  # as abrupt as kill -9: no cleanup, no finally
            os.kill(os.getpid(), signal.SIGINT)
    safety.FAULT = hook
    sys.exit(main(sys.argv[3:]))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill", "sigint"])
@pytest.mark.parametrize("step", STEPS)
def test_kill_or_sigint_at_any_step_of_the_cli(untrained, tmp_path, how, step):
    _lock(untrained, tmp_path)
    out_model, key = str(tmp_path / "locked.safetensors"), str(tmp_path / "key.safetensors")
    args = ["lock", "--checkpoint", str(untrained), "--ratio", "0.2", "--out-model", out_model, "--key", key,
            "--force", "--no-eval"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", KILL_AT, step, how, *args], capture_output=True, text=True)
    if how == "kill":
        assert proc.returncode == 9
    else:  # before the journal SIGINT aborts the write; from the journal on it is held until the pair is complete
        assert proc.returncode == 130 and proc.stderr.strip().splitlines() == ["corelocker-bounds: interrupted"]
    with safety.output_lock([tmp_path / "locked.safetensors", tmp_path / "key.safetensors"]):
        pass
    after_journal = STEPS.index(step) >= STEPS.index("journal written")
    assert _pair_state(tmp_path) == ("new" if after_journal else "old")
    assert not list(tmp_path.glob(".corelocker-commit.*"))


@pytest.mark.slow
def test_an_inherited_ignored_sigint_stays_ignored(untrained, tmp_path):
    """Under nohup (SIGINT ignored on entry) the CLI keeps ignoring it, like any Unix program: the lock completes."""
    _lock(untrained, tmp_path)
    out_model, key = str(tmp_path / "locked.safetensors"), str(tmp_path / "key.safetensors")
    args = ["lock", "--checkpoint", str(untrained), "--ratio", "0.2", "--out-model", out_model, "--key", key,
            "--force", "--no-eval"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", KILL_AT, STEPS[0], "ignored", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert _pair_state(tmp_path) == "new"


# ------------------------------------------------------------------------------------ keygen
def test_keygen_never_leaves_a_lone_private_key(tmp_path, monkeypatch):
    from empirical.lock import signing

    def crash(name):
        if name == "written owner.pub":
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(safety, "FAULT", crash)
    with pytest.raises(OSError, match="No space"):
        signing.keygen(tmp_path / "owner.key", tmp_path / "owner.pub")
    monkeypatch.setattr(safety, "FAULT", None)
    assert not list(tmp_path.iterdir())
    signing.keygen(tmp_path / "owner.key", tmp_path / "owner.pub")  # the rerun is not refused
    assert oct((tmp_path / "owner.key").stat().st_mode)[-3:] == "600"


@pytest.mark.parametrize("out", ["", "keys/", "."])
def test_keygen_refuses_a_prefix_that_is_not_a_file(tmp_path, capsys, out, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["keygen", "--out", out]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_a_long_legal_file_name_is_written(untrained, tmp_path):
    name = "k" * 240 + ".key"  # 244 bytes: legal; its temp name must not exceed 255 bytes
    lock_file(untrained, tmp_path / "m.safetensors", tmp_path / name, ratio=0.1, evaluate=False)
    assert (tmp_path / name).exists()


def test_stale_temp_files_of_a_killed_write_are_cleaned(tmp_path):
    from empirical._io import write_text

    stale = tmp_path / ".table.csv.abcd1234.tmp"
    stale.write_bytes(b"x" * 1000)
    os.utime(stale, (0, 0))  # untouched for a long time: a dead writer's
    write_text(tmp_path / "table.csv", "a\n1\n")
    assert not stale.exists()


def test_sigint_is_delivered_after_the_commit(tmp_path):
    """deferred_signals holds SIGINT; it arrives when the block ends."""
    hits = []
    old = signal.signal(signal.SIGINT, lambda *a: hits.append("int"))
    try:
        with safety.deferred_signals():
            os.kill(os.getpid(), signal.SIGINT)
            hits.append("inside")
        hits.append("after")
    finally:
        signal.signal(signal.SIGINT, old)
    assert hits == ["inside", "int", "after"]
