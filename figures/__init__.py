"""Plots from result tables (pandas → matplotlib). No torch import; nothing is computed here."""

from figures.disparity import disparity_by_layer as disparity_by_layer
