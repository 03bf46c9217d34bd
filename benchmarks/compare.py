"""glassnet against PyTorch (eager, CPU) and scikit-learn's MLPClassifier, side by side.

::

    python benchmarks/compare.py                          # every case, 5 epochs (1 warm-up)
    python benchmarks/compare.py --cases relu-b128 --epochs 3 --json /tmp/bench.json
    python benchmarks/compare.py --quick                  # one short case (CI keeps the script working)

What is compared, for each case (a network and a batch size):

* The same network: the same layer sizes and activation, and the *same initial
  weights*.  glassnet draws them (``mlp(sizes, activation, rng=seed)``); they
  are copied into PyTorch with :func:`glassnet.interop.torch.to_torch` and into
  scikit-learn by setting ``coefs_`` / ``intercepts_`` (see
  :class:`SklearnTrainer` for how).
* The same optimisation: plain minibatch SGD, learning rate 0.1, momentum 0.9
  (PyTorch's heavy-ball form, which with a constant rate is scikit-learn's
  ``nesterovs_momentum=False`` form too), no weight decay (scikit-learn
  ``alpha=0``), softmax cross-entropy, float32 throughout, a new random order
  of the training samples every epoch.
* The same data: full Fashion-MNIST (60,000 training and 10,000 test images),
  pixels scaled to [0, 1] in float32.  PyTorch trains on the very order
  glassnet's epoch drew (``--torch-own-order`` lets it shuffle itself), so the
  accuracy comparison measures the implementations, not shuffle luck: after
  one epoch in the same order their weights agree to float32 rounding (the
  smoke test checks this).  scikit-learn shuffles with its own generator
  (it cannot be given an order).
* The same threads: PyTorch gets ``torch.set_num_threads`` equal to the number
  of BLAS threads numpy uses (read with threadpoolctl).

Each framework runs in a process of its own (their thread pools slow each
other down when they share one), and the parent interleaves them epoch by
epoch (a glassnet epoch, a PyTorch epoch, a scikit-learn epoch, again, 0.2 s
apart), so a burst of machine noise hits all of them alike.  The first ``--warmup`` epochs are not timed;
the table gives the median seconds per epoch of the rest and each peer's
time divided by glassnet's (above 1: glassnet is faster).  Test accuracy is
measured after the same number of epochs for all three.

The floating-point floor: an epoch multiplies matrices worth
``FLOPs = 2 n sum_l (in_l out_l) * (2 + [l > 0])`` (forward, dL/dW for every
layer, dL/dX for every layer but the first).  The harness times ``np.matmul``
on float32 matrices of exactly those shapes (best of several runs, in the same
process, before and after the case) and adds the times up: that is what the
epoch would cost if it did nothing but its matrix products, with the BLAS
glassnet uses.  "x floor" is the epoch time divided by it.

Peak memory is measured separately, one fresh subprocess per framework
(``--memory-probe``), as the process's high-water resident set (VmHWM in
/proc/self/status, the whole process: interpreter, libraries, data and
training), next to the budget "float32 dataset + 100 MB".

If OPENBLAS_CORETYPE is set, the script restarts itself without it, so
OpenBLAS picks its kernel for the actual CPU; the kernel it picked is printed
(threadpoolctl's "architecture").
"""

from __future__ import annotations

import os
import sys

if "OPENBLAS_CORETYPE" in os.environ and __name__ == "__main__":
    # Must happen before numpy loads OpenBLAS: restart without the override.
    env = dict(os.environ)
    env["GLASSNET_BENCH_UNSET_CORETYPE"] = env.pop("OPENBLAS_CORETYPE")
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse
import contextlib
import json
import math
import platform
import signal
import statistics
import subprocess
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from glassnet.nn.layers import Activation, Dense
from glassnet.nn.model import Sequential, mlp
from glassnet.optim.optimizers import SGD
from glassnet.train.loop import TrainState, fit

#: glassnet pinned to a fixed BLAS thread count, as a peer of the main glassnet run (``--frameworks glassnet@1``):
#: the "best fixed count in the same run" that ``--glassnet-threads auto`` is judged against
FIXED_THREAD_PEERS = ("glassnet@1", "glassnet@2")
FRAMEWORKS = ("glassnet", *FIXED_THREAD_PEERS, "torch", "sklearn")
DEFAULT_FRAMEWORKS = ("glassnet", "torch", "sklearn")
LEARNING_RATE = 0.1
MOMENTUM = 0.9
MB = 1024 * 1024
#: pause between two frameworks' epochs: OpenBLAS worker threads spin ~0.1 s after a call before sleeping.
SETTLE_SECONDS = 0.2


@dataclass(frozen=True)
class Case:
    """One benchmark case: layer sizes ``[n_in, hidden..., n_classes]``, activation, batch size."""

    name: str
    sizes: tuple[int, ...]
    activation: str
    batch_size: int

    def describe(self) -> str:
        return f"{'-'.join(map(str, self.sizes))} {self.activation}, batch {self.batch_size}"


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case("relu-b32", (784, 256, 10), "relu", 32),
        Case("relu-b128", (784, 256, 10), "relu", 128),
        Case("relu-b512", (784, 256, 10), "relu", 512),
        Case("deep-b128", (784, 512, 256, 10), "relu", 128),
        Case("tanh-b128", (784, 256, 10), "tanh", 128),
    )
}
#: the pseudo-case measuring prediction speed on the test set (with the models trained in relu-b128).
INFERENCE = "inference"
DEFAULT_CASES = (*CASES, INFERENCE)

#: issue 15's targets: (case, peer, largest allowed glassnet/peer epoch-time ratio); fit's epoch, and the
#: command line's too when ``--cli`` timed it
SPEED_TARGETS = (
    ("relu-b128", "torch", 0.6),
    ("relu-b32", "torch", 0.5),
    ("relu-b512", "torch", 0.9),
    ("deep-b128", "torch", 0.8),
)
#: under ``--load busy``: glassnet / PyTorch, and glassnet / its own best fixed thread count in the same run
BUSY_TORCH_RATIO = 0.5
BUSY_FIXED_RATIO = 1.2
FLOOR_TARGETS = (("relu-b128", 1.8),)
#: cases whose test accuracy must be within ACCURACY_POINTS of PyTorch's
ACCURACY_CASES = ("relu-b128", "relu-b512")
ACCURACY_POINTS = 0.5
MEMORY_HEADROOM_MB = 100.0


# ----------------------------------------------------------------------------- machine and data
def blas_info() -> list[dict[str, Any]]:
    """threadpoolctl's view of the BLAS/OpenMP libraries loaded in this process."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture", "threading_layer",
            "filepath")
    return [{k: lib.get(k) for k in keys} for lib in threadpool_info()]


def blas_threads() -> int:
    """Threads numpy's BLAS uses (threadpoolctl), or the CPU count if threadpoolctl is missing."""
    lib = numpy_blas()
    return int(lib["num_threads"]) if lib else os.cpu_count() or 1


def numpy_blas() -> dict[str, Any] | None:
    """numpy's own BLAS among the loaded ones (scipy, used by scikit-learn, may bring a second)."""
    libs = [lib for lib in blas_info() if lib["user_api"] == "blas"]
    numpy_dir = os.path.dirname(np.__file__)
    ours = [lib for lib in libs if os.path.dirname(lib["filepath"] or "").startswith(numpy_dir)]
    return (ours or libs or [None])[0]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU, cores, load, library versions and BLAS, for the report."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": numpy_blas(),
        "blas": blas_info(),
        "blas_threads": blas_threads(),
        "OPENBLAS_CORETYPE_unset": os.environ.get("GLASSNET_BENCH_UNSET_CORETYPE"),
    }
    from importlib.metadata import PackageNotFoundError, version

    for key, distribution in (("torch", "torch"), ("sklearn", "scikit-learn"), ("glassnet", "glassnet")):
        try:  # the version without importing the library: this process stays free of their thread pools
            info[key] = version(distribution)
        except PackageNotFoundError:
            info[key] = None
    return info


