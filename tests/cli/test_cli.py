"""End-to-end tests of the ``glassnet`` command: every sub-command through ``glassnet.cli.main``,
and a few through a real ``python -m glassnet.cli`` process for exit codes and tracebacks.

Everything trains on the offline 8x8 digits set with 16 hidden units for a few epochs, so the
whole file runs in seconds.  The bad-input cases of the command line live in
tests/test_bad_inputs.py (and in the table of docs/bad-inputs.md).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glassnet.core.activations import ACTIVATIONS
from glassnet.cli.main import main
from glassnet.data.datasets import load_dataset
from glassnet.errors import NonFiniteError
from glassnet.check.explain import TOPICS
from glassnet.data.idx import write_idx
from glassnet.nn.losses import LOSSES
from glassnet.optim.optimizers import OPTIMIZERS
from glassnet.data.preprocess import scaler_from_dict
from glassnet.io.serialize import load_model

SMALL = ["--hidden", "16", "--seed", "0"]
ERROR_LINE = re.compile(r"^glassnet: error: \S.*$")

# A custom layer Y = X * w (one weight per feature) for `gradcheck --module`; BUG is replaced
# by a factor that is right (1.0) or wrong (0.5) in the weight gradient.
SCALE_LAYER = '''
import numpy as np
from glassnet.nn.layers import Layer


class Scale(Layer):
    def __init__(self, width):
        super().__init__()
        self.n_in = width
        self.params = {"w": np.linspace(0.5, 1.5, width)}
        self.grads = {"w": np.zeros(width)}

    def forward(self, X, *, training=False, rng=None):
        w = self.params["w"]

        def backprop(grad_Y, need_input_grad=True):
            self.grads["w"][...] = BUG * np.sum(grad_Y * X, axis=0)
            return grad_Y * w if need_input_grad else None

        return X * w, backprop


layer = Scale(5)
'''


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """``glassnet argv...`` in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    try:
        status = main(list(argv))
    except SystemExit as exc:  # argparse: --help and usage errors
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert ERROR_LINE.match(lines[0]), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One quiet training run with -o and --history, shared by the commands that read a model.

    (capsys is function-scoped, so this module-scoped run captures its output by hand.)
    """
    root = tmp_path_factory.mktemp("cli")
    model, history = root / "model.npz", root / "history.json"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["train", *SMALL, "--epochs", "3", "-q", "-o", str(model), "--history", str(history)])
    return {"root": root, "model": model, "history": history, "status": status, "out": out.getvalue(),
            "err": err.getvalue()}


def digits_test_images(n: int) -> tuple[np.ndarray, np.ndarray]:
    ds = load_dataset("digits")
    return ds.X_test[:n], ds.y_test[:n]


def predictions(out: str) -> list[str]:
    """The top class of each line ``i<TAB>class<TAB>prob...`` that predict prints."""
    return [line.split("\t")[1] for line in out.splitlines()]


# ----------------------------------------------------------------------------- train
def test_train_prints_the_run_and_writes_model_and_history(trained):
    assert trained["status"] == 0
    assert trained["err"] == ""  # --quiet: no progress bar, no epoch lines
    out = trained["out"]
    assert "dataset: digits (1437 train, 360 test" in out
    assert "model: Dense(64->16) -> Activation(relu) -> Dropout(0.2) -> Dense(16->10) (1,210 parameters, float32)" in out
    assert "trained 3 epochs" in out
    accuracy = float(re.search(r"^test accuracy: (\d\.\d{4})$", out, re.M).group(1))
    assert 0.85 < accuracy <= 1.0
    assert f"model saved to {trained['model']}" in out

    model = load_model(trained["model"])
    assert model.meta["test_accuracy"] == pytest.approx(accuracy, abs=5e-5)
    assert model.meta["dataset"] == "digits" and model.meta["epochs_trained"] == 3
    history = json.loads(trained["history"].read_text())
    assert [r["epoch"] for r in history["records"]] == [1, 2, 3]
    # 1437 samples, 10% held out for validation -> 1293 training samples in batches of 32
    assert [r["steps"] for r in history["records"]] == [41, 41, 41]
    # 144 validation samples: each accuracy is a whole number of them, and the loss is a real loss
    assert all(0 < r["val_loss"] < 3 for r in history["records"])
    assert all(abs(r["val_accuracy"] * 144 - round(r["val_accuracy"] * 144)) < 1e-6 for r in history["records"])
    assert history["records"][-1]["val_accuracy"] > 0.5


@pytest.mark.parametrize("norm, layer", [("batch", "BatchNorm(16)"), ("layer", "LayerNorm(16)")])
def test_train_with_norm_saves_the_layer_and_its_statistics(tmp_path, capsys, norm, layer):
    status, out, _ = run(capsys, "train", *SMALL, "--epochs", "2", "-q", "--norm", norm, "-o", str(tmp_path / "m.npz"))
    assert status == 0
    assert f"model: Dense(64->16) -> {layer} -> Activation(relu) -> Dropout(0.2) -> Dense(16->10)" in out
    model = load_model(tmp_path / "m.npz")
    assert model.meta["train_config"]["norm"] == norm
    assert list(model.state()) == (["1.running_mean", "1.running_var"] if norm == "batch" else [])
    accuracy = float(re.search(r"^test accuracy: (\d\.\d{4})$", out, re.M).group(1))
    status, out, _ = run(capsys, "evaluate", str(tmp_path / "m.npz"))  # eval mode: the running statistics
    assert status == 0 and f"{accuracy:.4f}" in out
    status, out, _ = run(capsys, "info", str(tmp_path / "m.npz"))
    assert status == 0 and ("1.running_var (16,)" in out) is (norm == "batch")


def test_train_without_quiet_writes_one_line_per_epoch_to_stderr(capsys):
    status, out, err = run(capsys, "train", *SMALL, "--epochs", "2")
    assert status == 0
    epoch_lines = [line for line in err.splitlines() if line.startswith("epoch")]
    assert [line.split()[1] for line in epoch_lines] == ["1", "2"]
    assert all("val_loss" in line and "samples/s" in line for line in epoch_lines)
    assert "test accuracy:" in out
    assert not re.search(r"^epoch", out, re.M)  # progress stays off stdout


def test_same_seed_same_model(tmp_path, capsys):
    paths = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for path in paths:
        assert run(capsys, "train", *SMALL, "--epochs", "2", "-q", "-o", str(path))[0] == 0
    a, b = (load_model(p).params() for p in paths)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_batch_size_full_takes_one_step_per_epoch(tmp_path, capsys):
    history = tmp_path / "h.json"
    status, out, _ = run(capsys, "train", *SMALL, "--epochs", "3", "--batch-size", "full", "-q",
                         "--history", str(history))
    assert status == 0
    assert [r["steps"] for r in json.loads(history.read_text())["records"]] == [1, 1, 1]


def test_preset_supplies_values_and_explicit_options_override_them(tmp_path, capsys):
    path = tmp_path / "m.npz"
    # the digits preset: 256 hidden units, lr 0.05, standard scaling, dropout 0.2, 50 epochs
    status, out, _ = run(capsys, "train", "--preset", "digits", "--hidden", "16", "--epochs", "2", "-q", "-o", str(path))
    assert status == 0
    config = load_model(path).meta["train_config"]
    assert config["hidden"] == [16] and config["epochs"] == 2  # given explicitly
    assert config["lr"] == 0.05 and config["scaling"] == "standard" and config["dropout"] == 0.2  # from the preset


def test_train_with_no_hidden_layer(capsys):
    status, out, _ = run(capsys, "train", "--hidden", "none", "--epochs", "2", "-q")
    assert status == 0
    assert "model: Dense(64->10) (650 parameters" in out


def test_train_doctor_checks_before_and_after(capsys):
    status, out, _ = run(capsys, "train", *SMALL, "--epochs", "2", "-q", "--doctor")
    assert "test accuracy:" in out
    assert re.search(r"^doctor: (no problems found|\d+ problem\(s\) found)$", out, re.M)
    assert status == (0 if "doctor: no problems found" in out else 1)


def test_train_doctor_exits_1_when_it_finds_a_problem_and_a_run_at_chance_warns(capsys):
    """--doctor exited 0 after finding 4 problems; a plain run that ended at chance said nothing."""
    status, out, err = run(capsys, "train", *SMALL, "--epochs", "2", "-q", "--lr", "1e6", "--scaling", "none",
                           "--doctor")
    assert status == 1 and "the network predicts one class for almost every input" in out
    status, out, err = run(capsys, "train", *SMALL, "--epochs", "2", "-q", "--lr", "1e6", "--scaling", "none")
    assert status == 0
    assert re.search(r"^warning: test accuracy 0\.\d+ is at chance for 10 classes \(1/C = 0\.1000\): .*--doctor",
                     err, re.M)
    status, out, err = run(capsys, "train", *SMALL, "--epochs", "2", "-q")
    assert "warning" not in err


def test_doctor_uses_the_saved_configuration(tmp_path, capsys):
    """glassnet doctor MODEL ignored the saved batch size 1 and lr 2."""
    path = tmp_path / "online.npz"
    assert run(capsys, "train", *SMALL, "--epochs", "1", "-q", "--batch-size", "1", "--lr", "2",
               "--activation", "sigmoid", "-o", str(path))[0] == 0
    status, out, _ = run(capsys, "doctor", str(path))
    assert status == 1
    assert "trained one sample a step with a large learning rate (lr 2, batch size 1)" in out


def test_train_doctor_turns_a_nonfinite_run_into_a_finding(capsys):
    status, out, err = run(capsys, "train", *SMALL, "--epochs", "2", "-q", "--doctor",
                           "--lr", "1e6", "--scaling", "none", "--activation", "identity")
    assert status == 1
    assert "the loss became NaN or infinite" in out
    assert "the loss became nan at step" in out


def test_nonfinite_run_exits_2_with_one_line_naming_step_and_layer(capsys):
    status, out, err = run(capsys, "train", *SMALL, "--epochs", "2", "-q",
                           "--lr", "1e6", "--scaling", "none", "--activation", "identity")
    assert status == 2
    line = one_error_line(err)
    assert re.search(r"the loss became (nan|inf) at step \d+ \(epoch 1\); first non-finite value in", line)
    assert "test accuracy" not in out


def test_a_diverging_run_keeps_its_last_good_checkpoint(tmp_path, capsys):
    """No checkpoint holds NaN/inf weights; the error names the newest (good) one, which resumes."""
    from glassnet.train.checkpoint import latest_checkpoint

    ckdir = tmp_path / "run"
    status, out, err = run(capsys, "train", *SMALL, "--epochs", "2", "-q", "--lr", "1e6", "--scaling", "none",
                           "--activation", "identity", "--checkpoint-dir", str(ckdir), "--checkpoint-every", "1")
    assert status == 2
    line = one_error_line(err)
    path, arrays, meta = latest_checkpoint(ckdir)
    assert re.search(r"the loss became (nan|inf) at step (\d+)", line)
    failed_at = int(re.search(r"at step (\d+)", line).group(1))
    assert line.endswith(f"The last good checkpoint, {path}, is intact.")
    assert meta["step"] == failed_at - 1  # every step before the failure was checkpointed
    assert all(np.isfinite(v).all() for k, v in arrays.items() if k.startswith("param/"))


def test_debug_raises_instead_of_printing_one_line(tmp_path):
    with pytest.raises(NonFiniteError, match="at step"):
        main(["--debug", "train", *SMALL, "--epochs", "2", "-q", "--lr", "1e6", "--scaling", "none",
              "--activation", "identity"])
    with pytest.raises(FileNotFoundError):  # --debug after the sub-command works too
        main(["info", "--debug", str(tmp_path / "missing.npz")])


def test_resume_continues_the_run_and_refuses_changed_options(tmp_path, capsys):
    ckdir, history = tmp_path / "ck", tmp_path / "h.json"
    assert run(capsys, "train", *SMALL, "--epochs", "2", "-q", "--checkpoint-dir", str(ckdir))[0] == 0
    assert sorted(p.name for p in ckdir.glob("ckpt-*.npz"))

    status, _, err = run(capsys, "train", "--resume", str(ckdir), "--lr", "0.5", "--hidden", "32")
    assert status == 2
    assert one_error_line(err) == (
        "glassnet: error: --resume continues the checkpointed run; these options cannot change: hidden, lr"
    )

    status, out, err = run(capsys, "train", "--resume", str(ckdir), "--epochs", "3", "--history", str(history))
    assert status == 0
    assert "resuming from" in err and "(epoch 2," in err
    assert [r["epoch"] for r in json.loads(history.read_text())["records"]] == [1, 2, 3]


# ----------------------------------------------------------------------------- evaluate, predict, info
def test_evaluate_reports_the_accuracy_training_measured(trained, capsys):
    status, out, _ = run(capsys, "evaluate", str(trained["model"]))
    assert status == 0
    model = load_model(trained["model"])
    assert f"accuracy: {model.meta['test_accuracy']:.4f}" in out
    assert "precision    recall  f1-score   support" in out
    assert "confusion matrix (rows: true class, columns: predicted)" in out
    assert re.search(r"^\s+accuracy\s+\d\.\d\d\s+360$", out, re.M)  # the report's support is the whole test set


def test_a_model_trained_on_a_relative_folder_finds_its_data_from_anywhere(tmp_path, monkeypatch, capsys):
    """The folder is recorded as an absolute path, so evaluate/doctor/report work from another directory."""
    ds = load_dataset("digits")
    folder = tmp_path / "data" / "mine"
    folder.mkdir(parents=True)
    for role, X, y in (("train", ds.X_train, ds.y_train), ("t10k", ds.X_test, ds.y_test)):
        write_idx(folder / f"{role}-images-idx3-ubyte", X.reshape(-1, 8, 8).astype(np.uint8))
        write_idx(folder / f"{role}-labels-idx1-ubyte", y.astype(np.uint8))
    monkeypatch.chdir(tmp_path)
    status, out, _ = run(capsys, "train", "--dataset", "data/mine", *SMALL, "--epochs", "2", "-q", "-o", "m.npz")
    assert status == 0
    trained_accuracy = re.search(r"^test accuracy: (\d\.\d{4})$", out, re.M).group(1)
    assert load_model(tmp_path / "m.npz").meta["data_location"] == {"dataset": str(folder.resolve()), "data_dir": None}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    status, out, _ = run(capsys, "evaluate", str(tmp_path / "m.npz"))
    assert status == 0 and f"accuracy: {trained_accuracy}" in out and "(360 samples)" in out


def library_predictions(model_path: Path, X: np.ndarray) -> list[str]:
    model = load_model(model_path)
    scaled = scaler_from_dict(model.meta["preprocessing"]).transform(X.reshape(X.shape[0], -1))
    return [model.meta["class_names"][c] for c in model.predict(scaled)]


def test_predict_npy_idx_and_png_agree_with_the_library(trained, tmp_path, capsys):
    X, _ = digits_test_images(5)
    expected = library_predictions(trained["model"], X)

    npy = tmp_path / "five.npy"
    np.save(npy, X)
    status, out, _ = run(capsys, "predict", str(trained["model"]), str(npy))
    assert status == 0 and predictions(out) == expected
    probs = [float(line.split("\t")[2]) for line in out.splitlines()]
    assert all(0.0 < p <= 1.0 for p in probs)

    idx = tmp_path / "five-images.idx3-ubyte.gz"
    write_idx(idx, X.reshape(5, 8, 8).astype(np.uint8))
    status, out, _ = run(capsys, "predict", str(trained["model"]), str(idx))
    assert status == 0 and predictions(out) == expected

    Image = pytest.importorskip("PIL.Image")
    pngs = []
    for i in range(2):
        pngs.append(tmp_path / f"digit{i}.png")
        Image.fromarray(X[i].reshape(8, 8).astype(np.uint8), mode="L").save(pngs[-1])
    status, out, _ = run(capsys, "predict", str(trained["model"]), *map(str, pngs))
    assert status == 0 and predictions(out) == expected[:2]


def test_predict_top_k_lists_classes_by_probability(trained, tmp_path, capsys):
    X, _ = digits_test_images(1)
    np.save(tmp_path / "one.npy", X[0])  # one sample as a 1-D array
    status, out, _ = run(capsys, "predict", str(trained["model"]), str(tmp_path / "one.npy"), "--top", "3")
    assert status == 0
    fields = out.strip().split("\t")
    assert len(fields) == 1 + 2 * 3
    probs = [float(p) for p in fields[2::2]]
    assert probs == sorted(probs, reverse=True)


def test_info_text_and_json(trained, capsys):
    status, out, _ = run(capsys, "info", str(trained["model"]))
    assert status == 0
    assert "architecture: Dense(64->16) -> Activation(relu) -> Dropout(0.2) -> Dense(16->10)" in out
    assert "parameters:   1,210 (float32)" in out
    assert re.search(r"^\s+0\.W\s+\(64, 16\)", out, re.M)
    assert "dataset: digits" in out

    status, out, _ = run(capsys, "info", "--json", str(trained["model"]))
    assert status == 0
    info = json.loads(out)
    assert info["n_params"] == 1210 and info["dtype"] == "float32"
    assert info["meta"]["train_config"]["hidden"] == [16]
    assert info["meta"]["class_names"] == [str(i) for i in range(10)]


# ----------------------------------------------------------------------------- gradcheck
def test_gradcheck_passes_on_a_sound_network(capsys):
    status, out, _ = run(capsys, "gradcheck", *SMALL, "--batch", "8", "--max-entries", "50")
    assert status == 0
    assert re.search(r"^PASSED: \d+ entries checked", out, re.M)
    assert re.search(r"^0\.W\s+Dense\(64->16\)", out, re.M)


def test_gradcheck_of_a_saved_model(trained, capsys):
    status, out, _ = run(capsys, "gradcheck", "--model", str(trained["model"]), "--max-entries", "50")
    assert status == 0 and "PASSED" in out


def test_gradcheck_module_with_a_correct_custom_layer_exits_0(tmp_path, capsys):
    module = tmp_path / "good_layer.py"
    module.write_text(SCALE_LAYER.replace("BUG", "1.0"))
    status, out, _ = run(capsys, "gradcheck", "--module", str(module))
    assert status == 0
    assert re.search(r"^w\s+Scale\s+\(5,\).*ok$", out, re.M)
    assert "PASSED" in out


def test_gradcheck_module_with_a_buggy_custom_layer_exits_1_and_diagnoses(tmp_path, capsys):
    module = tmp_path / "bad_layer.py"
    module.write_text(SCALE_LAYER.replace("BUG", "0.5"))
    status, out, _ = run(capsys, "gradcheck", "--module", str(module))
    assert status == 1
    assert re.search(r"^w\s+Scale\s+\(5,\).*0\.50000.*FAIL$", out, re.M)
    assert "FAILED (w)" in out
    assert "gradient scaled by 0.5" in out  # the diagnosis, not just the table


def test_gradcheck_module_that_fails_to_run_is_one_line(tmp_path, capsys):
    module = tmp_path / "broken.py"
    module.write_text("import numpy as np\nlayer = undefined_name\n")
    status, _, err = run(capsys, "gradcheck", "--module", str(module))
    assert status == 2
    assert "running it raised NameError: name 'undefined_name' is not defined" in one_error_line(err)


# ----------------------------------------------------------------------------- doctor, overfit-batch
def test_doctor_on_a_healthy_saved_model(trained, capsys):
    status, out, _ = run(capsys, "doctor", str(trained["model"]))
    assert out.startswith(f"{trained['model']}: Dense(64->16)")
    assert "examined on the digits test set (360 samples)" in out
    assert status == 0 and "doctor: no problems found" in out


def test_doctor_finds_a_collapsed_model(tmp_path, capsys):
    path = tmp_path / "collapsed.npz"
    # a learning rate of 1e6 kills every relu unit: the network answers one class for everything
    assert run(capsys, "train", *SMALL, "--epochs", "2", "-q", "--lr", "1e6", "--scaling", "none", "-o", str(path))[0] == 0
    status, out, _ = run(capsys, "doctor", str(path))
    assert status == 1
    assert "the network predicts one class for almost every input" in out
    assert "dead relu units" in out


def test_overfit_batch_ok_for_a_sound_network_and_problem_when_it_cannot(capsys):
    status, out, _ = run(capsys, "overfit-batch", *SMALL, "--steps", "200")
    assert status == 0
    assert "OK: the network drives the loss on one batch to near zero" in out
    assert "batch accuracy 100%" in out

    status, out, _ = run(capsys, "overfit-batch", *SMALL, "--steps", "5", "--lr", "1e-6")
    assert status == 1
    assert "PROBLEM: the network cannot fit a single small batch" in out


# ----------------------------------------------------------------------------- explain, help
def test_explain_lists_topics_and_prints_one(capsys):
    status, out, _ = run(capsys, "explain")
    assert status == 0
    topics_line, aliases_line = out.strip().split("\n")
    listed = topics_line.removeprefix("topics: ").split(", ")
    assert listed == list(TOPICS)
    assert aliases_line == "aliases: softmax = softmax-cross-entropy, mean-squared-error = mse, linear = dense"
    assert set(ACTIVATIONS) <= set(listed)

    status, out, _ = run(capsys, "explain", "relu")
    assert status == 0
    assert out.startswith("Activation 'relu'")
    worst = float(re.search(r"max \|f'\(z\) - central difference\| = (\S+)", out).group(1))
    assert worst < 1e-6


def test_unknown_explain_topic_is_one_line(capsys):
    status, _, err = run(capsys, "explain", "no-such-topic")
    assert status == 2
    assert "unknown explain topic 'no-such-topic'; topics: softmax-cross-entropy" in one_error_line(err)


def test_help_lists_every_registry_choice(capsys):
    status, out, _ = run(capsys, "train", "--help")
    assert status == 0
    flat = " ".join(out.split())
    from glassnet.data.preprocess import SCALINGS
    from glassnet.optim.schedules import SCHEDULES
    from glassnet.train.experiment import PRESETS

    for option, registry in [("--activation", ACTIVATIONS), ("--loss", LOSSES), ("--optimizer", OPTIMIZERS),
                             ("--schedule", SCHEDULES), ("--scaling", SCALINGS), ("--preset", PRESETS)]:
        listed = re.search(re.escape(option) + r" \{([^}]*)\}", flat)
        assert listed is not None, option
        assert sorted(listed.group(1).split(",")) == sorted(registry), option
    assert "--norm {none,batch,layer}" in flat
    assert "'none' for no hidden layer" in flat


def test_no_command_prints_help_and_exits_2(capsys):
    status, out, _ = run(capsys)
    assert status == 2
    assert "train" in out and "evaluate" in out and "gradcheck" in out


# ----------------------------------------------------------------------------- real processes
def glassnet_process(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "glassnet", *argv], capture_output=True, text=True, timeout=120)


def test_process_usage_error_is_one_line_and_status_2():
    proc = glassnet_process("train", "--hidden", "256,0")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert one_error_line(proc.stderr) == (
        "glassnet: error: argument --hidden: every hidden layer needs at least 1 unit, got 0 for hidden layer 2 "
        "in '256,0' (use 'none' for no hidden layer)"
    )


def test_process_nonfinite_run_is_one_line_without_traceback_and_with_debug_a_traceback():
    argv = ["train", *SMALL, "--epochs", "2", "-q", "--lr", "1e6", "--scaling", "none", "--activation", "identity"]
    proc = glassnet_process(*argv)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "the loss became" in one_error_line(proc.stderr)

    proc = glassnet_process("--debug", *argv)
    assert proc.returncode == 1  # an uncaught exception
    assert "Traceback (most recent call last)" in proc.stderr
    assert "glassnet.errors.NonFiniteError: the loss became" in proc.stderr


def test_process_info_on_a_missing_model_file(tmp_path):
    missing = tmp_path / "nope.npz"
    proc = glassnet_process("info", str(missing))
    assert proc.returncode == 2
    assert one_error_line(proc.stderr) == f"glassnet: error: {missing}: No such file or directory"


def test_a_missing_named_dataset_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch, capsys):
    # the one error whose message is longer than a line: the look-up report is the answer
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GLASSNET_DATA", raising=False)
    status, out, err = run(capsys, "train", "--dataset", "kmnist", "--data-dir", str(tmp_path), "--no-download", "-q")
    assert status == 2 and out == ""
    lines = err.splitlines()
    assert lines[0] == "glassnet: error: dataset 'kmnist' not found, and downloading is off (download=False). Looked in:"
    assert f"  - {tmp_path} (data_dir): missing train-images-idx3-ubyte.gz" in err
    assert "To get it:" in err and "kmnist/train-images-idx3-ubyte.gz" in err
    assert "Traceback" not in err


def test_help_shows_the_defaults_a_plain_train_uses(capsys):
    """--help said --hidden 128, --lr 0.1, --epochs 30, --dropout 0 while a plain run used 256/0.05/50/0.2."""
    from glassnet.train.experiment import PRESETS, preset_config

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    used = preset_config(None)
    for option, value in (("--hidden", "256"), ("--lr", used.lr), ("--epochs", used.epochs), ("--dropout", "0.2"),
                          ("--schedule", used.schedule), ("--batch-size", used.batch_size),
                          ("--scaling", used.scaling)):
        pattern = rf"{option} \S+ .*?\(default {re.escape(str(value))}\)"
        assert re.search(pattern, text), (option, value)
    assert used.hidden == (256,) and used.lr == 0.05 and used.epochs == 50 and used.dropout == 0.2
    fashion = PRESETS["fashion-256"][1]
    assert (f"--dataset fashion-mnist: preset fashion-256: schedule {fashion['schedule']}, warmup-epochs 1, "
            f"dropout 0, epochs {fashion['epochs']}, batch-size {fashion['batch_size']}") in text


def test_a_presets_warm_up_fits_the_run_asked_for(capsys):
    """--dataset fashion-mnist --epochs 1 failed on the preset's one-epoch warm-up."""
    from glassnet.errors import ConfigError
    from glassnet.train.experiment import build_schedule, preset_config

    config = preset_config(None, dataset="fashion-mnist", epochs=1)
    assert config.warmup_epochs == pytest.approx(0.1)
    build_schedule(config, steps_per_epoch=422)
    with pytest.raises(ConfigError, match="warmup"):  # a warm-up the user chose is theirs to fix
        build_schedule(preset_config(None, dataset="fashion-mnist", epochs=1, warmup_epochs=1), steps_per_epoch=422)


