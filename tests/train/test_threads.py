"""The BLAS thread policy, driven by a fake clock and a fake pool (no timing in unit tests)."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet as gn
from glassnet import ConfigError
from glassnet.train.threads import ThreadPolicy


class FakeMachine:
    """A pool whose step time depends on the thread count and on the load, which the test changes."""

    def __init__(self, seconds: dict[int, float]) -> None:
        self.seconds, self.now, self.threads, self.calls = dict(seconds), 0.0, None, []
        self.restored = False

    def set(self, n: int) -> None:
        self.threads = n
        self.calls.append(n)

    def clock(self) -> float:
        return self.now

    def step(self, policy: ThreadPolicy) -> None:
        policy.before_step()
        self.now += self.seconds[self.threads]
        policy.after_step()

    def restore(self) -> None:
        self.restored = True


def run_epoch(machine: FakeMachine, policy: ThreadPolicy, steps: int = 40) -> None:
    policy.start_epoch()
    for _ in range(steps):
        machine.step(policy)


def test_auto_keeps_the_faster_count_and_follows_the_load():
    machine = FakeMachine({1: 0.8, 2: 0.5})  # idle: two threads are faster
    policy = ThreadPolicy("auto", candidates=[1, 2], set_threads=machine.set, restore=machine.restore,
                          clock=machine.clock, probe_steps=3)
    policy.begin()
    run_epoch(machine, policy)
    assert policy.count == 2 and machine.threads == 2
    machine.seconds = {1: 0.8, 2: 4.9}  # a competing busy process: two threads stall each other
    run_epoch(machine, policy)
    assert policy.count == 1 and machine.threads == 1
    machine.seconds = {1: 0.8, 2: 0.5}  # the load is gone
    run_epoch(machine, policy)
    assert policy.count == 2
    policy.end()
    assert machine.restored


def test_the_first_step_after_a_switch_is_not_timed():
    machine = FakeMachine({1: 1.0, 2: 0.6})
    policy = ThreadPolicy("auto", candidates=[1, 2], set_threads=machine.set, restore=machine.restore,
                          clock=machine.clock, probe_steps=2)
    policy.start_epoch()
    machine.seconds[1] = 100.0  # a slow warm-up step at 1 thread ...
    machine.step(policy)
    machine.seconds[1] = 0.5  # ... then fast: 1 thread wins on the timed steps
    for _ in range(10):
        machine.step(policy)
    assert policy.count == 1


def test_load_that_arrives_within_an_epoch_is_followed_within_the_epoch():
    """Bursty load: a competing process starts in the middle of a long epoch.  The watch sees the chosen count's
    steps slow down SLOWDOWN-fold and probes again at once, instead of stalling until the next epoch."""
    from glassnet.train.threads import COOLDOWN_STEPS

    machine = FakeMachine({1: 0.8, 2: 0.5})
    policy = ThreadPolicy("auto", candidates=[1, 2], set_threads=machine.set, restore=machine.restore,
                          clock=machine.clock, probe_steps=3)
    policy.start_epoch()
    for _ in range(COOLDOWN_STEPS + 30):
        machine.step(policy)
    assert policy.count == 2 and policy.reprobes == 0  # idle: no reason to probe again
    machine.seconds = {1: 0.8, 2: 4.9}  # the load arrives
    for _ in range(3 + 2 * 4):  # a window of slow steps, then one warm-up and 3 timed steps per count
        machine.step(policy)
    assert policy.reprobes == 1 and policy.count == 1 and machine.threads == 1
    for _ in range(200):  # 1 thread stays fast under the load: no more probes
        machine.step(policy)
    assert policy.reprobes == 1 and policy.count == 1


def test_noise_below_the_slowdown_does_not_start_probes():
    """Steps that wander up to 1.9x the probe's median (an idle but noisy machine) never trigger a probe,
    and right after a probe a slowdown waits for COOLDOWN_STEPS steps."""
    from glassnet.train.threads import COOLDOWN_STEPS, SLOWDOWN

    machine = FakeMachine({1: 0.8, 2: 0.5})
    policy = ThreadPolicy("auto", candidates=[1, 2], set_threads=machine.set, restore=machine.restore,
                          clock=machine.clock, probe_steps=3)
    policy.start_epoch()
    jitter = [1.0, 1.9, 1.2, 1.9, 0.9, 1.9, 1.9, 1.0]
    for i in range(400):
        machine.seconds = {1: 0.8, 2: 0.5 * jitter[i % len(jitter)] if i >= 8 else 0.5}
        machine.step(policy)
    assert policy.reprobes == 0 and policy.count == 2
    assert 1.9 < SLOWDOWN

    policy.start_epoch()
    machine.seconds = {1: 0.8, 2: 0.5}
    for _ in range(8):  # the epoch's probes
        machine.step(policy)
    machine.seconds = {1: 0.8, 2: 4.9}
    for _ in range(COOLDOWN_STEPS - 1):
        machine.step(policy)
    assert policy.reprobes == 0  # still cooling down
    for _ in range(1 + 3 + 2 * 4):  # the last cooling step, a window of slow steps, the probes
        machine.step(policy)
    assert policy.reprobes == 1 and policy.count == 1


def test_a_fixed_count_is_set_once_and_restored():
    machine = FakeMachine({3: 1.0})
    policy = ThreadPolicy(3, set_threads=machine.set, restore=machine.restore, clock=machine.clock)
    policy.begin()
    run_epoch(machine, policy, steps=5)
    policy.end()
    assert machine.calls == [3] and machine.restored and policy.count == 3


@pytest.mark.parametrize("bad", [0, -1, "fast", 1.5])
def test_bad_thread_settings_are_config_errors(bad):
    with pytest.raises(ConfigError, match="threads must be 'auto', a positive integer or None"):
        ThreadPolicy(bad, set_threads=lambda n: None, restore=lambda: None)


def test_fit_restores_the_blas_and_records_the_count():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 5)), rng.integers(0, 3, 64)
    seen = []

    class Counts:
        def on_epoch_end(self, record, state):
            seen.append(state.callback_state["threads"]["count"])

    gn.fit(gn.mlp([5, 8, 3], rng=0), X, y, optimizer=gn.SGD(lr=0.1), epochs=2, batch_size=8, threads=1,
           callbacks=[Counts()], rng=0)
    assert seen == [1.0, 1.0]
    after = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    assert after == before


def test_the_cli_takes_threads_and_shows_the_count(capsys):
    from glassnet.cli.main import main

    assert main(["train", "--hidden", "8", "--epochs", "1", "--threads", "1"]) == 0
    assert "1 BLAS thread" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--threads", "many"])
    assert "expected 'auto' or an integer >= 1, got 'many'" in capsys.readouterr().err


def test_watch_probes_that_keep_the_count_back_off():
    """Under a steady load whose steps fluctuate past SLOWDOWN, probes that keep choosing the same count
    double the wait before the next one (up to MAX_COOLDOWN_STEPS); a probe that changes the count resets it."""
    from glassnet.train.threads import COOLDOWN_STEPS, MAX_COOLDOWN_STEPS

    machine = FakeMachine({1: 0.8, 2: 4.9})  # busy: 1 thread wins every probe
    policy = ThreadPolicy("auto", candidates=[1, 2], set_threads=machine.set, restore=machine.restore,
                          clock=machine.clock, probe_steps=3)
    policy.start_epoch()
    starts = []
    slices = np.random.default_rng(0).random(6000) < 0.5
    for i in range(6000):
        # between probes 1 thread's steps are 0.8 or 2.4 s at random (the competing process's time slices);
        # the probes happen to land on fast slices, so each probe's median is 0.8 s and the watch fires again
        probing = bool(policy._plan)
        machine.seconds = {1: 2.4 if slices[i] and not probing else 0.8, 2: 4.9}
        before = policy.reprobes
        machine.step(policy)
        if policy.reprobes > before:
            starts.append(i)
    assert policy.count == 1
    gaps = np.diff(starts)
    # each wait at least the previous one doubled, until the cap
    waits = [min(COOLDOWN_STEPS * 2 ** (k + 1), MAX_COOLDOWN_STEPS) for k in range(len(gaps))]
    assert len(starts) >= 5 and all(g >= w for g, w in zip(gaps, waits))
    assert len(starts) < 6000 / MAX_COOLDOWN_STEPS + 6  # without the back-off: one every ~60 steps

    machine.seconds = {1: 0.8, 2: 0.5}  # the load goes: the next epoch's probe changes the count ...
    policy.start_epoch()
    for _ in range(8):
        machine.step(policy)
    assert policy.count == 2 and policy._cooldown == COOLDOWN_STEPS  # ... and resets the wait
