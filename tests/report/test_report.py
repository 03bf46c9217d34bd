"""glassnet report: the figures' content by hand, the page's structure, and the page in headless Chromium.

The browser test needs Debian's ``chromium`` and the ``playwright`` package (which drives that binary;
no browser download); it is skipped when either is missing.  ``.ci/run`` installs both.
"""

from __future__ import annotations

import base64
import contextlib
import io
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from glassnet import SoftmaxCrossEntropy, check_layer, gradcheck, mlp
from glassnet.cli.main import main
from glassnet.errors import ConfigError, ShapeError
from glassnet.nn.layers import Dense
from glassnet.report.html import (
    build_report,
    confusion_figure,
    first_layer_figure,
    grad_norm_figure,
    gradcheck_table_html,
    render_html,
    worst_mistakes,
)
from glassnet.io.serialize import load_model
from glassnet.train.loop import EpochRecord, History

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECTIONS = ["Loss and accuracy", "Confusion matrix", "Worst-misclassified test images", "First layer's weights",
            "Gradient norms by layer", "Gradient check", "Doctor"]
N_FIGURES = 5  # every section above but the two tables (gradient check, doctor)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails on anything that is not a PNG."""
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small digits model trained by the command line, and its report written by the command line."""
    root = tmp_path_factory.mktemp("report")
    model, page = root / "model.npz", root / "model.html"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["train", "--hidden", "16", "--epochs", "4", "-q", "-o", str(model)]) == 0
        status = main(["report", str(model)])  # default output: the model's name with .html
    return {"model": model, "page": page, "status": status, "out": out.getvalue()}


# ----------------------------------------------------------------------------- the page
def test_report_command_writes_every_section_and_figure(run):
    assert run["status"] == 0
    assert f"report written to {run['page']} ({N_FIGURES} figures, gradient check passed)" in run["out"]
    page = run["page"].read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    titles = re.findall(r"<h2>\d+\. (.*?)</h2>", page)
    assert [t.replace("&#x27;", "'") for t in titles] == SECTIONS
    pngs = embedded_pngs(page)
    assert len(pngs) == N_FIGURES
    for data in pngs:
        width, height = png_size(data)
        assert width > 100 and height > 100
    # self-contained: no file, http or script reference the browser would have to fetch
    assert not re.search(r'(src|href)="(?!data:)', page)


def test_report_summary_and_tables_hold_the_models_numbers(run):
    page = run["page"].read_text()
    model = load_model(run["model"])
    correct = int(round(model.meta["test_accuracy"] * 360))
    assert f"<th>test accuracy</th><td>{model.meta['test_accuracy']:.4f} ({correct} of 360)</td>" in page
    assert "Dense(64-&gt;16) -&gt; Activation(relu) -&gt; Dropout(0.2) -&gt; Dense(16-&gt;10)" in page
    assert "4 epochs" in page
    # the gradient-check table: one row per tensor plus the input, all passing, in float64
    rows = re.findall(r"<tr><td>(\d\.[Wb]|input)</td>.*?<td>(ok|FAIL)</td></tr>", page)
    assert rows == [("0.W", "ok"), ("0.b", "ok"), ("3.W", "ok"), ("3.b", "ok"), ("input", "ok")]
    assert re.search(r"PASSED: \d+ entries checked in float64", page)


def test_output_must_be_html(run, capsys):
    status = main(["report", str(run["model"]), "-o", str(run["page"].with_suffix(".png"))])
    err = capsys.readouterr().err
    assert status == 2
    assert err.strip() == f"glassnet: error: the report is an HTML page: give an output name ending in .html, got {run['page'].with_suffix('.png')}"


def test_missing_model_is_one_line(tmp_path, capsys):
    status = main(["report", str(tmp_path / "none.npz")])
    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1 and err.startswith("glassnet: error: ")


def test_without_matplotlib_the_error_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ConfigError, match=r'the report needs matplotlib: pip install "glassnet\[report\]"'):
        confusion_figure(np.eye(2, dtype=int), ["a", "b"])


# ----------------------------------------------------------------------------- the parts, by hand
def test_worst_mistakes_ranks_by_the_wrong_class_probability():
    y = np.array([0, 1, 2, 0, 1])
    probs = np.array([
        [0.9, 0.05, 0.05],  # right
        [0.6, 0.3, 0.1],    # wrong, 0.6 on class 0
        [0.05, 0.9, 0.05],  # wrong, 0.9 on class 1
        [0.2, 0.7, 0.1],    # wrong, 0.7 on class 1
        [0.1, 0.8, 0.1],    # right
    ])
    indices, n_wrong = worst_mistakes(y, probs, 2)
    assert n_wrong == 3
    assert indices.tolist() == [2, 3]
    assert worst_mistakes(y, probs, 10)[0].tolist() == [2, 3, 1]
    assert worst_mistakes(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), 5)[0].size == 0


def test_page_without_images_or_history_says_so():
    rng = np.random.default_rng(0)
    model = mlp([5, 4, 3], rng=rng)
    X, y = rng.standard_normal((30, 5)).astype(np.float32), rng.integers(0, 3, 30)
    report = build_report(model, X_test=X, y_test=y, class_names=["a", "b", "c"])
    page = render_html(report)
    assert report.n_figures == 1  # the confusion matrix only
    assert page.count("The inputs are not images.") == 2
    assert "This model file holds no training history." in page
    assert "This run&#x27;s history holds no gradient norms" in page
    assert len(embedded_pngs(page)) == 1


def test_gradcheck_table_marks_a_failing_tensor():
    class HalfWeightGrad(Dense):  # a planted bug: dL/dW halved
        def forward(self, X, *, training=False, rng=None):
            Y, backprop = super().forward(X, training=training, rng=rng)

            def wrong(grad_Y, need_input_grad=True):
                out = backprop(grad_Y, need_input_grad)
                self.grads["W"] *= 0.5
                return out

            return Y, wrong

    layer = HalfWeightGrad(4, 3)
    layer.initialize(np.random.default_rng(0), np.float64)
    table = gradcheck_table_html(check_layer(layer, (6, 4)))
    assert re.search(r'<tr class="fail"><td>W</td>.*?<td>0\.50000</td>.*?<td>FAIL</td></tr>', table)
    assert re.search(r"<tr><td>b</td>.*?<td>ok</td></tr>", table)
    assert "FAILED (W)" in table


def test_gradcheck_table_matches_the_report_object():
    rng = np.random.default_rng(3)
    model = mlp([4, 5, 3], "tanh", rng=rng, dtype=np.float64)
    report = gradcheck(model, SoftmaxCrossEntropy(), rng.standard_normal((8, 4)), rng.integers(0, 3, 8))
    table = gradcheck_table_html(report)
    for t in report.tensors:
        assert f"<td>{t.name}</td>" in table and f"<td>{t.max_rel_error:.2e}</td>" in table
    assert table.count("<tr>") == len(report.tensors) + 1  # header + rows


def test_figures_refuse_mismatched_shapes():
    with pytest.raises(ShapeError, match=r"confusion matrix of shape \(2, 2\) does not fit 3 class names"):
        confusion_figure(np.eye(2, dtype=int), ["a", "b", "c"])
    with pytest.raises(ShapeError, match=r"weights of shape \(10, 4\) do not map images of shape \(3, 3\)"):
        first_layer_figure(np.zeros((10, 4)), (3, 3))


def test_grad_norm_figure_needs_recorded_norms():
    assert grad_norm_figure(History([EpochRecord(1, 0.5, 0.9)])) is None
    png = grad_norm_figure(History([EpochRecord(1, 0.5, 0.9, grad_norms={"0.W": 0.5, "0.b": 0.1}),
                                    EpochRecord(2, 0.4, 0.9, grad_norms={"0.W": 0.3, "0.b": 0.05})]))
    assert png_size(png)[0] > 100


# ----------------------------------------------------------------------------- in a real browser
def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_page_in_headless_chromium(run, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    problems: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url[:80]}"))
            page.goto(Path(run["page"]).as_uri(), wait_until="load")
            images = page.evaluate(
                "() => Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete,"
                " width: i.naturalWidth, height: i.naturalHeight, shown: i.getBoundingClientRect().width}))")
            headings = page.evaluate("() => Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert [h.split(". ", 1)[1] for h in headings] == SECTIONS
    assert len(images) == N_FIGURES
    for image in images:
        assert image["complete"] and image["width"] > 100 and image["height"] > 100, image
        assert image["shown"] > 100, image  # laid out on the page, not collapsed
    assert png_size((tmp_path / "report.png").read_bytes())[1] > 2000  # a long page of figures


@pytest.mark.parametrize("output", ["logits", "softmax", "log_softmax"])
def test_report_probabilities_are_probabilities_for_every_output_kind(output, monkeypatch):
    """A --loss nll model (LogSoftmax output) had its probabilities exponentiated twice: rows summed to ~4.2."""
    import glassnet.report.html as html

    seen = []
    monkeypatch.setattr(html, "SECTIONS", [lambda run: seen.append(run)])
    rng = np.random.default_rng(0)
    model = mlp([5, 4, 3], rng=rng, output=output)
    X, y = rng.standard_normal((30, 5)).astype(np.float32), rng.integers(0, 3, 30)
    build_report(model, X_test=X, y_test=y, class_names=["a", "b", "c"])
    probs = seen[0].probs
    assert probs.shape == (30, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(probs, model.predict_proba(X))


def test_report_of_a_one_sigmoid_column_model_has_two_class_probabilities(monkeypatch):
    import glassnet.report.html as html

    seen = []
    monkeypatch.setattr(html, "SECTIONS", [lambda run: seen.append(run)])
    rng = np.random.default_rng(1)
    model = mlp([5, 4, 1], rng=rng)
    X, y = rng.standard_normal((20, 5)).astype(np.float32), rng.integers(0, 2, 20)
    build_report(model, X_test=X, y_test=y, class_names=["a", "b"])
    assert seen[0].probs.shape == (20, 2)
    np.testing.assert_allclose(seen[0].probs.sum(axis=1), 1.0, rtol=1e-6)
