"""The training doctor: finds what is wrong with a run and says what to try.

Three kinds of checks, each returning :class:`Finding` objects with the
evidence (numbers) and a suggested fix:

* before training, on the data and the untrained model
  (:func:`check_data`, :func:`check_initial_loss`): unscaled inputs, class
  imbalance, labels sorted so that a tail split takes one class, an initial
  loss far from ``ln C``;
* during training, as a callback (:class:`Doctor`, ``glassnet train
  --doctor``): collapse onto one class or onto the most recent label,
  saturated sigmoid/tanh units, dead relu units, exploding or vanishing
  gradients (per-layer gradient norms and update-to-weight ratios), loss not
  decreasing, validation loss rising while training loss falls;
* after training, on a saved model and its history (:func:`examine_model`,
  ``glassnet doctor MODEL``), including a BatchNorm model whose eval mode
  (running statistics) is much worse than the same model normalising each
  batch by its own statistics (:func:`running_statistics_gap`).

A BatchNorm model with a batch size of 1 is not a finding but an error:
``fit`` refuses it before training (one sample has no variance).

And :func:`overfit_batch`: can the network drive the loss on one small batch
to near zero?  If it cannot, something is broken (a backward, the loss, too
much regularisation), whatever the rest of the data does.

Thresholds are class attributes of :class:`Thresholds` so a reader sees
every number the doctor judges by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from glassnet.check.findings import Finding
from glassnet.nn.layers import Activation, Dense
from glassnet.nn.losses import Loss
from glassnet.nn.model import Sequential
from glassnet.train.loop import EpochRecord, History, StepInfo, TrainState, fit

__all__ = [
    "Finding",
    "Thresholds",
    "check_data",
    "check_initial_loss",
    "unit_health",
    "collapse",
    "Doctor",
    "examine_history",
    "examine_model",
    "running_statistics_gap",
    "overfit_batch",
    "OverfitResult",
]


@dataclass
class Thresholds:
    """Every number the doctor judges by."""

    unscaled_scale: float = 5.0  # overall std or |mean| of the inputs above this: not scaled
    imbalance_ratio: float = 10.0  # largest class / smallest class
    init_loss_factor: float = 3.0  # initial loss outside [ln C / f, f ln C]
    saturated_fraction: float = 0.5  # of a layer's units' outputs in the flat part
    dead_fraction: float = 0.5  # of a layer's relu units that never fire on the probe batch
    collapse_fraction: float = 0.9  # of probe inputs given the same class
    sorted_changes: float = 0.1  # label changes between neighbours / changes expected in random order
    follow_last_fraction: float = 0.8  # of probe predictions equal to the last training label
    update_ratio_high: float = 0.5  # ||update|| / ||W|| per step (healthy is about 1e-3)
    update_ratio_low: float = 1e-7
    grad_norm_high: float = 1e3
    vanishing_ratio: float = 1e-4  # first layer's grad norm / last layer's
    plateau_epochs: int = 3  # epochs without a 1% fall of the training loss
    overfit_epochs: int = 3  # consecutive epochs of rising validation loss with falling training loss
    running_stats_gap: float = 0.05  # accuracy with batch statistics minus accuracy in eval mode (BatchNorm)
    running_stats_batch: int = 256  # batch size of the batch-statistics pass
    stuck_tolerance: float = 0.02  # a loss within 2% of ln C ...
    stuck_windows: int = 6  # ... for this many windows of steps is stuck at chance
    online_big_lr: float = 0.5  # batch size 1 with at least this learning rate: "online training, big step"
    rising_factor: float = 1.5  # a loss rising three windows in a row to this factor of its best is rising


# ----------------------------------------------------------------------------- before training
def check_data(
    X: np.ndarray, y: np.ndarray, n_classes: int | None = None, *, val_split: float = 0.1, th: Thresholds = Thresholds()
) -> list[Finding]:
    """Data problems visible before training: unscaled inputs, imbalance, sorted labels, a single class."""
    found: list[Finding] = []
    X = np.asarray(X)
    y = np.asarray(y)
    # Typical magnitude, not the extreme: a standardised near-constant pixel may reach 30 legitimately.
    mean, std = (float(np.mean(X)), float(np.std(X))) if X.size else (0.0, 0.0)
    if std > th.unscaled_scale or abs(mean) > th.unscaled_scale:
        found.append(Finding(
            "unscaled", "inputs are not scaled",
            f"features have mean {mean:.3g} and standard deviation {std:.3g} (max {float(np.max(np.abs(X))):g}; "
            "pixels 0-255?)",
            "scale pixels to [0, 1] or standardise each feature (glassnet train --scaling pixel|standard)",
        ))
    labels = y if y.ndim == 1 else np.argmax(y, axis=1)
    counts = np.bincount(labels.astype(np.int64), minlength=n_classes or 0)
    present = counts[counts > 0]
    if present.size <= 1:
        found.append(Finding("one-class", "the labels hold a single class",
                             f"every one of {labels.size} labels is {int(labels[0]) if labels.size else '-'}",
                             "check the label file; a classifier needs at least two classes"))
        return found
    if n_classes and present.size < n_classes:
        missing = np.flatnonzero(counts == 0).tolist()
        found.append(Finding("missing-class", f"{len(missing)} classes have no training samples",
                             f"classes {missing[:10]} never occur", "check the split or the label mapping"))
    ratio = present.max() / present.min()
    if ratio > th.imbalance_ratio:
        found.append(Finding(
            "imbalance", "strong class imbalance",
            f"largest class {int(present.max())} samples, smallest {int(present.min())} (ratio {ratio:.1f})",
            "class weights in the loss, resampling, or judge by per-class recall rather than accuracy",
        ))
    # In random order neighbours differ with probability 1 - sum p_c^2; sorted or blocky labels change rarely.
    changes = int(np.count_nonzero(np.diff(labels)))
    p = present / labels.size
    expected = (labels.size - 1) * (1.0 - float(np.sum(p * p)))
    if changes < th.sorted_changes * expected:
        tail = labels[int(round((1 - val_split) * labels.size)):] if 0 < val_split < 1 else labels[-max(1, labels.size // 10):]
        found.append(Finding(
            "sorted", "labels are sorted or in blocks: a split that takes the last rows gets few classes",
            f"the label changes {changes} times between neighbouring rows (about {expected:.0f} in random order); "
            f"the last {tail.size} labels hold classes {np.unique(tail).tolist()[:10]} of {present.size}",
            "shuffle before splitting, or use a stratified split (glassnet's validation split is stratified)",
        ))
    return found


def check_initial_loss(model: Sequential, loss: Loss, X: np.ndarray, y: np.ndarray, *, th: Thresholds = Thresholds()) -> list[Finding]:
    """An untrained classifier should score about ``ln C`` with cross-entropy; far off means bad init or a wrong loss."""
    if loss.expects not in ("logits", "probs") or "cross_entropy" not in loss.name:
        return []
    n_classes = model.n_outputs or 1
    if n_classes < 2:
        return []
    value = loss(model(np.asarray(X, dtype=model.dtype)), y)[0]
    expected = math.log(n_classes)
    if value > th.init_loss_factor * expected or value < expected / th.init_loss_factor:
        return [Finding(
            "init-loss", "the initial loss is far from ln C",
            f"initial loss {value:.4g}, expected about ln {n_classes} = {expected:.4g} for an untrained network",
            "a loss far above ln C means over-confident initial outputs (weights too large, unscaled inputs); "
            "far below means the loss is computed wrongly (e.g. missing the minus sign or the log)",
        )]
    return []


# ----------------------------------------------------------------------------- model state
def unit_health(model: Sequential, X: np.ndarray, *, th: Thresholds = Thresholds()) -> tuple[list[Finding], dict[str, float]]:
    """Saturated and dead units, as fractions per activation layer, on inputs ``X``.

    Each activation declares its own rules (``ActivationFunction.saturated`` and ``.dead``), so a new
    activation is judged without a change here.
    """
    captured: list[np.ndarray] = []
    model.forward(np.asarray(X, dtype=model.dtype), capture=captured)
    found: list[Finding] = []
    stats: dict[str, float] = {}
    for i, layer in enumerate(model.layers):
        if not isinstance(layer, Activation):
            continue
        out = captured[i]
        name = layer.fn.name
        where = f"layer {i} ({name})"
        dead_units = layer.fn.dead(out)
        if dead_units is not None:
            dead = float(np.mean(dead_units))
            stats[f"{i}.dead"] = dead
            if dead > th.dead_fraction:
                found.append(Finding("dead-relu", f"dead {name} units",
                                     f"{dead:.0%} of the units in {where} output 0 for every probe input",
                                     "a smaller learning rate, He initialisation, or leaky_relu", where))
        flat = layer.fn.saturated(out)
        if flat is not None:
            sat = float(np.mean(flat))
            stats[f"{i}.saturated"] = sat
            if sat > th.saturated_fraction:
                found.append(Finding("saturated", f"saturated {name} units",
                                     f"{sat:.0%} of the outputs of {where} are in the flat part ({name} near its limits), "
                                     "where the derivative is almost 0",
                                     "scale the inputs, use Glorot initialisation, a smaller learning rate, or relu", where))
    return found, stats


def collapse(predictions: np.ndarray, labels: np.ndarray, *, th: Thresholds = Thresholds()) -> list[Finding]:
    """The network gives (almost) every input the same class while the labels are varied."""
    if predictions.size == 0:
        return []
    values, counts = np.unique(predictions, return_counts=True)
    top = counts.max() / predictions.size
    truth_top = np.unique(labels, return_counts=True)[1].max() / labels.size
    if top >= th.collapse_fraction and truth_top < th.collapse_fraction:
        return [Finding(
            "collapse", "the network predicts one class for almost every input",
            f"{top:.0%} of the inputs are given class {int(values[np.argmax(counts)])}; "
            f"the most common true class is only {truth_top:.0%}",
            "a smaller learning rate, check the gradient (glassnet gradcheck), scale the inputs, "
            "shuffle the training data",
        )]
    return []


# ----------------------------------------------------------------------------- rules shared by the doctor and Watch
def update_health(name: str, grad_norm: float, update_ratio: float, step: int, *, th: Thresholds = Thresholds()
                  ) -> list[Finding]:
    """Exploding gradients or steps, or vanishingly small updates, for one weight tensor at one step.

    ``grad_norm = ||dJ/dW||``, ``update_ratio = ||update|| / ||W||`` (healthy is about 1e-3).
    """
    where = f"{name}, step {step}"
    if grad_norm > th.grad_norm_high or update_ratio > th.update_ratio_high:
        return [Finding("exploding", "exploding gradients or too large steps",
                        f"||dJ/d{name}|| = {grad_norm:.3g}, ||update|| / ||W|| = {update_ratio:.3g} at step {step} "
                        f"(healthy is about 1e-3)",
                        "a smaller learning rate, gradient clipping (--clip-norm), scaled inputs", where)]
    if 0 < update_ratio < th.update_ratio_low:
        return [Finding("tiny-updates", "updates are vanishingly small",
                        f"||update|| / ||W|| = {update_ratio:.3g} for {name} at step {step}",
                        "a larger learning rate; check for saturated units", where)]
    return []


def follows_last_label(follow: Sequence[float], last_labels: Sequence[int], *, th: Thresholds = Thresholds()
                       ) -> list[Finding]:
    """The prediction follows the most recent training label whatever the input.

    ``follow[i]``: the fraction of probe inputs predicted as ``last_labels[i]``, the label just trained on, at
    the i-th check.  Judged on the last 10 checks, which must have seen at least 3 different labels.
    """
    if len(follow) < 10 or len(set(last_labels[-10:])) < 3:
        return []
    recent = float(np.mean(follow[-10:]))
    if recent < th.follow_last_fraction:
        return []
    return [Finding(
        "follows-last-label", "the prediction follows the most recent training label, whatever the input",
        f"over the last 10 checks, {recent:.0%} of the probe inputs were given the label of the sample "
        "just trained on (labels varied)",
        "per-sample training with too large a step: lower the learning rate, use mini-batches, "
        "or check the gradient's sign (glassnet gradcheck)",
    )]


def loss_trend(losses: Sequence[float], n_classes: int | None, *, window: int = 10, th: Thresholds = Thresholds()
               ) -> list[Finding]:
    """A non-finite loss, a loss stuck at ``ln C`` (chance for a C-class cross-entropy), or a rising loss.

    ``losses``: one value per step, oldest first.  Stuck and rising are judged on means over windows of
    ``window`` steps: rising over three windows in a row, stuck over ``th.stuck_windows``.
    """
    bad = [i for i, v in enumerate(losses) if not math.isfinite(v)]
    if bad:
        return [Finding("non-finite", "the loss became NaN or infinite",
                        f"loss {losses[bad[0]]} at step {bad[0]}",
                        "a smaller learning rate, gradient clipping, or log-softmax (z - logsumexp(z)) for log(p)")]
    n = len(losses) // window
    if n < 3:
        return []
    means = [float(np.mean(losses[i * window:(i + 1) * window])) for i in range(n)]
    found = []
    k = th.stuck_windows  # a network starts at chance: only a loss that stays there this long is stuck
    if n_classes and n_classes > 1 and n >= k:
        chance = math.log(n_classes)
        if all(abs(m - chance) < th.stuck_tolerance * chance for m in means[-k:]):
            found.append(Finding("stuck-at-chance", f"the loss is stuck at ln C = {chance:.4g}",
                                 f"mean loss of the last {k * window} steps {means[-1]:.4g}, chance for {n_classes} "
                                 "classes is ln C",
                                 "the network outputs the same probabilities for every input: check the gradient "
                                 "(glassnet gradcheck --function), the learning rate and the input scaling"))
    # rising three windows in a row, well above its best, and above where it started (a bump is not a trend)
    if means[-1] > means[-2] > means[-3] and means[-1] > th.rising_factor * min(means) and means[-1] > means[0]:
        found.append(Finding("rising", "the loss is rising",
                             f"mean loss over windows of {window} steps: {min(means):.4g} at best, then "
                             f"{means[-3]:.4g} -> {means[-2]:.4g} -> {means[-1]:.4g}",
                             "a smaller learning rate, or check the gradient's sign (glassnet gradcheck --function)"))
    return found


#: findings that explain tiny updates better than "try a larger learning rate" does
_EXPLAINS_TINY_UPDATES = ("saturated", "exploding", "follows-last-label", "dead-relu")


def consistent(findings: list[Finding]) -> list[Finding]:
    """Findings that do not contradict each other.  Tiny updates next to saturated or dead units, exploding
    steps or an online collapse are a symptom of those, not a call for a larger learning rate: the cause is
    kept and says it explains the tiny updates."""
    codes = {f.code for f in findings}
    cause = next((c for c in _EXPLAINS_TINY_UPDATES if c in codes), None)
    if cause is None or "tiny-updates" not in codes:
        return findings
    tiny = next(f for f in findings if f.code == "tiny-updates")
    out = []
    for f in findings:
        if f.code == "tiny-updates":
            continue
        if f.code == cause:
            f = Finding(f.code, f.title, f"{f.evidence}; this also explains the vanishingly small updates "
                        f"({tiny.evidence})", f.fix, f.where)
        out.append(f)
    return out


# ----------------------------------------------------------------------------- during training
class Doctor:
    """A training callback that watches a run on a fixed probe batch and collects :class:`Finding` s.

    Every ``every`` steps it measures per-layer gradient norms, update-to-weight
    ratios, unit saturation and death, and the probe predictions; at each
    epoch end it looks at the loss curves.  Each kind of finding is reported
    once, with the first evidence seen.
    """

    def __init__(self, probe_X: np.ndarray, probe_y: np.ndarray, *, every: int = 50, th: Thresholds = Thresholds()) -> None:
        self.probe_X, self.probe_y = probe_X, np.asarray(probe_y)
        self.every, self.th = every, th
        self.findings: dict[str, Finding] = {}
        self._follow: list[float] = []
        self._last_labels: list[int] = []
        self.grad_norms: dict[str, list[float]] = {}
        self.update_ratios: dict[str, list[float]] = {}

    def _add(self, finding: Finding) -> None:
        self.findings.setdefault(finding.code, finding)

    def on_train_begin(self, state: TrainState, info: dict[str, Any]) -> None:
        self._batch_size = info["batch_size"]

    def on_batch_end(self, step: StepInfo) -> None:
        model = step.model
        if step.batch_size == 1 and step.y_batch.ndim == 1:
            # per-sample training: does the prediction follow the last label whatever the input?
            pred = model.predict(self.probe_X) if step.step % max(1, self.every // 10) == 0 else None
            if pred is not None:
                self._follow.append(float(np.mean(pred == int(step.y_batch[0]))))
                self._last_labels.append(int(step.y_batch[0]))
                self._check_follow()
        if step.step % self.every:
            return
        params = model.params()
        dense = [f"{i}.W" for i, layer in enumerate(model.layers) if isinstance(layer, Dense)]
        for name in dense:
            g = float(np.linalg.norm(step.grads[name]))
            w = float(np.linalg.norm(params[name]))
            u = float(np.linalg.norm(step.updates[name])) if name in step.updates else math.nan
            self.grad_norms.setdefault(name, []).append(g)
            ratio = u / w if w > 0 else math.inf
            self.update_ratios.setdefault(name, []).append(ratio)
            for finding in update_health(name, g, ratio, step.step, th=self.th):
                self._add(finding)
        norms = [self.grad_norms[n][-1] for n in dense]
        if len(norms) >= 2 and norms[-1] > 0 and norms[0] / norms[-1] < self.th.vanishing_ratio:
            self._add(Finding("vanishing", "vanishing gradients",
                              f"||dJ/d{dense[0]}|| / ||dJ/d{dense[-1]}|| = {norms[0] / norms[-1]:.2g} at step {step.step}",
                              "relu-family activations, He/Glorot initialisation, fewer layers or normalised inputs"))
        for finding in unit_health(model, self.probe_X, th=self.th)[0]:
            finding.where = f"{finding.where}, step {step.step}"
            self._add(finding)
        for finding in collapse(model.predict(self.probe_X), self.probe_y, th=self.th):
            if step.epoch >= 1:  # an untrained network may legitimately favour one class
                finding.where = f"step {step.step}"
                self._add(finding)

    def _check_follow(self) -> None:
        for finding in follows_last_label(self._follow, self._last_labels, th=self.th):
            self._add(finding)

    def on_epoch_end(self, record: EpochRecord, state: TrainState) -> None:
        for finding in examine_history(state.history, th=self.th):
            self._add(finding)

    def report(self) -> list[Finding]:
        return consistent(list(self.findings.values()))


def examine_history(history: History, *, th: Thresholds = Thresholds()) -> list[Finding]:
    """Loss not decreasing; validation loss rising while the training loss falls."""
    found: list[Finding] = []
    train = history["train_loss"]
    val = history["val_loss"]
    if any(not math.isfinite(v) for v in train):
        found.append(Finding("non-finite", "the training loss became NaN or infinite",
                             f"training losses {train}", "a smaller learning rate or gradient clipping"))
        return found
    k = th.plateau_epochs
    if len(train) > k and min(train[-k:]) > 0.99 * train[-k - 1] and train[-1] > 0.5 * train[0]:
        found.append(Finding("plateau", "the loss is not decreasing",
                             f"training loss {train[-k - 1]:.4g} -> {train[-1]:.4g} over the last {k} epochs "
                             f"(first epoch {train[0]:.4g})",
                             "a larger learning rate, check the gradient (glassnet gradcheck), "
                             "or check that the network can overfit one batch (glassnet overfit-batch)"))
    k = th.overfit_epochs
    if len(val) > k and all(math.isfinite(v) for v in val[-k - 1:]):
        rising = all(b > a for a, b in zip(val[-k - 1:], val[-k:]))
        falling = all(b < a for a, b in zip(train[-k - 1:], train[-k:]))
        if rising and falling:
            found.append(Finding("overfitting", "overfitting: validation loss rises while training loss falls",
                                 f"val loss {val[-k - 1]:.4g} -> {val[-1]:.4g}, train loss {train[-k - 1]:.4g} -> "
                                 f"{train[-1]:.4g} over the last {k} epochs",
                                 "early stopping (--early-stopping), dropout, L2, or more data"))
    return found


def _batch_statistics_pass(model: Sequential, X: np.ndarray, batch: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Outputs of ``model`` with every BatchNorm normalising each batch of ``X`` by its own statistics.

    The other layers run as in eval mode (no dropout), on a copy (the running
    statistics of ``model`` are not touched).  Returns the outputs and each
    BatchNorm's input, ``{layer index: (n, d)}``.
    """
    net = model.copy()
    n = X.shape[0]
    starts = list(range(0, n, batch))
    if len(starts) > 1 and n - starts[-1] == 1:  # never a batch of one sample
        starts.pop()
    outputs, inputs = [], {}
    for k, start in enumerate(starts):
        out = X[start : starts[k + 1] if k + 1 < len(starts) else n]
        for i, layer in enumerate(net.layers):
            if getattr(layer, "batch_statistics", False):
                inputs.setdefault(i, []).append(out)
            out = layer.forward(out, training=getattr(layer, "batch_statistics", False))[0]
        outputs.append(out)
    return np.concatenate(outputs), {i: np.concatenate(parts) for i, parts in inputs.items()}


