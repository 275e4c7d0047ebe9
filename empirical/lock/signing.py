"""Owner signatures on a locked model and its key (Ed25519, from the ``cryptography`` package).

The owner signs one message that names the fingerprints of a lock — the original model's and the
locked model's tensors, the access key (``AccessKey.digest``, which excludes the signature itself)
and the models' spec (architecture, sizes, normalisation: what the tensors compute):

    corelocker-bounds/signature-v2|original=<sha256>|locked=<sha256>|key=<sha256>|spec=<sha256>

(keys written before spec fingerprints carry the v1 message, without ``spec``).

Anyone with the public key can then check that a key and a locked model were issued together by
the owner; a key edited afterwards (even with every stored hash recomputed) no longer verifies.
Keys are PEM files: the private key PKCS#8 (mode 0600), the public key SubjectPublicKeyInfo.
"""

from __future__ import annotations

from pathlib import Path

from empirical.errors import UserError
from empirical.safety import commit_files, output_lock, recover_pending, refuse_aliasing, refuse_existing

PREFIX = "corelocker-bounds/signature-v1"
PREFIX_V2 = "corelocker-bounds/signature-v2"


def _crypto():
    try:
        from cryptography.exceptions import InvalidSignature  # lazy: only signing and verifying need cryptography
        from cryptography.hazmat.primitives import serialization  # lazy: as above
        from cryptography.hazmat.primitives.asymmetric import ed25519  # lazy: as above
    except ImportError:  # pragma: no cover - cryptography is a dependency
        raise UserError("signatures need the 'cryptography' package: pip install cryptography") from None
    return serialization, ed25519, InvalidSignature


def message(original_sha256: str, locked_sha256: str, key_sha256: str, spec_sha256: str | None = None) -> bytes:
    if spec_sha256 is None:
        return f"{PREFIX}|original={original_sha256}|locked={locked_sha256}|key={key_sha256}".encode()
    return f"{PREFIX_V2}|original={original_sha256}|locked={locked_sha256}|key={key_sha256}|spec={spec_sha256}".encode()


def message_for(key_meta: dict) -> bytes:
    """The message a key's signature signs (v2 when the key records the spec's fingerprint)."""
    fields = ("original_sha256", "locked_sha256", "key_sha256")
    if not all(isinstance(key_meta.get(f), str) for f in fields):
        raise UserError("the access key's fingerprint fields are malformed")
    spec = key_meta.get("spec_sha256")
    if spec is not None and not isinstance(spec, str):
        raise UserError("the access key's spec_sha256 field is malformed")
    return message(*(key_meta[f] for f in fields), spec)


def load_private(private_path):
    """The Ed25519 private key in ``private_path``; one clear error otherwise."""
    serialization, ed25519, _ = _crypto()
    try:
        priv = serialization.load_pem_private_key(Path(private_path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"{private_path} is not a readable Ed25519 private key ({exc})") from None
    if not isinstance(priv, ed25519.Ed25519PrivateKey):
        raise UserError(f"{private_path} is not an Ed25519 private key")
    return priv


def keygen(private_path: Path, public_path: Path) -> None:
    """A new Ed25519 key pair: the private key (0600) and the public key, committed together (never one
    without the other, e.g. on a full disk) and never over an existing key."""

    private_path, public_path = Path(private_path), Path(public_path)
    outputs = {"private key": private_path, "public key": public_path}
    recover_pending(outputs.values())  # an interrupted keygen's pair first
    refuse_aliasing({}, outputs)
    refuse_existing(outputs, force=False, hint="choose another --out prefix or move the old pair away")
    serialization, ed25519, _ = _crypto()
    priv = ed25519.Ed25519PrivateKey.generate()
    pem = priv.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pub = priv.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with output_lock([private_path, public_path]):
        refuse_existing(outputs, force=False, hint="choose another --out prefix or move the old pair away")
        commit_files(
            {private_path: lambda t: t.write_bytes(pem), public_path: lambda t: t.write_bytes(pub)},
            modes={private_path: 0o600, public_path: 0o644},
        )


def sign(private_path: Path, msg: bytes) -> str:
    """Hex Ed25519 signature of ``msg`` with the private key in ``private_path``."""
    return load_private(private_path).sign(msg).hex()


def verify(public_path: Path, msg: bytes, signature_hex: str | None) -> None:
    """Raise a ``UserError`` unless ``signature_hex`` is a valid signature of ``msg``."""
    serialization, ed25519, InvalidSignature = _crypto()
    try:
        pub = serialization.load_pem_public_key(Path(public_path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"{public_path} is not a readable Ed25519 public key ({exc})") from None
    if not isinstance(pub, ed25519.Ed25519PublicKey):
        raise UserError(f"{public_path} is not an Ed25519 public key")
    if not signature_hex:
        raise UserError("this key carries no owner signature (it was locked without --sign-with)")
    if not isinstance(signature_hex, str):
        raise UserError("the key's signature field is malformed (not a hex string)")
    try:
        pub.verify(bytes.fromhex(signature_hex), msg)
    except (InvalidSignature, ValueError):
        raise UserError(
            "the owner's signature does not verify: the key or the locked model was altered, "
            "or they were not issued together by this owner"
        ) from None
