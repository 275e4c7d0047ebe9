"""Helpers shared by test modules."""

from safetensors import safe_open
from safetensors.torch import load_file, save_file


def rewrite_safetensors(path, edit_meta=None, edit_tensors=None):
    """Edit a safetensors file in place (tensors and/or metadata), as a forger without secrets could."""
    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata())
    if edit_tensors:
        edit_tensors(tensors)
    if edit_meta:
        edit_meta(meta)
    save_file(tensors, str(path), metadata=meta)
