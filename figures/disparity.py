"""Per-layer disparity figure from a ``bounds_checks.csv`` table (no torch import, no computing)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def disparity_by_layer(layers: pd.DataFrame, title: str = ""):
    """Median d⁽ᵐ⁾ and G⁽ᵐ⁾ per layer beside the sandwich and Theorem 3 tightness (log scale)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    ax1.plot(layers["layer"], layers["d_median"], "o-", label="d = ‖y − y*‖ (median)")
    ax1.plot(layers["layer"], layers["G_median"], "s--", label="G (median)")
    ax1.set_xticks(layers["layer"])
    ax1.set_xlabel("layer m")
    ax1.set_ylabel("disparity")
    ax1.legend()
    for col, label in [
        ("sandwich_tightness_median", "G + Lμ‖y*⁽ᵐ⁻¹⁾‖ (deterministic)"),
        ("theorem3_meas_tightness_median", "Theorem 3, λ measured"),
        ("theorem3_p1_tightness_median", "Theorem 3, λ from Property 1"),
    ]:
        ax2.semilogy(layers["layer"], layers[col], "o-", label=label)
    ax2.axhline(1.0, color="k", lw=0.8)
    ax2.set_xticks(layers["layer"])
    ax2.set_xlabel("layer m")
    ax2.set_ylabel("bound / d (median)")
    ax2.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig
