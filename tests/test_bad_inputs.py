"""Every bad input we know of, at every public entry point, and the message it gets.

One table, ``CASES``: (where, bad input, call, expected error, expected message fragment).

* A library case calls the entry point and must raise the expected glassnet error
  (or, for a path that cannot be opened at all, the built-in OSError) whose message
  matches the fragment.
* A command-line case runs ``glassnet.cli.main(argv)`` and must exit with status 2
  after printing exactly one line ``glassnet: error: ...`` to stderr (no traceback).

The same outcomes make the Markdown table in docs/bad-inputs.md; a test regenerates
it and fails when the file differs, so the documentation stays true.  After changing
a message or adding a case, rewrite the file with::

    python tests/test_bad_inputs.py --write
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from glassnet.cli.main import main as cli_main
from glassnet.data.datasets import load_dataset
from glassnet.errors import (
    ConfigError,
    DataError,
    DatasetNotFoundError,
    FileFormatError,
    GlassnetError,
    ShapeError,
)
from glassnet.data.idx import idx_bytes, read_idx, write_idx
from glassnet.nn.losses import (
    BinaryCrossEntropyWithLogits,
    CrossEntropy,
    MSELoss,
    SoftmaxCrossEntropy,
    get_loss,
)
from glassnet.nn.model import mlp
from glassnet.optim.optimizers import SGD, Adam, get_optimizer
from glassnet.io.serialize import load_model, save_model
from glassnet.train.loop import EarlyStopping, fit

import hostile  # noqa: E402  (tests/hostile.py: the crafted files of issue 14)
from paths import REPO

DOC = REPO / "docs" / "bad-inputs.md"
CLI = "exit 2"  # the expected "error" of a command-line case


@dataclass(frozen=True)
class Case:
    where: str  # the entry point, e.g. "glassnet.train.fit" or "glassnet train"
    bad: str  # the bad input, in words (for the command line: the arguments)
    call: Callable[[Path], Any]  # library: makes the call; command line: returns argv.  Gets the workspace.
    error: type[BaseException] | str  # the exception class, or CLI
    match: str  # a fragment the message must contain (plain text, not a regex)


# ----------------------------------------------------------------------------- workspace
def make_workspace(root: Path) -> Path:
    """The files the cases need: a saved model, damaged copies, IDX files and folders."""
    model = mlp([64, 8, 10], rng=0)
    model.meta = {"dataset": "digits", "input_shape": [8, 8], "class_names": [str(i) for i in range(10)]}
    save_model(root / "model.npz", model)
    good = (root / "model.npz").read_bytes()
    (root / "truncated.npz").write_bytes(good[: len(good) // 2])
    with zipfile.ZipFile(root / "model.npz") as archive:
        weights = archive.read("0.W.npy")
    start = good.index(weights)  # stored uncompressed: flip a byte in the middle of the first weights
    flipped = bytearray(good)
    flipped[start + len(weights) // 2] ^= 0xFF
    (root / "flipped-byte.npz").write_bytes(bytes(flipped))
    _rezip_with_changed_weight(root / "model.npz", root / "changed-weight.npz")
    _rezip_with_edited_metadata(root / "model.npz", root / "edited-meta.npz")
    np.save(root / "array.npy", np.zeros((2, 64)))
    np.savez(root / "foreign.npz", weights=np.zeros(3))
    (root / "text.npz").write_text("these are not the weights you are looking for\n")
    (root / "empty.npz").write_bytes(b"")
    np.savez(root / "pickled.npz", __meta__=np.array([{"evil": "os.system"}], dtype=object))

    # inputs for predict
    np.save(root / "wide.npy", np.zeros((3, 10)))
    np.save(root / "strings.npy", np.array(["7", "3"]))
    np.save(root / "nan.npy", np.where(np.arange(3 * 64).reshape(3, 64) == 70, np.nan, 1.0))
    np.save(root / "objects.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    (root / "inputs.txt").write_text("1 2 3\n")

    # IDX files
    idx = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))  # header 00 00 08 03, dims 2 3 4
    files = {
        "bad-magic.idx": b"\x01\x02" + idx[2:],
        "bad-type.idx": idx[:2] + b"\x05" + idx[3:],
        "zero-dims.idx": idx[:3] + b"\x00",
        "short-header.idx": idx[:6],
        "truncated.idx": idx[:-5],
        "trailing.idx": idx + b"\x00\x00",
        "empty.idx": b"",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    write_idx(root / "gz.idx.gz", np.zeros((2, 3, 4), np.uint8))
    (root / "truncated-gz.idx.gz").write_bytes((root / "gz.idx.gz").read_bytes()[:-12])

    # dataset folders
    (root / "no-idx").mkdir()
    (root / "no-idx" / "readme.txt").write_text("nothing here\n")
    (root / "corrupt").mkdir()
    (root / "corrupt" / "train-images-idx3-ubyte").write_bytes(idx[:-5])
    write_idx(root / "corrupt" / "train-labels-idx1-ubyte", np.array([0, 1], np.uint8), gzip=False)
    (root / "mismatch").mkdir()
    write_idx(root / "mismatch" / "t10k-images-idx3-ubyte", np.zeros((3, 2, 2), np.uint8))
    write_idx(root / "mismatch" / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    (root / "float-labels").mkdir()
    write_idx(root / "float-labels" / "t10k-images-idx3-ubyte", np.zeros((3, 2, 2), np.uint8))
    write_idx(root / "float-labels" / "t10k-labels-idx1-ubyte", np.array([0.0, 1.5, 1.0], np.float32))
    (root / "no-samples").mkdir()
    for part in ("train", "t10k"):
        write_idx(root / "no-samples" / f"{part}-images-idx3-ubyte", np.zeros((0, 4, 4), np.uint8))
        write_idx(root / "no-samples" / f"{part}-labels-idx1-ubyte", np.zeros(0, np.uint8))
    rng = np.random.default_rng(0)
    (root / "one-class").mkdir()
    for part, n in (("train", 40), ("t10k", 10)):
        write_idx(root / "one-class" / f"{part}-images-idx3-ubyte", rng.integers(0, 256, (n, 4, 4), dtype=np.uint8))
        write_idx(root / "one-class" / f"{part}-labels-idx1-ubyte", np.full(n, 3, np.uint8))

    (root / "nan-pixel").mkdir()
    for part, n in (("train", 40), ("t10k", 10)):
        images = rng.random((n, 2, 2)).astype(np.float32)
        images[5, 0, 1] = np.nan
        write_idx(root / "nan-pixel" / f"{part}-images-idx3-ubyte", images)
        write_idx(root / "nan-pixel" / f"{part}-labels-idx1-ubyte", (np.arange(n) % 2).astype(np.uint8))

    # a checkpointed run for --resume
    with contextlib.redirect_stdout(io.StringIO()):
        status = cli_main(["train", "--hidden", "8", "--epochs", "1", "-q", "--checkpoint-dir", str(root / "checkpoints")])
    assert status == 0, "the checkpointed run for the --resume cases failed"

    # checkpoints with valid digests but doctored content (issue 14), and a cosine run for --epochs
    from glassnet.io.serialize import load_arrays, save_arrays
    from glassnet.train.checkpoint import CHECKPOINT_KIND

    def doctored(name: str, edit) -> None:
        shutil.copytree(root / "checkpoints", root / name)
        (path,) = (root / name).glob("ckpt-*.npz")
        arrays, meta = load_arrays(path, CHECKPOINT_KIND)
        edit(meta)
        save_arrays(path, arrays, meta, CHECKPOINT_KIND)

    doctored("ck-unknown-field", lambda meta: meta["history"]["records"][0].update(foo=1))
    doctored("ck-no-epoch-sums", lambda meta: meta.pop("epoch_sums"))
    doctored("ck-rng-list", lambda meta: meta.update(rng=[1, 2, 3]))
    doctored("ck-hidden-16", lambda meta: meta["config"].update(hidden=16))
    with contextlib.redirect_stdout(io.StringIO()):
        status = cli_main(["train", "--hidden", "8", "--epochs", "1", "-q", "--schedule", "cosine_with_warmup",
                           "--checkpoint-dir", str(root / "ck-cosine")])
    assert status == 0, "the checkpointed cosine run failed"

    # user modules for gradcheck --module, user cost functions for gradcheck --function (issue 12)
    (root / "nothing.py").write_text("width = 3\n")
    (root / "raises.py").write_text("import numpy as np\nparams = [np.ones(3)]\n\ndef cost(p):\n"
                                   "    return float(p[0] @ np.ones(4)), p\n")
    (root / "short.py").write_text("import numpy as np\nparams = [np.ones(3), np.ones((2, 3))]\n\ndef cost(p):\n"
                                  "    return 1.0, [p[0]]\n")
    (root / "logzero.py").write_text("import numpy as np\nparams = {'w': np.zeros(2)}\n\ndef cost(p):\n"
                                    "    with np.errstate(divide='ignore'):\n"
                                    "        return float(-np.log(p['w'] @ np.zeros(2))), p\n")
    (root / "noparams.py").write_text("def cost(p):\n    return 0.0, p\n")

    # hostile files (issue 14), small versions of the reported ones
    hostile.overlapping_zip_bomb(root / "bomb.npz", n_members=24, inner_bytes=2**16)
    hostile.metadata_of_empty_lists(root / "lists.npz", n_lists=300_000)
    hostile.metadata_of_identity_layers(root / "layers.npz", n_layers=1_000)
    hostile.nonfinite_model(root / "nan-weight.npz", float("nan"))
    hostile.nonfinite_model(root / "inf-weight.npz", float("inf"))
    hostile.gzip_idx_with_trailing_zeros(root / "trailing-zeros.idx.gz", trailing_bytes=2**26, member_bytes=2**24)
    hostile.empty_npy(root / "empty.npy")
    if hasattr(os, "mkfifo"):
        hostile.fifo_symlink(root / "fifo.npz")
        os.symlink("fifo.npz.fifo", root / "fifo.npy")
    return root


def _rezip_with_changed_weight(source: Path, target: Path) -> None:
    """A valid zip whose weights differ from what was saved: only the SHA-256 can tell."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    weights = np.load(io.BytesIO(members["0.W.npy"]), allow_pickle=False).copy()
    weights[0, 0] += 1.0
    buffer = io.BytesIO()
    np.save(buffer, weights)
    members["0.W.npy"] = buffer.getvalue()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _rezip_with_edited_metadata(source: Path, target: Path) -> None:
    """A valid zip whose JSON header says tanh where relu was saved (arrays untouched)."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = json.loads(np.load(io.BytesIO(members["__meta__.npy"]), allow_pickle=False).tobytes())
    header["layers"][1]["config"]["fn"] = "tanh"
    buffer = io.BytesIO()
    np.save(buffer, np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    members["__meta__.npy"] = buffer.getvalue()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


# ----------------------------------------------------------------------------- the cases
def _data(n: int = 30) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)), np.arange(n) % 3


def _model():
    return mlp([4, 8, 3], rng=0)


def _fit(X=None, y=None, **kwargs):
    X0, y0 = _data()
    settings = {"optimizer": SGD(lr=0.1), "epochs": 1, "batch_size": 8, "rng": 0, **kwargs}
    return fit(_model(), X0 if X is None else X, y0 if y is None else y, **settings)


def _with(array: np.ndarray, index: tuple, value: Any) -> np.ndarray:
    array = array.astype(np.float64 if isinstance(value, float) else array.dtype, copy=True)
    array[index] = value
    return array


X, Y = _data()
LOGITS = np.random.default_rng(1).standard_normal((4, 3))
FIT, PREDICT, PROBA, MLP = "glassnet.train.fit", "Sequential.predict", "Sequential.predict_proba", "glassnet.mlp"
SCE = "SoftmaxCrossEntropy()(outputs, targets)"
LOAD, DATASET, IDX = "glassnet.io.serialize.load_model", "glassnet.data.datasets.load_dataset", "glassnet.data.idx.read_idx"
TRAIN, PRED = "glassnet train", "glassnet predict"
NAN_IN_ROWS = np.where(np.isin(np.arange(30), [4, 17])[:, None] & (np.arange(4) == 1), np.nan, X)
NAN_IN_ROWS[17, 2] = np.inf


def cli(*argv: str) -> Callable[[Path], list[str]]:
    """A command-line case; "W/" in an argument stands for the workspace folder."""
    return lambda w: [a.replace("W/", f"{w}/") for a in argv]


def train(*argv: str) -> Callable[[Path], list[str]]:
    return cli("train", "--hidden", "8", "--epochs", "1", "-q", *argv)


CASES: list[Case] = [
    # --- building a model
    Case(MLP, "a hidden size of 0", lambda w: mlp([64, 0, 10]), ConfigError, "hidden layer 1 is 0 in [64, 0, 10]"),
    Case(MLP, "a negative output size", lambda w: mlp([64, 16, -3]), ConfigError, "the output size is -3"),
    Case(MLP, "a fractional size", lambda w: mlp([64, 2.5, 10]), ConfigError, "hidden layer 1 is 2.5"),
    Case(MLP, "sizes given as a string", lambda w: mlp("64,16,10"), ConfigError, "got the string '64,16,10'"),
    Case(MLP, "only one size", lambda w: mlp([64]), ConfigError, "at least input and output sizes"),
    Case(MLP, "an unknown activation", lambda w: mlp([64, 16, 10], "relux"), ConfigError,
         "unknown activation 'relux'; known activations: elu, gelu,"),
    Case(MLP, "a dropout rate of 1", lambda w: mlp([64, 16, 10], dropout=1.0), ConfigError,
         "dropout rate must be a number in [0, 1), got 1.0"),
    Case(MLP, "a negative dropout rate", lambda w: mlp([64, 16, 10], dropout=-0.1), ConfigError, "got -0.1"),
    Case(MLP, "an integer dtype", lambda w: mlp([64, 16, 10], dtype=np.int32), ConfigError,
         "dtype must be float32 or float64, got int32"),
    Case(MLP, "an unknown normalisation", lambda w: mlp([64, 16, 10], norm="group"), ConfigError,
         "norm must be one of none, batch, layer, got 'group'"),
    Case(MLP, "an unknown output", lambda w: mlp([64, 16, 10], output="probs"), ConfigError, "got 'probs'"),
    Case(MLP, "an unknown initialiser", lambda w: mlp([64, 16, 10], init="glorot"), ConfigError,
         "unknown initializer 'glorot'; known initializers:"),
    # --- predicting
    Case(PREDICT, "NaN in rows 4 and 17, inf in row 17", lambda w: _model().predict(NAN_IN_ROWS), DataError,
         "features contain NaN or inf in 2 row(s), first rows: [4, 17]"),
    Case(PREDICT, "5 features for a model that takes 4", lambda w: _model().predict(np.zeros((6, 5))), ShapeError,
         "layer 0 (Dense(4->8)) expects input of shape (n, 4), got (6, 5)"),
    Case(PREDICT, "one sample as a 1-D array", lambda w: _model().predict(np.zeros(4)), ShapeError,
         "must be a 2-D array (n_samples, n_features), got shape (4,)"),
    Case(PREDICT, "an array of strings", lambda w: _model().predict(X.astype(str)), DataError,
         "features must be numeric (an int or float array), got an array of dtype <U"),
    Case(PROBA, "an object array", lambda w: _model().predict_proba(X.astype(object)), DataError,
         "got an array of dtype object"),
    Case(PREDICT, "no samples", lambda w: _model().predict(np.zeros((0, 4))), DataError,
         "the feature array is empty (shape (0, 4))"),
    Case(PROBA, "ragged nested lists", lambda w: _model().predict_proba([[1.0, 2.0, 3.0, 4.0], [1.0]]), DataError,
         "features must be a rectangular array"),
    # --- training
    Case(FIT, "NaN in rows 4 and 17, inf in row 17", lambda w: _fit(NAN_IN_ROWS), DataError,
         "features contain NaN or inf in 2 row(s), first rows: [4, 17]"),
    Case(FIT, "5 features for a model that takes 4", lambda w: _fit(np.zeros((30, 5))), ShapeError,
         "layer 0 (Dense(4->8)) expects input of shape (n, 4), got (30, 5)"),
    Case(FIT, "label 3 for a model with 3 outputs", lambda w: _fit(y=_with(Y, (5,), 3)), DataError,
         "labels must be in [0, 3) for a model with 3 outputs, got [3]"),
    Case(FIT, "a negative label", lambda w: _fit(y=_with(Y, (5,), -1)), DataError, "got [-1]"),
    Case(FIT, "a label 1.5", lambda w: _fit(y=_with(Y, (7,), 1.5)), DataError,
         "labels must be integers 0..k-1, got 1 non-integer label(s) such as [1.5] (at rows [7])"),
    Case(FIT, "a NaN label", lambda w: _fit(y=_with(Y, (2,), np.nan)), DataError, "such as [nan] (at rows [2])"),
    Case(FIT, "labels as strings", lambda w: _fit(y=Y.astype(str)), DataError,
         "labels must be integers 0..k-1, got an array of dtype <U"),
    Case(FIT, "every label the same class", lambda w: _fit(y=np.ones(30, int)), DataError,
         "every label is 1: a classifier needs samples of at least 2 classes, got 1 class"),
    Case(FIT, "no samples", lambda w: _fit(np.zeros((0, 4)), np.zeros(0, int)), DataError,
         "the feature array is empty"),
    Case(FIT, "an object array of features", lambda w: _fit(X.astype(object)), DataError,
         "got an array of dtype object"),
    Case(FIT, "30 samples but 20 labels", lambda w: _fit(y=Y[:20]), DataError, "X has 30 samples but y has 20 labels"),
    Case(FIT, "one label for all the samples", lambda w: _fit(y=np.int64(1)), DataError,
         "one label per sample (30), got a single value"),
    Case(FIT, "batch_size=0", lambda w: _fit(batch_size=0), ConfigError,
         "batch_size must be an integer in [1, 30] (the number of training samples), got 0"),
    Case(FIT, "a batch larger than the data", lambda w: _fit(batch_size=31), ConfigError,
         "batch_size must be an integer in [1, 30]"),
    Case(FIT, "a fractional batch size", lambda w: _fit(batch_size=2.5), ConfigError, "got 2.5"),
    Case(FIT, "batch_size=1 with BatchNorm", lambda w: fit(mlp([4, 8, 3], norm="batch", rng=0), X, Y,
         optimizer=SGD(lr=0.1), epochs=1, batch_size=1), ConfigError,
         "batch size 1 cannot train a model with BatchNorm(8): in training mode it normalises each feature"),
    Case(FIT, "epochs=-1", lambda w: _fit(epochs=-1), ConfigError, "epochs must be a non-negative integer, got -1"),
    Case(FIT, "validation_split=1", lambda w: _fit(validation_split=1.0), ConfigError,
         "validation_split must be a number in [0, 1), got 1.0"),
    Case(FIT, "the optimizer's name instead of an optimizer", lambda w: _fit(optimizer="sgd"), ConfigError,
         "optimizer must be a glassnet.optim optimizer (with init and update), got 'sgd'"),
    Case(FIT, "an unknown loss", lambda w: _fit(loss="hinge"), ConfigError,
         "unknown loss 'hinge'; known losses: binary_cross_entropy_with_logits,"),
    Case(FIT, "a negative L2 strength", lambda w: _fit(l2=-1.0), ConfigError, "l2 must be a finite number >= 0"),
    Case(FIT, "clip_norm=0", lambda w: _fit(clip_norm=0.0), ConfigError, "clip_norm must be a positive number"),
    Case(FIT, "early stopping on val_loss without validation data", lambda w: _fit(early_stopping=EarlyStopping()),
         ConfigError, "early stopping on val_loss needs validation_data or validation_split"),
    Case(FIT, "validation features of the wrong width", lambda w: _fit(validation_data=(np.zeros((5, 3)), Y[:5])),
         ShapeError, "expects input of shape (n, 4), got (5, 3)"),
    # --- optimizers
    Case("glassnet.optim.SGD", "lr=-1", lambda w: SGD(lr=-1), ConfigError,
         "lr must be a positive finite number or a schedule (a callable step -> lr), got -1"),
    Case("glassnet.optim.SGD", "lr=nan", lambda w: SGD(lr=float("nan")), ConfigError, "got nan"),
    Case("glassnet.optim.SGD", "lr=inf", lambda w: SGD(lr=float("inf")), ConfigError, "got inf"),
    Case("glassnet.optim.SGD", "lr=0", lambda w: SGD(lr=0), ConfigError, "got 0"),
    Case("glassnet.optim.SGD", 'lr="0.1" (a string)', lambda w: SGD(lr="0.1"), ConfigError, "got '0.1'"),
    Case("glassnet.optim.SGD", "momentum=1.5", lambda w: SGD(lr=0.1, momentum=1.5), ConfigError, "momentum"),
    Case("glassnet.optim.Adam", "lr=-0.001", lambda w: Adam(lr=-0.001), ConfigError, "got -0.001"),
    Case("glassnet.optim.get_optimizer", "an unknown optimizer", lambda w: get_optimizer("adamax"), ConfigError,
         "unknown optimizer 'adamax'; known optimizers: adagrad, adam,"),
    # --- losses
    Case("SoftmaxCrossEntropy(class_weights=w)(outputs, labels)", "every label's class weight 0",
         lambda w: SoftmaxCrossEntropy(class_weights=[0.0, 1.0, 1.0])(LOGITS, np.array([0, 0, 0, 0])), DataError,
         "every label in this batch (0) has class weight 0, so the weighted mean divides by 0"),
    Case(SCE, "label 3 for 3 outputs", lambda w: SoftmaxCrossEntropy()(LOGITS, np.array([0, 1, 2, 3])), DataError,
         "labels must be in [0, 3) for a model with 3 outputs, got [3]"),
    Case(SCE, "a label 1.5", lambda w: SoftmaxCrossEntropy()(LOGITS, np.array([0, 1, 1.5, 2])), DataError,
         "labels must be integers 0..k-1, got 1 non-integer label(s) such as [1.5] (at rows [2])"),
    Case(SCE, "4 outputs but 3 labels", lambda w: SoftmaxCrossEntropy()(LOGITS, np.array([0, 1, 2])), ShapeError,
         "softmax_cross_entropy: 4 outputs but 3 targets"),
    Case(SCE, "target rows with 2 columns for 3 outputs", lambda w: SoftmaxCrossEntropy()(LOGITS, np.eye(4, 2)),
         ShapeError, "target rows have 2 columns but the outputs have 3"),
    Case(SCE, "outputs as a list", lambda w: SoftmaxCrossEntropy()(LOGITS.tolist(), np.array([0, 1, 2, 0])), DataError,
         "expects outputs as a float numpy array (m, k), got list"),
    Case(SCE, "outputs as an object array", lambda w: SoftmaxCrossEntropy()(LOGITS.astype(object), np.array([0, 1, 2, 0])),
         DataError, "got an array of dtype object"),
    Case("CrossEntropy()(probs, targets)", "a negative soft-label entry",
         lambda w: CrossEntropy()(np.full((2, 2), 0.5), np.array([[1.5, -0.5], [0.5, 0.5]])), DataError,
         "target rows must be probabilities (no negative entries)"),
    Case("BinaryCrossEntropyWithLogits()(logits, targets)", "label 2 for one output column",
         lambda w: BinaryCrossEntropyWithLogits()(np.zeros((3, 1)), np.array([0, 1, 2])), DataError,
         "binary targets must be 0 or 1 for a single output column"),
    Case("MSELoss()(outputs, targets)", "label 3 for 3 outputs", lambda w: MSELoss()(LOGITS, np.array([3, 0, 1, 2])),
         DataError, "labels must be in [0, 3) for a model with 3 outputs, got [3]"),
    Case("SoftmaxCrossEntropy", "label_smoothing=1", lambda w: SoftmaxCrossEntropy(label_smoothing=1.0), ConfigError,
         "label_smoothing must be in [0, 1), got 1.0"),
    Case("SoftmaxCrossEntropy", 'reduction="avg"', lambda w: SoftmaxCrossEntropy(reduction="avg"), ConfigError,
         "reduction must be 'mean' or 'sum', got 'avg'"),
    Case("glassnet.nn.losses.get_loss", "an unknown loss", lambda w: get_loss("hinge"), ConfigError,
         "unknown loss 'hinge'; known losses:"),
    # --- model files
    Case(LOAD, "a file that does not exist", lambda w: load_model(w / "missing.npz"), FileNotFoundError,
         "No such file or directory"),
    Case(LOAD, "a folder", lambda w: load_model(w), FileFormatError, "DIR: not a regular file: it is a directory"),
    Case(LOAD, "a symbolic link to a FIFO that nobody writes", lambda w: load_model(w / "fifo.npz"), FileFormatError,
         "fifo.npz: not a regular file: it is a FIFO (named pipe)"),
    Case(LOAD, "24 stored members nested inside each other (an overlapping-member zip bomb), valid digests",
         lambda w: load_model(w / "bomb.npz"), FileFormatError,
         "bomb.npz: member 'bomb/0000.npy' overlaps member 'bomb/0001.npy'"),
    Case(LOAD, "metadata holding 300,000 empty lists, valid digests", lambda w: load_model(w / "lists.npz"),
         FileFormatError, "JSON values; glassnet metadata holds at most 100000"),
    Case(LOAD, "metadata listing 1,003 layers, valid digests", lambda w: load_model(w / "layers.npz"),
         FileFormatError, "the model lists 1003 layers; a glassnet model file holds at most 1000"),
    Case(LOAD, "a NaN in `0.W`, valid digests", lambda w: load_model(w / "nan-weight.npz"), FileFormatError,
         "nan-weight.npz: parameter '0.W' holds 1 NaN of 512 values (first at (1, 2))"),
    Case(LOAD, "the first half of a model file", lambda w: load_model(w / "truncated.npz"), FileFormatError,
         "truncated.npz: not a readable glassnet file; it is corrupt or truncated"),
    Case(LOAD, "one byte flipped", lambda w: load_model(w / "flipped-byte.npz"), FileFormatError,
         "flipped-byte.npz: not a readable glassnet file"),
    Case(LOAD, "a weight changed and the zip rebuilt", lambda w: load_model(w / "changed-weight.npz"), FileFormatError,
         "changed-weight.npz: sha256 mismatch: the array data is not what was saved"),
    Case(LOAD, "the architecture edited in the metadata (relu -> tanh)", lambda w: load_model(w / "edited-meta.npz"),
         FileFormatError, "edited-meta.npz: meta_sha256 mismatch: the metadata is not what was saved"),
    Case(LOAD, "a .npy array", lambda w: load_model(w / "array.npy"), FileFormatError,
         "a single .npy array, not a glassnet .npz archive"),
    Case(LOAD, "an .npz written by numpy.savez", lambda w: load_model(w / "foreign.npz"), FileFormatError,
         "foreign.npz: no __meta__ member: not a 'glassnet-model' file"),
    Case(LOAD, "a text file", lambda w: load_model(w / "text.npz"), FileFormatError,
         "not a glassnet file: expected a .npz zip archive"),
    Case(LOAD, "an empty file", lambda w: load_model(w / "empty.npz"), FileFormatError, "empty.npz: the file is empty"),
    Case(LOAD, "a pickled object inside", lambda w: load_model(w / "pickled.npz"), FileFormatError,
         "holds pickled Python objects; glassnet never unpickles"),
    # --- datasets
    Case(DATASET, "a folder that does not exist", lambda w: load_dataset(w / "missing"), DatasetNotFoundError,
         "is neither a known dataset (digits, mnist, fashion-mnist, kmnist) nor a folder"),
    Case(DATASET, "an unknown dataset name", lambda w: load_dataset("cifar10"), DatasetNotFoundError,
         "'cifar10' is neither a known dataset"),
    Case(DATASET, "a folder without IDX files", lambda w: load_dataset(w / "no-idx"), DatasetNotFoundError,
         "no-idx: no complete pair of IDX image and label files (found: no IDX files)"),
    Case(DATASET, "a folder with a truncated IDX file", lambda w: load_dataset(w / "corrupt"), FileFormatError,
         "train-images-idx3-ubyte: truncated: expected 24 bytes of data, found 19"),
    Case(DATASET, "3 images but 4 labels", lambda w: load_dataset(w / "mismatch"), FileFormatError,
         "has 3 images but"),
    Case(DATASET, "labels stored as floats", lambda w: load_dataset(w / "float-labels"), FileFormatError,
         "t10k-labels-idx1-ubyte: labels must be integers, got dtype float32"),
    Case(DATASET, "IDX files holding 0 samples", lambda w: load_dataset(w / "no-samples"), DataError,
         "train-images-idx3-ubyte: no samples: the file holds 0 images (shape (0, 4, 4))"),
    Case(DATASET, 'split_test="100" (a string)', lambda w: load_dataset("digits", split_test="100"), ConfigError,
         "split_test must be an integer number of samples, got '100'"),
    # --- IDX files
    Case(IDX, "a file that does not exist", lambda w: read_idx(w / "missing.idx"), FileNotFoundError,
         "No such file or directory"),
    Case(IDX, "a wrong magic number", lambda w: read_idx(w / "bad-magic.idx"), FileFormatError,
         "not an IDX file: the magic number must start with two zero bytes, found 0x01 0x02"),
    Case(IDX, "an unknown type code", lambda w: read_idx(w / "bad-type.idx"), FileFormatError,
         "unknown IDX data type code 0x05; expected one of 0x08 (uint8)"),
    Case(IDX, "zero dimensions", lambda w: read_idx(w / "zero-dims.idx"), FileFormatError,
         "IDX header says ndim=0"),
    Case(IDX, "a header cut short", lambda w: read_idx(w / "short-header.idx"), FileFormatError,
         "header truncated: ndim=3 needs 12 bytes of dimensions, found 2"),
    Case(IDX, "data cut short", lambda w: read_idx(w / "truncated.idx"), FileFormatError,
         "truncated: expected 24 bytes of data, found 19 (header says uint8 array of shape 2x3x4)"),
    Case(IDX, "bytes after the data", lambda w: read_idx(w / "trailing.idx"), FileFormatError,
         "2 trailing byte(s) after the 24 bytes of data"),
    Case(IDX, "a gzip stream cut short", lambda w: read_idx(w / "truncated-gz.idx.gz"), FileFormatError,
         "corrupt gzip stream"),
    Case(IDX, "an 8-byte array, then 64 MiB of zeros in concatenated gzip members",
         lambda w: read_idx(w / "trailing-zeros.idx.gz"), FileFormatError,
         "more than 65536 trailing byte(s) after the 0 bytes of data"),
    Case(IDX, "a folder", lambda w: read_idx(w), FileFormatError, "DIR: not a regular file: it is a directory"),
    Case(IDX, "an empty file", lambda w: read_idx(w / "empty.idx"), FileFormatError,
         "expected a 4-byte magic number, found only 0 byte(s)"),
    # --- the command line: glassnet train
    Case(TRAIN, "`--lr -1`", train("--lr", "-1"), CLI, "argument --lr: expected a positive finite number, got '-1'"),
    Case(TRAIN, "`--lr nan`", train("--lr", "nan"), CLI, "expected a positive finite number, got 'nan'"),
    Case(TRAIN, "`--lr inf`", train("--lr", "inf"), CLI, "expected a positive finite number, got 'inf'"),
    Case(TRAIN, "`--lr 0`", train("--lr", "0"), CLI, "expected a positive finite number, got '0'"),
    Case(TRAIN, "`--lr abc`", train("--lr", "abc"), CLI, "argument --lr: expected a positive finite number, got 'abc'"),
    Case(TRAIN, "`--hidden 0,5`", train("--hidden", "0,5"), CLI,
         "argument --hidden: every hidden layer needs at least 1 unit, got 0 for hidden layer 1 in '0,5'"),
    Case(TRAIN, "`--hidden 256,0`", train("--hidden", "256,0"), CLI, "got 0 for hidden layer 2 in '256,0'"),
    Case(TRAIN, "`--hidden 0`", train("--hidden", "0"), CLI, "(use 'none' for no hidden layer)"),
    Case(TRAIN, "`--hidden 16,x`", train("--hidden", "16,x"), CLI,
         "expected comma-separated layer sizes such as 256,128"),
    Case(TRAIN, "`--batch-size 0`", train("--batch-size", "0"), CLI,
         "argument --batch-size: expected an integer >= 1 or 'full', got '0'"),
    Case(TRAIN, "`--batch-size 100000` (more than the 1293 training samples)", train("--batch-size", "100000"), CLI,
         "batch_size must be an integer in [1, 1293] (the number of training samples), got 100000"),
    Case(TRAIN, "`--norm batch --batch-size 1`", train("--norm", "batch", "--batch-size", "1"), CLI,
         "batch size 1 cannot train a model with BatchNorm(8)"),
    Case(TRAIN, "`--norm group`", train("--norm", "group"), CLI, "argument --norm: invalid choice: 'group'"),
    Case(TRAIN, "`--activation relux`", train("--activation", "relux"), CLI,
         "argument --activation: invalid choice: 'relux' (choose from"),
    Case(TRAIN, "`--loss hinge`", train("--loss", "hinge"), CLI, "argument --loss: invalid choice: 'hinge'"),
    Case(TRAIN, "`--optimizer adamax`", train("--optimizer", "adamax"), CLI,
         "argument --optimizer: invalid choice: 'adamax'"),
    Case(TRAIN, "`--dropout 1`", train("--dropout", "1"), CLI, "argument --dropout: expected a number in [0, 1), got '1'"),
    Case(TRAIN, "`--val-split 1`", train("--val-split", "1"), CLI, "argument --val-split: expected a number in [0, 1)"),
    Case(TRAIN, "`--epochs 0`", train("--epochs", "0"), CLI, "argument --epochs: expected an integer >= 1, got '0'"),
    Case(TRAIN, "`--seed -1`", train("--seed", "-1"), CLI, "argument --seed: expected an integer >= 0, got '-1'"),
    Case(TRAIN, "`--l2 -0.5`", train("--l2", "-0.5"), CLI, "argument --l2: expected a finite number >= 0"),
    Case(TRAIN, "`--frobnicate` (an unknown option)", train("--frobnicate"), CLI,
         "unrecognized arguments: --frobnicate"),
    Case(TRAIN, "`--dataset` a folder that does not exist", train("--dataset", "W/missing"), CLI,
         "missing' is neither a known dataset (digits, mnist, fashion-mnist, kmnist) nor a folder"),
    Case(TRAIN, "`--dataset` a folder without IDX files", train("--dataset", "W/no-idx"), CLI,
         "no complete pair of IDX image and label files (found: no IDX files)"),
    Case(TRAIN, "`--dataset` a folder with a truncated IDX file", train("--dataset", "W/corrupt"), CLI,
         "truncated: expected 24 bytes of data, found 19"),
    Case(TRAIN, "`--dataset` a folder with 3 images but 4 labels", train("--dataset", "W/mismatch"), CLI,
         "t10k-images-idx3-ubyte has 3 images but DIR/mismatch/t10k-labels-idx1-ubyte has 4 labels"),
    Case(TRAIN, "`--dataset` a folder whose labels are floats", train("--dataset", "W/float-labels"), CLI,
         "labels must be integers, got dtype float32"),
    Case(TRAIN, "`--dataset` a folder of IDX files holding 0 samples", train("--dataset", "W/no-samples"), CLI,
         "no samples: the file holds 0 images"),
    Case(TRAIN, "`--dataset` a folder whose labels are all one class", train("--dataset", "W/one-class"), CLI,
         "every label is 3: a classifier needs samples of at least 2 classes, got 1 class"),
    Case(TRAIN, "`--dataset` a folder with a NaN pixel in training image 5", train("--dataset", "W/nan-pixel"), CLI,
         "features contain NaN or inf in 1 row(s), first rows: [5]"),
    Case(TRAIN, "`--data-dir` a folder that does not exist", train("--data-dir", "W/missing"), CLI,
         "argument --data-dir: no such folder:"),
    Case(TRAIN, "`--lr 1e30 --scaling none` (the loss overflows)", train("--lr", "1e30", "--scaling", "none"), CLI,
         "the loss became nan at step 2 (epoch 1); first non-finite value in layer 3 (Dense(8->10))"),
    Case(TRAIN, "`--resume` a folder without checkpoints", cli("train", "--resume", "W/no-idx"), CLI,
         "no usable checkpoint in DIR/no-idx"),
    Case(TRAIN, "`--resume` with a changed `--lr`", cli("train", "--resume", "W/checkpoints", "--lr", "0.5"), CLI,
         "--resume continues the checkpointed run; these options cannot change: lr"),
    Case(TRAIN, "`--resume` a checkpoint whose history record has an unknown field (valid digests)",
         cli("train", "--resume", "W/ck-unknown-field"), CLI, "checkpoint.history.records[0]: unknown key(s) ['foo']"),
    Case(TRAIN, "`--resume` a checkpoint without `epoch_sums` (valid digests)",
         cli("train", "--resume", "W/ck-no-epoch-sums"), CLI, "checkpoint: missing key(s) ['epoch_sums']"),
    Case(TRAIN, "`--resume` a checkpoint whose RNG state is a list (valid digests)",
         cli("train", "--resume", "W/ck-rng-list"), CLI, "checkpoint.rng: expected an object with keys"),
    Case(TRAIN, "`--resume` a checkpoint whose `config.hidden` is 16, not a list (valid digests)",
         cli("train", "--resume", "W/ck-hidden-16"), CLI, "checkpoint.config.hidden: expected a list, got 16"),
    Case(TRAIN, "`--resume` a finished 1-epoch cosine run with `--epochs 3`",
         cli("train", "--resume", "W/ck-cosine", "--epochs", "3"), CLI,
         "--epochs 3 would change the run's cosine_with_warmup learning-rate schedule, which is planned over its 1 epochs"),
    # --- the command line: reading models and inputs
    Case(PRED, "an input with 10 features for a model that takes 64", cli("predict", "W/model.npz", "W/wide.npy"), CLI,
         "wide.npy: the model takes 64 features per sample (images of 8x8), got an array of shape (3, 10)"),
    Case(PRED, "an input of strings", cli("predict", "W/model.npz", "W/strings.npy"), CLI,
         "strings.npy: inputs must be numbers, got an array of dtype <U1"),
    Case(PRED, "an input with a NaN", cli("predict", "W/model.npz", "W/nan.npy"), CLI,
         "features contain NaN or inf in 1 row(s), first rows: [1]"),
    Case(PRED, "a pickled object array as input", cli("predict", "W/model.npz", "W/objects.npy"), CLI,
         "objects.npy: the array holds pickled Python objects; glassnet never unpickles"),
    Case(PRED, "an input file that does not exist", cli("predict", "W/model.npz", "W/missing.npy"), CLI,
         "missing.npy does not exist"),
    Case(PRED, "an input of unknown type", cli("predict", "W/model.npz", "W/inputs.txt"), CLI,
         "inputs.txt: unknown input type; use an IDX file, a .npy array or a .png image"),
    Case(PRED, "a corrupt IDX input", cli("predict", "W/model.npz", "W/truncated-gz.idx.gz"), CLI,
         "corrupt gzip stream"),
    Case(PRED, "a truncated model file", cli("predict", "W/truncated.npz", "W/wide.npy"), CLI,
         "truncated.npz: not a readable glassnet file; it is corrupt or truncated"),
    Case(PRED, "an empty .npy file", cli("predict", "W/model.npz", "W/empty.npy"), CLI,
         "empty.npy: the file is empty, not a .npy array"),
    Case(PRED, "a .npy input that is a symbolic link to a FIFO", cli("predict", "W/model.npz", "W/fifo.npy"), CLI,
         "fifo.npy: not a regular file: it is a FIFO (named pipe)"),
    Case("glassnet evaluate", "a model whose `0.W` holds a NaN", cli("evaluate", "W/nan-weight.npz"), CLI,
         "parameter '0.W' holds 1 NaN of 512 values"),
    Case("glassnet info", "a model whose `0.W` holds an inf", cli("info", "W/inf-weight.npz"), CLI,
         "(to inspect it anyway: glassnet info --allow-nonfinite"),
    Case("glassnet info", "a symbolic link to a FIFO that nobody writes", cli("info", "W/fifo.npz"), CLI,
         "fifo.npz: not a regular file: it is a FIFO (named pipe)"),
    Case("glassnet info", "an overlapping-member zip bomb", cli("info", "W/bomb.npz"), CLI,
         "overlaps member 'bomb/0001.npy' (its data runs to byte"),
    Case("glassnet info", "a model file that does not exist", cli("info", "W/missing.npz"), CLI,
         "missing.npz: No such file or directory"),
    Case("glassnet info", "a model with a changed weight", cli("info", "W/changed-weight.npz"), CLI,
         "sha256 mismatch"),
    Case("glassnet info", "a model with one byte flipped", cli("info", "W/flipped-byte.npz"), CLI,
         "flipped-byte.npz: not a readable glassnet file; it is corrupt or truncated"),
    Case("glassnet info", "a .npy array instead of a model", cli("info", "W/array.npy"), CLI,
         "a single .npy array, not a glassnet .npz archive"),
    Case("glassnet evaluate", "an .npz written by numpy.savez", cli("evaluate", "W/foreign.npz"), CLI,
         "no __meta__ member: not a 'glassnet-model' file"),
    Case("glassnet evaluate", "`--dataset` a folder that does not exist",
         cli("evaluate", "W/model.npz", "--dataset", "W/missing"), CLI, "is neither a known dataset"),
    Case("glassnet doctor", "a model with a pickled object", cli("doctor", "W/pickled.npz"), CLI,
         "holds pickled Python objects; glassnet never unpickles"),
    Case("glassnet report", "an output name that is not .html", cli("report", "W/model.npz", "-o", "W/report.png"),
         CLI, "the report is an HTML page: give an output name ending in .html"),
    Case("glassnet report", "a truncated model file", cli("report", "W/truncated.npz"), CLI,
         "truncated.npz: not a readable glassnet file; it is corrupt or truncated"),
    Case("glassnet gradcheck", "`--module` a file that does not exist", cli("gradcheck", "--module", "W/missing.py"),
         CLI, "module file"),
    Case("glassnet gradcheck", "`--module` a file that defines nothing to check",
         cli("gradcheck", "--module", "W/nothing.py"), CLI,
         "defines no `layer` (Layer), `loss` (Loss) or `model` (Sequential) to check"),
    Case("glassnet gradcheck", "`--function` whose code raises", cli("gradcheck", "--function", "W/raises.py:cost"),
         CLI, "your function raised ValueError: matmul"),
    Case("glassnet gradcheck", "`--function` returning fewer gradients than parameters",
         cli("gradcheck", "--function", "W/short.py:cost"), CLI, "grads has 1 arrays, params has 2"),
    Case("glassnet gradcheck", "`--function` whose J is log(0)", cli("gradcheck", "--function", "W/logzero.py:cost"),
         CLI, "J is inf at these parameters: a log of 0"),
    Case("glassnet gradcheck", "`--function` in a file without `params`",
         cli("gradcheck", "--function", "W/noparams.py:cost"), CLI, "defines no `params`"),
    Case("glassnet gradcheck", "`--function` naming a function the file lacks",
         cli("gradcheck", "--function", "W/noparams.py:nnCost"), CLI, "defines no function 'nnCost'"),
    Case("glassnet explain", "an unknown topic", cli("explain", "backprop"), CLI, "unknown explain topic 'backprop'"),
]


def case_id(case: Case) -> str:
    return f"{case.where} | {case.bad}"


# ----------------------------------------------------------------------------- running a case
@dataclass
class Outcome:
    error: str  # exception class name, CLI's "exit N", or "no error"
    message: str  # the message, or the command line's stderr
    exception: BaseException | None = None
    status: int | None = None
    stdout: str = ""


def run_case(case: Case, workspace: Path) -> Outcome:
    if case.error == CLI:
        argv = case.call(workspace)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = cli_main(argv)
            except SystemExit as exc:  # argparse usage errors
                status = exc.code
        return Outcome(f"exit {status}", err.getvalue(), status=status, stdout=out.getvalue())
    try:
        case.call(workspace)
    except Exception as exc:  # noqa: BLE001 - the table records whatever comes out
        return Outcome(type(exc).__name__, str(exc), exception=exc)
    return Outcome("no error", "")


def normalise(text: str, workspace: Path) -> str:
    """Make a message independent of where the workspace was: its folder becomes ``DIR``."""
    for prefix in {str(workspace.resolve()), str(workspace)}:
        text = text.replace(prefix, "DIR")
    return text


def table_message(outcome: Outcome, workspace: Path) -> str:
    text = outcome.message.strip()
    if outcome.status is not None:
        text = text.removeprefix("glassnet: error: ")
    return normalise(text.splitlines()[0] if text else "", workspace)


def _cell(text: str, code: bool = False) -> str:
    text = text.replace("|", "\\|")
    if not code:
        return text
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def render(outcomes: dict[str, Outcome], workspace: Path) -> str:
    """docs/bad-inputs.md: an introduction and the table of every case with its actual message."""
    rows = ["| where | bad input | error | message |", "|---|---|---|---|"]
    for case in CASES:
        outcome = outcomes[case_id(case)]
        rows.append(
            f"| {_cell(case.where, code=True)} | {_cell(case.bad)} | {_cell(outcome.error)} "
            f"| {_cell(table_message(outcome, workspace), code=True)} |"
        )
    n_cli = sum(case.error == CLI for case in CASES)
    intro = f"""# Bad inputs and the messages they get

