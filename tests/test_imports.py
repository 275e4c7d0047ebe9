"""The public API contract of DESIGN.md, and light imports."""

import subprocess
import sys

import pytest

CONTRACT = {
    "bounds": ["conv_matrix", "conv_singular_values", "conv_operator_norm", "variance_bound"],
    "empirical": ["load_mnist", "make_fcn", "extract"],
    "figures": ["disparity_by_layer"],
}


@pytest.mark.parametrize("module,names", CONTRACT.items())
def test_contract_names(module, names):
    mod = __import__(module)
    for name in names:
        assert callable(getattr(mod, name)), name


def test_bounds_import_is_light():
    # the pure-math package does not drag in torch, pandas or matplotlib at import
    code = (
        "import sys, bounds, bounds.fcn_grid; "
        "print(sorted(m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_figures_import_does_not_pull_torch():
    code = "import sys, figures; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
