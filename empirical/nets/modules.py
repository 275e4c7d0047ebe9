"""A user's own ``nn.Module`` as a toolkit model: ``--model path/to/file.py:builder``.

``builder`` is a function in the user's file that takes no arguments and returns the (untrained)
``nn.Module``; the weights come from a state dict (``import --torch``) or a checkpoint. A checkpoint
of such a model has ``arch = "module"`` and records the builder as given, the file's name and its
sha256, the input shape the model takes, the dataset and the normalisation. Loading it needs the same
builder again (``--model``): code is never stored in, or run from, a checkpoint — only the user's own
file, named by the user, is executed — and a builder file that changed since import is refused.
The parameter names are the user's own everywhere (checkpoint, access key, export).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn

from empirical.errors import UserError

MODULE_ARCH = "module"


@dataclass(frozen=True)
class Builder:
    text: str  # as given: "path/file.py:function"
    path: Path
    function: str
    sha256: str
    fn: object

    def build(self) -> nn.Module:
        try:
            model = self.fn()
        except Exception as exc:  # the user's code: any failure is theirs to see, in one line
            raise UserError(
                f"--model {self.text}: calling {self.function}() failed ({type(exc).__name__}: {exc})"
            ) from None
        if not isinstance(model, nn.Module):
            raise UserError(f"--model {self.text}: {self.function}() returned {type(model).__name__}, not an nn.Module")
        return model.eval()

    def spec_fields(self) -> dict:
        return {"builder": self.text, "builder_file": self.path.name, "builder_sha256": self.sha256}


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
    data = path.read_bytes()
    name = f"corelocker_user_model_{hashlib.sha256(data).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise UserError(f"--model {text}: importing {path} failed ({type(exc).__name__}: {exc})") from None
    fn = getattr(module, function, None)
    if not callable(fn):
        raise UserError(f"--model {text}: {path} defines no function {function!r}")
    return Builder(text, path, function, hashlib.sha256(data).hexdigest(), fn)


def check_builder(builder: Builder | None, spec: dict, where) -> Builder:
    """The builder a ``module`` checkpoint needs: present, and the same file it was imported with."""
    if builder is None:
        raise UserError(
            f"{where} holds a user model built by {spec.get('builder')!r}: pass --model FILE.py:FUNCTION "
            "(the builder it was imported with)"
        )
    if builder.sha256 != spec.get("builder_sha256"):
        raise UserError(
            f"--model {builder.text}: this file differs from the builder {where} was imported with "
            f"({spec.get('builder_file')}, sha256 {str(spec.get('builder_sha256'))[:12]}…)"
        )
    return builder
