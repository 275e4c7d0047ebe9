"""Per-dtype tolerances used across the test suite (one place, stated once)."""

import numpy as np

# Relative agreement of two computations of the same singular values / norms.
RTOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-10}
# Monte-Carlo checks: agreement within this many standard errors.
N_SE = 4.0


def rtol(dtype) -> float:
    return RTOL[np.dtype(dtype)]
