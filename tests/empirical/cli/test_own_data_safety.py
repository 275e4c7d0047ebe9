"""Your own data is never changed, destroyed or misread (issue 37, items 1–4, 5's FIFO, 6's odd files, 10).

Each case failed on the code before the fix: ``--force`` replaced the ``--data`` file, ``attacks`` wrote its
tables over its ``--key``, ``normalize`` divided the cached arrays in place (so every later fingerprint check
failed), a float64 1e39 or a uint64 label of 2⁶³ slipped through the checks, a FIFO blocked forever, and odd
``.npz`` files escaped as tracebacks. A small synthetic data set (4 classes, 1 × 6 × 6) keeps it fast.
"""

import hashlib
import os
import textwrap
import threading

import numpy as np
import pytest
import torch
import torch.nn as nn

from empirical.cli import main
from empirical.nets import data as data_mod

BUILDER = textwrap.dedent(
    """
    import torch.nn as nn

    def build():
        return nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                             nn.Linear(16, 4))
    """
)


def _sha(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture()
def own(tmp_path):
    rng = np.random.default_rng(0)
    templates = rng.uniform(0, 255, (4, 1, 6, 6))

    def split(n):
        y = rng.integers(0, 4, n)
        return np.clip(templates[y] + rng.normal(0, 30, (n, 1, 6, 6)), 0, 255).astype(np.uint8), y.astype(np.int64)

    (x_tr, y_tr), (x_te, y_te) = split(400), split(200)
    np.savez(tmp_path / "data.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    (tmp_path / "net.py").write_text(BUILDER)
    ns = {}
    exec(BUILDER, ns)
    torch.manual_seed(0)
    model = ns["build"]()
    x, y = torch.from_numpy(x_tr).float() / 255, torch.from_numpy(y_tr)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(), loss.backward(), opt.step()
    torch.save(model.state_dict(), tmp_path / "net.pt")
    return tmp_path


def _import(d, norm="unit", out="net.safetensors", extra=()):
    return main(["import", "--torch", str(d / "net.pt"), "--model", f"{d / 'net.py'}:build", "--normalization", norm,
                 "--data", str(d / "data.npz"), "--out", str(d / out), *extra])  # fmt: skip


@pytest.mark.parametrize("norm", ["unit", "standardize", "unit-norm", "none"])
def test_import_with_every_normalization_keeps_the_data(own, norm):
    """Before: ``normalize`` divided the shared cached array, so the fingerprint check refused the same file."""
    before = _sha(own / "data.npz")
    assert _import(own, norm) == 0
    assert _sha(own / "data.npz") == before
    # a later command in the same process sees the same, unchanged data (no "fingerprint mismatch")
    assert main(["ratio-for-utility", "--checkpoint", str(own / "net.safetensors"), "--model",
                 f"{own / 'net.py'}:build", "--data", str(own / "data.npz"), "--target", "0.4"]) == 0  # fmt: skip


def test_normalize_never_writes_its_input():
    for dtype in (np.uint8, np.float32, np.float64):
        x = (np.arange(2 * 36).reshape(2, 6, 6) % 255).astype(dtype)
        keep = x.copy()
        for method in data_mod.NORMALIZATIONS:
            data_mod.normalize(x, method).mul_(0)  # even a caller writing into the result leaves x alone
            assert np.array_equal(x, keep), (dtype, method)


def test_the_cache_hands_out_copies_and_follows_the_file(own):
    path = own / "data.npz"
    a = data_mod.load_dataset("npz", path)
    a[0][:] = 0  # a caller that writes into its arrays
    b = data_mod.load_dataset("npz", path)
    assert b[0].any(), "the cache was changed through a caller's array"
    # the file replaced under the same name (new inode and mtime): read again, not served from the cache
    arrays = dict(np.load(path))
    arrays["x_test"] = arrays["x_test"] // 2
    np.savez(own / "new.npz", **arrays)
    os.replace(own / "new.npz", path)
    assert np.array_equal(data_mod.load_dataset("npz", path)[2], arrays["x_test"].astype(np.float32))


@pytest.mark.parametrize(
    "argv",
    [
        ["import", "--torch", "{d}/net.pt", "--model", "{d}/net.py:build", "--normalization", "unit",
         "--data", "{d}/data.npz", "--out", "{d}/data.npz", "--force"],
        ["lock", "--checkpoint", "{d}/net.safetensors", "--model", "{d}/net.py:build", "--data", "{d}/data.npz",
         "--ratio", "0.1", "--out-model", "{d}/locked.safetensors", "--key", "{d}/data.npz", "--force"],
        ["lock", "--checkpoint", "{d}/net.safetensors", "--model", "{d}/net.py:build", "--data", "{d}/data.npz",
         "--ratio", "0.1", "--out-model", "{d}/data.npz", "--key", "{d}/k.safetensors", "--force"],
        ["lock", "--checkpoint", "{d}/net.safetensors", "--model", "{d}/net.py:build", "--data", "{d}/data.npz",
         "--ratio", "0.1", "--out-model", "{d}/link.npz", "--key", "{d}/k.safetensors", "--force"],
        ["export", "--checkpoint", "{d}/net.safetensors", "--model", "{d}/net.py:build", "--torch", "{d}/net.py",
         "--force"],
    ],
    ids=["import --out", "lock --key", "lock --out-model", "lock --out-model (hard link)", "export over --model"],
)  # fmt: skip
def test_force_never_writes_over_an_input(own, argv, one_error):
    assert _import(own) == 0
    os.link(own / "data.npz", own / "link.npz")
    before = {n: _sha(own / n) for n in ("data.npz", "net.py", "net.safetensors")}
    one_error(main([a.format(d=own) for a in argv]), "refusing to")
    assert {n: _sha(own / n) for n in before} == before


def test_attacks_never_writes_its_tables_over_the_key(own, one_error):
    assert _import(own) == 0
    out, builder, data = own / "att", f"{own / 'net.py'}:build", str(own / "data.npz")

    def lock(key):
        return main(["lock", "--checkpoint", str(own / "net.safetensors"), "--model", builder, "--data", data,
                     "--ratio", "0.2", "--out-model", str(own / "locked.safetensors"), "--key", str(key),
                     "--force"])  # fmt: skip

    def attack(key):
        return main(["attacks", "--checkpoint", str(own / "locked.safetensors"), "--key", str(key), "--model",
                     builder, "--data", data, "--fractions", "0.2", "--epochs", "1", "--no-baseline", "--out",
                     str(out)])  # fmt: skip

    assert lock(own / "key.safetensors") == 0 and attack(own / "key.safetensors") == 0  # the run directory exists
    assert (out / "detectors.csv").exists()
    assert lock(out / "detectors.csv") == 0  # the owner keeps the new key where a table was
    before = _sha(out / "detectors.csv")
    one_error(attack(out / "detectors.csv"), "refusing to")
    assert _sha(out / "detectors.csv") == before


def _save(path, **arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda p, a: _save(p, **{**a, "x_test": a["x_test"].astype(np.float64) * 1e39}), "NaN or inf"),
        (lambda p, a: _save(p, **{**a, "y_test": a["y_test"].astype(np.uint64) + np.uint64(2**63)}), "labels must"),
        (lambda p, a: _save(p, **{**a, "x_train": np.array(3.0)}), "x_train must be numbers"),
        (lambda p, a: p.write_bytes(_npy(a["x_train"])), "not an .npz archive"),
        (lambda p, a: p.write_bytes(b"\x80\x04not a pickle you want"), "not an .npz archive"),
        (lambda p, a: _save(p, **{**a, "y_train": np.zeros_like(a["y_train"]), "y_test": np.zeros_like(a["y_test"])}),
         "at least 2 classes"),
        (lambda p, a: _forged_header(p, a), "declares"),
        (lambda p, a: os.mkfifo(p), "not a regular file"),
    ],
    ids=["float64 overflow", "uint64 label", "0-d x_train", ".npy named .npz", "pickle", "one class",
         "4 TB header", "FIFO"],
)  # fmt: skip
def test_odd_data_files_are_one_line(own, make, fragment, one_error):
    arrays = dict(np.load(own / "data.npz"))
    bad = own / "bad.npz"
    make(bad, arrays)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("code", main(
        ["import", "--torch", str(own / "net.pt"), "--model", f"{own / 'net.py'}:build", "--normalization", "unit",
         "--data", str(bad), "--out", str(own / "o.safetensors")])), daemon=True)  # fmt: skip
    t.start()
    t.join(60)
    assert "code" in result, "the command hung"
    one_error(result["code"], fragment)
    assert not (own / "o.safetensors").exists()


