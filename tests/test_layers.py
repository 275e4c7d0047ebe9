"""The dependency direction of ``empirical`` (DESIGN.md): nets ← {lock, measure} ← experiments ← cli.

Every import in every module (function-level ones included) is read from the source, so a lazy
import cannot hide a dependency pointing the wrong way.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER = {"errors": 0, "_io": 0, "safety": 0, "nets": 1, "lock": 2, "measure": 2, "experiments": 3, "cli": 4}
FORBIDDEN = {("lock", "measure"), ("measure", "lock")}  # siblings: neither imports the other


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "empirical" and len(parts) > 1 else None


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # `from empirical import lock`
    return out


MODULES = sorted(p for p in (ROOT / "empirical").rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path):
    rel = path.relative_to(ROOT / "empirical")
    here = rel.parts[0] if len(rel.parts) > 1 else rel.stem
    if here == "__init__":
        return  # the package's re-exports
    assert here in LAYER, f"{rel}: put new modules in a sub-package (or list a shared base module here)"
    bad = []
    for mod in _imports(path):
        there = _part(mod)
        if there is None or there == here or there not in LAYER:
            continue
        if LAYER[there] > LAYER[here] or (here, there) in FORBIDDEN:
            bad.append(mod)
    assert not bad, f"{rel} ({here}) imports upward or sideways: {sorted(bad)}"


def test_figures_read_tables_only():
    for path in (ROOT / "figures").rglob("*.py"):
        mods = _imports(path)
        assert not any(m.split(".")[0] in ("torch", "empirical") for m in mods), path
