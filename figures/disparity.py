"""Per-layer disparity figure from a ``bounds_checks.csv`` table (no torch import, no computing)."""

from __future__ import annotations

import pandas as pd

from figures._base import new_figure


def disparity_by_layer(layers: pd.DataFrame, title: str = ""):
    """Median d⁽ᵐ⁾ and G⁽ᵐ⁾ per layer beside the bounds' tightness (bound / d, log scale).

    ``layers``: one row per layer (the ``bounds_checks.csv`` of ``check-bounds`` or of one grid cell,
    indicator and ratio) with ``layer, d_median, G_median, sandwich_tightness_median`` and, where the
    theorem applies, ``theorem3_*_tightness_median`` (FCNs) or ``theorem4_meas_tightness_median`` (convs).
    """
    fig = new_figure((9, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(layers["layer"], layers["d_median"], "o-", label="d = ‖y − y*‖ (median)")
    ax1.plot(layers["layer"], layers["G_median"], "s--", label="G (median)")
    ax1.set_xticks(layers["layer"])
    ax1.set_xlabel("layer m")
    ax1.set_ylabel("disparity")
    ax1.legend()
    for col, label in [
        ("sandwich_tightness_median", "sandwich (deterministic)"),
        ("theorem3_meas_tightness_median", "Theorem 3, λ measured"),
        ("theorem3_p1_tightness_median", "Theorem 3, λ from Property 1"),
        ("theorem4_meas_tightness_median", "Theorem 4, λ measured"),
    ]:
        if col in layers and layers[col].notna().any():
            ax2.semilogy(layers["layer"], layers[col], "o-", label=label)
    ax2.axhline(1.0, color="k", lw=0.8)
    ax2.set_xticks(layers["layer"])
    ax2.set_xlabel("layer m")
    ax2.set_ylabel("bound / d (median)")
    ax2.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig
