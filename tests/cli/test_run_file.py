"""glassnet.cli.run_file: ``glassnet train --config run.toml``, ``--print-config``, and the resolved
configuration in model files, checkpoints and ``glassnet info``."""

from __future__ import annotations

import re
import sys

import pytest

from glassnet.cli.main import main
from glassnet.cli.run_file import config_to_toml, read_run_file
from glassnet.io.serialize import load_model
from glassnet.train.checkpoint import latest_checkpoint
from glassnet.train.experiment import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RUN = """
preset = "digits"
hidden = [24, 12]
activation = "tanh"
lr = 0.03
batch-size = 64
epochs = 2
early_stopping = 4
download = false
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        status = main(list(argv))
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def printed_config(capsys, *argv: str) -> dict:
    status, out, err = run(capsys, "train", *argv, "--print-config")
    assert status == 0, err
    return tomllib.loads(out)


def test_the_file_sets_the_run_and_the_command_line_overrides_it(tmp_path, capsys):
    (tmp_path / "run.toml").write_text(RUN)
    config = printed_config(capsys, "--config", str(tmp_path / "run.toml"), "--lr", "0.5", "--hidden", "8")
    assert config["hidden"] == [8] and config["lr"] == 0.5  # the command line wins
    assert config["activation"] == "tanh" and config["batch_size"] == 64 and config["epochs"] == 2
    assert config["early_stopping"] == 4 and config["download"] is False
    assert config["dropout"] == 0.2 and config["scaling"] == "standard"  # from the preset the file names


def test_printed_config_read_back_gives_the_same_configuration(tmp_path, capsys):
    (tmp_path / "run.toml").write_text(RUN)
    first = run(capsys, "train", "--config", str(tmp_path / "run.toml"), "--batch-size", "full", "--print-config")[1]
    (tmp_path / "resolved.toml").write_text(first)
    second = run(capsys, "train", "--config", str(tmp_path / "resolved.toml"), "--print-config")[1]
    assert first == second
    assert 'batch_size = "full"' in first and "# clip_norm is not set" in first
    resolved = TrainConfig.from_dict({k: v for k, v in tomllib.loads(first).items() if k != "batch_size"})
    assert resolved.hidden == (24, 12) and resolved.lr == 0.03


def test_config_to_toml_is_valid_toml_for_the_defaults():
    defaults = TrainConfig().to_dict()
    parsed = tomllib.loads(config_to_toml(defaults))
    assert parsed == {k: v for k, v in defaults.items() if v is not None}


@pytest.mark.parametrize("text, message", [
    ("lr = -1", "run.toml: lr: expected a positive finite number, got '-1'"),
    ("epochs = 2.5", "run.toml: epochs: expected an integer >= 1, got '2.5'"),
    ('activation = "relux"', "run.toml: activation: 'relux' is not one of elu, "),
    ("hidden = [0]", "run.toml: hidden: every hidden layer needs at least 1 unit"),
    ("hidden = 5", "run.toml: hidden must be a list of layer sizes"),
    ('download = "no"', "run.toml: download must be true or false, got 'no'"),
    ("lr = true", "run.toml: lr must be a number, got True"),
    ("learning_rate = 0.1", "run.toml: unknown key 'learning_rate'; a run file may set preset, dataset,"),
    ("lr = 0.1\nlr = 0.2", "run.toml: not valid TOML"),
    ("batch_size = 1\nbatch-size = 2", "run.toml: 'batch-size' is given twice"),
    ("[model]\nhidden = [3]", "run.toml: unknown key 'model'"),
])
def test_bad_run_files_give_one_error_line(tmp_path, capsys, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.toml").write_text(text)
    status, out, err = run(capsys, "train", "--config", "run.toml", "--print-config")
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"glassnet: error: {message}"), err


def test_a_missing_run_file(tmp_path, capsys):
    status, _, err = run(capsys, "train", "--config", str(tmp_path / "none.toml"))
    assert status == 2 and err == f"glassnet: error: {tmp_path / 'none.toml'}: No such file or directory\n"


def test_resolved_config_is_in_the_model_file_the_checkpoint_and_info(tmp_path, capsys):
    (tmp_path / "run.toml").write_text(RUN)
    status, _, err = run(capsys, "train", "--config", str(tmp_path / "run.toml"), "-q", "-o", str(tmp_path / "m.npz"),
                         "--checkpoint-dir", str(tmp_path / "ck"))
    assert status == 0, err
    expected = printed_config(capsys, "--config", str(tmp_path / "run.toml"))
    saved = load_model(tmp_path / "m.npz").meta["train_config"]
    assert {k: v for k, v in saved.items() if v is not None} == expected
    _, _, meta = latest_checkpoint(tmp_path / "ck")
    assert meta["config"] == saved
    status, out, _ = run(capsys, "info", str(tmp_path / "m.npz"))
    block = out.split("run configuration (glassnet train --config accepts it):\n")[1]
    assert tomllib.loads(re.sub(r"(?m)^    ", "", block)) == expected


def test_read_run_file_normalises_dashes(tmp_path):
    (tmp_path / "r.toml").write_text('label-smoothing = 0.1\nweight_decay = 0.01\n')
    assert read_run_file(tmp_path / "r.toml") == {"label_smoothing": 0.1, "weight_decay": 0.01}