@dataclass
class Data:
    """float32 features in [0, 1] and int64 labels."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str

    @property
    def float32_bytes(self) -> int:
        return self.X_train.nbytes + self.X_test.nbytes


def _unit_float32(pixels: np.ndarray, pixel_max: float) -> np.ndarray:
    """``pixels / pixel_max`` as float32, converted without a float64 temporary."""
    out = np.empty(pixels.shape, dtype=np.float32)
    np.multiply(pixels, np.float32(1.0 / pixel_max), out=out)
    return out


def load_fashion_mnist(n_train: int | None = None) -> Data:
    """Fashion-MNIST through :func:`glassnet.data.datasets.load_dataset`, pixels scaled to [0, 1] in float32.

    The uint8 arrays are dropped as soon as each float32 copy exists, which keeps the peak low.
    """
    from glassnet.data.datasets import load_dataset

    ds = load_dataset("fashion-mnist", progress=False)
    pixel_max = float(ds.pixel_max or 255)
    train_u8, ds.X_train = ds.X_train[:n_train], None
    X_train = _unit_float32(train_u8, pixel_max)
    del train_u8
    test_u8, ds.X_test = ds.X_test, None
    X_test = _unit_float32(test_u8, pixel_max)
    del test_u8
    return Data(X_train, ds.y_train[:n_train].copy(), X_test, ds.y_test, "fashion-mnist")


def synthetic_data(n_train: int, n_test: int, n_features: int = 784, n_classes: int = 10, seed: int = 0) -> Data:
    """A small learnable problem (class means apart, unit noise) for smoke tests and ``--synthetic``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, (n_classes, n_features)).astype(np.float32)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, n_classes, n)
        X = centres[y] + rng.normal(0.0, 1.0, (n, n_features)).astype(np.float32)
        return np.clip(0.5 + 0.1 * X, 0.0, 1.0).astype(np.float32), y.astype(np.int64)

    X_train, y_train = draw(n_train)
    X_test, y_test = draw(n_test)
    return Data(X_train, y_train, X_test, y_test, "synthetic")


# ----------------------------------------------------------------------------- the floating-point floor
def dense_shapes(sizes: Sequence[int]) -> list[tuple[int, int]]:
    return list(zip(sizes[:-1], sizes[1:]))


def flops_per_epoch(sizes: Sequence[int], n_samples: int) -> int:
    """Multiply-add FLOPs of one epoch's matrix products: ``2 n in out`` for the forward and for
    dL/dW of every layer, and for dL/dX of every layer but the first (which needs none)."""
    total = 0
    for layer, (n_in, n_out) in enumerate(dense_shapes(sizes)):
        products = 2 if layer == 0 else 3
        total += products * 2 * n_samples * n_in * n_out
    return total


def _best_seconds(run: Callable[[], Any], repeats: int, min_seconds: float = 0.01) -> float:
    """Best time of one call of ``run``, over ``repeats`` runs of enough calls to last ``min_seconds``."""
    run()
    calls, start = 1, time.perf_counter()
    run()
    once = max(time.perf_counter() - start, 1e-7)
    calls = max(1, int(min_seconds / once))
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            run()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def matmul_floor(sizes: Sequence[int], batch_size: int, n_samples: int, repeats: int = 7) -> dict[str, Any]:
    """Seconds an epoch would take doing nothing but its float32 matrix products.

    For every Dense layer ``(n_in, n_out)`` and batch ``b`` the products are
    ``X @ W`` ``(b, n_in) x (n_in, n_out)``, ``X^T @ G`` ``(n_in, b) x (b, n_out)``
    and (not for the first layer) ``G @ W^T`` ``(b, n_out) x (n_out, n_in)``,
    with the transposes as views, as in backprop.  Each is timed with
    ``np.matmul(..., out=...)`` (best of ``repeats``) and counted
    ``n_samples / b`` times.
    """
    rng = np.random.default_rng(0)
    b = batch_size
    seconds, products = 0.0, []
    for layer, (n_in, n_out) in enumerate(dense_shapes(sizes)):
        X = rng.random((b, n_in), dtype=np.float32)
        W = rng.random((n_in, n_out), dtype=np.float32)
        G = rng.random((b, n_out), dtype=np.float32)
        todo = [("forward", X, W), ("grad_W", X.T, G)]
        if layer > 0:
            todo.append(("grad_X", G, W.T))
        for what, A, B in todo:
            out = np.empty((A.shape[0], B.shape[1]), dtype=np.float32)
            best = _best_seconds(lambda: np.matmul(A, B, out=out), repeats)
            seconds += best * n_samples / b
            products.append({"layer": layer, "product": what, "shape": [list(A.shape), list(B.shape)],
                             "seconds": best, "gflops": 2 * A.shape[0] * A.shape[1] * B.shape[1] / best / 1e9})
    flops = flops_per_epoch(sizes, n_samples)
    return {"flops": flops, "seconds": seconds, "gflops": flops / seconds / 1e9, "products": products}


# ----------------------------------------------------------------------------- the three trainers
def initial_model(case: Case, seed: int) -> Sequential:
    """The network every framework starts from (glassnet's default initialiser for the activation)."""
    return mlp(list(case.sizes), case.activation, rng=seed, dtype=np.float32)


class _Interleave:
    """A glassnet ``fit`` callback: after each glassnet epoch, time it and run one epoch of each peer.

    The glassnet epoch time is the wall time between two calls of
    ``on_epoch_end`` (the first starts at ``on_train_begin``, after fit's
    one-off input checks): the shuffle, every batch and the epoch's record.
    Peers that take ``order=`` (PyTorch) get the order glassnet's epoch used,
    so the two frameworks see the same batches; the only per-batch cost this
    adds to glassnet is keeping a reference to the order.
    """

    def __init__(self, peers: Sequence[Any], seconds: list[float], share_order: bool = True,
                 settle: float = 0.0) -> None:
        self.peers, self.seconds, self.share_order, self.settle = peers, seconds, share_order, settle
        self._mark, self._order = 0.0, None

    def on_train_begin(self, state, info) -> None:
        self._mark = time.perf_counter()

    def on_batch_end(self, step) -> None:
        self._order = step.state.order

    def on_epoch_end(self, record, state) -> None:
        self.seconds.append(time.perf_counter() - self._mark)
        for peer in self.peers:
            time.sleep(self.settle)
            if self.share_order and getattr(peer, "takes_order", False):
                peer.train_epoch(order=self._order)
            else:
                peer.train_epoch()
        time.sleep(self.settle if self.peers else 0.0)
        self._mark = time.perf_counter()


#: glassnet's ``fit(threads=...)`` in this run: None (the BLAS untouched), "auto" or a count (--glassnet-threads)
GLASSNET_THREADS: int | str | None = None


@contextlib.contextmanager
def busy_load(n: int):
    """``n`` competing processes that spin on a core each (``--load busy``), for every framework alike."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


class GlassnetTrainer:
    """glassnet: ``fit(model, X, y, optimizer=SGD(0.1, momentum=0.9), batch_size=b)``, no callbacks but the timer."""

    name = "glassnet"

    def __init__(self, model: Sequential, X: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                 shuffle: bool = True) -> None:
        self.model = model.copy()
        self.X, self.y, self.batch_size, self.seed, self.shuffle = X, y, batch_size, seed, shuffle
        self.seconds: list[float] = []

    def train(self, epochs: int, peers: Sequence[Any] = (), share_order: bool = True, settle: float = 0.0,
              callback: Any = None) -> None:
        """Train ``epochs`` epochs in one ``fit`` call; each peer trains one epoch after each of ours
        (PyTorch in the same sample order unless ``share_order=False``), ``settle`` seconds apart.
        ``callback`` replaces the interleaving callback (the worker process passes its own)."""
        fit(self.model, self.X, self.y, optimizer=SGD(lr=LEARNING_RATE, momentum=MOMENTUM), epochs=epochs,
            batch_size=self.batch_size, shuffle=self.shuffle, rng=np.random.default_rng(self.seed),
            callbacks=[callback or _Interleave(peers, self.seconds, share_order, settle)], threads=GLASSNET_THREADS)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict(X)

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(W, b), ...]`` per Dense layer, ``W : (n_in, n_out)``."""
        return [(l.params["W"], l.params["b"]) for l in self.model.layers if isinstance(l, Dense)]


