"""The dependency direction of our code (DESIGN.md): nets ← {lock, measure} ← {experiments, figures} ← cli,
``bounds`` pure, and no import cycle.

Every import in every module is read from the source — function-level ones, relative ones, the package's lazy
names (``from empirical import lock_file`` is ``empirical.lock.workflow``) and ``__import__`` /
``importlib.import_module`` calls with a literal name — so no import can hide a dependency pointing the wrong
way. ``test_the_checker_catches_each_probe`` shows that each way of hiding one is caught.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# empirical's parts by layer; figures (drawing from tables) sits beside the experiments that call it
LAYER = {"errors": 0, "_io": 0, "safety": 0, "kinds": 0, "host": 0, "nets": 1, "lock": 2, "measure": 2,
         "experiments": 3, "figures": 3, "cli": 4}  # fmt: skip
FORBIDDEN = {("lock", "measure"), ("measure", "lock")}  # siblings: neither imports the other
OURS = ("empirical", "figures", "bounds")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _lazy_api() -> dict[str, str]:
    """``empirical``'s lazy top-level names → the modules that define them (its ``_API`` table)."""
    tree = ast.parse((ROOT / "empirical" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_API" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


LAZY = _lazy_api()


IMPORTERS = ("__import__", "import_module")


def _lazy_reason(lines: list[str], lineno: int) -> bool:
    """An import the checker cannot resolve is allowed only with a stated reason ("lazy:") on its line or the
    line above."""
    return any("lazy:" in lines[i] for i in (lineno - 1, lineno - 2) if 0 <= i < len(lines))


def imports(path: Path, source: str | None = None) -> set[str]:
    """Every module ``path`` imports (absolute names; ``from m import x`` gives m and m.x), including names reached
    through the ``empirical`` package or an alias of it (``import empirical as e; e.lock_file``), ``__import__`` and
    ``import_module`` with a literal or a literal-relative name; an import that cannot be resolved (a non-literal
    or f-string name, ``sys.modules``) appears as ``<unresolved: …>`` unless its line says why ("lazy:")."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    text = source if source is not None else path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    out, aliases = set(), {}
    from_importlib = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module ==
                      "importlib" for a in n.names}  # fmt: skip
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out.add(a.name)
                if a.name.split(".")[0] in OURS:
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
            for a in node.names:
                if mod.split(".")[0] in OURS:
                    aliases[a.asname or a.name] = f"{mod}.{a.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            out.add(f"{aliases[node.value.id]}.{node.attr}")  # e.lock_file, empirical.lock_file
        elif isinstance(node, ast.Subscript) and _dotted(node.value) == "sys.modules":
            if not _lazy_reason(lines, node.lineno):
                out.add(f"<unresolved: sys.modules at line {node.lineno}>")
        elif isinstance(node, ast.Call):
            fn = node.func
            called = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", None)
            if called not in IMPORTERS or not node.args:
                continue
            via_importlib = isinstance(fn, ast.Attribute) and _dotted(fn.value) == "importlib"
            if called == "import_module" and not (via_importlib or "import_module" in from_importlib):
                continue  # a function of ours that happens to share the name (nets.importer.import_module)
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                target = arg.value
                if target.startswith("."):  # relative: resolved against a literal package argument
                    pkg = node.args[1] if len(node.args) > 1 else None
                    if isinstance(pkg, ast.Constant) and isinstance(pkg.value, str):
                        out.add(pkg.value + target)
                    elif not _lazy_reason(lines, node.lineno):
                        out.add(f"<unresolved: relative {called} at line {node.lineno}>")
                else:
                    out.add(target)
            elif not _lazy_reason(lines, node.lineno):
                out.add(f"<unresolved: {called} of a computed name at line {node.lineno}>")
    return {LAZY.get(m.split(".", 1)[1], m) if m.startswith("empirical.") else m for m in out}


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _part(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "figures":
        return "figures"
    return parts[1] if parts[0] == "empirical" and len(parts) > 1 else None


def violations(path: Path, source: str | None = None) -> list[str]:
    """The imports of ``path`` that break the layering (empty: none)."""
    rel = path.relative_to(ROOT)
    mods = imports(path, source)
    if rel.parts[0] == "bounds":  # pure mathematics: nothing of ours but bounds itself
        return sorted(m for m in mods if m.split(".")[0] in ("empirical", "figures"))
    if rel.parts[0] == "figures":  # draws from tables: no torch, no toolkit code
        return sorted(m for m in mods if m.split(".")[0] in ("torch", "empirical"))
    here = rel.parts[1] if len(rel.parts) > 2 else Path(rel.parts[1]).stem
    if here == "__init__":
        return []  # the package's lazy re-exports (checked where they point: LAZY)
    if here not in LAYER:
        return [f"{rel}: put new modules in a sub-package (or list a shared base module in LAYER)"]
    bad = sorted(m for m in mods if m.startswith("<unresolved"))
    for mod in mods:
        if mod.startswith("<unresolved"):
            continue
        there = _part(mod)
        if there is None or there == here or there not in LAYER:
            continue
        if LAYER[there] > LAYER[here] or (here, there) in FORBIDDEN:
            bad.append(mod)
    return sorted(bad)


MODULES = sorted(p for pkg in OURS for p in (ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path):
    bad = violations(path)
    assert not bad, f"{path.relative_to(ROOT)} imports upward or sideways: {bad}"


def test_no_import_cycles():
    """Between our modules, function-level imports included (a cycle is a dependency in both directions)."""
    names = {module_name(p): p for p in MODULES}

    def target(mod: str) -> str | None:
        while mod and mod not in names:
            mod = mod.rpartition(".")[0]
        return mod or None

    graph = {n: {t for m in imports(p) if (t := target(m)) and t != n and not t.endswith("__init__")}
             for n, p in names.items()}  # fmt: skip
    for n in list(graph):  # a package's __init__ re-exports its own modules: not a dependency of theirs
        graph[n] = {t for t in graph[n] if not n.startswith(t + ".")}
    state, stack, cycles = {}, [], []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for t in sorted(graph.get(n, ())):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t) :] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, f"import cycles: {cycles[:3]}"


PROBES = {  # each hides an upward import a naive scan misses
    "a lazy top-level name": ("empirical/nets/probe.py", "from empirical import lock_file\n"),
    "the package's attribute": ("empirical/nets/probe.py", "import empirical\nf = empirical.lock_file\n"),
    "an alias of the package": ("empirical/nets/probe.py", "import empirical as e\nf = e.lock_file\n"),
    "a relative import": ("empirical/nets/probe.py", "from ..experiments import grid\n"),
    "bounds importing empirical": ("bounds/probe.py", "import empirical.nets.models\n"),
    "nets importing figures": ("empirical/nets/probe.py", "def f():\n    import figures\n"),
    "__import__": ("empirical/lock/probe.py", "m = __import__('empirical.cli.parsers')\n"),
    "importlib.import_module": ("empirical/measure/probe.py",
                                "import importlib\nm = importlib.import_module('empirical.lock.sweep')\n"),
    "a non-literal import_module": ("empirical/nets/probe.py",
                                    "import importlib\nname = 'empirical.cli'\nm = importlib.import_module(name)\n"),
    "a relative import_module": ("empirical/nets/probe.py",
                                 "import importlib\nm = importlib.import_module('.cli', 'empirical')\n"),
    "an f-string import_module": ("empirical/nets/probe.py",
                                  "import importlib\nx = 'cli'\nm = importlib.import_module(f'empirical.{x}')\n"),
    "sys.modules": ("empirical/nets/probe.py", "import sys\nm = sys.modules['empirical.cli']\n"),
}  # fmt: skip


@pytest.mark.parametrize("probe", PROBES)
def test_the_checker_catches_each_probe(probe):
    where, source = PROBES[probe]
    assert violations(ROOT / where, source), f"{probe}: not caught"


def function_level_imports(path: Path) -> list[tuple[int, str]]:
    """(line, source line) of every import inside a function of ``path``."""
    lines = path.read_text().splitlines()
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out += [
                (s.lineno, lines[s.lineno - 1]) for s in ast.walk(node) if isinstance(s, (ast.Import, ast.ImportFrom))
            ]
    return sorted(set(out))


def test_function_level_imports_are_a_handful_and_say_why():
    """An import inside a function hides a dependency; the few left save start-up time or load an optional
    package, and say so ("lazy: …") on their line or on the ``try:`` above it."""
    found = {}
    for path in MODULES:
        lines = path.read_text().splitlines()
        for lineno, text in function_level_imports(path):
            above = lines[lineno - 2] if lineno > 1 else ""
            found[f"{path.relative_to(ROOT)}:{lineno}"] = "lazy:" in text or ("try:" in above and "lazy:" in above)
    assert len(found) <= 10, f"{len(found)} function-level imports: {sorted(found)}"
    assert all(found.values()), f"no reason given: {[k for k, ok in found.items() if not ok]}"


def test_the_registry_names_experiment_packages_only():
    """A ``register()`` string is an import the registry performs: each must name a package under
    ``empirical.experiments`` (never the CLI), and each must exist."""
    tree = ast.parse((ROOT / "empirical/experiments/common/registry.py").read_text())
    modules = [c.args[1].value for c in ast.walk(tree) if isinstance(c, ast.Call) and getattr(c.func, "id", None) ==
               "register" and len(c.args) > 1 and isinstance(c.args[1], ast.Constant)]  # fmt: skip
    assert len(modules) >= 7
    for m in modules:
        assert m.startswith("empirical.experiments.") and m.count(".") == 2, m
        assert (ROOT / m.replace(".", "/") / "__init__.py").exists(), m


def test_a_register_string_naming_the_cli_is_caught():
    """The eighth probe: a registry line that names a cli module."""
    bad = 'register("x", "empirical.cli.parsers", "help")'
    tree = ast.parse(bad)
    (call,) = [c for c in ast.walk(tree) if isinstance(c, ast.Call)]
    assert not (call.args[1].value.startswith("empirical.experiments.") and call.args[1].value.count(".") == 2)
