"""Your own data: a .npz file of x_train, y_train, x_test, y_test (any per-sample shape, any number of classes),
checked before and after the float32 / int64 cast; a FIFO, a non-archive or a forged header is one error line."""

from __future__ import annotations

import math
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

from empirical._io import note_input
from empirical.errors import UserError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _npz_member_sizes(f, path) -> None:
    """Refuse a member whose header declares more bytes than the member holds (a forged shape would otherwise ask
    for terabytes before any check runs)."""
    for k in NPZ_KEYS:
        info = f.zip.getinfo(f"{k}.npy")
        with f.zip.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            shape, _, dtype = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )(fh)
        declared = math.prod(shape) * dtype.itemsize
        if declared > info.file_size:
            raise UserError(
                f"--data {path}: {k} declares {shape} {dtype} ({declared:,} bytes) but holds "
                f"{info.file_size:,} bytes: not a valid .npz array"
            )


def load_npz(path):
    """Your own data: a ``.npz`` file holding ``x_train, y_train, x_test, y_test`` (any per-sample shape, at least
    two classes; labels 0..C−1), checked and returned as new arrays (x_train float32, y_train int64, x_test,
    y_test). Every check runs on the converted values (a float64 1e39 is inf in float32; a uint64 label of 2⁶³
    is negative in int64)."""
    if path is None:
        raise UserError("dataset npz needs --data FILE.npz (arrays x_train, y_train, x_test, y_test)")
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise UserError(f"--data {path}: {exc.strerror or 'cannot be read'}") from None
    if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would block or never end
        raise UserError(f"--data {path} is not a regular file (expected FILE.npz)")
    note_input(path, "--data")
    if not zipfile.is_zipfile(path):  # a .npy, a pickle or anything else named .npz
        raise UserError(f"--data {path} is not an .npz archive (np.savez writes one: x_train, y_train, x_test, y_test)")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise UserError(f"--data {path}: no array {missing[0]!r} (expected {', '.join(NPZ_KEYS)})")
            _npz_member_sizes(f, path)
            arrays = [f[k] for k in NPZ_KEYS]
    except (OSError, ValueError, EOFError, KeyError, MemoryError, zipfile.BadZipFile) as exc:
        why = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise UserError(f"--data {path} is not a readable .npz file ({why})") from None
    for name, x, y in zip(("train", "test"), arrays[0::2], arrays[1::2]):
        if (
            x.ndim < 2
            or x.dtype.kind not in "fiub"
            or y.dtype.kind not in "iub"
            or y.ndim != 1
            or len(x) != len(y)
            or not len(y)
        ):
            raise UserError(
                f"--data {path}: x_{name} must be numbers [n, ...] and y_{name} n integer labels "
                f"(got {x.dtype} {x.shape} and {y.dtype} {y.shape})"
            )
    x_tr, y_tr, x_te, y_te = (a.astype(np.float32 if i % 2 == 0 else np.int64) for i, a in enumerate(arrays))
    for name, x, y, raw in (("train", x_tr, y_tr, arrays[1]), ("test", x_te, y_te, arrays[3])):
        if not np.isfinite(x).all():
            raise UserError(f"--data {path}: x_{name} holds NaN or inf (as float32)")
        if y.min() < 0 or not np.array_equal(y.astype(raw.dtype), raw):
            raise UserError(f"--data {path}: y_{name} labels must be 0..C−1")
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise UserError(f"--data {path}: train samples {x_tr.shape[1:]} and test samples {x_te.shape[1:]} differ")
    if max(y_tr.max(), y_te.max()) < 1:
        raise UserError(f"--data {path}: every label is 0; a classifier needs at least 2 classes")
    return x_tr, y_tr, x_te, y_te
