"""`glassnet train --resume DIR` (issue 14): doctored checkpoints give one line; the resumed run remembers every
option of the original (-o, --history, --checkpoint-every, ...), extends --epochs only where that is well defined,
and ends with the same model file and the same history (gradient norms and plateau state included)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from glassnet.cli.main import main as cli_main
from glassnet.io.serialize import load_arrays, load_model, save_arrays
from glassnet.train.checkpoint import CHECKPOINT_KIND, latest_checkpoint

SMALL = ["--hidden", "8", "--batch-size", "64", "--seed", "1"]
TIMES = ("seconds", "samples_per_second")  # wall-clock fields: the only ones allowed to differ


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli_main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def one_error_line(status: int, err: str) -> str:
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glassnet: error: "), err
    assert "Traceback" not in err
    return lines[0]


def without_times(history: dict) -> dict:
    return {**history, "records": [{k: v for k, v in r.items() if k not in TIMES} for r in history["records"]]}


def assert_same_model(a: Path, b: Path) -> None:
    pa, pb = load_model(a).params(), load_model(b).params()
    assert pa.keys() == pb.keys()
    for name in pa:
        assert pa[name].tobytes() == pb[name].tobytes(), name


def checkpoint_steps(directory: Path) -> list[int]:
    return sorted(int(p.name[5:14]) for p in directory.glob("ckpt-*.npz"))


# ----------------------------------------------------------------------------- case 5: doctored checkpoints
@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("checkpointed")
    assert cli("train", *SMALL, "--epochs", "1", "-q", "--checkpoint-dir", root / "ck")[0] == 0
    return root / "ck"


def _doctor(arrays, meta, what):
    if what == "a history record with an unknown field":
        meta["history"]["records"][0]["foo"] = 1
    elif what == "no epoch_sums":
        del meta["epoch_sums"]
    elif what == "the RNG state as a list":
        meta["rng"] = [1, 2, 3]
    elif what == "config.hidden = 16":
        meta["config"]["hidden"] = 16
    elif what == "another bit generator":
        meta["rng"]["bit_generator"] = "MT19937"
    elif what == "an epoch count as a string":
        meta["epoch"] = "1"
    elif what == "an unknown option":
        meta["options"]["frobnicate"] = True
    elif what == "a sample order that is not a permutation":
        arrays["train/order"] = np.zeros(8, np.int64)
    elif what == "a weight matrix of another shape":
        arrays["param/0.W"] = np.zeros((64, 9), np.float32)
    elif what == "a NaN in the momentum buffer":
        arrays["opt/velocity/0.W"] = arrays["opt/velocity/0.W"].copy()
        arrays["opt/velocity/0.W"][0, 0] = np.nan
    elif what == "another optimizer's state":
        meta["optimizer"]["name"] = "adam"
    elif what == "an older checkpoint layout":
        meta["checkpoint_version"] = 1
    else:
        raise AssertionError(what)


DOCTORED = {
    "a history record with an unknown field": "checkpoint.history.records[0]: unknown key(s) ['foo']",
    "no epoch_sums": "checkpoint: missing key(s) ['epoch_sums']",
    "the RNG state as a list": "checkpoint.rng: expected an object with keys",
    "config.hidden = 16": "checkpoint.config.hidden: expected a list, got 16",
    "another bit generator": "checkpoint.rng.bit_generator: expected one of ['PCG64'], got 'MT19937'",
    "an epoch count as a string": "checkpoint.epoch: expected an integer >= 0, got '1'",
    "an unknown option": "checkpoint.options: unknown key(s) ['frobnicate']",
    "a sample order that is not a permutation": "'train/order' is not a permutation of 0..7",
    "a weight matrix of another shape": "the checkpoint's param/ arrays",
    "a NaN in the momentum buffer": "array 'opt/velocity/0.W' holds 1 NaN of 512 values",
    "another optimizer's state": "the checkpoint holds the state of optimizer 'adam', this run uses 'sgd'",
    "an older checkpoint layout": "checkpoint layout version 1; this glassnet resumes version 2",
}


@pytest.mark.parametrize("what", sorted(DOCTORED))
def test_a_doctored_checkpoint_with_valid_digests_gives_one_line(checkpointed, tmp_path, what):
    directory = tmp_path / "ck"
    shutil.copytree(checkpointed, directory)
    (path,) = directory.glob("ckpt-*.npz")
    arrays, meta = load_arrays(path, CHECKPOINT_KIND)
    _doctor(arrays, meta, what)
    save_arrays(path, arrays, meta, CHECKPOINT_KIND)  # valid digests: only the content is wrong
    line = one_error_line(*cli("train", "--resume", directory)[::2])
    assert DOCTORED[what] in line, line
    assert str(path) in line


def test_a_doctored_newest_checkpoint_falls_back_to_an_older_one_and_says_so(tmp_path):
    directory = tmp_path / "ck"
    assert cli("train", *SMALL, "--epochs", "2", "-q", "--checkpoint-dir", directory)[0] == 0
    newest = directory / f"ckpt-{checkpoint_steps(directory)[-1]:09d}.npz"
    arrays, meta = load_arrays(newest, CHECKPOINT_KIND)
    del meta["epoch_sums"]
    save_arrays(newest, arrays, meta, CHECKPOINT_KIND)
    status, out, err = cli("train", "--resume", directory)
    assert status == 0, err
    assert f"skipped a damaged checkpoint: {newest}: checkpoint: missing key(s) ['epoch_sums']" in err


# ----------------------------------------------------------------------------- case 8 and 10: remembered options
def test_resume_remembers_output_options_and_ends_identical(tmp_path):
    """Run to the end, throw away the outputs and the newest checkpoints, resume mid-epoch with the bare
    README command: the model file and the history come back identical, and the remembered
    --checkpoint-every writes its mid-epoch checkpoints again."""
    ck, model, history = tmp_path / "ck", tmp_path / "model.npz", tmp_path / "history.json"
    status, _, err = cli("train", *SMALL, "--epochs", "2", "-q", "--checkpoint-dir", ck, "--checkpoint-every", "5",
                         "--keep-checkpoints", "100", "-o", model, "--history", history)
    assert status == 0, err
    reference_model, reference_history = model.read_bytes(), json.loads(history.read_text())
    steps = checkpoint_steps(ck)
    assert 5 in steps and 10 in steps and len(steps) > 4  # every 5 steps and each epoch's end
    model.unlink()
    history.unlink()
    for step in steps:
        if step > 5:
            (ck / f"ckpt-{step:09d}.npz").unlink()

    status, out, err = cli("train", "--resume", ck)
    assert status == 0, err
    assert f"resuming from {ck / 'ckpt-000000005.npz'} (epoch 0, step 5) to epoch 2" in err
    assert f"with -o {model}, --history {history}, --checkpoint-every 5, --keep-checkpoints 100" in err
    assert f"model saved to {model}" in out
    assert checkpoint_steps(ck) == steps  # the same checkpoints again: --checkpoint-every and --keep remembered
    restored = json.loads(history.read_text())
    assert without_times(restored) == without_times(reference_history)  # gradient norms included
    assert all(r["grad_norms"] for r in restored["records"])
    (tmp_path / "ref.npz").write_bytes(reference_model)
    assert_same_model(tmp_path / "ref.npz", model)


def test_output_options_given_on_resume_replace_the_remembered_ones(tmp_path):
    ck = tmp_path / "ck"
    assert cli("train", *SMALL, "--epochs", "1", "-q", "--checkpoint-dir", ck, "-o", tmp_path / "a.npz")[0] == 0
    status, out, err = cli("train", "--resume", ck, "-o", tmp_path / "b.npz", "-q")
    assert status == 0, err
    assert f"model saved to {tmp_path / 'b.npz'}" in out
    assert_same_model(tmp_path / "a.npz", tmp_path / "b.npz")
    _, meta = load_arrays(sorted(ck.glob("ckpt-*.npz"))[-1], CHECKPOINT_KIND)
    assert meta["options"]["output"] == str(tmp_path / "a.npz")  # nothing was trained, nothing rewritten


def test_mid_epoch_gradient_norms_survive_a_resume(tmp_path):
    """The per-epoch gradient norms of the epoch that was interrupted (case 10)."""
    ck, history = tmp_path / "ck", tmp_path / "h.json"
    assert cli("train", *SMALL, "--epochs", "1", "-q", "--checkpoint-dir", ck, "--checkpoint-every", "3",
               "--keep-checkpoints", "50", "--history", history)[0] == 0
    reference = json.loads(history.read_text())["records"][0]["grad_norms"]
    for step in checkpoint_steps(ck)[1:]:
        (ck / f"ckpt-{step:09d}.npz").unlink()  # keep only step 3: one sampled step (step 1) so far
    _, meta = load_arrays(ck / "ckpt-000000003.npz", CHECKPOINT_KIND)
    assert meta["callback_state"]["grad_norms"]["#steps"] == 1
    assert cli("train", "--resume", ck, "-q")[0] == 0
    assert json.loads(history.read_text())["records"][0]["grad_norms"] == reference


# ----------------------------------------------------------------------------- case 9: --epochs on resume
@pytest.mark.parametrize("schedule", ["constant", "reduce_on_plateau", "exponential_decay"])
def test_more_epochs_on_resume_equal_a_run_planned_that_long(tmp_path, schedule):
    options = [*SMALL, "--schedule", schedule, "-q"]
    assert cli("train", *options, "--epochs", "2", "--checkpoint-dir", tmp_path / "ck", "--history",
               tmp_path / "h2.json")[0] == 0
    status, _, err = cli("train", "--resume", tmp_path / "ck", "--epochs", "4", "-o", tmp_path / "resumed.npz",
                         "--history", tmp_path / "h4.json", "-q")
    assert status == 0, err
    assert cli("train", *options, "--epochs", "4", "-o", tmp_path / "fresh.npz", "--history", tmp_path / "f4.json")[0] == 0
    assert_same_model(tmp_path / "fresh.npz", tmp_path / "resumed.npz")
    resumed, fresh = (json.loads((tmp_path / n).read_text()) for n in ("h4.json", "f4.json"))
    assert without_times(resumed) == without_times(fresh)  # the lr column too: the plateau state was restored
    assert len(resumed["records"]) == 4


@pytest.mark.parametrize("schedule", ["cosine_with_warmup", "step_decay"])
def test_more_epochs_on_resume_are_refused_for_a_schedule_planned_over_the_run(tmp_path, schedule):
    assert cli("train", *SMALL, "--schedule", schedule, "--epochs", "3", "-q", "--checkpoint-dir", tmp_path / "ck")[0] == 0
    line = one_error_line(*cli("train", "--resume", tmp_path / "ck", "--epochs", "6")[::2])
    assert (f"--epochs 6 would change the run's {schedule} learning-rate schedule, which is planned over its 3 epochs"
            in line)
    assert cli("train", "--resume", tmp_path / "ck", "--epochs", "3", "-q")[0] == 0  # the planned length is fine


def test_fewer_epochs_than_already_trained_are_refused(tmp_path):
    assert cli("train", *SMALL, "--epochs", "3", "-q", "--checkpoint-dir", tmp_path / "ck")[0] == 0
    line = one_error_line(*cli("train", "--resume", tmp_path / "ck", "--epochs", "2")[::2])
    assert "--epochs 2: the checkpointed run has already trained 3 epochs" in line


def test_plateau_state_is_part_of_the_checkpointed_train_state(tmp_path):
    """Issue 11: ReduceLROnPlateau's running state is TrainState.plateau, saved and restored explicitly."""
    options = [*SMALL, "--schedule", "reduce_on_plateau", "--lr", "0.5", "-q"]
    assert cli("train", *options, "--epochs", "5", "--checkpoint-dir", tmp_path / "ck")[0] == 0
    _, _, meta = latest_checkpoint(tmp_path / "ck")
    assert meta["plateau"]["lr"] == 0.25 and meta["plateau"]["best"] is not None  # cut once, after epoch 4
    assert cli("train", "--resume", tmp_path / "ck", "--epochs", "8", "-q", "--history", tmp_path / "r.json")[0] == 0
    assert cli("train", *options, "--epochs", "8", "--history", tmp_path / "f.json")[0] == 0
    lrs = [[r["lr"] for r in json.loads((tmp_path / name).read_text())["records"]] for name in ("r.json", "f.json")]
    assert lrs[0] == lrs[1] == [0.5] * 4 + [0.25] * 3 + [0.125]


