"""How many BLAS threads the training loop uses: a fixed count, or ``auto``, measured while training.

OpenBLAS's threads wait for each other: on a busy machine one descheduled thread stalls every matrix
product, and two threads can be several times slower than one (benchmarks/README.md).  ``auto`` follows
the machine's load as it changes::

    at the start of every epoch, for each candidate count c in (1, cores):
        run PROBE_STEPS training steps with c threads (the first one after a switch is not timed)
    keep the count with the smaller median step time for the rest of the epoch

The probes are real training steps (nothing is thrown away), so ``auto`` costs only the steps run at the
slower count.  The count in use is ``state.callback_state["threads"]["count"]``, which the epoch line shows.
Counts are set through threadpoolctl (``pip install "glassnet[fast]"``) and restored when training ends:
no process-wide side effect after ``fit`` returns.  ``auto`` is opt-in, not a default: OpenBLAS sums some
products in another order with another thread count, so with ``auto`` the same run can give another model.  Without threadpoolctl, ``auto`` leaves the BLAS alone
and says so once; a fixed count then is an error.
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from typing import Callable, Sequence

from glassnet.errors import ConfigError

__all__ = ["ThreadPolicy", "PROBE_STEPS", "blas_threads", "cores"]

#: timed steps per candidate count at the start of each epoch (after one untimed warm-up step)
PROBE_STEPS = 5


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Blas:
    """Get and set the BLAS thread count through threadpoolctl (None when it is not installed)."""

    def __init__(self) -> None:
        from threadpoolctl import ThreadpoolController

        self.libs = ThreadpoolController().select(user_api="blas").lib_controllers
        self.original = [lib.num_threads for lib in self.libs]

    def set(self, n: int) -> None:
        for lib in self.libs:
            lib.set_num_threads(n)

    def restore(self) -> None:
        for lib, n in zip(self.libs, self.original):
            lib.set_num_threads(n)


def blas_threads() -> _Blas | None:
    try:
        return _Blas()
    except ImportError:
        return None


class ThreadPolicy:
    """``threads``: ``"auto"``, a positive int, or None (leave the BLAS as it is).

    ``set_threads(n)``, ``restore()`` and ``clock()`` are injectable for tests; by default they drive
    threadpoolctl and ``time.perf_counter``.
    """

    def __init__(self, threads: int | str | None = "auto", *, candidates: Sequence[int] | None = None,
                 set_threads: Callable[[int], None] | None = None, restore: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.perf_counter, probe_steps: int = PROBE_STEPS) -> None:
        if threads is not None and threads != "auto" and not (isinstance(threads, int) and threads >= 1):
            raise ConfigError(f"threads must be 'auto', a positive integer or None, got {threads!r}")
        self.threads, self.clock, self.probe_steps = threads, clock, probe_steps
        if set_threads is None and threads is not None:
            blas = blas_threads()
            if blas is None:
                if threads != "auto":
                    raise ConfigError(f"threads={threads} needs threadpoolctl: pip install \"glassnet[fast]\"")
                warnings.warn("threads='auto' needs threadpoolctl (pip install \"glassnet[fast]\"); the BLAS keeps "
                              "its own thread count", RuntimeWarning, stacklevel=3)
                self.threads = None
            else:
                set_threads, restore = blas.set, blas.restore
        self._set, self._restore = set_threads, restore
        n = cores()
        self.candidates = list(candidates) if candidates is not None else sorted({1, n})
        self.count: int | None = threads if isinstance(threads, int) else None
        self._plan: list[int] = []  # the counts of the coming probe steps
        self._times: dict[int, list[float]] = {}
        self._started: float | None = None
        self._probing: int | None = None

    @property
    def active(self) -> bool:
        return self.threads is not None

    def begin(self) -> None:
        """Training starts: a fixed count is set once."""
        if isinstance(self.threads, int):
            self._set(self.threads)

    def start_epoch(self) -> None:
        """``auto``: plan the probes of this epoch (one warm-up and ``probe_steps`` timed steps a candidate)."""
        if self.threads != "auto" or len(self.candidates) < 2:
            if self.threads == "auto" and self.count is None:
                self.count = self.candidates[0]
                self._set(self.count)
            return
        self._times = {c: [] for c in self.candidates}
        self._plan = [c for c in self.candidates for _ in range(self.probe_steps + 1)]

    def before_step(self) -> None:
        if not self._plan:
            return
        c = self._plan.pop(0)
        if c != self.count:
            self._set(c)
            self.count = c
            self._probing = None  # the first step after a switch warms up the new pool: not timed
        else:
            self._probing = c
        self._started = self.clock()

    def after_step(self) -> None:
        if self._started is None:
            return
        elapsed = self.clock() - self._started
        self._started = None
        if self._probing is not None:
            self._times[self._probing].append(elapsed)
        if not self._plan and self._times:  # probes done: keep the faster count
            timed = {c: statistics.median(t) for c, t in self._times.items() if t}
            best = min(timed, key=lambda c: (timed[c], c))
            if best != self.count:
                self._set(best)
                self.count = best
            self._times = {}

    def end(self) -> None:
        """Training ends: the BLAS gets its original thread count back."""
        if self.active and self._restore is not None:
            self._restore()