Generated by `tests/test_bad_inputs.py` from the outcomes of its {len(CASES)} cases
({len(CASES) - n_cli} library calls, {n_cli} command lines); the test fails when this file differs from
what the code does today.  To regenerate it after changing a message or adding a case:

    python tests/test_bad_inputs.py --write

How errors are reported:

* **Library.** Every bad input raises one of the classes in `glassnet.errors`, all subclasses of
  `GlassnetError` and of the built-in exception a Python user would expect: `DataError` and
  `ShapeError` (unusable data, `ValueError`), `ConfigError` (a bad option, `ValueError`),
  `FileFormatError` (a damaged or foreign file, `ValueError`), `DatasetNotFoundError`
  (`FileNotFoundError`).  A path that cannot be opened at all raises the usual built-in `OSError`
  (`FileNotFoundError`, `PermissionError`, ...), as `open()` would; a path that is not a regular
  file (a directory, a FIFO, a device) is a `FileFormatError`, raised without blocking.
* **Command line.** Any of these prints exactly one line, `glassnet: error: <message>`, to stderr
  and exits with status 2 (the table shows the message after the prefix); `--debug` shows the
  traceback instead.  The one longer message is a named dataset that is neither on disk nor
  downloadable: it goes on to list where glassnet looked and how to get the files.
  A run whose loss becomes NaN or infinite is reported the same way, naming the step and the
  first layer with a non-finite value (`glassnet train --doctor` turns it into a finding instead).

