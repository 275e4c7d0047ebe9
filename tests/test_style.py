"""No squeezing (issue 38): ruff (lint and format, line length 120) is clean over the package, at most 20
``# fmt: skip`` (where a table reads better aligned), no module over 400 lines and no function over 100."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("empirical", "bounds", "figures", "scripts")


def _ruff():
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(exe).exists():
        pytest.skip("ruff is not installed (pip install '.[test]')")
    return exe


def test_ruff_lint_and_format_are_clean():
    exe = _ruff()
    lint = subprocess.run([exe, "check", *PACKAGES], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout[-2000:]
    fmt = subprocess.run([exe, "format", "--check", *PACKAGES], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout[-2000:]


def _modules():
    return [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]


def test_no_module_over_400_lines_and_no_function_over_100():
    long_modules = [f"{p.relative_to(ROOT)} ({n})" for p in _modules() if (n := len(p.read_text().splitlines())) > 400]
    long_functions = [
        f"{p.relative_to(ROOT)}:{node.name} ({node.end_lineno - node.lineno + 1})"
        for p in _modules()
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 100
    ]
    assert not long_modules and not long_functions, (long_modules, long_functions)


def test_fmt_skip_is_rare():
    count = sum(p.read_text().count("# fmt: skip") for p in _modules())
    assert count <= 20, count