class GlassnetPinned(GlassnetTrainer):
    """glassnet at a fixed BLAS thread count (``glassnet@N``), a peer trained one epoch at a time.

    Each epoch is one ``fit(..., threads=N)`` call that continues the same
    :class:`~glassnet.train.loop.TrainState` (optimizer state, generator), in
    the sample order of the main glassnet run's epoch; its time runs from
    ``on_train_begin`` to ``on_epoch_end``, as the main run's, so fit's one-off
    input check is not in it.  With the same order and the same start it
    trains exactly what the main run trains at that thread count.
    """

    takes_order = True

    def __init__(self, model: Sequential, X: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                 shuffle: bool = True, threads: int = 1) -> None:
        super().__init__(model, X, y, batch_size, seed, shuffle)
        self.name, self.threads = f"glassnet@{threads}", threads
        self.optimizer = SGD(lr=LEARNING_RATE, momentum=MOMENTUM)
        self.state = TrainState(rng=np.random.default_rng(seed))
        self._timer = _EpochTimer()

    def train_epoch(self, order: np.ndarray | None = None) -> None:
        if order is not None:  # the main run's order: this epoch starts at its first sample
            self.state.begin_epoch(np.asarray(order, dtype=np.int64))
        fit(self.model, self.X, self.y, optimizer=self.optimizer, epochs=self.state.epoch + 1,
            batch_size=self.batch_size, shuffle=self.shuffle, state=self.state, callbacks=[self._timer],
            threads=self.threads)
        self.seconds.append(self._timer.seconds)


class _EpochTimer:
    """Seconds from ``on_train_begin`` to ``on_epoch_end`` of a one-epoch ``fit`` call."""

    seconds = 0.0

    def on_train_begin(self, state, info) -> None:
        self._mark = time.perf_counter()

    def on_epoch_end(self, record, state) -> None:
        self.seconds = time.perf_counter() - self._mark


