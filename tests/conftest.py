"""Shared fixtures: real MNIST (fetched and cached once), a tiny trained FCN, and the one-error-line check.

The ``mnist`` marker is set from the fixtures a test uses (directly or through other fixtures), and with it
``slow`` (``pytest -m "not slow"`` is the quick loop while editing, about a minute on 2 cores; a few data-free
tests are marked slow in their files). ``pytest -m "not mnist"`` is the subset that needs no data (run with
``CORELOCKER_OFFLINE=1`` to prove it: the data loader then refuses to fetch).
"""

import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory, monkeypatch):
    """Resume points of the tests never land in (or resume from) the user's cache."""
    monkeypatch.setenv("CORELOCKER_STATE_DIR", str(tmp_path_factory.getbasetemp() / "state"))


DATA_FIXTURES = {"mnist", "fashion", "tiny_run", "test_tensors", "src"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.mnist)
            item.add_marker(pytest.mark.slow)  # real data means real training: never in the quick loop


@pytest.fixture(scope="session")
def mnist():
    from empirical.nets.data import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def fashion():
    from empirical.nets.data import load_dataset

    return load_dataset("fashion-mnist")


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


@pytest.fixture()
def src(tiny_run, tmp_path):
    """A copy of the tiny trained FCN's checkpoint, free to be edited by the test."""
    run_dir, *_ = tiny_run
    copy = tmp_path / "original.safetensors"
    copy.write_bytes((run_dir / "model.safetensors").read_bytes())
    return copy


@pytest.fixture()
def one_error(capsys):
    """``one_error(code, fragment)``: the command exited 2 and printed exactly one line
    ``corelocker-bounds: error: …`` naming ``fragment`` (log lines aside)."""

    def check(code, fragment):
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip() and not ln.startswith("INFO")]
        assert code == 2 and len(err) == 1 and err[0].startswith("corelocker-bounds: error:"), err
        assert fragment in err[0], err

    return check
