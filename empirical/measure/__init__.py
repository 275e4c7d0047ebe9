"""Measured disparities beside the bounds: one streaming measurement over stages for every architecture
(``measure``), the stage decomposition, and Theorem 1's Monte Carlo.

Depends on ``empirical.nets`` (never on ``empirical.lock``).
"""

from empirical.measure.conv import measure_net as measure_net
from empirical.measure.fcn import Constants as Constants
from empirical.measure.fcn import Measurement as Measurement
from empirical.measure.fcn import measure as measure