def test_a_run_prints_its_resolved_configuration(capsys):
    status, out, err = run(capsys, "train", *SMALL, "--epochs", "1")
    assert status == 0
    assert re.search(r"^configuration: dataset digits, hidden 16, activation relu, .*lr 0\.05, .*epochs 1, "
                     r"batch-size 32, dropout 0\.2", err, re.M)


def test_gradcheck_output_fits_an_80_column_terminal(capsys, monkeypatch):
    """The gradient-check table was 107 columns wide."""
    monkeypatch.setenv("COLUMNS", "80")
    status, out, _ = run(capsys, "gradcheck", "--hidden", "256", "--seed", "0", "--batch", "8", "--max-entries", "20")
    assert status == 0
    lines = out.rstrip("\n").split("\n")
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    assert any(line.split()[:2] == ["0.W", "(64,"] and line.split()[-1] == "ok" for line in lines)
    assert any(line.startswith("layers: 0 Dense(64->256), 3 Dense(256->10)") for line in lines)
    monkeypatch.setenv("COLUMNS", "200")
    _, wide, _ = run(capsys, "gradcheck", "--hidden", "256", "--seed", "0", "--batch", "8", "--max-entries", "20")
    assert max(map(len, wide.split("\n"))) > 100  # a wide terminal keeps the full table, layer column included


