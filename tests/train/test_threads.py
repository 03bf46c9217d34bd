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