`DIR` stands for the folder holding the test's files.

"""
    return intro + "\n".join(rows) + "\n"


def run_all(workspace: Path) -> dict[str, Outcome]:
    return {case_id(case): run_case(case, workspace) for case in CASES}


# ----------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("bad-inputs"))


@pytest.fixture(scope="module")
def outcomes(workspace) -> dict[str, Outcome]:
    return run_all(workspace)


def test_case_descriptions_are_unique():
    ids = [case_id(case) for case in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input_gets_a_clear_error(case: Case, outcomes, workspace):
    outcome = outcomes[case_id(case)]
    message = normalise(outcome.message, workspace)  # the workspace folder reads DIR, as in the table
    if case.error == CLI:
        assert outcome.status == 2, f"exit status {outcome.status}; stderr: {outcome.message!r}"
        lines = message.splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got: {outcome.message!r}"
        assert lines[0].startswith("glassnet: error: "), lines[0]
        assert "Traceback" not in outcome.message
        assert case.match in lines[0], f"{case.match!r} not in {lines[0]!r}"
        return
    assert outcome.exception is not None, "no error was raised"
    assert isinstance(outcome.exception, case.error), f"{outcome.error}: {outcome.message}"
    if not issubclass(case.error, OSError) or issubclass(case.error, GlassnetError):
        assert isinstance(outcome.exception, GlassnetError), f"{outcome.error} is not a glassnet error"
    assert case.match in message, f"{case.match!r} not in {message!r}"


def test_every_library_entry_point_is_in_the_table():
    covered = {case.where for case in CASES}
    for entry in (MLP, PREDICT, PROBA, FIT, SCE, LOAD, DATASET, IDX, TRAIN, PRED, "glassnet.optim.SGD"):
        assert entry in covered, entry


def test_docs_table_matches_what_the_code_says(outcomes, workspace):
    expected = render(outcomes, workspace)
    actual = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if actual != expected:
        import difflib

        diff = "".join(difflib.unified_diff(actual.splitlines(True), expected.splitlines(True),
                                            "docs/bad-inputs.md", "generated", n=0))
        pytest.fail(f"docs/bad-inputs.md is out of date; regenerate it with:\n\n"
                    f"    python tests/test_bad_inputs.py --write\n\n{diff[:4000]}")


def test_generated_table_has_one_row_per_case(outcomes, workspace):
    rows = [line for line in render(outcomes, workspace).splitlines() if line.startswith("| `")]
    assert len(rows) == len(CASES)
    assert all(" | no error | " not in row for row in rows)
    assert "DIR/" in "".join(rows) and str(workspace) not in "".join(rows)


# ----------------------------------------------------------------------------- python tests/test_bad_inputs.py
def _cli(argv: list[str]) -> int:
    if argv not in ([], ["--write"], ["--check"]):
        print("usage: python tests/test_bad_inputs.py [--write | --check]\n"
              "  (no option: print the generated docs/bad-inputs.md; --write: rewrite it; "
              "--check: exit 1 if it is out of date)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="glassnet-bad-inputs-") as tmp:
        workspace = make_workspace(Path(tmp))
        text = render(run_all(workspace), workspace)
    if argv == ["--write"]:
        from glassnet.io.serialize import atomic_write_text

        atomic_write_text(DOC, text)
        print(f"wrote {DOC} ({len(CASES)} cases)")
        return 0
    if argv == ["--check"]:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        print("up to date" if current == text else f"{DOC} is out of date; run with --write")
        return 0 if current == text else 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
