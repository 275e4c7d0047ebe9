"""Shared fixtures: real MNIST (fetched and cached once) and a tiny trained FCN."""

import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def mnist():
    from empirical.nets.data import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, mnist):
    """A 3 × 32 FCN trained for 2 epochs on 20,000 MNIST images: (run_dir, model, spec)."""
    from empirical.nets.checkpoint import load_checkpoint
    from empirical.nets.train import RunOptions, TrainSpec, train

    out = tmp_path_factory.mktemp("tiny_run")
    train(TrainSpec(hidden_layers=3, width=32, epochs=2, train_subset=20000), out, RunOptions(progress=False))
    model, meta = load_checkpoint(out)
    return out, model, meta["spec"]


@pytest.fixture(scope="session")
def test_tensors(mnist):
    import torch

    from empirical.nets.data import normalize

    return normalize(mnist[2][:2000]), torch.from_numpy(mnist[3][:2000])