def _forged_header(path, arrays):
    """A valid archive whose x_train header declares 10^12 float32 values over a few bytes of data."""
    import zipfile

    _save(path, **arrays)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    raw = members["x_train.npy"]
    header = raw[: raw.index(b"\n") + 1]
    forged = header.replace(str(arrays["x_train"].shape).encode(), b"(1000000000000, 1, 6, 6)")
    extra = len(forged) - len(header)  # taken from the padding, so the header keeps its recorded length
    forged = forged[: -1 - extra] + b"\n"
    assert len(forged) == len(header) and forged[:-1].endswith(b" ")
    members["x_train.npy"] = forged + raw[len(header) :]
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


def test_a_data_file_for_an_mnist_model_says_so(src, tmp_path, one_error):
    """Before: ``--data data.NPZ`` (or a mistyped path) was read as an IDX directory and the error spoke of 28 × 28."""
    (tmp_path / "data.NPZ").write_bytes(b"PK")
    one_error(main(["ratio-for-utility", "--checkpoint", str(src), "--target", "0.5", "--data",
                    str(tmp_path / "data.NPZ")]), "is a file, but this model was trained on mnist")  # fmt: skip
    one_error(main(["ratio-for-utility", "--checkpoint", str(src), "--target", "0.5", "--data",
                    str(tmp_path / "nowhere")]), "does not exist")  # fmt: skip


def _npy(array) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()