def running_statistics_gap(model: Sequential, X: np.ndarray, y: np.ndarray, *, th: Thresholds = Thresholds()) -> list[Finding]:
    """A BatchNorm model much worse in eval mode than with batch statistics, on the same data.

    The only difference between the two passes is which statistics normalise:
    the running averages (eval mode, what predict uses) or each batch's own
    (as in training).  A large gap means the running statistics do not
    describe what the layers now receive: too few steps or too small a
    momentum for the averages to catch up (they start at mean 0, variance 1),
    or tiny batches.  The evidence names the layer whose running statistics
    are furthest from the data's.
    """
    if not model.uses_batch_statistics or np.asarray(X).shape[0] < 2:
        return []
    X = np.asarray(X, dtype=model.dtype)
    labels = np.asarray(y) if np.ndim(y) == 1 else np.argmax(y, axis=1)
    eval_acc = float(np.mean(model.predict(X) == labels))
    outputs, inputs = _batch_statistics_pass(model, X, max(2, th.running_stats_batch))
    batch_acc = float(np.mean((np.argmax(outputs, axis=1) if outputs.shape[1] > 1 else outputs[:, 0] > 0) == labels))
    if batch_acc - eval_acc <= th.running_stats_gap:
        return []
    worst = ""
    drift_max = -1.0
    for i, Z in inputs.items():
        layer = model.layers[i]
        mean, var = Z.mean(axis=0), Z.var(axis=0)
        drift = np.abs(mean - layer.state["running_mean"]) / np.sqrt(var + layer.eps)
        ratio = np.maximum(layer.state["running_var"] / (var + layer.eps), (var + layer.eps) / layer.state["running_var"])
        if float(drift.max()) > drift_max:
            drift_max = float(drift.max())
            worst = (f"layer {i} ({layer.describe()}): running mean up to {drift.max():.2g} standard deviations from "
                     f"the data's mean, running variance up to {ratio.max():.2g}x off")
    return [Finding(
        "running-statistics", "eval mode is much worse than training mode: BatchNorm's running statistics do not fit",
        f"accuracy {eval_acc:.1%} with the running statistics (eval mode, what predict uses) but {batch_acc:.1%} "
        f"normalising each batch of {th.running_stats_batch} by its own statistics, on the same {X.shape[0]} samples; "
        f"{worst}",
        "more training steps or a larger BatchNorm momentum so the running averages catch up, larger batches, "
        "or LayerNorm (no running statistics)",
        worst.split(":")[0],
    )]


