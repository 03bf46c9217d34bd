"""How many BLAS threads the training loop uses: a fixed count, or ``auto``, measured while training.

OpenBLAS's threads wait for each other: on a busy machine one descheduled thread stalls every matrix
product, and two threads can be several times slower than one (benchmarks/README.md).  ``auto`` follows
the machine's load as it changes::

    at the start of every epoch, for each candidate count c in (1, cores):
        run PROBE_STEPS training steps with c threads (the first one after a switch is not timed)
    keep the count with the smaller median step time m for the rest of the epoch
    while it runs, watch the last PROBE_STEPS steps: when their median exceeds SLOWDOWN * m (the load
        changed within the epoch), probe again at once; not within COOLDOWN_STEPS steps of a probe, a wait
        that doubles (up to MAX_COOLDOWN_STEPS) each time such a probe keeps the same count (steps that
        merely fluctuate under a steady load) and is reset when a probe changes it

The probes are real training steps (nothing is thrown away), so ``auto`` costs only the steps run at the
slower count.  The count in use is ``state.callback_state["threads"]["count"]``, which the epoch line shows.
Counts are set through threadpoolctl (``pip install "glassnet[fast]"``) and restored when training ends:
no process-wide side effect after ``fit`` returns.  ``auto`` is opt-in, not a default: OpenBLAS sums some
products in another order with another thread count, so with ``auto`` the same run can give another model.
Without threadpoolctl, ``auto`` leaves the BLAS alone and says so once; a fixed count then is an error.
"""

from __future__ import annotations

import os
import statistics
from collections import deque
import time
import warnings
from typing import Callable, Sequence

from glassnet.errors import ConfigError

__all__ = ["ThreadPolicy", "PROBE_STEPS", "SLOWDOWN", "COOLDOWN_STEPS", "MAX_COOLDOWN_STEPS", "blas_threads",
           "cores"]

#: timed steps per candidate count at the start of each epoch (after one untimed warm-up step)
PROBE_STEPS = 5
#: steps this many times slower than the chosen count's probe median start a new probe within the epoch
SLOWDOWN = 2.0
#: steps after a probe before the slowdown watch may start another one (noise must not make it thrash)
COOLDOWN_STEPS = 50
#: the longest wait, after watch probes that kept the same count again and again
MAX_COOLDOWN_STEPS = 800


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
        self._reference: float | None = None  # the chosen count's median probe step (seconds)
        self._recent: deque[float] = deque(maxlen=probe_steps)  # the latest steps at the chosen count, for the watch
        self._quiet = 0  # steps left before the watch may start a probe
        self._cooldown = COOLDOWN_STEPS  # the wait after the next probe
        self._watch_probe = False  # the probe under way was started by the watch
        self.reprobes = 0  # probes started within an epoch by the slowdown watch
        self._chosen: int | None = None  # the count the last probe chose

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
        self._plan_probes()

    def _plan_probes(self) -> None:
        self._times = {c: [] for c in self.candidates}
        self._plan = [c for c in self.candidates for _ in range(self.probe_steps + 1)]
        self._recent.clear()

    def before_step(self) -> None:
        if not self._plan:
            if self._reference is not None:  # watching the chosen count
                self._probing = None
                self._started = self.clock()
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
        elif not self._plan and self._reference is not None and not self._times:
            self._watch(elapsed)
            return
        if not self._plan and self._times:  # probes done: keep the faster count
            timed = {c: statistics.median(t) for c, t in self._times.items() if t}
            best = min(timed, key=lambda c: (timed[c], c))
            kept = best == self._chosen
            if self._watch_probe and kept:  # the slowdown was the load's noise, not a change: wait longer
                self._cooldown = min(2 * self._cooldown, MAX_COOLDOWN_STEPS)
            elif not kept:
                self._cooldown = COOLDOWN_STEPS
            if best != self.count:
                self._set(best)
                self.count = best
            self._times, self._watch_probe, self._chosen = {}, False, best
            self._reference, self._quiet = timed[best], self._cooldown
            self._recent.clear()

    def _watch(self, elapsed: float) -> None:
        """A step at the chosen count: probe again when the latest ones are SLOWDOWN times the probe's median."""
        if self._quiet > 0:  # just after a probe (the first step after a switch included)
            self._quiet -= 1
            return
        self._recent.append(elapsed)
        if len(self._recent) == self.probe_steps and statistics.median(self._recent) > SLOWDOWN * self._reference:
            self.reprobes += 1
            self._plan_probes()
            self._watch_probe = True

    def end(self) -> None:
        """Training ends: the BLAS gets its original thread count back."""
        if self.active and self._restore is not None:
            self._restore()
