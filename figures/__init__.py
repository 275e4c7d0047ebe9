"""Plots from result tables (pandas → matplotlib). No torch import; nothing is computed here."""

from figures._base import FORMATS as FORMATS
from figures._base import save as save
from figures.disparity import disparity_by_layer as disparity_by_layer
from figures.grid import accuracy_curves as accuracy_curves
from figures.grid import critical_ratio_heatmap as critical_ratio_heatmap
from figures.grid import disparity_profile as disparity_profile
from figures.grid import figure5 as figure5
from figures.grid import theorem1_monte_carlo as theorem1_monte_carlo
from figures.grid import theory_vs_drop as theory_vs_drop