def examine_config(config: dict[str, Any], found: list[Finding], *, th: Thresholds = Thresholds()) -> list[Finding]:
    """What the saved training configuration explains: per-sample training (batch size 1) with a large step.

    ``found``: the findings on the model so far; a collapse among them is attributed to the configuration.
    """
    batch, lr = config.get("batch_size"), config.get("lr")
    if batch != 1 or not isinstance(lr, (int, float)) or lr < th.online_big_lr:
        return []
    explained = [f.title for f in found if f.code in ("collapse", "follows-last-label", "saturated")]
    return [Finding(
        "online-big-step", f"trained one sample a step with a large learning rate (lr {lr:g}, batch size 1)",
        "the training configuration saved in the model" + (
            f"; steps this large, one sample at a time, explain: {'; '.join(explained)}" if explained else ""),
        f"a learning rate of 0.01 to 0.1 for per-sample training, or mini-batches (--batch-size 32)",
    )]


def examine_model(model: Sequential, X: np.ndarray, y: np.ndarray, history: History | None = None,
                  *, config: dict[str, Any] | None = None, th: Thresholds = Thresholds()) -> list[Finding]:
    """A trained model on held-out data: collapse, dead or saturated units, running statistics, its history,
    and (with the saved training ``config``) what the configuration explains."""
    found = collapse(model.predict(X), np.asarray(y), th=th)
    found += unit_health(model, X, th=th)[0]
    found += running_statistics_gap(model, X, y, th=th)
    if history is not None:
        found += examine_history(history, th=th)
    if config:
        found += examine_config(config, found, th=th)
    return consistent(found)


