"""Checkpoints: atomic, verified, and a run killed with SIGKILL and resumed ends bit-identical."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import glassnet as gn
from glassnet.train.checkpoint import Checkpointer, latest_checkpoint, restore_state, save_checkpoint
from glassnet.errors import ConfigError
from glassnet.optim.optimizers import SGD
from glassnet.optim.schedules import ReduceLROnPlateau
from glassnet.train.loop import EarlyStopping, TrainState, fit


def blobs(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((90, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    return X, y


@pytest.mark.parametrize("norm", [None, "batch"])
def test_checkpoint_round_trip_resumes_mid_epoch_bit_identically(tmp_path, norm):
    X, y = blobs()

    def setup():
        model = gn.mlp([5, 8, 3], "tanh", dropout=0.2, norm=norm, rng=1)
        return model, SGD(lr=ReduceLROnPlateau(0.1, patience=0), momentum=0.9)

    kwargs = dict(epochs=4, batch_size=8, validation_split=0.2, early_stopping=EarlyStopping(patience=10))
    full, opt = setup()
    fit(full, X, y, optimizer=opt, rng=np.random.default_rng(5), **kwargs)

    # run, checkpointing every 5 steps, and stop after step 17 (mid-epoch)
    part, opt = setup()

    class StopAt:
        def on_batch_end(self, step):
            if step.step == 17:
                step.state.stop = True

    ck = Checkpointer(tmp_path, opt, every_steps=5, keep=2)
    fit(part, X, y, optimizer=opt, rng=np.random.default_rng(5), callbacks=[ck, StopAt()], **kwargs)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ckpt-000000010.npz", "ckpt-000000015.npz"]  # keep=2

    path, arrays, meta = latest_checkpoint(tmp_path)
    assert path.name == "ckpt-000000015.npz" and meta["step"] == 15 and meta["position"] > 0
    resumed, opt = setup()
    state = restore_state(resumed, opt, arrays, meta)
    fit(resumed, X, y, optimizer=opt, state=state, **kwargs)
    for name, value in full.params().items():
        np.testing.assert_array_equal(value, resumed.params()[name])
    assert list(full.state()) == (["1.running_mean", "1.running_var"] if norm else [])
    for name, value in full.state().items():  # the running statistics resume bit for bit too
        np.testing.assert_array_equal(value, resumed.state()[name])
        assert np.any(value != (1.0 if name.endswith("var") else 0.0))  # they did move


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path):
    X, y = blobs()
    model = gn.mlp([5, 4, 3], rng=0)
    opt = SGD(lr=0.1)
    state = TrainState(rng=np.random.default_rng(0))
    fit(model, X, y, optimizer=opt, epochs=1, batch_size=30, state=state)
    save_checkpoint(tmp_path, model, opt, state)
    state.step += 1
    newest = save_checkpoint(tmp_path, model, opt, state)
    newest.write_bytes(newest.read_bytes()[:-100])
    path, _, meta = latest_checkpoint(tmp_path)
    assert meta["step"] == state.step - 1 and path != newest
    with pytest.raises(ConfigError, match="no usable checkpoint"):
        latest_checkpoint(tmp_path / "empty")


# ----------------------------------------------------------------------------- SIGKILL
# A wide layer makes each checkpoint about 0.6 MB, so a good share of the run is spent writing
# checkpoints (one per step) and random kills land inside writes too.
OPTIONS = ["-q", "--hidden", "1024", "--epochs", "2", "--batch-size", "16", "--seed", "3"]
COMMAND = [sys.executable, "-m", "glassnet", "train"]


def _newest_step(ckdir) -> int:
    steps = [int(p.name[5:14]) for p in ckdir.glob("ckpt-*.npz")] if ckdir.is_dir() else []
    return max(steps, default=-1)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_identical_weights(tmp_path):
    """Kill the run 5 times, each at a random moment after a random step (mid-step, mid-write or
    between), resume each time from the directory, and compare with a run never interrupted."""
    from glassnet.io.serialize import load_model

    reference = tmp_path / "reference.npz"
    subprocess.run(COMMAND + OPTIONS + ["-o", str(reference)], check=True, capture_output=True, timeout=300)

    ckdir, final = tmp_path / "ck", tmp_path / "final.npz"
    rng = np.random.default_rng(2024)
    targets = sorted(int(t) for t in rng.choice(np.arange(5, 150), size=5, replace=False))  # of 2 x 81 steps
    kills = kills_during_write = 0
    for target in [*targets, None]:
        if _newest_step(ckdir) >= 0:
            args = ["-q", "--resume", str(ckdir)]
        else:
            args = OPTIONS + ["--checkpoint-dir", str(ckdir), "--checkpoint-every", "1"]
        proc = subprocess.Popen(COMMAND + args + ["-o", str(final)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if target is not None:
            while _newest_step(ckdir) < target and proc.poll() is None:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.05))
            assert proc.poll() is None, f"the run ended before step {target}: {proc.stderr.read().decode()}"
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            kills_during_write += bool(list(ckdir.glob(".ckpt-*.tmp")))
            continue
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    print(f"\nSIGKILL test: {kills} kills after steps {targets}, {kills_during_write} of them inside a checkpoint write")
    expected, got = load_model(reference).params(), load_model(final).params()
    assert expected.keys() == got.keys()
    for name in expected:
        np.testing.assert_array_equal(expected[name], got[name], err_msg=name)


KILL_MID_WRITE = """
import os, signal, sys
import numpy as np
import glassnet as gn
from glassnet.io import serialize
from glassnet.train.checkpoint import save_checkpoint
from glassnet.optim.optimizers import SGD
from glassnet.train.loop import TrainState

model = gn.mlp([5, 64, 3], rng=0)
opt = SGD(lr=0.1, momentum=0.9)
state = TrainState(rng=np.random.default_rng(0), opt_state=opt.init(model.params()))
save_checkpoint(sys.argv[1], model, opt, state)

def write_half_then_die(f, members, blob):
    f.write(b"PK" + bytes(1000))
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)

serialize._write_npz = write_half_then_die
state.step = 1
model.params()["0.W"][:] = 7.0
save_checkpoint(sys.argv[1], model, opt, state)
"""


def test_sigkill_inside_a_checkpoint_write_leaves_the_previous_one_intact(tmp_path):
    proc = subprocess.run([sys.executable, "-c", KILL_MID_WRITE, str(tmp_path)], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    leftovers = list(tmp_path.glob(".ckpt-*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size == 1002  # the half-written temporary file
    assert [p.name for p in tmp_path.glob("ckpt-*.npz")] == ["ckpt-000000000.npz"]
    path, arrays, meta = latest_checkpoint(tmp_path)
    assert meta["step"] == 0 and not np.any(arrays["param/0.W"] == 7.0)
    model = gn.mlp([5, 64, 3], rng=0)
    np.testing.assert_array_equal(arrays["param/0.W"], model.params()["0.W"])
    # the next run removes the debris before writing its own checkpoints
    Checkpointer(tmp_path, SGD(lr=0.1)).on_train_begin(TrainState(), {"model": model})
    assert not list(tmp_path.glob(".ckpt-*.tmp"))
