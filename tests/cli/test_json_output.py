"""``--json`` on train, evaluate, gradcheck, doctor and info: one JSON object whose keys are exactly the ones
docs/json.md lists for that command, with values that agree with the text output and the model file."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from glassnet.cli.json_output import SCHEMA_VERSIONS, plain
from glassnet.cli.main import main
from glassnet.io.serialize import load_model
from paths import REPO

DOC = REPO / "docs" / "json.md"
SMALL = ["--hidden", "16", "--seed", "0"]


def documented(command: str) -> dict[str, str]:
    """``{key: type}`` from the table under ``## glassnet <command> --json`` in docs/json.md."""
    section = DOC.read_text().split(f"## glassnet {command} --json")[1].split("\n## ")[0]
    return dict(re.findall(r"^\| `([^`]+)` \| ([^|]+?) \|", section, re.M))


def keys_of(document: dict, table: dict[str, str]) -> set[str]:
    """Every key path of ``document`` (``a.b``, ``a[].b``), not descending into documented maps."""
    found: set[str] = set()

    def walk(value, prefix: str) -> None:
        if prefix and "map" in table.get(prefix, ""):
            return
        if isinstance(value, dict):
            for key, item in value.items():
                path = f"{prefix}.{key}" if prefix else key
                found.add(path)
                walk(item, path)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                walk(item, f"{prefix}[]")

    walk(document, "")
    return found