def test_evaluate_output_fits_an_80_column_terminal(trained, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    status, out, _ = run(capsys, "evaluate", str(trained["model"]))
    assert status == 0 and max(map(len, out.split("\n"))) <= 80


def test_train_command_reads_as_named_steps():
    """cli/commands/train.py's run was one ~110-line function (issue 11's leftover): it is a few named steps."""
    import inspect

    from glassnet.cli.commands import train as train_command

    source = inspect.getsource(train_command.run)
    assert len(source.splitlines()) <= 30, len(source.splitlines())
    for step in ("_plan(", "_restore(", "_callbacks(", "_diverged(", "_save_outputs(", "_report("):
        assert step in source


def _help_text(capsys) -> str:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    return capsys.readouterr().out


def _resolved(*argv: str) -> dict:
    """The configuration `glassnet train argv...` would run, through the command line's own parsing."""
    from glassnet.cli.common import config_from_args
    from glassnet.cli.main import build_parser

    return config_from_args(build_parser().parse_args(["train", *argv])).to_dict()


def _as_config_value(text: str, like):
    if isinstance(like, (list, tuple)):
        return [int(v) for v in text.split(",")]
    if isinstance(like, bool) or like is None:
        return text
    return type(like)(float(text)) if isinstance(like, (int, float)) else text


def test_every_default_in_help_is_the_one_a_plain_train_uses(capsys):
    """Each '(default X)' of an option that sets the configuration equals what `glassnet train` resolves to."""
    from glassnet.cli.common import CONFIG_KEYS

    text = _help_text(capsys)
    entries = re.split(r"\n(?=  -)", text[text.index("options:"):text.index("Defaults come from a preset")])
    plain = _resolved()
    checked = 0
    for entry in entries:
        entry = " ".join(entry.split())
        option = re.match(r"(?:-\w, )?(--[a-z0-9-]+)", entry)
        default = re.search(r"\(default ([^;) ]+)", entry)
        if option is None or default is None or option.group(1)[2:].replace("-", "_") not in CONFIG_KEYS:
            continue
        key = option.group(1)[2:].replace("-", "_")
        assert _as_config_value(default.group(1), plain[key]) == plain[key], (key, default.group(1), plain[key])
        checked += 1
    assert checked >= 15, checked


def test_help_names_what_each_dataset_runs_with(capsys):
    """--dataset fashion-mnist silently switched preset (cosine, batch 128, and dropout 0 where --help said 0.2);
    kmnist and a folder ran with hidden 128 and lr 0.1 that --help showed nowhere."""
    from glassnet.data.datasets import DATASET_NAMES

    text = _help_text(capsys)
    epilog = " ".join(text[text.index("Defaults come from a preset"):].split())
    plain = _resolved()
    for dataset, argv in [(d, ["--dataset", d]) for d in DATASET_NAMES] + [("FOLDER", ["--dataset", "some/folder"])]:
        match = re.search(rf"--dataset {re.escape(dataset)}: (?:preset \S+|no preset): (.*?)(?= --dataset | --print)",
                          epilog)
        assert match, dataset
        expected = dict(plain)
        if match.group(1) != "the defaults above":
            for item in match.group(1).split(", "):
                key, value = item.split(" ")
                key = key.replace("-", "_")
                expected[key] = _as_config_value(value, plain[key])
        resolved = _resolved(*argv)
        for key in ("dataset", "data_dir", "download"):
            expected[key] = resolved[key]
        assert expected == resolved, dataset
def test_class_weight_balanced_or_from_a_file(tmp_path, capsys):
    """--class-weight balanced|FILE (scikit-learn #9113): the loss gets one weight per class."""
    from glassnet.train.experiment import class_weights, preset_config, prepare

    prep = prepare(preset_config(None, class_weight="balanced", hidden=(8,)))
    counts = np.bincount(prep.y_train, minlength=10)
    np.testing.assert_allclose(prep.loss.class_weights, counts.sum() / (10 * counts))
    path = tmp_path / "w.txt"
    path.write_text("[1, 1, 1, 1, 1, 1, 1, 1, 1, 5]")
    np.testing.assert_array_equal(class_weights(preset_config(None, class_weight=str(path)), prep.y_train, 10),
                                  [1] * 9 + [5])
    status, out, err = run(capsys, "train", *SMALL, "--epochs", "1", "-q", "--class-weight", str(path))
    assert status == 0
    path.write_text("1 2")
    status, out, err = run(capsys, "train", *SMALL, "--epochs", "1", "-q", "--class-weight", str(path))
    assert status == 2 and "holds 2 values; 10 finite numbers >= 0 are needed" in err


def test_one_activation_per_hidden_layer_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "m.npz"
    status, out, err = run(capsys, "train", "--hidden", "16,8", "--activation", "relu,tanh", "--epochs", "1", "-q",
                           "-o", str(path))
    assert status == 0 and "Activation(relu)" in out and "Activation(tanh)" in out
    status, out, err = run(capsys, "train", "--hidden", "16", "--activation", "relu,tanh", "--epochs", "1", "-q")
    assert status == 2 and "2 activations ['relu', 'tanh'] for 1 hidden layer(s)" in err
    status, out, err = run(capsys, "train", "--activation", "relu,swoosh", "-q")
    assert status == 2 and "invalid choice: 'relu,swoosh'" in err
