"""Write the golden measurement tables the unified measurement is checked against.

Run once with the measurement code the golden files should pin (it was run with the two separate
measurements, ``measure`` for FCNs and ``measure_net`` for conv nets, before they became one):
``python tests/empirical/data/make_golden_measure.py``. Inputs are synthetic and seeded (no data
download), so the files are reproducible on any machine with the same torch build.
"""

from pathlib import Path

import torch

HERE = Path(__file__).parent


def cases():
    from empirical.lock.extraction import extract
    from empirical.nets.convnets import make_conv
    from empirical.nets.models import make_fcn

    g = torch.Generator().manual_seed(0)
    fcn = make_fcn(3, 24, seed=0)
    x = torch.randn(64, 784, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    for ind, r in (("l1", 0.05), ("random", 0.2)):
        yield f"fcn_{ind}", fcn, extract(fcn, r, ind)[0], x, y
    cnn = make_conv("vgg", 1, 4, seed=0)
    with torch.no_grad():  # non-trivial BN statistics and scales
        for m in cnn.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
    xc = torch.randn(16, 784, generator=g)
    yc = torch.randint(0, 10, (16,), generator=g)
    for ind, r in (("l1", 0.1), ("bn-scale", 0.1)):
        yield f"vgg_{ind}", cnn.eval(), extract(cnn, r, ind)[0], xc, yc


if __name__ == "__main__":
    from empirical.measure.conv import measure_net
    from empirical.measure.fcn import measure

    for name, model, locked, x, y in cases():
        fn = measure if name.startswith("fcn") else measure_net
        res = fn(model, locked, x, y, batch=40)
        res.layers.to_csv(HERE / f"golden_{name}_layers.csv", index=False, float_format="%.17g")
        res.samples.to_csv(HERE / f"golden_{name}_samples.csv", index=False, float_format="%.17g")
        print(name, res.layers.shape, res.samples.shape)
