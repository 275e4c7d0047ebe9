"""A user's own ``nn.Module`` as a toolkit model: ``--model path/to/file.py:builder``.

``builder`` is a function in the user's file that takes no arguments and returns the (untrained)
``nn.Module``; the weights come from a state dict (``import --torch``) or a checkpoint. A checkpoint
of such a model has ``arch = "module"`` and records the builder as given, the file's name, the function's
name and the fingerprint of the file's *code* (``code_fingerprint``: its parsed syntax tree, so comments,
blank lines and layout do not count), the input shape the model takes, the dataset and the normalisation.
Loading it needs the same builder again (``--model``): code is never stored in, or run from, a checkpoint —
only the user's own file, named by the user, is executed — and another function, or a file whose code
changed since import, is refused. (Checkpoints written before the code fingerprint check the file's bytes.)
The parameter names are the user's own everywhere (checkpoint, access key, export).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn

from empirical._io import note_input
from empirical.errors import UserError

MODULE_ARCH = "module"


@dataclass(frozen=True)
class Builder:
    text: str  # as given: "path/file.py:function"
    path: Path
    function: str
    sha256: str
    fn: object
    code_sha256: str = ""

    def build(self) -> nn.Module:
        try:
            model = self.fn()
        except (
            Exception,
            SystemExit,
        ) as exc:  # the user's code: any failure (sys.exit too) is theirs to see, in one line
            raise UserError(
                f"--model {self.text}: calling {self.function}() failed ({type(exc).__name__}: {exc})"
            ) from None
        if not isinstance(model, nn.Module):
            raise UserError(f"--model {self.text}: {self.function}() returned {type(model).__name__}, not an nn.Module")
        shared = overlapping_tensors(model.state_dict())
        if shared:  # a key is one set of weights: tied ones cannot be locked apart
            a, b = shared
            raise UserError(
                f"--model {self.text}: {a} and {b} share memory (tied parameters or overlapping views); "
                "untie them (e.g. clone the weight) to lock the model"
            )
        return model.eval()

    def spec_fields(self) -> dict:
        # the file's name, not its path: a shared locked model carries the spec, and the owner's folders are theirs
        return {
            "builder": f"{self.path.name}:{self.function}",
            "builder_file": self.path.name,
            "builder_sha256": self.sha256,
            "builder_function": self.function,
            "builder_code_sha256": self.code_sha256,
        }


def code_fingerprint(source: bytes, function: str) -> str:
    """sha256 of the file's syntax tree (no comments, blank lines or layout) and the function's name."""
    tree = ast.dump(ast.parse(source), annotate_fields=True, include_attributes=False)
    return hashlib.sha256(f"{function}\n{tree}".encode()).hexdigest()


def overlapping_tensors(tensors: dict) -> tuple[str, str] | None:
    """The first two names whose tensors share bytes (the same tensor, or overlapping views of one storage), or
    None. Compares byte ranges within each storage, not just start addresses."""
    spans: dict[int, list[tuple[int, int, str]]] = {}
    for name, t in tensors.items():
        if not t.numel():
            continue
        extent = sum((n - 1) * abs(s) for n, s in zip(t.shape, t.stride())) + 1
        start = t.data_ptr()
        spans.setdefault(t.untyped_storage().data_ptr(), []).append((start, start + extent * t.element_size(), name))
    for group in spans.values():
        group.sort()
        for (_, end, a), (start, _, b) in zip(group, group[1:]):
            if start < end:
                return a, b
    return None


def load_builder(text: str) -> Builder:
    """Import ``FILE.py:FUNCTION`` (the user's file, run as a module) and return its builder."""
    if not isinstance(text, str) or ":" not in text:
        raise UserError(f"--model {text!r}: expected FILE.py:FUNCTION, e.g. mycnn.py:build")
    file, _, function = text.rpartition(":")
    path = Path(file)
    if not path.is_file() or path.suffix != ".py":
        raise UserError(f"--model {text}: {path} is not a Python file")
    if not function.isidentifier():
        raise UserError(f"--model {text}: {function!r} is not a function name")
    note_input(path, "the model file")
    data = path.read_bytes()
    name = f"corelocker_user_model_{hashlib.sha256(data).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # lazy: the user's --model file, registered under a hashed name while it runs
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # a module-level sys.exit() must not end the command with exit 0
        sys.modules.pop(name, None)  # lazy: (the same registration, withdrawn)
        raise UserError(f"--model {text}: importing {path} failed ({type(exc).__name__}: {exc})") from None
    fn = getattr(module, function, None)
    if not callable(fn):
        raise UserError(f"--model {text}: {path} defines no function {function!r}")
    return Builder(text, path, function, hashlib.sha256(data).hexdigest(), fn, code_fingerprint(data, function))


def check_builder(builder: Builder | None, spec: dict, where) -> Builder:
    """The builder a ``module`` checkpoint needs: present, and the same file it was imported with."""
    if builder is None:
        raise UserError(
            f"{where} holds a user model built by {spec.get('builder')!r}: pass --model FILE.py:FUNCTION "
            "(the builder it was imported with)"
        )
    recorded = spec.get("builder_function")
    if recorded is not None and builder.function != recorded:
        raise UserError(
            f"--model {builder.text}: {where} was imported with the function {recorded!r}, not {builder.function!r}"
        )
    if "builder_code_sha256" in spec:
        same = builder.code_sha256 == spec["builder_code_sha256"]
    else:  # written before the code fingerprint: the file's bytes
        same = builder.sha256 == spec.get("builder_sha256")
    if not same:
        raise UserError(
            f"--model {builder.text}: this file's code differs from the builder {where} was imported with "
            f"({spec.get('builder_file')}; comments and layout aside)"
        )
    return builder
