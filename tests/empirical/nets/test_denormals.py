"""Denormals flushed while training on the CPU (``nets.threads.flushed_denormals``): set only for the block and
restored after it, opt-out by environment, and the trained weights the same bit for bit as with IEEE denormals —
on a training whose Adam state really holds denormals (checked, else the comparison proves nothing)."""

import torch
from safetensors.torch import load_file

from empirical.nets.threads import (
    KEEP_DENORMALS_ENV,
    denormal_mode,
    denormals_flushed,
    denormals_flushed_in,
    flushed_denormals,
)
from empirical.nets.train import RunOptions, TrainSpec, train


def test_flushed_only_inside_the_block_and_restored():
    assert not denormals_flushed() and denormal_mode("cpu") == "kept"
    with flushed_denormals("cpu"):
        assert denormals_flushed() and denormal_mode("cpu") == "flushed"
        assert float(torch.tensor([3e-39]) * 1.0) == 0.0
    assert not denormals_flushed()
    assert float(torch.tensor([3e-39]) * 1.0) > 0.0  # IEEE denormals again


def test_opt_out_and_other_devices_leave_it_alone(monkeypatch):
    with flushed_denormals("cuda"):  # a CUDA run: the CPU thread is not touched
        assert not denormals_flushed()
    assert denormal_mode("cuda") == "kept"
    monkeypatch.setenv(KEEP_DENORMALS_ENV, "1")
    with flushed_denormals("cpu"):
        assert not denormals_flushed()


def test_an_outer_setting_survives_the_block():
    torch.set_flush_denormal(True)
    try:
        with flushed_denormals("cpu"):
            pass
        assert denormals_flushed()  # the block restores what was set before it, not the default
    finally:
        torch.set_flush_denormal(False)


def _state(out_dir, keep: bool, monkeypatch, spec):
    if keep:
        monkeypatch.setenv(KEEP_DENORMALS_ENV, "1")
    else:
        monkeypatch.delenv(KEEP_DENORMALS_ENV, raising=False)
    path = train(spec, out_dir, RunOptions(progress=False, stop_after_epochs=2))  # keeps its resume point
    return load_file(str(path))


def test_training_is_bit_identical_with_denormals_flushed(tmp_path, monkeypatch, mnist):
    """1,024 Adam steps of a 2 × 64 FCN at batch 8: units that stop receiving gradient leave denormal first
    moments behind (asserted), and the weights come out equal to the bit either way."""
    spec = TrainSpec(hidden_layers=2, width=64, epochs=3, batch_size=8, train_subset=4096)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one summation order for both runs
    try:
        kept = _state(tmp_path / "kept", True, monkeypatch, spec)
        flushed = _state(tmp_path / "flushed", False, monkeypatch, spec)
    finally:
        torch.set_num_threads(threads)
    tiny = torch.finfo(torch.float32).tiny

    def denormal(t):
        return int(((t.abs() > 0) & (t.abs() < tiny)).sum())

    moments = [k for k in kept if k.startswith("opt.") and k.endswith(".exp_avg")]
    assert sum(denormal(kept[k]) for k in moments) > 100  # the comparison below is not vacuous
    assert sum(denormal(flushed[k]) for k in moments) == 0
    weights = [k for k in kept if k.startswith("model.")]
    assert weights and all(torch.equal(kept[k], flushed[k]) for k in weights)


def test_train_restores_the_mode_it_found(tmp_path, mnist):
    train(TrainSpec(hidden_layers=1, width=8, epochs=1, train_subset=256), tmp_path, RunOptions(progress=False))
    assert not denormals_flushed()


def test_the_attacks_own_loops_flush_too_and_give_the_same_weights(monkeypatch):
    """from_scratch_converged and fine_tune train in loops of their own (``denormals_flushed_in``)."""
    from torch import nn

    from empirical.lock.attacks import FineTune, fine_tune, from_scratch_converged

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(600, 20, generator=g), torch.randint(0, 3, (600,), generator=g)

    def make():
        return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 3))

    def both():
        base = from_scratch_converged(make, x, y, max_steps=120, seed=1).model
        tuned = fine_tune(base, x, y, "FTAL", FineTune(epochs=2), seed=2)
        return [t.detach().clone() for t in (*base.state_dict().values(), *tuned.state_dict().values())]

    monkeypatch.setenv(KEEP_DENORMALS_ENV, "1")
    kept = both()
    monkeypatch.delenv(KEEP_DENORMALS_ENV)
    flushed = both()
    assert not denormals_flushed()  # restored after each loop
    assert denormals_flushed_in(denormals_flushed)() and not denormals_flushed()  # flushed inside the loop only
    assert all(torch.equal(a, b) for a, b in zip(kept, flushed))
