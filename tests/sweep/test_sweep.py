"""glassnet sweep with the real engines: an SQLite study, SIGKILL and resume, two worker processes, a Dask
LocalCluster on 127.0.0.1, pruning, and the command line's errors.  Trials are tiny digits runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

optuna = pytest.importorskip("optuna")

from glassnet.cli.main import main  # noqa: E402
from glassnet.sweep.space import Space  # noqa: E402
from glassnet.sweep.study import INTERRUPTED, SweepSettings, open_study, run_sweep  # noqa: E402
from paths import REPO  # noqa: E402

SMALL = ["--hidden", "16", "--epochs", "3", "--seed", "0"]


def states(storage: str, study: str) -> dict[str, int]:
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    out: dict[str, int] = {}
    for t in trials:
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def test_a_grid_on_a_real_sqlite_study(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "--grid", "activation=relu,tanh", "--study", "acts", *SMALL]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "sweeps" / "acts.db").is_file()
    assert states("sqlite:///sweeps/acts.db", "acts") == {"COMPLETE": 2}
    assert "gradcheck" in out and "passes" in out and "best: trial" in out and "test accuracy" in out
    # the same command again: nothing to do, nothing repeated
    assert main(["sweep", "--grid", "activation=relu,tanh", "--study", "acts", *SMALL]) == 0
    assert states("sqlite:///sweeps/acts.db", "acts") == {"COMPLETE": 2}
    assert main(["sweep", "--show", "acts"]) == 0
    assert "activation" in capsys.readouterr().out


def test_sigkill_and_the_same_command_resumes_without_repeating(tmp_path):
    storage = f"sqlite:///{tmp_path}/kill.db"
    cmd = [sys.executable, "-m", "glassnet", "sweep", "--grid", "lr=0.01,0.02,0.03,0.04", "--study", "kill",
           "--storage", storage, "--hidden", "64", "--epochs", "40", "--seed", "0", "--no-prune"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait for one completed trial and one running
        time.sleep(0.2)
        try:
            got = states(storage, "kill")
        except Exception:  # the study is not created yet
            continue
        if got.get("COMPLETE", 0) >= 1 and got.get("RUNNING", 0) == 1:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = optuna.load_study(study_name="kill", storage=storage).get_trials(deepcopy=False)
    completed_before = {t.number: t.params for t in before if t.state.name == "COMPLETE"}
    assert completed_before and any(t.state.name == "RUNNING" for t in before)
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode == 0
    after = optuna.load_study(study_name="kill", storage=storage).get_trials(deepcopy=False)
    complete = [t for t in after if t.state.name == "COMPLETE"]
    assert sorted(t.params["lr"] for t in complete) == [0.01, 0.02, 0.03, 0.04]  # no duplicate, none missing
    for number, params in completed_before.items():  # completed trials intact
        assert after[number].state.name == "COMPLETE" and after[number].params == params
    failed = [t for t in after if t.state.name == "FAIL"]
    assert len(failed) == 1 and failed[0].user_attrs["error"] == INTERRUPTED
    assert any(t.user_attrs.get("retry_of") == failed[0].number for t in complete)


def test_two_worker_processes_share_one_study(tmp_path):
    storage = f"sqlite:///{tmp_path}/two.db"
    settings = SweepSettings(study="two", storage=storage, space=Space(grid={"lr": [0.01, 0.02, 0.05, 0.1]}),
                             fixed={"hidden": (16,), "epochs": 2}, prune=False)
    study = run_sweep(settings, workers=2)
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.params["lr"] for t in trials if t.state.name == "COMPLETE") == [0.01, 0.02, 0.05, 0.1]
    assert len({t.user_attrs["pid"] for t in trials}) == 2 and os.getpid() not in {t.user_attrs["pid"] for t in trials}


def test_a_dask_local_cluster_on_localhost(tmp_path):
    pytest.importorskip("dask.distributed")
    pytest.importorskip("optuna_integration")
    storage = f"sqlite:///{tmp_path}/dask.db"
    settings = SweepSettings(study="dask", storage=storage, space=Space(grid={"activation": ["relu", "tanh"]}),
                             fixed={"hidden": (16,), "epochs": 2}, prune=False)
    run_sweep(settings, dask="local")
    trials = optuna.load_study(study_name="dask", storage=storage).get_trials(deepcopy=False)
    assert sorted(t.params["activation"] for t in trials if t.state.name == "COMPLETE") == ["relu", "tanh"]
    assert os.getpid() not in {t.user_attrs["pid"] for t in trials}  # they ran on the Dask workers


def test_pruning_really_prunes(tmp_path):
    storage = f"sqlite:///{tmp_path}/prune.db"
    settings = SweepSettings(study="prune", storage=storage, space=Space(grid={"lr": [0.05, 0.1, 1e-7]}),
                             fixed={"hidden": (16,), "epochs": 6}, prune=True)
    study = open_study(settings)
    for lr in (0.05, 0.1, 1e-7):  # two good runs first, then one that cannot learn
        study.enqueue_trial({"lr": lr})
    study = run_sweep(settings)
    by_lr = {t.params["lr"]: t for t in study.get_trials(deepcopy=False)}
    assert by_lr[1e-7].state.name == "PRUNED" and by_lr[1e-7].user_attrs["epochs"] < 6
    assert by_lr[0.05].state.name == by_lr[0.1].state.name == "COMPLETE"


@pytest.mark.parametrize("argv, message", [
    (["--grid", "lr"], "--grid wants KEY=VALUES, got 'lr'"),
    (["--grid", "colour=red"], "--grid 'colour': not a training option that can vary"),
    (["--sample", "lr=log:0:1"], "--sample lr: needs LOW < HIGH and LOW > 0 on a log scale"),
    (["--sample", "lr=fast"], "--sample lr: expected log:LOW:HIGH, LOW:HIGH or LOW..HIGH"),
    (["--grid", "activation=relu,swoosh"], "--grid activation: unknown ['swoosh']"),
    (["--sample", "lr=log:1e-4:1e-1"], "a sweep with --sample needs --trials N"),
    ([], "nothing to sweep"),
])
def test_a_bad_search_space_is_one_error_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", *argv, *SMALL]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("glassnet: error: ") and message in err[0], err


def test_the_html_page(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "sweep.html"
    assert main(["sweep", "--grid", "lr=0.01,0.1", "--grid", "activation=relu,tanh", "--study", "page",
                 "--html", str(page), *SMALL]) == 0
    text = page.read_text()
    for title in ("Trials, best first", "val accuracy by parameter", "Parallel coordinates",
                  "Learning curves of the top trials", "Failed trials"):
        assert title in text, title
    assert text.count("data:image/png;base64,") == 3
    assert text.count("<td>complete</td>") + text.count("<td>pruned</td>") == 4
    assert main(["sweep", "--show", "page", "--html", str(tmp_path / "page.png")]) == 2