# ----------------------------------------------------------------------------- overfit one batch
@dataclass
class OverfitResult:
    can_overfit: bool
    initial_loss: float
    final_loss: float
    accuracy: float
    steps: int
    losses: list[float] = field(repr=False, default_factory=list)

    def __str__(self) -> str:
        verdict = ("OK: the network drives the loss on one batch to near zero" if self.can_overfit else
                   "PROBLEM: the network cannot fit a single small batch; look for a wrong backward "
                   "(glassnet gradcheck), too much regularisation or dropout, or too small a learning rate")
        return (f"{verdict}\n  loss {self.initial_loss:.4g} -> {self.final_loss:.4g} in {self.steps} steps, "
                f"batch accuracy {self.accuracy:.0%}")


def overfit_batch(model: Sequential, loss: Loss, X: np.ndarray, y: np.ndarray, *, optimizer: Any = None,
                  steps: int = 300, target: float = 0.05, rng: np.random.Generator | int | None = 0) -> OverfitResult:
    """Train on the single batch ``(X, y)`` with full-batch steps; ``can_overfit`` if the loss drops below ``target``."""
    from glassnet.optim.optimizers import Adam

    optimizer = optimizer or Adam(lr=1e-2)
    X = model.check_input(X)
    initial = loss(model(X), y)[0]
    history = fit(model, X, y, optimizer=optimizer, loss=loss, epochs=steps, batch_size=None, rng=rng,
                  callbacks=[_StopBelow(target)])
    losses = history["train_loss"]
    final = loss(model(X), y)[0]
    acc = float(np.mean(model.predict(X) == (y if np.ndim(y) == 1 else np.argmax(y, axis=1))))
    return OverfitResult(final < target and acc == 1.0, initial, final, acc, len(losses), losses)


class _StopBelow:
    def __init__(self, target: float) -> None:
        self.target = target

    def on_epoch_end(self, record: EpochRecord, state: TrainState) -> bool:
        return record.train_loss < self.target / 2