# ----------------------------------------------------------------------------- SIGKILL, the README's command
@pytest.mark.slow
def test_sigkill_then_the_readme_resume_command_gives_the_same_model_file_and_history(tmp_path):
    """`glassnet train ... -o M --history H --checkpoint-dir D --checkpoint-every 1`, killed twice at random steps,
    each time continued with exactly `glassnet train --resume D` (README): M and H as a run never killed."""
    command = [sys.executable, "-m", "glassnet", "train"]
    options = ["--hidden", "256", "--epochs", "2", "--batch-size", "16", "--seed", "4", "--dropout", "0.2"]
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    subprocess.run(command + options + ["-q", "-o", str(reference_dir / "m.npz"), "--history",
                                        str(reference_dir / "h.json")], check=True, capture_output=True, timeout=300)
    ck, model, history = tmp_path / "ck", tmp_path / "m.npz", tmp_path / "h.json"
    rng = np.random.default_rng(14)
    targets = sorted(int(t) for t in rng.choice(np.arange(10, 150), size=2, replace=False))  # of 2 x 81 steps
    for i, target in enumerate([*targets, None]):
        if i == 0:
            argv = options + ["-o", str(model), "--history", str(history), "--checkpoint-dir", str(ck),
                              "--checkpoint-every", "1"]
        else:
            argv = ["--resume", str(ck)]  # the README's command, nothing else
        proc = subprocess.Popen(command + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if target is None:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err.decode()
            break
        while (max(checkpoint_steps(ck), default=-1) < target) and proc.poll() is None:
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.03))
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not model.exists()
    assert f"model saved to {model}" in out.decode()
    assert_same_model(reference_dir / "m.npz", model)
    assert without_times(json.loads(history.read_text())) == without_times(json.loads((reference_dir / "h.json").read_text()))
