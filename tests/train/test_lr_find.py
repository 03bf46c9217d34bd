"""The learning-rate range test (glassnet lr-find) and its place in glassnet report."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import glassnet as gn
from glassnet.cli.main import main
from glassnet.train.lr_find import LRFind, lr_find


def _digits():
    sklearn = pytest.importorskip("sklearn.datasets")
    X, y = sklearn.load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


def test_the_rate_grows_exponentially_and_the_suggestion_trains():
    X, y = _digits()
    model = gn.mlp([64, 32, 10], rng=0)
    before = {k: v.copy() for k, v in model.params().items()}
    result = lr_find(model, X, y, lr_min=1e-5, lr_max=10.0, steps=120, rng=0)
    for k, v in model.params().items():  # the caller's model is untouched
        np.testing.assert_array_equal(v, before[k])
    lrs = np.asarray(result.lrs)
    ratios = lrs[1:] / lrs[:-1]
    np.testing.assert_allclose(ratios, (10.0 / 1e-5) ** (1 / 119), rtol=1e-9)
    assert result.diverged_at is not None and result.diverged_at <= 10.0  # this network cannot take lr 10
    assert 1e-4 < result.suggestion < result.diverged_at
    trained = gn.mlp([64, 32, 10], rng=0)
    history = gn.fit(trained, X, y, optimizer=gn.SGD(lr=result.suggestion, momentum=0.9), epochs=3, batch_size=32,
                     rng=0)
    assert history.records[-1].train_loss < 0.5 * history.records[0].train_loss or history.records[-1].train_accuracy > 0.9


def test_the_result_round_trips_and_rejects_foreign_json():
    r = LRFind([1e-3, 1e-2], [2.0, 1.0], [2.0, 1.5], 1e-2, 1e-3, None)
    assert LRFind.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    with pytest.raises(gn.ConfigError, match="not an lr-find result"):
        LRFind.from_dict({"lrs": []})


def test_the_command_and_the_report_section(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    curve, png, model = tmp_path / "lr.json", tmp_path / "lr.png", tmp_path / "m.npz"
    assert main(["lr-find", "--hidden", "16", "-o", str(curve), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "suggested learning rate:" in out and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(curve.read_text())
    assert math.isfinite(saved["suggestion"]) and len(saved["lrs"]) == len(saved["losses"]) >= 20
    assert main(["train", "--hidden", "16", "--epochs", "1", "-q", "-o", str(model)]) == 0
    assert main(["report", str(model), "--lr-find", str(curve), "-o", str(tmp_path / "r.html")]) == 0
    assert "Learning-rate range test" in (tmp_path / "r.html").read_text()
    capsys.readouterr()
    assert main(["lr-find", "--lr-min", "1", "--lr-max", "0.1"]) == 2
    assert "--lr-min 1.0 must be below --lr-max 0.1" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert main(["report", str(model), "--lr-find", str(tmp_path / "bad.json")]) == 2
    assert "not an lr-find result" in capsys.readouterr().err
