"""Watch a training loop you wrote yourself: what the doctor knows, without glassnet's trainer.

::

    watch = glassnet.Watch(predict, X_probe, y_probe, every=10)
    for x, t in samples:                      # your own loop, batch of 1 or more
        loss, grads = cost_and_grad(params, x, t)
        params = [p - lr * g for p, g in zip(params, grads)]
        watch.step(loss=loss, labels=t, params=params, grads=grads)
    print(watch)                              # what went wrong, each with its fix

``predict(X) -> labels (n,)`` or ``scores (n, C)`` (argmax is taken) is your network's forward pass.  Every
``every`` steps the watch predicts the probe batch and applies the doctor's rules
(:mod:`glassnet.check.doctor`, the same functions): the prediction follows the most recent label, one class
everywhere (for 30 looks in a row), a non-finite loss, or one stuck at ``ln C`` or rising (means over
windows of ``5 every`` steps), and, when ``params`` and ``grads``
are given, update/weight ratios that are too large (or vanishingly small).  Findings never contradict each
other (:func:`~glassnet.check.doctor.consistent`); each kind is reported once, with its first evidence.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np

from glassnet.check.doctor import Thresholds, collapse, consistent, follows_last_label, loss_trend, update_health
from glassnet.check.findings import Finding
from glassnet.errors import ConfigError, DataError

__all__ = ["Watch"]

#: consecutive looks at the probe batch that must all find one class everywhere
COLLAPSE_LOOKS = 30


def _as_list(arrays: Any) -> list[tuple[str, np.ndarray]]:
    """``(name, array)`` for a dict, a list/tuple or a single array of parameters (or gradients)."""
    if isinstance(arrays, Mapping):
        return [(str(k), np.asarray(v)) for k, v in arrays.items()]
    if isinstance(arrays, (list, tuple)):
        return [(f"params[{i}]", np.asarray(v)) for i, v in enumerate(arrays)]
    return [("params", np.asarray(arrays))]


class Watch:
    """The doctor for a training loop you wrote: call :meth:`step` after each update, read :meth:`report`.

    predict : your forward pass, ``predict(X) -> labels (n,)`` or ``scores (n, C)``.
    probe_X : (n, d) a fixed batch the watch predicts every ``every`` steps (a few hundred samples).
    probe_y : (n,) its labels, when known: "one class everywhere" is then judged against their spread.
    every : steps between two looks at the probe batch (and at the update ratios).
    n_classes : C, for "stuck at ln C" (default: the width of ``predict``'s scores, or the labels seen).
    """

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], probe_X: np.ndarray,
                 probe_y: np.ndarray | None = None, *, every: int = 10, n_classes: int | None = None,
                 th: Thresholds = Thresholds()) -> None:
        if not callable(predict):
            raise ConfigError(f"predict must be your network's forward pass, a callable, got {type(predict).__name__}")
        if not isinstance(every, int) or every < 1:
            raise ConfigError(f"every must be a positive number of steps, got {every!r}")
        self.predict, self.probe_X, self.every, self.th = predict, np.asarray(probe_X), every, th
        self.probe_y = None if probe_y is None else np.asarray(probe_y).reshape(-1)
        self.n_classes = n_classes
        self.steps = 0
        self.losses: list[float] = []
        self.labels_seen: set[int] = set()
        self._follow: list[float] = []
        self._last_labels: list[int] = []
        self._previous: list[np.ndarray] | None = None
        self._found: dict[str, Finding] = {}
        self._collapsed = 0  # consecutive looks that found one class everywhere

    # ------------------------------------------------------------------ the loop's side
    def step(self, *, loss: float, labels: Any = None, params: Any = None, grads: Any = None) -> list[Finding]:
        """Record one training step; returns the findings that are new at this step.

        loss : this step's training loss.  labels : this step's labels (the last one counts as "the most
        recent label").  params, grads : the parameters after the update and the gradients of this step
        (a dict, a list or one array), for the update/weight ratios.
        """
        self.steps += 1
        before = set(self._found)
        try:
            value = float(loss)
        except (TypeError, ValueError):
            raise DataError(f"loss must be a number, got {type(loss).__name__}") from None
        self.losses.append(value)
        last = None
        if labels is not None:
            flat = np.asarray(labels).reshape(-1)
            if flat.size:
                last = int(flat[-1])
                self.labels_seen.update(int(v) for v in np.unique(flat))
        if params is not None and (self.steps + 1) % self.every == 0:
            self._previous = [a.copy() for _, a in _as_list(params)]  # the update is measured at the next step
        if self.steps % self.every == 0:
            self._look(last, params, grads)
        for finding in loss_trend(self.losses, self._classes(), window=5 * self.every, th=self.th):
            self._found.setdefault(finding.code, finding)
        return [f for code, f in self._found.items() if code not in before]

    def _classes(self) -> int | None:
        return self.n_classes or (len(self.labels_seen) if len(self.labels_seen) > 1 else None)

    def _look(self, last: int | None, params: Any, grads: Any) -> None:
        scores = np.asarray(self.predict(self.probe_X))
        if scores.ndim == 2:
            if self.n_classes is None and scores.shape[1] > 1:
                self.n_classes = int(scores.shape[1])
            pred = scores.argmax(axis=1) if scores.shape[1] > 1 else (scores[:, 0] > 0.5).astype(int)
        else:
            pred = scores.reshape(-1)
        if last is not None:
            self._follow.append(float(np.mean(pred == last)))
            self._last_labels.append(last)
            for finding in follows_last_label(self._follow, self._last_labels, th=self.th):
                finding.where = f"step {self.steps}"
                self._found.setdefault(finding.code, finding)
        truth = self.probe_y if self.probe_y is not None else np.array(sorted(self.labels_seen))
        found = collapse(pred, truth, th=self.th) if truth.size > 1 else []
        # an untrained network may favour one class for its first hundred steps or so: only a collapse that
        # lasts COLLAPSE_LOOKS looks in a row counts
        self._collapsed = self._collapsed + 1 if found else 0
        if self._collapsed >= COLLAPSE_LOOKS:
            for finding in found:
                finding.where = f"step {self.steps}, for the last {COLLAPSE_LOOKS} looks"
                self._found.setdefault(finding.code, finding)
        if params is not None and grads is not None:
            self._updates(params, grads)

    def _updates(self, params: Any, grads: Any) -> None:
        now, g = _as_list(params), _as_list(grads)
        if len(now) != len(g):
            raise DataError(f"params has {len(now)} arrays, grads has {len(g)}")
        for i, ((name, w), (_, gw)) in enumerate(zip(now, g)):
            if w.ndim < 2 and len(now) > 1:
                continue  # biases: the ratios are judged on weight matrices, as the doctor does
            w_norm = float(np.linalg.norm(w))
            ratio = math.nan
            if self._previous is not None and i < len(self._previous) and self._previous[i].shape == w.shape:
                ratio = float(np.linalg.norm(w - self._previous[i])) / w_norm if w_norm > 0 else math.inf
            if math.isnan(ratio):
                continue
            for finding in update_health(name, float(np.linalg.norm(gw)), ratio, self.steps, th=self.th):
                self._found.setdefault(finding.code, finding)

    # ------------------------------------------------------------------ the reader's side
    def report(self) -> list[Finding]:
        """Every finding so far, the ones that explain others first-class (see ``consistent``)."""
        return consistent(list(self._found.values()))

    def __str__(self) -> str:
        findings = self.report()
        head = f"Watch: {self.steps} steps, {len(self._follow)} probe checks"
        if not findings:
            return head + ": nothing wrong found"
        return "\n".join([f"{head}: {len(findings)} finding(s)"] + [str(f) for f in findings])

    def __repr__(self) -> str:
        return f"Watch(steps={self.steps}, findings={[f.code for f in self.report()]})"
