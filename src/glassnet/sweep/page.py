"""``glassnet sweep --html FILE``: a study as one page in the style of ``glassnet report``.

Sections: the ranked table; the validation metric against each parameter (one panel a parameter, categorical
parameters as columns of points); a parallel-coordinates view (every complete trial a line across the
parameters, scaled to [0, 1] per axis, coloured by the metric); the validation curves of the top trials;
and the failed trials with their errors.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from glassnet.report.html import Report, Section, _figure_class, _png, render_html
from glassnet.sweep.results import rows

__all__ = ["sweep_page"]


def _axis(values: list[Any]) -> tuple[np.ndarray, list[str] | None]:
    """Numbers on a log scale when they span a decade or more, categories as their rank."""
    if all(isinstance(v, (int, float)) for v in values):
        x = np.asarray(values, dtype=float)
        if np.all(x > 0) and x.max() / x.min() >= 10:
            return np.log10(x), None
        return x, None
    labels = sorted({str(v) for v in values})
    return np.asarray([labels.index(str(v)) for v in values], dtype=float), labels


def _by_parameter(done: list[dict[str, Any]], keys: list[str], metric: str) -> bytes:
    fig = _figure_class()(figsize=(3.4 * len(keys), 3.2))
    axes = np.atleast_1d(fig.subplots(1, len(keys)))
    for ax, key in zip(axes, keys):
        x, labels = _axis([r["params"][key] for r in done])
        ax.scatter(x, [r["value"] for r in done])
        if labels is not None:
            ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_xlabel(key + (" (log10)" if labels is None and np.ptp(x) and key in ("lr", "l2") else ""))
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _parallel(done: list[dict[str, Any]], keys: list[str], metric: str) -> bytes:
    fig = _figure_class()(figsize=(1.8 * (len(keys) + 1) + 2, 3.6))
    ax = fig.subplots()
    columns = [_axis([r["params"][k] for r in done])[0] for k in keys] + [np.asarray([r["value"] for r in done])]
    scaled = [(c - c.min()) / (np.ptp(c) or 1.0) for c in columns]
    values = columns[-1]
    colours = (values - values.min()) / (np.ptp(values) or 1.0)
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    for i in range(len(done)):
        ax.plot(range(len(scaled)), [s[i] for s in scaled], color=cmap(colours[i]), alpha=0.8)
    ax.set_xticks(range(len(scaled)), [*keys, metric.replace("_", " ")])
    ax.set_yticks([0, 1], ["low", "high"])
    ax.set_title("each trial a line; colour: the metric (yellow highest)")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def _top_curves(done: list[dict[str, Any]], curves: dict[int, list[float]], n: int = 5) -> bytes | None:
    top = [r for r in done if curves.get(r["number"])][:n]
    if not top:
        return None
    fig = _figure_class()(figsize=(7, 3.4))
    ax = fig.subplots()
    for r in top:
        curve = curves[r["number"]]
        ax.plot(range(1, len(curve) + 1), curve, marker=".", label=f"trial {r['number']} {r['params']}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def _table_html(rs: list[dict[str, Any]], keys: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["trial", *keys, "validation", "test acc", "s/epoch", "state"])
    body = []
    for r in rs:
        cells = [str(r["number"]), *[str(r["params"].get(k, "-")) for k in keys],
                 "-" if r["value"] is None else f"{r['value']:.4f}",
                 "-" if r["test_accuracy"] is None else f"{r['test_accuracy']:.4f}",
                 "-" if r["seconds_per_epoch"] is None else f"{r['seconds_per_epoch']:.2f}", r["state"]]
        cls = ' class="fail"' if r["state"] == "fail" else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def sweep_page(study, metric: str = "val_accuracy") -> str:
    """The study as one self-contained HTML page (matplotlib draws the figures)."""
    rs = rows(study)
    done = [r for r in rs if r["value"] is not None and math.isfinite(r["value"])]
    keys = sorted({k for r in rs for k in r["params"]})
    curves = {t.number: t.user_attrs.get("val_curve") for t in study.get_trials(deepcopy=False)}
    counts = {s: sum(r["state"] == s for r in rs) for s in ("complete", "pruned", "fail")}
    summary = [("study", study.study_name), ("trials", f"{len(rs)}: {counts['complete']} complete, "
                                              f"{counts['pruned']} pruned, {counts['fail']} failed")]
    best = next((r for r in rs if r["state"] == "complete"), None)
    if best is not None:
        summary.append(("best trial", f"{best['number']} {best['params']}: validation {best['value']:.4f}, "
                                      f"test accuracy {best['test_accuracy']:.4f}"))
    page = Report(f"glassnet sweep: {study.study_name}", summary)
    page.sections.append(Section("Trials, best first", html=_table_html(rs, keys)))
    if done and keys:
        page.sections.append(Section(f"{metric.replace('_', ' ')} by parameter", _by_parameter(done, keys, metric),
                                     alt="metric by parameter", note="One point a trial (complete or pruned)."))
        page.sections.append(Section("Parallel coordinates", _parallel(done, keys, metric), alt="parallel coordinates",
                                     note="Each axis scaled to the range the trials cover; numbers spanning a decade "
                                          "or more on a log scale, categories in alphabetical order."))
    png = _top_curves([r for r in done if r["state"] == "complete"], curves)
    if png is not None:
        page.sections.append(Section("Learning curves of the top trials", png, alt="validation curves"))
    failed = [r for r in rs if r["state"] == "fail"]
    page.sections.append(Section(
        "Failed trials", html="<p>None.</p>" if not failed else "<ul>" + "".join(
            f"<li>trial {r['number']} {html.escape(str(r['params']))}: <pre>{html.escape(str(r['error']))}</pre></li>"
            for r in failed) + "</ul>"))
    return render_html(page)
