"""Experiments over many networks, each in a resumable run directory (``rundir``): the depth × width grid,
Table 1, the paper's own widths, and their analysis and reports.

Depends on ``empirical.nets``, ``empirical.lock`` and ``empirical.measure``.
"""
