"""Measured disparities beside the bounds: one streaming measurement over stages for every architecture
(``measure``), with FCN-only columns (Theorems 1 and 3, Properties 1–3) and conv-only columns
(Properties 4–6, Theorem 4) on top; the stage decomposition; Theorem 1's Monte Carlo; and, for any other
``nn.Module`` (a residual, dense or inverted-residual network with a forward of its own), the layer-by-layer
measurement through forward hooks (``measure_module``).

Depends on ``empirical.nets`` (never on ``empirical.lock``).
"""

from empirical.measure.core import Constants as Constants
from empirical.measure.core import Measurement as Measurement
from empirical.measure.core import format_table as format_table
from empirical.measure.core import measure as measure
from empirical.measure.core import measure_net as measure_net
from empirical.measure.hooks import measure_module as measure_module
from empirical.measure.stream import FLOAT64_MAX_PARAMS as FLOAT64_MAX_PARAMS
from empirical.measure.stream import supports_stages as supports_stages
