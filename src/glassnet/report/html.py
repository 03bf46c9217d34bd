"""A trained run as one self-contained HTML page with PNG figures (``glassnet report MODEL``).

The page holds, in this order:

1. a summary: dataset, architecture, parameters, test accuracy, the training configuration;
2. loss and accuracy curves, training and validation, per epoch (``history``);
3. the confusion matrix on the test set (rows: true class, columns: predicted);
4. the worst-misclassified test images: the mistakes made with the highest
   probability for the wrong class, each titled ``true -> predicted (p)``;
5. the first Dense layer's weights as images: column ``W[:, j]`` of
   ``W : (n_in, n_hidden)`` reshaped to the input image, one tile per unit,
   a symmetric colour scale per tile (red positive, blue negative);
6. gradient norms by layer over training: the per-epoch mean of ``||dJ/dW||``
   recorded by :class:`glassnet.train.callbacks.grad_norms.GradientNorms` (``glassnet train``
   records it; a history without it says so instead of a figure);
7. the gradient check of the trained model on a batch of test data in
   float64, as a table (the same numbers ``glassnet gradcheck`` prints);
8. the doctor's findings on the test set.

Every figure is a PNG embedded as a ``data:`` URI, so the page is one file
that opens anywhere, offline.  matplotlib is an optional extra
(``pip install "glassnet[report]"``); it is imported on first use, drawn with
``matplotlib.figure.Figure`` (no pyplot, no global figure state).

Nothing here loads data or trains: :func:`build_report` takes the arrays it
shows, and :func:`render_html` only formats.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from glassnet.errors import ConfigError, ShapeError
from glassnet.check.gradcheck import GradcheckReport
from glassnet.nn.layers import Dense
from glassnet.train.metrics import confusion_matrix
from glassnet.nn.model import Sequential
from glassnet.train.loop import History

__all__ = [
    "Section",
    "Report",
    "build_report",
    "render_html",
    "loss_accuracy_figure",
    "confusion_figure",
    "misclassified_figure",
    "worst_mistakes",
    "first_layer_figure",
    "grad_norm_figure",
    "gradcheck_table_html",
]


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # an optional extra
        raise ConfigError('the report needs matplotlib: pip install "glassnet[report]"') from exc
    return Figure


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


# ----------------------------------------------------------------------------- figures
def loss_accuracy_figure(history: History) -> bytes:
    """Two panels over epochs: loss (training, validation) and accuracy (training, validation)."""
    if not len(history):
        raise ConfigError("the history holds no epochs to plot")
    fig = _figure_class()(figsize=(10, 3.6))
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = history["epoch"]
    for ax, key, label in ((ax_loss, "loss", "loss"), (ax_acc, "accuracy", "accuracy")):
        ax.plot(epochs, history[f"train_{key}"], marker=".", label=f"training {label}")
        val = np.asarray(history[f"val_{key}"], dtype=float)
        if np.isfinite(val).any():
            ax.plot(epochs, val, marker=".", label=f"validation {label}")
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if history.best_epoch is not None:
        for ax in (ax_loss, ax_acc):
            ax.axvline(history.best_epoch, color="grey", linestyle=":", label="best epoch")
    ax_loss.set_title("loss per epoch (L2 term included)")
    ax_acc.set_title("accuracy per epoch")
    return _png(fig)


def confusion_figure(cm: np.ndarray, class_names: Sequence[str]) -> bytes:
    """``cm : (k, k)`` counts, rows true class, columns predicted, as a heat map with the counts written in."""
    k = len(class_names)
    if cm.shape != (k, k):
        raise ShapeError(f"confusion matrix of shape {cm.shape} does not fit {k} class names")
    size = max(4.0, 0.55 * k + 2)
    fig = _figure_class()(figsize=(size + 1, size))
    ax = fig.subplots()
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), [str(n) for n in class_names], rotation=45, ha="right")
    ax.set_yticks(range(k), [str(n) for n in class_names])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    threshold = cm.max() / 2 if cm.size else 0
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > threshold else "black")
    ax.set_title(f"confusion matrix ({int(cm.sum())} test samples)")
    return _png(fig)


def misclassified_figure(images: np.ndarray, y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str],
                         *, n: int = 24) -> tuple[bytes, int]:
    """The ``n`` most confident mistakes as a grid; returns the PNG and how many mistakes there are in all.

    ``images : (n_samples, h, w)`` raw pixels, ``y_true : (n_samples,)``,
    ``probs : (n_samples, k)`` predicted probabilities.  A mistake's rank is
    the probability given to the (wrong) predicted class.
    """
    if images.ndim != 3 or images.shape[0] != y_true.shape[0] or probs.shape[0] != y_true.shape[0]:
        raise ShapeError(f"images (n, h, w), labels (n,) and probabilities (n, k) must agree, got "
                         f"{images.shape}, {y_true.shape}, {probs.shape}")
    pred = probs.argmax(axis=1)
    worst, n_wrong = worst_mistakes(y_true, probs, n)
    cols = 8
    rows = max(1, math.ceil(len(worst) / cols))
    fig = _figure_class()(figsize=(cols * 1.45, rows * 1.75))
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, worst):
        ax.imshow(images[i], cmap="gray_r")
        ax.set_title(f"{class_names[y_true[i]]} -> {class_names[pred[i]]}\n(p={probs[i, pred[i]]:.2f})", fontsize=7)
    if not len(worst):
        axes[0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    return _png(fig), n_wrong


def worst_mistakes(y_true: np.ndarray, probs: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """Indices of the ``n`` mistakes with the highest probability for the predicted (wrong) class, worst first,
    and the number of mistakes.  ``y_true : (n_samples,)``, ``probs : (n_samples, k)``; ties keep data order."""
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    order = np.argsort(-probs[wrong, pred[wrong]], kind="stable")
    return wrong[order][:n], int(wrong.size)


def first_layer_figure(W: np.ndarray, image_shape: tuple[int, int], *, n: int = 64) -> bytes:
    """Columns of ``W : (h*w, n_hidden)`` as ``(h, w)`` images, the first ``n`` units."""
    if W.ndim != 2 or W.shape[0] != int(np.prod(image_shape)):
        raise ShapeError(f"weights of shape {W.shape} do not map images of shape {tuple(image_shape)}")
    units = min(n, W.shape[1])
    cols = min(16, units)
    rows = math.ceil(units / cols)
    fig = _figure_class()(figsize=(cols * 0.9, rows * 0.9 + 0.4))
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    for ax in axes:
        ax.axis("off")
    for j in range(units):
        tile = W[:, j].reshape(image_shape)
        limit = float(np.abs(tile).max()) or 1.0
        axes[j].imshow(tile, cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.suptitle(f"first layer: {units} of {W.shape[1]} units", fontsize=9)
    return _png(fig)


def grad_norm_figure(history: History, layer_names: dict[str, str] | None = None) -> bytes | None:
    """Per-epoch mean ``||dJ/dp||`` of every tensor (weights solid, biases dashed), log scale; None if unrecorded."""
    records = [r for r in history.records if r.grad_norms]
    if not records:
        return None
    names = list(dict.fromkeys(name for r in records for name in r.grad_norms))
    fig = _figure_class()(figsize=(7, 3.8))
    ax = fig.subplots()
    colours: dict[str, Any] = {}
    for name in names:
        layer = name.split(".")[0]
        values = np.array([r.grad_norms.get(name, math.nan) for r in records], dtype=float)
        label = f"{name} {layer_names.get(name, '') if layer_names else ''}".strip()
        line, = ax.plot([r.epoch for r in records], values, marker=".", label=label,
                        linestyle="-" if name.endswith(".W") else "--", color=colours.get(layer))
        colours.setdefault(layer, line.get_color())
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("mean gradient norm")
    ax.set_title("gradient norms by layer over training")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _png(fig)


def lr_find_figure(result: "LRFind") -> bytes:
    """Loss (raw and smoothed) against the learning rate, log scale, with the suggestion marked."""
    fig = _figure_class()(figsize=(7, 3.6))
    ax = fig.subplots()
    n = len(result.smoothed)
    ax.plot(result.lrs[:n], result.losses[:n], color="lightgrey", label="loss of each step")
    ax.plot(result.lrs[:n], result.smoothed, label="smoothed")
    if math.isfinite(result.suggestion):
        ax.axvline(result.suggestion, color="tab:red", linestyle=":", label=f"suggested lr {result.suggestion:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    finite = [v for v in result.smoothed if math.isfinite(v)]
    if finite:
        ax.set_ylim(min(finite) * 0.9, min(max(finite), 1.5 * finite[0]) * 1.05)  # the start visible, not the blow-up
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("learning-rate range test")
    return _png(fig)


def gradcheck_table_html(report: GradcheckReport) -> str:
    """The gradient check's per-tensor table as an HTML table, failing rows marked."""
    head = ("tensor", "layer", "shape", "checked", "kinks", "|analytic|", "|numeric|", "ratio", "max rel err", "verdict")
    rows = []
    for t in report.tensors:
        cells = (t.name, t.layer_desc, str(t.shape), str(t.n_checked), str(t.n_kink_skipped),
                 f"{t.analytic_norm:.3e}", f"{t.numeric_norm:.3e}", f"{t.ratio:.5f}", f"{t.max_rel_error:.2e}",
                 "ok" if t.passed else "FAIL")
        css = "" if t.passed else ' class="fail"'
        rows.append(f"<tr{css}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    verdict = "PASSED" if report.passed else f"FAILED ({', '.join(t.name for t in report.failing())})"
    caption = (f"{html.escape(verdict)}: {report.n_checked} entries checked in {np.dtype(report.dtype).name}, "
               f"step h={report.step:g}, max rel error {report.max_rel_error:.2e} (pass below {report.rtol:g})")
    if report.n_kink_skipped:
        caption += f", {report.n_kink_skipped} skipped because the finite difference crossed a kink"
    return ("<table><caption>" + caption + "</caption><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


# ----------------------------------------------------------------------------- page
@dataclass
class Section:
    """One part of the page: a title, an optional PNG and/or HTML, and a line of explanation."""

    title: str
    png: bytes | None = None
    html: str = ""
    note: str = ""
    alt: str = ""


@dataclass
class Report:
    title: str
    summary: list[tuple[str, str]]
    sections: list[Section] = field(default_factory=list)

    @property
    def n_figures(self) -> int:
        return sum(s.png is not None for s in self.sections)


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.summary td { text-align: left; } tr.fail td { background: #fde2e2; } caption { text-align: left; padding: 0.3em 0; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
.note { color: #555; font-size: 0.9em; } pre { background: #f7f7f7; padding: 0.6em; white-space: pre-wrap; }
"""


def render_html(report: Report) -> str:
    """The page as one string: inline CSS, every figure a ``data:image/png;base64`` URI."""
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
        '<table class="summary"><tbody>'
        + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in report.summary)
        + "</tbody></table>",
    ]
    for i, section in enumerate(report.sections, 1):
        parts.append(f'<section id="s{i}"><h2>{i}. {html.escape(section.title)}</h2>')
        if section.note:
            parts.append(f'<p class="note">{html.escape(section.note)}</p>')
        if section.png is not None:
            data = base64.b64encode(section.png).decode("ascii")
            parts.append(f'<img src="data:image/png;base64,{data}" alt="{html.escape(section.alt or section.title)}">')
        parts.append(section.html)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(
    model: Sequential,
    *,
    X_test: np.ndarray,
    y_test: np.ndarray,
    class_names: Sequence[str],
    history: History | None = None,
    images: np.ndarray | None = None,
    gradcheck_report: GradcheckReport | None = None,
    findings: Sequence[Any] = (),
    title: str = "glassnet report",
    summary: Sequence[tuple[str, str]] = (),
    lr_find: Any = None,
) -> Report:
    """Assemble the report of a trained model.

    ``X_test : (n, n_in)`` model-ready (scaled) features, ``y_test : (n,)``
    labels; ``images : (n, h, w)`` the same samples as raw images (None for
    non-image data: the image sections then say so); ``history`` the run's
    :class:`History`; ``gradcheck_report`` and ``findings`` (doctor
    :class:`~glassnet.check.doctor.Finding` objects) as computed by the caller.
    """
    y_test = np.asarray(y_test)
    names = [str(n) for n in class_names]
    probs = model.predict_proba(X_test)  # (n, k) probabilities for every output kind, (n, 2) for one sigmoid column
    run = _Run(model, y_test, names, probs, probs.argmax(axis=1), history, images, gradcheck_report, tuple(findings),
               lr_find)
    hits = int(np.sum(run.pred == y_test))
    report = Report(title, [*summary, ("test accuracy", f"{hits / y_test.size:.4f} ({hits} of {y_test.size})")])
    for section in SECTIONS:
        built = section(run)
        if built is not None:
            report.sections.append(built)
    return report


@dataclass(frozen=True)
class _Run:
    """What the report's sections are drawn from: the model, its test predictions and the run's records.

    probs : (n, k) predicted probabilities, pred : (n,) their argmax, y_test : (n,) true labels;
    images : (n, h, w) raw test images or None.
    """

    model: Sequential
    y_test: np.ndarray
    names: list[str]
    probs: np.ndarray
    pred: np.ndarray
    history: History | None
    images: np.ndarray | None
    gradcheck_report: GradcheckReport | None
    findings: tuple[Any, ...]
    lr_find: Any = None  # a glassnet.train.lr_find.LRFind, when the report is given one

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        return None if self.images is None else tuple(self.images.shape[1:])


def _loss_section(run: _Run) -> Section:
    if run.history is None or not len(run.history):
        return Section("Loss and accuracy", note="This model file holds no training history.")
    return Section(
        "Loss and accuracy", loss_accuracy_figure(run.history),
        note="Training values are running means over each epoch's batches (dropout on); validation values "
             "are measured at the epoch's end.", alt="loss and accuracy curves")


def _confusion_section(run: _Run) -> Section:
    cm = confusion_matrix(run.y_test, run.pred, len(run.names))
    return Section("Confusion matrix", confusion_figure(cm, run.names),
                   note="Rows are the true class, columns the predicted class.", alt="confusion matrix")


def _misclassified_section(run: _Run) -> Section:
    if run.images is None or len(run.image_shape) != 2:
        return Section("Worst-misclassified test images", note="The inputs are not images.")
    png, n_wrong = misclassified_figure(run.images, run.y_test, run.probs, run.names)
    return Section(
        "Worst-misclassified test images", png, alt="worst-misclassified test images",
        note=f"{n_wrong} of {run.y_test.size} test samples are misclassified; shown are the ones given the "
             "highest probability for the wrong class, titled true -> predicted (probability).")


def _first_layer_section(run: _Run) -> Section:
    first = next((layer for layer in run.model.layers if isinstance(layer, Dense)), None)
    shape = run.image_shape
    if first is None or shape is None or len(shape) != 2 or first.n_in != int(np.prod(shape)):
        return Section("First layer's weights", note="The inputs are not images.")
    return Section(
        "First layer's weights", first_layer_figure(np.asarray(first.params["W"], dtype=float), shape),
        alt="first layer weights as images",
        note="Each tile is one hidden unit's incoming weights W[:, j] laid out as the input image "
             "(red positive, blue negative, each tile on its own symmetric scale).")


def _grad_norm_section(run: _Run) -> Section:
    layer_names = {f"{i}.{k}": layer.describe() for i, layer in enumerate(run.model.layers) for k in layer.params}
    png = grad_norm_figure(run.history, layer_names) if run.history is not None else None
    return Section(
        "Gradient norms by layer", png, alt="gradient norms by layer",
        note="Per-epoch mean of ||dJ/dp|| (L2 term included), sampled every few steps; weights solid, biases dashed."
        if png is not None else "This run's history holds no gradient norms (they are recorded by glassnet train, "
        "or by glassnet.train.callbacks.grad_norms.GradientNorms as a fit callback).")


def _gradcheck_section(run: _Run) -> Section | None:
    if run.gradcheck_report is None:
        return None
    return Section(
        "Gradient check", html=gradcheck_table_html(run.gradcheck_report),
        note=f"The trained model's backward against fourth-order central differences on "
             f"{run.gradcheck_report.subject or 'a batch of test data'}.")


def _lr_find_section(run: _Run) -> Section | None:
    if run.lr_find is None:
        return None
    r = run.lr_find
    return Section(
        "Learning-rate range test", lr_find_figure(r), alt="loss against learning rate",
        note=f"One pass with the rate growing exponentially (glassnet lr-find); suggested rate {r.suggestion:.3g} "
             f"(steepest descent of the smoothed loss), lowest loss at {10 * r.min_loss_lr:.3g}"
             + (f", diverged at {r.diverged_at:.3g}" if r.diverged_at else "") + ".")


def _doctor_section(run: _Run) -> Section:
    findings_html = ("<p>No problems found.</p>" if not run.findings else
                     "<ul>" + "".join(f"<li><pre>{html.escape(str(f))}</pre></li>" for f in run.findings) + "</ul>")
    return Section("Doctor", html=findings_html,
                   note="Collapse, dead or saturated units, plateaus and overfitting, judged on the test set and the history.")


#: the report's sections in page order; each draws one Section (or None to leave it out) from the run.
SECTIONS: tuple[Callable[[_Run], Section | None], ...] = (
    _loss_section, _confusion_section, _misclassified_section, _first_layer_section,
    _grad_norm_section, _lr_find_section, _gradcheck_section, _doctor_section,
)
