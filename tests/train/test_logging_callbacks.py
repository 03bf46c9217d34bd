"""glassnet.train.callbacks.jsonl and .tensorboard: the per-epoch records, written and read back."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet.cli.main import main
from glassnet.train.callbacks.grad_norms import GradientNorms
from glassnet.train.callbacks.jsonl import JsonlLogger


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    return X, y


def _fit(callbacks, *, epochs=3, validation_split=0.25, state=None, model=None):
    X, y = _data()
    model = model or gn.mlp([4, 6, 3], "tanh", rng=0)
    history = gn.fit(model, X, y, optimizer=gn.SGD(lr=0.1), epochs=epochs, batch_size=16,
                     validation_split=validation_split, rng=np.random.default_rng(1), callbacks=callbacks, state=state)
    return model, history


def test_jsonl_has_one_line_per_epoch_equal_to_the_history(tmp_path):
    path = tmp_path / "run.jsonl"
    _, history = _fit([GradientNorms(every=1), JsonlLogger(path)])
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == history.to_dict()["records"]
    assert [line["epoch"] for line in lines] == [1, 2, 3]
    assert set(lines[0]["grad_norms"]) == {"0.W", "0.b", "2.W", "2.b"}
    assert lines[0]["val_loss"] == pytest.approx(history.records[0].val_loss)


def test_jsonl_writes_null_for_missing_validation(tmp_path):
    path = tmp_path / "run.jsonl"
    _fit([JsonlLogger(path)], epochs=1, validation_split=0.0)
    (line,) = path.read_text().splitlines()
    record = json.loads(line)
    assert record["val_loss"] is None and record["val_accuracy"] is None and record["grad_norms"] == {}


def test_jsonl_replaces_on_a_new_run_and_appends_on_resume(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text("old\n")
    model, history = _fit([JsonlLogger(path)], epochs=2)
    assert len(path.read_text().splitlines()) == 2
    state = gn.TrainState(epoch=2, history=history, rng=np.random.default_rng(5))
    _fit([JsonlLogger(path)], epochs=3, state=state, model=model)
    assert [json.loads(line)["epoch"] for line in path.read_text().splitlines()] == [1, 2, 3]


# ------------------------------------------------------------------ TensorBoard
def _read_events(logdir: Path) -> list:
    """Every Event in the TFRecord files under ``logdir`` (8-byte length, 4-byte CRC, data, 4-byte CRC)."""
    pytest.importorskip("tensorboardX")
    from tensorboardX.crc32c import crc32c
    from tensorboardX.proto.event_pb2 import Event

    def masked(data: bytes) -> int:
        crc = crc32c(data)
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    events = []
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        raw = path.read_bytes()
        at = 0
        while at < len(raw):
            header = raw[at : at + 8]
            (length,) = struct.unpack("<Q", header)
            assert struct.unpack("<I", raw[at + 8 : at + 12])[0] == masked(header)
            data = raw[at + 12 : at + 12 + length]
            assert struct.unpack("<I", raw[at + 12 + length : at + 16 + length])[0] == masked(data)
            event = Event()
            event.ParseFromString(data)
            events.append(event)
            at += 16 + length
    return events


def test_tensorboard_event_files_hold_the_scalars_and_histograms(tmp_path):
    pytest.importorskip("tensorboardX")
    from glassnet.train.callbacks.tensorboard import TensorBoardLogger

    model, history = _fit([GradientNorms(every=1), TensorBoardLogger(tmp_path)])
    scalars: dict[str, dict[int, float]] = {}
    histograms: dict[str, dict[int, object]] = {}
    for event in _read_events(tmp_path):
        for value in event.summary.value:
            if value.HasField("histo"):
                histograms.setdefault(value.tag, {})[event.step] = value.histo
            else:
                scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    assert set(scalars) == {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr",
                            "grad_norm/0.W", "grad_norm/0.b", "grad_norm/2.W", "grad_norm/2.b"}
    for tag, key in (("loss/train", "train_loss"), ("loss/val", "val_loss"), ("accuracy/val", "val_accuracy"),
                     ("lr", "lr")):
        assert sorted(scalars[tag]) == [1, 2, 3]
        np.testing.assert_allclose([scalars[tag][e] for e in (1, 2, 3)], history[key], rtol=1e-6)
    np.testing.assert_allclose(scalars["grad_norm/2.W"][3], history.records[2].grad_norms["2.W"], rtol=1e-6)
    assert set(histograms) == {f"weights/{name}" for name in model.params()}
    final = histograms["weights/0.W"][3]  # the last epoch's weights are the model's final weights
    W = model.params()["0.W"]
    assert final.num == W.size
    assert final.min == pytest.approx(float(W.min())) and final.max == pytest.approx(float(W.max()))
    assert final.sum == pytest.approx(float(W.sum()), rel=1e-5, abs=1e-6)


def test_tensorboard_skips_missing_validation(tmp_path):
    pytest.importorskip("tensorboardX")
    from glassnet.train.callbacks.tensorboard import TensorBoardLogger

    _fit([TensorBoardLogger(tmp_path, histograms=False)], epochs=1, validation_split=0.0)
    tags = {v.tag for e in _read_events(tmp_path) for v in e.summary.value}
    assert tags == {"loss/train", "accuracy/train", "lr"}


def test_train_command_writes_both_logs(tmp_path, capsys):
    pytest.importorskip("tensorboardX")
    status = main(["train", "-q", "--hidden", "16", "--epochs", "2", "--log-jsonl", str(tmp_path / "r.jsonl"),
                   "--tensorboard", str(tmp_path / "tb")])
    assert status == 0
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2] and lines[0]["grad_norms"]
    tags = {v.tag for e in _read_events(tmp_path / "tb") for v in e.summary.value}
    assert "grad_norm/0.W" in tags and "weights/0.W" in tags
    assert all(math.isfinite(line["train_loss"]) for line in lines)
