"""A study's trials as rows, ranked by the objective, and the summary printed at the end of a sweep."""

from __future__ import annotations

from typing import Any

__all__ = ["rows", "table", "summary"]


def rows(study) -> list[dict[str, Any]]:
    """One dict per trial, best first: number, state, parameters, validation metric, test accuracy, seconds per
    epoch, epochs, gradient check (activation sweeps) and error."""
    out = []
    for t in study.get_trials(deepcopy=False):
        out.append({
            "number": t.number, "state": t.state.name.lower(), "params": dict(t.params), "value": t.value,
            "test_accuracy": t.user_attrs.get("test_accuracy"), "seconds_per_epoch": t.user_attrs.get("seconds_per_epoch"),
            "epochs": t.user_attrs.get("epochs"), "gradcheck_passed": t.user_attrs.get("gradcheck_passed"),
            "error": t.user_attrs.get("error"), "retry_of": t.user_attrs.get("retry_of"),
        })
    maximize = study.direction.name == "MAXIMIZE"
    done = sorted((r for r in out if r["value"] is not None), key=lambda r: r["value"], reverse=maximize)
    return done + [r for r in out if r["value"] is None]


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(study, metric: str = "val_accuracy") -> str:
    """The ranked table of ``glassnet sweep --show``."""
    rs = rows(study)
    keys = sorted({k for r in rs for k in r["params"]})
    check = any(r["gradcheck_passed"] is not None for r in rs)
    head = (["#", "trial"] + keys + [metric.replace("_", " "), "test acc", "s/epoch", "epochs"]
            + (["gradcheck"] if check else []) + ["state"])
    body = []
    for rank, r in enumerate(rs, start=1):
        cells = [str(rank) if r["value"] is not None else "-", str(r["number"])]
        cells += [str(r["params"].get(k, "-")) for k in keys]
        cells += [_fmt(r["value"], ".4f"), _fmt(r["test_accuracy"], ".4f"), _fmt(r["seconds_per_epoch"], ".2f"),
                  _fmt(r["epochs"], "d")]
        if check:
            cells.append("-" if r["gradcheck_passed"] is None else "passes" if r["gradcheck_passed"] else "FAILS")
        cells.append(r["state"] + (f" (retry of {r['retry_of']})" if r["retry_of"] is not None else ""))
        body.append(cells)
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [head, *body]]
    errors = [f"trial {r['number']} failed: {r['error']}" for r in rs if r["state"] == "fail" and r["error"]]
    return "\n".join(lines[:1] + ["-" * len(lines[0])] + lines[1:] + errors)


def summary(study) -> str:
    """Counts of trials by state, and the best trial with its test accuracy (reported once, here)."""
    rs = rows(study)
    counts = {s: sum(r["state"] == s for r in rs) for s in ("complete", "pruned", "fail")}
    line = (f"study {study.study_name}: {len(rs)} trials, {counts['complete']} complete, {counts['pruned']} pruned, "
            f"{counts['fail']} failed")
    best = next((r for r in rs if r["state"] == "complete"), None)
    if best is None:
        return line + "; no completed trial"
    return (line + f"\nbest: trial {best['number']} {best['params']}: validation {best['value']:.4f}, "
            f"test accuracy {best['test_accuracy']:.4f}")