def run_json(*argv: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, json.loads(out.getvalue()), err.getvalue()


def check_schema(command: str, document: dict, *, allow_missing: set[str] = frozenset()) -> None:
    table = documented(command)
    assert document["schema"] == f"glassnet.{command}/{SCHEMA_VERSIONS[command]}"
    assert list(document)[0] == "schema"
    got = keys_of(document, table)
    assert got - set(table) == set(), f"keys not in docs/json.md: {sorted(got - set(table))}"
    assert set(table) - got - allow_missing == set(), f"documented keys missing: {sorted(set(table) - got)}"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("json")
    status, document, err = run_json("train", *SMALL, "--epochs", "3", "-q", "--doctor", "--json",
                                     "-o", str(root / "m.npz"), "--history", str(root / "h.json"))
    return {"root": root, "model": root / "m.npz", "status": status, "document": document, "err": err}


def test_train_json(trained):
    assert trained["status"] == 0
    doc = trained["document"]
    check_schema("train", doc, allow_missing={"error"})  # 'error' is there only when the run diverged
    model = load_model(trained["model"])
    assert doc["status"] == "trained" and doc["epochs_trained"] == 3
    assert doc["test_accuracy"] == model.meta["test_accuracy"]
    assert doc["config"] == model.meta["train_config"]
    assert doc["last_epoch"] == model.meta["history"]["records"][-1]
    assert doc["model"] == {"architecture": model.describe(), "n_params": 1210, "dtype": "float32"}
    assert doc["dataset"]["n_train"] == 1437 and doc["dataset"]["n_test"] == 360
    assert doc["output"] == str(trained["model"]) and doc["history"].endswith("h.json")
    assert isinstance(doc["doctor"]["after_training"], list)


def test_train_json_reports_a_diverged_run_under_the_doctor():
    status, doc, _ = run_json("train", *SMALL, "--epochs", "2", "-q", "--lr", "1e30", "--doctor", "--json")
    assert status == 1
    assert doc["status"] == "diverged" and doc["error"].startswith("the loss became nan at step")
    assert set(doc) == {"schema", "status", "error", "config", "doctor"}
    codes = [f["code"] for f in doc["doctor"]["after_training"]]
    assert "non-finite" in codes


def test_evaluate_json(trained):
    status, doc, _ = run_json("evaluate", str(trained["model"]), "--json")
    assert status == 0
    check_schema("evaluate", doc)
    cm = np.array(doc["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == doc["n_samples"] == 360
    assert doc["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert doc["accuracy"] == pytest.approx(load_model(trained["model"]).meta["test_accuracy"])
    assert [c["support"] for c in doc["classes"]] == cm.sum(axis=1).tolist()
    assert doc["classes"][3]["recall"] == pytest.approx(cm[3, 3] / cm[3].sum())
    assert doc["classes"][3]["precision"] == pytest.approx(cm[3, 3] / cm[:, 3].sum())


#: the keys only ``gradcheck --function`` writes
FUNCTION_KEYS = {"function", "function.name", "function.passed", "function.n_samples", "function.layout",
                 "function.layout.description", "function.layout.sizes"}


def test_gradcheck_function_json():
    example = REPO / "examples" / "ng_network.py"
    status, doc, _ = run_json("gradcheck", "--function", f"{example}:nnCostFunction", "--l2-arg", "lambda_", "--json")
    assert status == 1 and doc["passed"] is False and doc["function"]["passed"] is False
    check_schema("gradcheck", doc, allow_missing={"loss_check.loss", "loss_check.max_rel_error", "loss_check.passed"})
    assert doc["function"]["layout"]["sizes"] == [784, 25, 10] and doc["function"]["n_samples"] == 100


def test_gradcheck_json_passing_and_failing(tmp_path):
    status, doc, _ = run_json("gradcheck", *SMALL, "--activation", "tanh", "--batch", "4", "--max-entries", "20",
                              "--json")
    assert status == 0 and doc["passed"] is True
    check_schema("gradcheck", doc, allow_missing={"reports[].diagnosis[].code", "reports[].diagnosis[].verdict",
                                                  "reports[].diagnosis[].evidence", "reports[].diagnosis[].advice",
                                                  *FUNCTION_KEYS})
    (report,) = doc["reports"]
    assert [t["name"] for t in report["tensors"]] == ["0.W", "0.b", "3.W", "3.b", "input"]
    assert report["max_rel_error"] < 1e-6 and doc["loss_check"]["passed"] is True
    assert doc["softmax_cross_check"]["fused_vs_unfused"] < 1e-8

    broken = REPO / "examples" / "broken_layer.py"
    status, doc, _ = run_json("gradcheck", "--module", str(broken), "--json")
    assert status == 1 and doc["passed"] is False and doc["loss_check"] is None
    check_schema("gradcheck", doc, allow_missing={"loss_check.loss", "loss_check.max_rel_error",
                                                  "loss_check.passed", "softmax_cross_check", *FUNCTION_KEYS})
    assert [r["passed"] for r in doc["reports"]] == [False, False]
    assert doc["reports"][0]["diagnosis"][0]["code"] == "formula"
    assert doc["reports"][0]["tensors"][0]["worst"][0]["rel_error"] > 0.1


def test_doctor_json(trained):
    status, doc, _ = run_json("doctor", str(trained["model"]), "--json")
    check_schema("doctor", doc, allow_missing={f"findings[].{k}" for k in ("code", "title", "evidence", "fix", "where")}
                 if not doc["findings"] else set())
    assert status == (1 if doc["findings"] else 0)
    assert doc["has_history"] is True and doc["n_samples"] == 360


def test_doctor_json_lists_findings(tmp_path):
    # a learning rate of 1e6 kills every relu unit: the network answers one class for everything
    status, _, _ = run_json("train", *SMALL, "--epochs", "2", "-q", "--lr", "1e6", "--scaling", "none", "--json",
                            "-o", str(tmp_path / "collapsed.npz"))
    assert status == 0
    status, doc, _ = run_json("doctor", str(tmp_path / "collapsed.npz"), "--json")
    assert status == 1
    check_schema("doctor", doc)
    codes = [f["code"] for f in doc["findings"]]
    assert "dead-relu" in codes
    dead = doc["findings"][codes.index("dead-relu")]
    assert dead["title"] == "dead relu units" and dead["evidence"] and dead["fix"]


def test_info_json(trained):
    status, doc, _ = run_json("info", str(trained["model"]), "--json")
    assert status == 0
    check_schema("info", doc)
    model = load_model(trained["model"])
    assert doc["n_params"] == 1210 and doc["meta"]["train_config"]["hidden"] == [16]
    assert [p["name"] for p in doc["parameters"]] == list(model.params())
    assert doc["parameters"][0]["norm"] == pytest.approx(float(np.linalg.norm(model.params()["0.W"])))
    assert doc["layers"][1] == {"type": "Activation", "config": {"fn": "relu"}}


def test_every_json_command_is_documented():
    for command in SCHEMA_VERSIONS:
        assert documented(command)["schema"] == "string"


def test_plain_turns_numpy_and_non_finite_values_into_json():
    assert plain({"a": np.float32(1.5), "b": np.arange(2), "c": math.nan, "d": (np.int64(3), np.bool_(True))}) == \
        {"a": 1.5, "b": [0, 1], "c": None, "d": [3, True]}
