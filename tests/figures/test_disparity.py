"""figures/ draws from tables only."""

import matplotlib.figure
import pandas as pd

from figures import disparity_by_layer


def test_disparity_figure_from_a_table(tmp_path):
    df = pd.DataFrame(
        {
            "layer": [1, 2, 3],
            "d_median": [0.0, 1.2, 2.0],
            "G_median": [0.0, 0.0, 1.1],
            "sandwich_tightness_median": [float("nan"), 3.0, 4.0],
            "theorem3_meas_tightness_median": [float("nan"), 10.0, 30.0],
            "theorem3_p1_tightness_median": [float("nan"), 100.0, 3000.0],
        }
    )
    fig = disparity_by_layer(df, "test")
    assert isinstance(fig, matplotlib.figure.Figure)
    fig.savefig(tmp_path / "d.png")
    assert (tmp_path / "d.png").stat().st_size > 1000