class TorchTrainer:
    """PyTorch eager on the CPU, the idiomatic loop: index batches of a float32 tensor, no DataLoader.

    ``model(x)``, ``F.cross_entropy``, ``zero_grad(set_to_none=True)``,
    ``backward()``, ``step()`` with ``torch.optim.SGD(lr, momentum)``.
    """

    name = "torch"

    def __init__(self, model: Sequential, X: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                 shuffle: bool = True, threads: int | None = None) -> None:
        import torch
        from glassnet.interop.torch import to_torch

        self.torch = torch
        torch.set_num_threads(threads or blas_threads())
        self.net = to_torch(model).train()
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y)  # shares numpy's memory
        self.batch_size, self.shuffle = batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)
        self.seconds: list[float] = []

    #: train_epoch accepts the sample order of glassnet's epoch (see :class:`_Interleave`)
    takes_order = True

    def train_epoch(self, order: np.ndarray | None = None) -> None:
        """One epoch in a new random order, or in ``order`` (an index array) when given."""
        torch, F = self.torch, self.torch.nn.functional
        start = time.perf_counter()
        n = self.X.shape[0]
        if order is not None:
            order = torch.from_numpy(order)
        else:
            order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for first in range(0, n, self.batch_size):
            idx = order[first : first + self.batch_size]
            loss = F.cross_entropy(self.net(self.X[idx]), self.y[idx])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        self.seconds.append(time.perf_counter() - start)

    def predict(self, X: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            return self.net(self.torch.from_numpy(X)).argmax(dim=1).numpy()

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        linear = [m for m in self.net if isinstance(m, self.torch.nn.Linear)]
        return [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in linear]


SKLEARN_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic", "identity": "identity"}


class SklearnTrainer:
    """scikit-learn's ``MLPClassifier(solver="sgd")``, one epoch per call, starting from glassnet's weights.

    Settings: ``learning_rate="constant"``, ``learning_rate_init=0.1``,
    ``momentum=0.9``, ``nesterovs_momentum=False``, ``alpha=0`` (no L2),
    ``batch_size=b``, ``shuffle=True``; float32 input stays float32
    (``_validate_input`` accepts ``dtype=(float64, float32)`` and the
    weights take the input's dtype; checked on scikit-learn 1.9, and the
    smoke test checks the weights are still float32 after an epoch).

    One epoch, exactly: ``partial_fit`` runs one pass over the data (in a
    new shuffled order) and keeps the optimizer, so the momentum carries over
    between epochs as in the other two frameworks.  The issue's
    ``warm_start=True, max_iter=1`` with ``fit`` also runs exactly one epoch,
    but ``fit`` builds a new ``SGDOptimizer`` on every call (scikit-learn
    1.9, ``_fit_stochastic``: ``if not incremental ...``), which zeroes the
    velocity at every epoch; pass ``mode="warm_start"`` to time that instead.
    The time of either includes scikit-learn's input validation, which it
    repeats on every call (a few tens of milliseconds of a multi-second epoch).

    A new order every epoch: ``_fit`` re-derives its generator from
    ``random_state`` on every call, so an integer seed would repeat the same
    order each epoch; a ``np.random.RandomState`` instance is passed instead
    and advances from epoch to epoch.

    Initial weights: the first ``partial_fit`` (or ``fit``) initialises
    ``coefs_`` itself, so a warm-up call on a tiny slice creates every
    fitted attribute, then the glassnet weights are copied into ``coefs_`` /
    ``intercepts_`` (``W : (n_in, n_out)``, the same layout), the optimizer
    made by the warm-up is dropped (``partial_fit`` builds a new one, with
    zero velocity, on the weights it finds) and the iteration counters are
    reset.  The warm-up touches private state (``_optimizer``); it is the
    only way to start from given weights, as ``MLPClassifier`` has no
    ``coef_init``.
    """

    name = "sklearn"

    def __init__(self, model: Sequential, X: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                 shuffle: bool = True, mode: str = "partial_fit") -> None:
        from sklearn.neural_network import MLPClassifier

        if mode not in ("partial_fit", "warm_start"):
            raise ValueError(f"mode must be 'partial_fit' or 'warm_start', got {mode!r}")
        dense = [layer for layer in model.layers if isinstance(layer, Dense)]
        activations = {layer.fn.name for layer in model.layers if isinstance(layer, Activation)}
        if len(activations) != 1 or next(iter(activations)) not in SKLEARN_ACTIVATIONS:
            raise ValueError(f"MLPClassifier needs one hidden activation among {sorted(SKLEARN_ACTIVATIONS)}")
        self.classes = np.arange(dense[-1].n_out)
        self.clf = MLPClassifier(
            hidden_layer_sizes=tuple(layer.n_out for layer in dense[:-1]),
            activation=SKLEARN_ACTIVATIONS[activations.pop()],
            solver="sgd",
            learning_rate="constant",
            learning_rate_init=LEARNING_RATE,
            momentum=MOMENTUM,
            nesterovs_momentum=False,
            alpha=0.0,
            batch_size=batch_size,
            shuffle=shuffle,
            random_state=np.random.RandomState(seed),
            max_iter=1,
            warm_start=True,
            tol=0.0,
            n_iter_no_change=10**9,
        )
        self.X, self.y, self.mode = X, y, mode
        self.seconds: list[float] = []
        # Warm-up on one sample of each class, then install glassnet's weights.
        warm = np.array([np.flatnonzero(y == c)[0] for c in self.classes if np.any(y == c)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.clf.partial_fit(X[warm], y[warm], classes=self.classes)
        self.clf.coefs_ = [layer.params["W"].copy() for layer in dense]
        self.clf.intercepts_ = [layer.params["b"].copy() for layer in dense]
        del self.clf._optimizer
        self.clf.n_iter_, self.clf.t_, self.clf.loss_curve_ = 0, 0, []

    def train_epoch(self) -> None:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning after each max_iter=1 fit
            if self.mode == "partial_fit":
                self.clf.partial_fit(self.X, self.y)
            else:
                self.clf.fit(self.X, self.y)
        self.seconds.append(time.perf_counter() - start)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.clf.predict(X)

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return list(zip(self.clf.coefs_, self.clf.intercepts_))


def make_trainer(name: str, model: Sequential, data: Data, batch_size: int, seed: int = 0, shuffle: bool = True,
                 sklearn_mode: str = "partial_fit") -> Any:
    """The trainer of framework ``name``, starting from ``model``'s weights."""
    args = (model, data.X_train, data.y_train, batch_size, seed)
    if name == "glassnet":
        return GlassnetTrainer(*args, shuffle=shuffle)
    if name in FIXED_THREAD_PEERS:
        return GlassnetPinned(*args, shuffle=shuffle, threads=int(name.split("@")[1]))
    if name == "torch":
        return TorchTrainer(*args, shuffle=shuffle)
    if name == "sklearn":
        return SklearnTrainer(*args, shuffle=shuffle, mode=sklearn_mode)
    raise ValueError(f"unknown framework {name!r}; known: {FRAMEWORKS}")


def make_trainers(case: Case, data: Data, frameworks: Sequence[str], seed: int = 0, shuffle: bool = True,
                  sklearn_mode: str = "partial_fit") -> dict[str, Any]:
    """One trainer per framework (in this process), all starting from the same initial weights."""
    _check_frameworks(frameworks)
    model = initial_model(case, seed)
    return {name: make_trainer(name, model, data, case.batch_size, seed, shuffle, sklearn_mode)
            for name in FRAMEWORKS if name in frameworks}


def _check_frameworks(frameworks: Sequence[str]) -> None:
    unknown = set(frameworks) - set(FRAMEWORKS)
    if unknown or "glassnet" not in frameworks:
        raise ValueError(f"frameworks must include glassnet and come from {FRAMEWORKS}, got {list(frameworks)}")


# ----------------------------------------------------------------------------- running a case
def accuracy(trainer: Any, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(trainer.predict(X) == y))


def timed_epochs(seconds: Sequence[float], warmup: int) -> list[float]:
    """The epochs that count: all after the first ``warmup`` (all of them if nothing would be left)."""
    return list(seconds[warmup:]) or list(seconds)


def _load_average() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def run_case(case: Case, data: Data, frameworks: Sequence[str] = FRAMEWORKS, epochs: int = 5, warmup: int = 1,
             seed: int = 0, floor_repeats: int = 7, sklearn_mode: str = "partial_fit", share_order: bool = True,
             spec: DataSpec | None = None, settle: float = SETTLE_SECONDS, inference: bool = False,
             keep_trainers: bool = False) -> dict[str, Any]:
    """Train every framework ``epochs`` epochs, interleaved; return times, ratios, accuracies and the floor.

    With a ``spec`` each framework runs in a process of its own (:class:`Worker`, which loads
    the data from the spec); without one, all of them run here, in this process.
    ``inference=True`` also measures prediction speed on the test set with the trained models.
    """
    _check_frameworks(frameworks)
    load_before = _load_average()
    n = data.X_train.shape[0]
    floor_before = matmul_floor(case.sizes, case.batch_size, n, floor_repeats)
    if spec is None:
        seconds, accuracies, speeds, trainers = _run_here(case, data, frameworks, epochs, seed, sklearn_mode,
                                                          share_order, settle, inference)
    else:
        seconds, accuracies, speeds = _run_in_workers(case, spec, frameworks, epochs, seed, sklearn_mode,
                                                      share_order, settle, inference)
        trainers = None
    floor_after = matmul_floor(case.sizes, case.batch_size, n, floor_repeats)
    floor = min(floor_before, floor_after, key=lambda f: f["seconds"])

    results: dict[str, Any] = {}
    for name in (fw for fw in FRAMEWORKS if fw in seconds):
        results[name] = {
            "epoch_seconds": seconds[name],
            "median_seconds": statistics.median(timed_epochs(seconds[name], warmup)),
            "best_seconds": min(timed_epochs(seconds[name], warmup)),
            "test_accuracy": accuracies[name],
        }
    ours = results["glassnet"]["median_seconds"]
    for entry in results.values():
        entry["ratio_to_glassnet"] = entry["median_seconds"] / ours
        entry["x_floor"] = entry["median_seconds"] / floor["seconds"]
    out = {
        "case": case.name, "description": case.describe(), "sizes": list(case.sizes),
        "activation": case.activation, "batch_size": case.batch_size, "n_train": n,
        "epochs": epochs, "warmup": warmup, "torch_shares_glassnets_order": share_order,
        "one_process_per_framework": spec is not None,
        "frameworks": results, "floor": floor,
        # 1-minute load average before and after (this run's own threads count too: ~2 on 2 cores)
        "load_average": [load_before, _load_average()],
        "floor_seconds_before_after": [floor_before["seconds"], floor_after["seconds"]],
    }
    if speeds is not None:
        out["inference"] = {"case": case.name, "n_samples": int(data.X_test.shape[0]),
                            "frameworks": _inference_table(speeds, data.X_test.shape[0])}
    if keep_trainers and trainers is not None:
        out["trainers"] = trainers
    return out


def _run_here(case, data, frameworks, epochs, seed, sklearn_mode, share_order, settle, inference):
    trainers = make_trainers(case, data, frameworks, seed, sklearn_mode=sklearn_mode)
    peers = [trainers[name] for name in FRAMEWORKS if name in trainers and name != "glassnet"]
    trainers["glassnet"].train(epochs, peers, share_order, settle)
    seconds = {name: t.seconds for name, t in trainers.items()}
    accuracies = {name: accuracy(t, data.X_test, data.y_test) for name, t in trainers.items()}
    speeds = {name: predict_seconds(t, data.X_test) for name, t in trainers.items()} if inference else None
    return seconds, accuracies, speeds, trainers


def _run_in_workers(case, spec, frameworks, epochs, seed, sklearn_mode, share_order, settle, inference):
    workers = {name: Worker(name, case, spec, seed, sklearn_mode) for name in FRAMEWORKS if name in frameworks}
    try:
        for worker in workers.values():
            worker.receive()  # {"ready": true}: data loaded, trainer built
        seconds: dict[str, list[float]] = {name: [] for name in workers}
        ours = workers["glassnet"]
        ours.send(cmd="train", epochs=epochs)
        for _ in range(epochs):
            done = ours.receive()  # glassnet finished an epoch and waits
            seconds["glassnet"].append(done["seconds"])
            for name in (fw for fw in workers if fw != "glassnet"):
                time.sleep(settle)
                order = done["order"] if share_order and name != "sklearn" else None
                seconds[name].append(workers[name].ask(cmd="epoch", order=order)["seconds"])
            time.sleep(settle)
            ours.send(cmd="continue")
        ours.receive()  # {"trained": true}
        accuracies = {name: w.ask(cmd="accuracy")["accuracy"] for name, w in workers.items()}
        speeds = {name: w.ask(cmd="inference")["seconds"] for name, w in workers.items()} if inference else None
    finally:
        for worker in workers.values():
            worker.close()
    return seconds, accuracies, speeds


def anatomy(case: Case, data: Data, epochs: int = 2, seed: int = 0) -> dict[str, Any]:
    """Where a glassnet epoch goes: the steps of ``fit``'s inner loop timed one by one.

    The same calls ``fit`` makes, in the same order (gather the batch, forward,
    loss, backward, optimizer update, apply, count hits), with subnormals
    flushed to zero as in ``fit``, each wrapped in a clock; the last of
    ``epochs`` epochs is reported, in seconds per epoch.
    ``matmul_floor`` says how much of forward + backward is matrix products.
    """
    from glassnet.core.fpenv import flush_denormals
    from glassnet.nn.losses import SoftmaxCrossEntropy
    from glassnet.optim.optimizers import apply_updates
    from glassnet.train.loop import _n_correct

    model = initial_model(case, seed)
    loss, optimizer = SoftmaxCrossEntropy(), SGD(lr=LEARNING_RATE, momentum=MOMENTUM)
    params, grads = model.params(), model.grads()
    state = optimizer.init(params)
    X, y, b = data.X_train, data.y_train, case.batch_size
    buffer = np.empty((b, X.shape[1]), dtype=np.float32)
    rng = np.random.default_rng(seed)
    clock = time.perf_counter
    stages = ("gather", "forward", "loss", "backward", "optimizer update", "apply updates", "count hits")
    with flush_denormals():  # as fit runs (glassnet.core.fpenv): subnormal momentum buffers slow the update
        for _ in range(epochs):
            spent = dict.fromkeys(stages, 0.0)
            order = rng.permutation(X.shape[0])
            start = clock()
            for first in range(0, X.shape[0], b):
                t0 = clock()
                idx = order[first : first + b]
                xb = buffer[: idx.size]
                np.take(X, idx, axis=0, out=xb, mode="clip")
                yb = y[idx]
                t1 = clock()
                outputs, backprop = model.forward(xb, training=True)
                t2 = clock()
                value, grad_outputs = loss(outputs, yb)
                t3 = clock()
                backprop(grad_outputs)
                t4 = clock()
                updates, state = optimizer.update(grads, state, params)
                t5 = clock()
                apply_updates(params, updates)
                t6 = clock()
                _n_correct(outputs, yb, 0.0)  # 10 columns: the threshold is unused
                t7 = clock()
                for stage, (a, z) in zip(stages, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6), (t6, t7))):
                    spent[stage] += z - a
            total = clock() - start
    spent["python between steps"] = total - sum(spent.values())
    return {"case": case.name, "epoch_seconds": total, "stages": spent}


def predict_seconds(trainer: Any, X: np.ndarray, repeats: int = 7) -> float:
    """Median seconds of ``trainer.predict(X)`` (class labels, each framework's own API) over ``repeats`` runs."""
    trainer.predict(X)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        trainer.predict(X)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _inference_table(seconds: dict[str, float], n_samples: int) -> dict[str, dict[str, float]]:
    out = {name: {"seconds": t, "samples_per_second": n_samples / t} for name, t in seconds.items()}
    ours = out["glassnet"]["samples_per_second"]
    for entry in out.values():
        entry["ratio_to_glassnet"] = ours / entry["samples_per_second"]  # > 1: glassnet is faster
    return out


# ----------------------------------------------------------------------------- one process per framework
@dataclass(frozen=True)
class DataSpec:
    """How to load the benchmark data, so that a worker process loads exactly the same arrays."""

    synthetic: bool = False
    n_train: int | None = None

    def load(self) -> Data:
        return synthetic_data(self.n_train or 2000, 500) if self.synthetic else load_fashion_mnist(self.n_train)

    def cli_args(self) -> list[str]:
        return (["--synthetic"] if self.synthetic else []) + (["--n-train", str(self.n_train)] if self.n_train else [])


class Worker:
    """One framework in a process of its own, driven one epoch at a time.

    Why: numpy's OpenBLAS, PyTorch's OpenMP pool and scikit-learn (numpy's
    BLAS again, plus scipy's) each keep worker threads that spin after their
    work; sharing one process, they slowed each other down, the deep case
    by up to 2x (measured).  In separate processes each framework runs as it
    would on its own, and the idle ones sleep.  The parent still interleaves
    them epoch by epoch, ``SETTLE_SECONDS`` apart (OpenBLAS threads spin for
    about 0.1 s after a call before they sleep).

    The protocol is one JSON object per line on the child's stdin/stdout
    (``--worker FRAMEWORK``); see :func:`serve`.
    """

    def __init__(self, framework: str, case: Case, spec: DataSpec, seed: int = 0,
                 sklearn_mode: str = "partial_fit") -> None:
        self.framework = framework
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", framework, "--cases", case.name,
               "--seed", str(seed), "--sklearn-mode", sklearn_mode, *spec.cli_args()]
        if GLASSNET_THREADS is not None:
            cmd += ["--glassnet-threads", str(GLASSNET_THREADS)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def send(self, **message: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.framework} worker exited (code {self.proc.wait()}); see its stderr above")
        return json.loads(line)

    def ask(self, **message: Any) -> dict[str, Any]:
        self.send(**message)
        return self.receive()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send(cmd="quit")
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


class _PauseAfterEachEpoch:
    """The glassnet worker's ``fit`` callback: report each epoch (time and order), then wait for "continue"."""

    def __init__(self, send: Callable[..., None], receive: Callable[[], dict[str, Any]]) -> None:
        self.send, self.receive = send, receive
        self._mark, self._order = 0.0, None

    def on_train_begin(self, state, info) -> None:
        self._mark = time.perf_counter()

    def on_batch_end(self, step) -> None:
        self._order = step.state.order

    def on_epoch_end(self, record, state) -> None:
        seconds = time.perf_counter() - self._mark
        self.send(seconds=seconds, order=None if self._order is None else self._order.tolist())
        if self.receive().get("cmd") != "continue":  # "quit", or the parent is gone
            raise SystemExit(0)
        self._mark = time.perf_counter()


def serve(framework: str, case: Case, spec: DataSpec, seed: int, sklearn_mode: str) -> int:
    """The ``--worker`` process: load the data, build one trainer, then obey the parent line by line.

    Messages in: ``train`` (glassnet: ``fit`` all epochs, pausing after each),
    ``epoch`` (a peer: one epoch, in ``order`` if given), ``accuracy``,
    ``inference``, ``quit``.  Everything a library prints goes to stderr.
    """
    channel, sys.stdout = sys.stdout, sys.stderr

    def send(**message: Any) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    def receive() -> dict[str, Any]:
        line = sys.stdin.readline()
        return json.loads(line) if line else {"cmd": "quit"}

    data = spec.load()
    trainer = make_trainer(framework, initial_model(case, seed), data, case.batch_size, seed,
                           sklearn_mode=sklearn_mode)
    send(ready=True)
    while True:
        message = receive()
        command = message["cmd"]
        if command == "quit":
            return 0
        if command == "train":
            trainer.train(message["epochs"], callback=_PauseAfterEachEpoch(send, receive))
            send(trained=True)
        elif command == "epoch":
            order = message.get("order")
            if order is not None:
                trainer.train_epoch(order=np.asarray(order, dtype=np.int64))
            else:
                trainer.train_epoch()
            send(seconds=trainer.seconds[-1])
        elif command == "accuracy":
            send(accuracy=accuracy(trainer, data.X_test, data.y_test))
        elif command == "inference":
            send(seconds=predict_seconds(trainer, data.X_test))
        else:
            raise ValueError(f"unknown worker command {command!r}")


# ----------------------------------------------------------------------------- memory (one subprocess each)
def _proc_status(field_name: str) -> int:
    """A ``kB`` line of /proc/self/status, in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def memory_probe(framework: str, case: Case, epochs: int, n_train: int | None, synthetic: bool) -> dict[str, Any]:
    """Runs *inside* the child process: load the data, train ``epochs`` epochs of one framework, report RSS."""
    rss_start = _proc_status("VmRSS")
    data = synthetic_data(n_train or 2000, 500) if synthetic else load_fashion_mnist(n_train)
    rss_data = _proc_status("VmRSS")
    model = initial_model(case, 0)
    args = (model, data.X_train, data.y_train, case.batch_size, 0)
    if framework == "glassnet":
        GlassnetTrainer(*args).train(epochs)
    elif framework == "torch":
        trainer = TorchTrainer(*args)
        for _ in range(epochs):
            trainer.train_epoch()
    else:
        trainer = SklearnTrainer(*args)
        for _ in range(epochs):
            trainer.train_epoch()
    return {
        "framework": framework, "case": case.name, "epochs": epochs,
        "rss_at_start": rss_start, "rss_after_data": rss_data, "peak_rss": _proc_status("VmHWM"),
        "dataset_float32_bytes": data.float32_bytes,
    }


def measure_memory(framework: str, case: Case, epochs: int = 1, n_train: int | None = None,
                   synthetic: bool = False, timeout: float = 900.0) -> dict[str, Any]:
    """Peak memory of a fresh process that loads the data and trains one framework (see :func:`memory_probe`)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-probe", framework, "--cases", case.name,
           "--epochs", str(epochs)]
    if n_train:
        cmd += ["--n-train", str(n_train)]
    if synthetic:
        cmd.append("--synthetic")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        return {"framework": framework, "error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["budget_bytes"] = result["dataset_float32_bytes"] + MEMORY_HEADROOM_MB * MB
    result["within_budget"] = result["peak_rss"] <= result["budget_bytes"]
    return result


# ----------------------------------------------------------------------------- targets and report
def check_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 15's targets that the cases run can decide: what, measured value, limit, met.

    Speed targets are judged twice, on the median epochs and on the best
    epochs (which a burst of machine noise cannot inflate), and count as met
    only when both pass: on a shared machine a burst that lands on one
    framework's epochs can otherwise make either side look faster than it is.
    The command line's epochs (``--cli``) are judged against the same peer
    epochs; they run after the interleaved epochs, not between them.
    """
    cases = report["cases"]
    busy = report.get("settings", {}).get("load") == "busy"
    checks = []

    def add(what: str, value: float, limit: float, met: bool, best: float | None = None) -> None:
        checks.append({"target": what, "value": value, "value_best_epochs": best, "limit": limit, "met": bool(met)})

    def speed(name: str, who: str, ours: dict[str, Any], peer: str, theirs: dict[str, Any], limit: float) -> None:
        value = ours["median_seconds"] / theirs["median_seconds"]
        best = ours["best_seconds"] / theirs["best_seconds"]
        add(f"{name}: {who} epoch / {peer} epoch <= {limit}", value, limit, max(value, best) <= limit, best)

    for name, peer, limit in SPEED_TARGETS:
        if name not in cases or peer not in cases[name]["frameworks"] or busy:
            continue
        fws = cases[name]["frameworks"]
        speed(name, "glassnet fit", fws["glassnet"], peer, fws[peer], limit)
        if "cli" in cases[name]:
            speed(name, "glassnet train (CLI)", cases[name]["cli"], peer, fws[peer], limit)
    for name, limit in FLOOR_TARGETS:
        if name in cases and not busy:
            floor = cases[name]["floor"]["seconds"]
            for who, ours in (("glassnet fit", cases[name]["frameworks"]["glassnet"]),
                              ("glassnet train (CLI)", cases[name].get("cli"))):
                if ours:
                    value, best = ours["median_seconds"] / floor, ours["best_seconds"] / floor
                    add(f"{name}: {who} epoch / floating-point floor <= {limit}", value, limit,
                        max(value, best) <= limit, best)
    for name, case in cases.items():
        fws = case["frameworks"]
        if busy and "torch" in fws:
            speed(name, "glassnet fit (busy)", fws["glassnet"], "torch", fws["torch"], BUSY_TORCH_RATIO)
        fixed = [fw for fw in FIXED_THREAD_PEERS if fw in fws]
        if fixed:
            best_fixed = min(fixed, key=lambda fw: fws[fw]["median_seconds"])
            speed(name, "glassnet fit", fws["glassnet"], f"its best fixed count ({best_fixed})", fws[best_fixed],
                  BUSY_FIXED_RATIO)
        if "torch" in fws and name in ACCURACY_CASES:
            gap = 100 * abs(fws["glassnet"]["test_accuracy"] - fws["torch"]["test_accuracy"])
            add(f"{name}: |test accuracy glassnet - torch| <= {ACCURACY_POINTS} points", gap, ACCURACY_POINTS,
                gap <= ACCURACY_POINTS)
    for preset, runs in report.get("time_to_accuracy", {}).items():
        least, most = TIME_TO_ACCURACY[preset]
        ours = runs["glassnet"]
        add(f"{preset}: test accuracy >= {100 * least:.1f}%", 100 * ours["test_accuracy"], 100 * least,
            ours["test_accuracy"] >= least)
        add(f"{preset}: wall seconds of glassnet train --preset {preset} <= {most:.0f}", ours["seconds"], most,
            ours["seconds"] <= most)
    memory = report.get("memory", {}).get("glassnet")
    if memory and "peak_rss" in memory:
        add("glassnet peak RSS <= float32 dataset + 100 MB (MB)", memory["peak_rss"] / MB,
            memory["budget_bytes"] / MB, memory["within_budget"])
    return checks


def format_report(report: dict[str, Any]) -> str:
    """The human-readable tables."""
    m = report["machine"]
    lib = m["numpy_blas"]
    blas = (f"{lib['internal_api']} {lib['version']} ({lib['architecture']} kernel, {lib['num_threads']} threads)"
            if lib else "unknown (install threadpoolctl)")
    s = report["settings"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, load average {' '.join(f'{x:.2f}' for x in m['load_average'] or [])}",
        f"python {m['python']}, numpy {m['numpy']}, torch {m['torch']}, scikit-learn {m['sklearn']}, glassnet {m['glassnet']}",
        f"numpy BLAS: {blas}; torch threads: {m['blas_threads']}"
        + (f"; OPENBLAS_CORETYPE={m['OPENBLAS_CORETYPE_unset']} was unset" if m["OPENBLAS_CORETYPE_unset"] else ""),
        "s/epoch: median of the timed epochs; best: the fastest of them; x floor: s/epoch / the floor below",
        f"data: {s['data']} ({s['n_train']} train / {s['n_test']} test), float32 in [0, 1]; "
        f"SGD lr {LEARNING_RATE} momentum {MOMENTUM}; {s['epochs']} epochs, the first {s['warmup']} not timed; "
        + ("torch trains on glassnet's shuffled order, sklearn shuffles its own" if s.get("torch_shares_glassnets_order")
           else "each framework shuffles with its own generator")
        + ("; one process per framework" if s.get("one_process_per_framework") else "; all in one process"),
        f"load: {s.get('load', 'idle')}"
        + (f" (one competing busy process per core)" if s.get("load") == "busy" else "")
        + f"; glassnet fit(threads={s.get('glassnet_threads')!r})",
        "",
        f"{'case':<11} {'framework':<10} {'s/epoch':>7} {'peer/glassnet':>13} {'x floor':>8} {'best':>6} "
        f"{'test acc':>9}  epochs (s)",
    ]
    for name, case in report["cases"].items():
        floor = case["floor"]
        for i, (fw, r) in enumerate(case["frameworks"].items()):
            epochs = " ".join(f"{t:.3f}" for t in r["epoch_seconds"])
            lines.append(
                f"{name if i == 0 else '':<11} {fw:<10} {r['median_seconds']:7.3f} {r['ratio_to_glassnet']:13.2f} "
                f"{r['x_floor']:8.2f} {r['best_seconds']:6.3f} {100 * r['test_accuracy']:8.2f}%  {epochs}"
            )
        if "cli" in case:  # glassnet train, run after the interleaved epochs
            c = case["cli"]
            ours = case["frameworks"]["glassnet"]["median_seconds"]
            lines.append(f"{'':<11} {'CLI':<10} {c['median_seconds']:7.3f} {c['median_seconds'] / ours:13.2f} "
                         f"{c['median_seconds'] / floor['seconds']:8.2f} {c['best_seconds']:6.3f} {'':>9}  "
                         + " ".join(f"{t:.3f}" for t in c["epoch_seconds"])
                         + (f"   (torch / CLI {case['frameworks']['torch']['median_seconds'] / c['median_seconds']:.2f})"
                            if "torch" in case["frameworks"] else ""))
        lines.append(
            f"{'':<11} floor: {floor['flops'] / 1e9:.1f} GFLOP/epoch at {floor['gflops']:.1f} GFLOP/s "
            f"(np.matmul, these shapes) = {floor['seconds']:.3f} s  [{case['description']}]"
        )
        if case.get("load_average") and None not in case["load_average"]:
            lines[-1] += "  load {:.2f} -> {:.2f}".format(*case["load_average"])
    inference = report.get("inference")
    if inference:
        lines += ["", f"inference on the {inference['n_samples']} test images, models of {inference['case']}:",
                  f"{'framework':<11} {'samples/s':>12} {'glassnet/peer':>14}"]
        for fw, r in inference["frameworks"].items():
            lines.append(f"{fw:<11} {r['samples_per_second']:12,.0f} {r['ratio_to_glassnet']:14.2f}")
    parts = report.get("anatomy")
    if parts:
        st, floor = parts["stages"], parts["floor_seconds"]
        lines += ["", f"where a glassnet epoch goes ({parts['case']}; fit's steps timed one by one, "
                      f"{parts['epoch_seconds']:.3f} s in all):"]
        lines += [f"  {stage:<22} {seconds:6.3f} s" for stage, seconds in st.items()]
        matmul_part = st["forward"] + st["backward"]
        unavoidable = floor + st["gather"] + st["optimizer update"] + st["apply updates"]
        lines += [
            f"  forward + backward {matmul_part:.3f} s, of which matrix products (the floor) {floor:.3f} s",
            f"  floor + gather + SGD update alone: {unavoidable:.3f} s = {unavoidable / floor:.2f} x floor",
        ]
    memory = report.get("memory")
    if memory:
        lines += ["", "peak memory (a fresh process each: load the data, train; VmHWM):",
                  f"{'framework':<11} {'at start':>9} {'with data':>10} {'peak':>8} {'budget':>8}  within"]
        for fw, r in memory.items():
            if "error" in r:
                lines.append(f"{fw:<11} failed: {r['error']}")
                continue
            lines.append(
                f"{fw:<11} {r['rss_at_start'] / MB:7.0f}MB {r['rss_after_data'] / MB:8.0f}MB {r['peak_rss'] / MB:6.0f}MB "
                f"{r['budget_bytes'] / MB:6.0f}MB  {'yes' if r['within_budget'] else 'NO'}"
            )
        lines.append("(budget = float32 train+test features + 100 MB)")
    tta = report.get("time_to_accuracy")
    if tta:
        lines += ["", "time to accuracy: the whole command (start, data, training, test, saving), wall seconds:",
                  f"{'preset':<13} {'framework':<9} {'wall s':>7} {'train s':>8} {'epochs':>6} {'test acc':>9}"
                  f" {'peer/glassnet':>13}"]
        for preset, runs in tta.items():
            ours = runs["glassnet"]["seconds"]
            for i, (fw, r) in enumerate(runs.items()):
                lines.append(f"{preset if i == 0 else '':<13} {fw:<9} {r['seconds']:7.1f} {r['train_seconds']:8.1f} "
                             f"{r['epochs']:6d} {100 * r['test_accuracy']:8.2f}% {r['seconds'] / ours:13.2f}")
    targets = report.get("targets")
    if targets:
        lines += ["", "issue 15 targets:"]
        lines.append("  (speed: median epochs, and in brackets best epochs; met only if both pass)")
        for t in targets:
            best = f" [{t['value_best_epochs']:.2f}]" if t.get("value_best_epochs") is not None else ""
            lines.append(f"  [{'met' if t['met'] else 'NOT met'}] {t['target']}: {t['value']:.2f}{best}")
    return "\n".join(lines)


def _strip(obj: Any) -> Any:
    """JSON-ready copy: drops live trainer objects, NaN -> None."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k != "trainers"}
    if isinstance(obj, (list, tuple)):
        return [_strip(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def cli_epochs(case: Case, epochs: int, spec: DataSpec, threads: str = "auto") -> list[float]:
    """Seconds per epoch of the command line users run, ``glassnet train``, on the case's network and data:
    the same SGD (lr, momentum), batch size and activation, pixel scaling, no dropout and no validation split
    (as fit's case), read from its ``--log-jsonl`` records.  Data loading is not in these epochs."""
    import tempfile

    if spec.synthetic or spec.n_train is not None:
        return []  # the CLI trains on the real, full dataset only
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "epochs.jsonl")
        cmd = [sys.executable, "-m", "glassnet", "train", "--dataset", "fashion-mnist",
               "--hidden", ",".join(str(h) for h in case.sizes[1:-1]), "--activation", case.activation,
               "--optimizer", "sgd", "--lr", str(LEARNING_RATE), "--momentum", str(MOMENTUM),
               "--batch-size", str(case.batch_size), "--epochs", str(epochs), "--schedule", "constant",
               "--dropout", "0", "--scaling", "pixel", "--val-split", "0", "--threads", threads, "-q",
               "--log-jsonl", log]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(log, encoding="utf-8") as fh:
            return [json.loads(line)["seconds"] for line in fh if line.strip()]


# ----------------------------------------------------------------------------- time to accuracy (issue 15)
#: preset -> (least test accuracy, most wall seconds of the whole command, data loading included)
TIME_TO_ACCURACY = {"fashion-fast": (0.900, 15.0), "fashion-best": (0.910, 120.0)}


def _wall(cmd: list[str]) -> tuple[float, str]:
    """Wall seconds of a command, from before the interpreter starts to its exit, and its stdout."""
    start = time.perf_counter()
    done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    return time.perf_counter() - start, done.stdout


def glassnet_time_to_accuracy(preset: str) -> dict[str, Any]:
    """``glassnet train --preset PRESET`` as users run it (data loading, training, test, saving the model),
    timed from outside: wall seconds and the test accuracy it reports."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        seconds, out = _wall([sys.executable, "-m", "glassnet", "train", "--preset", preset, "--json",
                              "-o", os.path.join(tmp, "model.glassnet")])
    summary = json.loads(out)
    return {"seconds": seconds, "test_accuracy": summary["test_accuracy"],
            "train_seconds": summary["train_seconds"], "epochs": summary["epochs_trained"]}


def torch_time_to_accuracy(preset: str) -> dict[str, Any]:
    """The same recipe in PyTorch eager, in a fresh process timed from outside (``--torch-recipe``)."""
    seconds, out = _wall([sys.executable, os.path.abspath(__file__), "--torch-recipe", preset])
    return {"seconds": seconds, **json.loads(out)}


def torch_recipe(preset: str) -> dict[str, Any]:
    """Runs *inside* the child process: train a glassnet preset's recipe with PyTorch; report test accuracy.

    The same recipe, step for step: glassnet's data loading and scaling (statistics from the training
    images), the same initial weights (``to_torch`` of the preset's untrained model, dropout included), the
    same held-out validation samples (evaluated after every epoch, as ``glassnet train`` does), the
    optimizer with its momentum and weight decay, the learning rate of every step from glassnet's own
    schedule object (through ``LambdaLR``), label smoothing through ``F.cross_entropy``, the batch size and
    the epochs.  PyTorch shuffles with its own generator; its threads are numpy's BLAS count.
    """
    import torch
    import torch.nn.functional as F

    from glassnet.data.splits import stratified_split
    from glassnet.interop.torch import to_torch
    from glassnet.train.experiment import build_schedule, prepare, preset_config

    config = preset_config(preset)
    unsupported = {k: v for k, v in {"l2": config.l2, "class_weight": config.class_weight,
                                     "clip_norm": config.clip_norm, "early_stopping": config.early_stopping,
                                     "norm": None if config.norm == "none" else config.norm}.items() if v}
    if unsupported or config.optimizer not in ("sgd", "nesterov", "adam", "adamw") or \
            config.loss != "softmax_cross_entropy" or config.schedule == "reduce_on_plateau":
        raise SystemExit(f"the PyTorch recipe does not cover {preset}: {unsupported or config.optimizer}")
    torch.set_num_threads(blas_threads())
    prep = prepare(config)
    X, y = prep.X_train, prep.y_train
    keep = np.ones(X.shape[0], dtype=bool)
    if config.val_split:  # fit draws the same split from the same generator, right after the model's weights
        keep[stratified_split(y, config.val_split, prep.rng, every_class=True)[1]] = False
    X_fit, y_fit = torch.from_numpy(np.ascontiguousarray(X[keep])), torch.from_numpy(y[keep].astype(np.int64))
    X_val, y_val = torch.from_numpy(np.ascontiguousarray(X[~keep])), torch.from_numpy(y[~keep].astype(np.int64))
    net = to_torch(prep.model)
    n, b = X_fit.shape[0], config.batch_size or X_fit.shape[0]
    steps_per_epoch = -(-n // b)
    if config.optimizer in ("sgd", "nesterov"):
        opt = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                              nesterov=config.optimizer == "nesterov", weight_decay=config.weight_decay)
    else:
        opt = getattr(torch.optim, {"adam": "Adam", "adamw": "AdamW"}[config.optimizer])(
            net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = build_schedule(config, steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: schedule(t) / config.lr) if callable(schedule) else None
    generator = torch.Generator().manual_seed(config.seed)
    start = time.perf_counter()
    for _ in range(config.epochs):
        net.train()
        order = torch.randperm(n, generator=generator)
        for first in range(0, n, b):
            idx = order[first : first + b]
            loss = F.cross_entropy(net(X_fit[idx]), y_fit[idx], label_smoothing=config.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if scheduler is not None:
                scheduler.step()
        if X_val.shape[0]:
            with torch.inference_mode():
                net.eval()
                F.cross_entropy(net(X_val), y_val)
    train_seconds = time.perf_counter() - start
    with torch.inference_mode():
        net.eval()
        predicted = net(torch.from_numpy(prep.X_test)).argmax(dim=1).numpy()
    return {"test_accuracy": float(np.mean(predicted == prep.y_test)), "train_seconds": train_seconds,
            "epochs": config.epochs}


def time_to_accuracy(presets: Sequence[str], frameworks: Sequence[str], log: Callable[[str], None]) -> dict[str, Any]:
    """Each preset's whole command, glassnet then PyTorch on the same recipe, one after the other."""
    out: dict[str, Any] = {}
    for preset in presets:
        out[preset] = {}
        log(f"time to accuracy: glassnet train --preset {preset} ...")
        out[preset]["glassnet"] = glassnet_time_to_accuracy(preset)
        if "torch" in frameworks:
            time.sleep(SETTLE_SECONDS)
            log(f"time to accuracy: the {preset} recipe in PyTorch ...")
            out[preset]["torch"] = torch_time_to_accuracy(preset)
    return out


def run_benchmark(cases: Sequence[str], spec: DataSpec, frameworks: Sequence[str], epochs: int, warmup: int,
                  seed: int = 0, memory: bool = True, memory_epochs: int = 1, sklearn_mode: str = "partial_fit",
                  floor_repeats: int = 7, anatomy_of: bool = True, share_order: bool = True,
                  one_process_per_framework: bool = True, data: Data | None = None,
                  log: Callable[[str], None] = lambda s: None, cli: bool = False, load: str = "idle",
                  presets: Sequence[str] = ()) -> dict[str, Any]:
    """Everything: the cases, inference throughput, memory probes and the target checks, as one dict."""
    data = data if data is not None else spec.load()
    report: dict[str, Any] = {
        "machine": machine_info(),
        "settings": {"data": data.name, "n_train": int(data.X_train.shape[0]), "n_test": int(data.X_test.shape[0]),
                     "epochs": epochs, "warmup": warmup, "seed": seed, "frameworks": list(frameworks),
                     "lr": LEARNING_RATE, "momentum": MOMENTUM, "sklearn_mode": sklearn_mode,
                     "torch_shares_glassnets_order": share_order,
                     "one_process_per_framework": one_process_per_framework, "settle_seconds": SETTLE_SECONDS,
                     "load": load, "glassnet_threads": GLASSNET_THREADS},
        "cases": {},
    }
    training = [name for name in cases if name in CASES]
    # the models whose prediction speed is measured: relu-b128's (trained for the purpose if not in the run)
    inference_source = None
    if INFERENCE in cases:
        inference_source = "relu-b128" if "relu-b128" in training or not training else training[0]
        if inference_source not in training:
            training.append(inference_source)
    for name in training:
        log(f"case {name}: {CASES[name].describe()} ...")
        result = run_case(CASES[name], data, frameworks, epochs, warmup, seed, floor_repeats=floor_repeats,
                          sklearn_mode=sklearn_mode, share_order=share_order,
                          spec=spec if one_process_per_framework else None,
                          inference=name == inference_source)
        if "inference" in result:
            report["inference"] = result.pop("inference")
        report["cases"][name] = result
        log("  " + ", ".join(f"{fw} {r['median_seconds']:.3f} s/epoch, {100 * r['test_accuracy']:.2f}%"
                             for fw, r in result["frameworks"].items()))
    if cli:
        for name in training:
            log(f"glassnet train (the command line), {name} ...")
            seconds = cli_epochs(CASES[name], epochs, spec)
            if seconds:
                timed = timed_epochs(seconds, warmup)
                report["cases"][name]["cli"] = {"epoch_seconds": seconds, "median_seconds": statistics.median(timed),
                                                "best_seconds": min(timed)}
    if anatomy_of:
        name = next((c for c in ("relu-b128", *training) if c in report["cases"]), None)
        if name is not None:
            log(f"anatomy of a glassnet epoch, {name} ...")
            case, n = CASES[name], data.X_train.shape[0]
            floors = [matmul_floor(case.sizes, case.batch_size, n, floor_repeats)["seconds"]]
            report["anatomy"] = anatomy(case, data, seed=seed)
            floors.append(matmul_floor(case.sizes, case.batch_size, n, floor_repeats)["seconds"])
            report["anatomy"]["floor_seconds"] = min(floors)  # measured around the anatomy itself
    if memory and training:
        report["memory"] = {}
        case = CASES[training[0]]
        for fw in (fw for fw in frameworks if fw not in FIXED_THREAD_PEERS):  # the peers are not frameworks
            log(f"memory probe: {fw}, {case.name}, {memory_epochs} epoch(s) ...")
            report["memory"][fw] = measure_memory(fw, case, memory_epochs, spec.n_train, spec.synthetic)
    if presets:
        report["time_to_accuracy"] = time_to_accuracy(presets, frameworks, log)
    report["targets"] = check_targets(report)
    return report


def _available(frameworks: Sequence[str]) -> list[str]:
    from importlib.util import find_spec

    out = []
    for fw in frameworks:
        if find_spec(fw.split("@")[0]) is not None:  # the module names are the framework names
            out.append(fw)
        else:
            print(f"note: {fw} is not installed; leaving it out", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=DEFAULT_CASES, default=list(DEFAULT_CASES))
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(DEFAULT_FRAMEWORKS),
                        help="default: glassnet torch sklearn; glassnet@1 and glassnet@2 add glassnet pinned to "
                        "1 or 2 BLAS threads as peers in the same interleaved run (with --glassnet-threads auto: "
                        "auto against the best fixed count)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per case, warm-up included (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="leading epochs not timed (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--synthetic", action="store_true", help="a small synthetic problem instead of Fashion-MNIST")
    parser.add_argument("--quick", action="store_true",
                        help="one short case: relu-b128, 2 epochs on 10,000 images, no memory probes")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--no-anatomy", action="store_true", help="skip the stage-by-stage timing of a glassnet epoch")
    parser.add_argument("--memory-epochs", type=int, default=1)
    parser.add_argument("--floor-repeats", type=int, default=7, help="timing runs per matrix product (best counts)")
    parser.add_argument("--torch-own-order", action="store_true",
                        help="let PyTorch shuffle with its own generator instead of using glassnet's epoch order")
    parser.add_argument("--sklearn-mode", choices=("partial_fit", "warm_start"), default="partial_fit")
    parser.add_argument("--json", metavar="PATH", help="also write the full results as JSON")
    parser.add_argument("--in-process", action="store_true",
                        help="run all frameworks in this one process (their thread pools then slow each other)")
    parser.add_argument("--load", choices=("idle", "busy"), default="idle",
                        help="busy: one competing busy process per core during the whole run, for every framework")
    parser.add_argument("--glassnet-threads", default=None, metavar="auto|N",
                        help="glassnet's fit(threads=...): auto (what glassnet train does) or a fixed count "
                        "(default: the BLAS untouched, its own thread count)")
    parser.add_argument("--cli", action="store_true",
                        help="also time the command line, glassnet train (--threads auto), on each case after the "
                        "interleaved run (full Fashion-MNIST only)")
    parser.add_argument("--time-to-accuracy", nargs="+", choices=sorted(TIME_TO_ACCURACY), default=[],
                        metavar="PRESET", help="also time the whole command glassnet train --preset PRESET (data "
                        "loading included) and PyTorch on the same recipe, after the cases: "
                        + ", ".join(sorted(TIME_TO_ACCURACY)))
    parser.add_argument("--torch-recipe", help=argparse.SUPPRESS)
    parser.add_argument("--memory-probe", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global GLASSNET_THREADS
    if args.glassnet_threads is not None:
        GLASSNET_THREADS = "auto" if args.glassnet_threads == "auto" else int(args.glassnet_threads)

    spec = DataSpec(synthetic=args.synthetic, n_train=args.n_train)
    # a kill (SIGTERM) unwinds like an exception, so the worker processes are told to quit
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.memory_probe:
        case = CASES[next(c for c in args.cases if c in CASES)]
        print(json.dumps(memory_probe(args.memory_probe, case, args.epochs, args.n_train, args.synthetic)))
        return 0
    if args.torch_recipe:
        print(json.dumps(torch_recipe(args.torch_recipe)))
        return 0
    if args.worker:
        return serve(args.worker, CASES[args.cases[0]], spec, args.seed, args.sklearn_mode)
    if args.quick:
        args.cases, args.epochs, args.n_train = ["relu-b128"], 2, args.n_train or 10_000
        args.no_memory = args.no_anatomy = True
    if args.epochs < 1 or args.warmup < 0:
        parser.error("--epochs must be >= 1 and --warmup >= 0")
    frameworks = _available(args.frameworks)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    load = busy_load(os.cpu_count() or 1) if args.load == "busy" else contextlib.nullcontext()
    with load:
        report = run_benchmark(args.cases, spec, frameworks, args.epochs, args.warmup, args.seed,
                               memory=not args.no_memory, memory_epochs=args.memory_epochs,
                               sklearn_mode=args.sklearn_mode, floor_repeats=args.floor_repeats,
                               anatomy_of=not args.no_anatomy, share_order=not args.torch_own_order,
                               one_process_per_framework=not args.in_process, log=log, cli=args.cli, load=args.load,
                               presets=args.time_to_accuracy)
    report["command"] = " ".join([os.path.basename(sys.executable), "benchmarks/compare.py", *sys.argv[1:]])
    print(format_report(report))
    if args.json:
        path = os.path.abspath(args.json)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(_strip(report), fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
