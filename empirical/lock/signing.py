"""Owner signatures on a locked model and its key (Ed25519, from the ``cryptography`` package).

The owner signs one message that names the three fingerprints of a lock — the original model, the
locked model and the access key (``AccessKey.digest``, which excludes the signature itself):

    corelocker-bounds/signature-v1|original=<sha256>|locked=<sha256>|key=<sha256>

Anyone with the public key can then check that a key and a locked model were issued together by
the owner; a key edited afterwards (even with every stored hash recomputed) no longer verifies.
Keys are PEM files: the private key PKCS#8 (mode 0600), the public key SubjectPublicKeyInfo.
"""

from __future__ import annotations

from pathlib import Path

from empirical._io import atomic_path
from empirical.errors import UserError

PREFIX = "corelocker-bounds/signature-v1"


def _crypto():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:  # pragma: no cover - cryptography is a dependency
        raise UserError("signatures need the 'cryptography' package: pip install cryptography") from None
    return serialization, ed25519, InvalidSignature


def message(original_sha256: str, locked_sha256: str, key_sha256: str) -> bytes:
    return f"{PREFIX}|original={original_sha256}|locked={locked_sha256}|key={key_sha256}".encode()


def keygen(private_path: Path, public_path: Path) -> None:
    """A new Ed25519 key pair: the private key (0600) and the public key, written atomically."""
    serialization, ed25519, _ = _crypto()
    priv = ed25519.Ed25519PrivateKey.generate()
    pem = priv.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pub = priv.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with atomic_path(private_path, mode=0o600) as tmp:
        tmp.write_bytes(pem)
    with atomic_path(public_path) as tmp:
        tmp.write_bytes(pub)


def sign(private_path: Path, msg: bytes) -> str:
    """Hex Ed25519 signature of ``msg`` with the private key in ``private_path``."""
    serialization, ed25519, _ = _crypto()
    try:
        priv = serialization.load_pem_private_key(Path(private_path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"{private_path} is not a readable Ed25519 private key ({exc})") from None
    if not isinstance(priv, ed25519.Ed25519PrivateKey):
        raise UserError(f"{private_path} is not an Ed25519 private key")
    return priv.sign(msg).hex()


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
    try:
        pub.verify(bytes.fromhex(signature_hex), msg)
    except (InvalidSignature, ValueError):
        raise UserError(
            "the owner's signature does not verify: the key or the locked model was altered, "
            "or they were not issued together by this owner"
        ) from None
