"""Callbacks that show a run to a person: a tqdm progress bar and one summary line per epoch.

They are the only training code that writes to the terminal; the loop itself
(:func:`glassnet.train.fit`) never prints.  Both write to ``stderr`` so the
command's real output (test accuracy, tables) stays clean on ``stdout``.
"""

from __future__ import annotations

import math
import sys
from typing import Any, TextIO

from glassnet.train.loop import EpochRecord, History, StepInfo, TrainState

__all__ = ["ProgressBar", "EpochLogger"]


class ProgressBar:
    """A tqdm bar per epoch with the running loss, accuracy and samples/s.

    Silent when ``enabled`` is False or when ``file`` is not a terminal
    (tqdm's ``disable=None``), so logs and pipes get no control characters.
    """

    def __init__(self, enabled: bool = True, file: TextIO | None = None, update_every: int = 10) -> None:
        self.enabled = enabled
        self.file = file or sys.stderr
        self.update_every = update_every
        self._bar: Any = None
        self._info: dict[str, Any] = {}
        self._loss = self._seen = self._correct = 0.0

    def on_train_begin(self, state: TrainState, info: dict[str, Any]) -> None:
        self._info = info

    def _open(self, epoch: int) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=self._info["n_samples"],
            desc=f"epoch {epoch + 1}/{self._info['epochs']}",
            unit="sample",
            unit_scale=True,
            leave=False,
            file=self.file,
            disable=None if self.enabled else True,
            dynamic_ncols=True,
        )
        self._loss = self._seen = 0.0
        self._pending = 0

    def on_batch_end(self, step: StepInfo) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._open(step.epoch)
        self._loss += step.loss * step.batch_size
        self._seen += step.batch_size
        self._pending += step.batch_size
        if step.step % self.update_every == 0:
            self._bar.set_postfix(loss=f"{self._loss / self._seen:.4f}", refresh=False)
            self._bar.update(self._pending)
            self._pending = 0

    def on_epoch_end(self, record: EpochRecord, state: TrainState) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_train_end(self, history: History) -> None:
        self.on_epoch_end(None, None)  # type: ignore[arg-type]


class EpochLogger:
    """One line per epoch: losses, accuracies, learning rate, seconds and samples/s."""

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file or sys.stderr

    def on_epoch_end(self, record: EpochRecord, state: TrainState) -> None:
        parts = [
            f"epoch {record.epoch:>3}",
            f"loss {record.train_loss:.4f}",
            f"acc {record.train_accuracy:.4f}",
        ]
        if not math.isnan(record.val_loss):
            parts += [f"val_loss {record.val_loss:.4f}", f"val_acc {record.val_accuracy:.4f}"]
        if not math.isnan(record.lr):
            parts.append(f"lr {record.lr:.3g}")
        parts.append(f"{record.seconds:.2f}s ({record.samples_per_second:,.0f} samples/s)")
        threads = state.callback_state.get("threads", {}).get("count")
        if threads:
            parts.append(f"{int(threads)} BLAS thread{'s' if threads != 1 else ''}")
        print("  ".join(parts), file=self.file, flush=True)
