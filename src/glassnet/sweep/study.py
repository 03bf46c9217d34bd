"""Run a sweep's trials on an Optuna study: SQLite by default, worker processes, or a Dask cluster.

Each trial is one ``glassnet train`` run (:func:`glassnet.train.experiment.prepare` and ``train``) whose
configuration is the fixed values plus the trial's parameters.  The objective is the best validation
accuracy (or the lowest validation loss), never the test set; the test accuracy is stored with the trial
and shown only for the ranking and the best trial at the end.  Pruning: the validation loss of every epoch
goes to ``trial.report``; Optuna's median pruner stops a trial that does worse than the median of the
others at the same epoch.

Resuming: the study lives in its storage, so the same command continues it.  Trials left ``RUNNING`` by a
process that died (SIGKILL, a power cut) are marked failed with the reason and retried once, with the same
parameters; completed trials are never run again.  A trial that raises is failed with its error message.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from glassnet.errors import ConfigError
from glassnet.sweep.space import Range, Space

__all__ = ["SweepSettings", "default_storage", "open_study", "run_sweep", "recover_interrupted", "objective"]

INTERRUPTED = "interrupted: the process running it stopped (killed, crashed or cut off) before it finished"


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ConfigError('glassnet sweep needs Optuna: pip install "glassnet[sweep]"') from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def default_storage(study: str) -> str:
    """``sqlite:///sweeps/STUDY.db`` (the folder is created)."""
    Path("sweeps").mkdir(exist_ok=True)
    return f"sqlite:///sweeps/{study}.db"


@dataclass
class SweepSettings:
    study: str
    storage: str
    space: Space
    fixed: dict[str, Any]
    preset: str | None = None
    trials: int | None = None  # None: the size of the grid
    metric: str = "val_accuracy"  # or "val_loss"
    prune: bool = True
    seed: int = 0
    save_models: str | None = None
    check_gradients: bool = False  # with an activation grid: does each activation pass the gradient check?

    @property
    def direction(self) -> str:
        return "maximize" if self.metric == "val_accuracy" else "minimize"

    def n_trials(self) -> int:
        if self.trials is not None:
            return self.trials
        if self.space.sample:
            raise ConfigError("a sweep with --sample needs --trials N (a grid alone runs every combination)")
        return self.space.grid_size


def open_study(settings: SweepSettings, storage: Any = None):
    """Create or load the study (``load_if_exists``): the same command continues it."""
    optuna = _optuna()
    sampler = (optuna.samplers.GridSampler(settings.space.grid, seed=settings.seed)
               if settings.space.grid and not settings.space.sample
               else optuna.samplers.TPESampler(seed=settings.seed))
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0) if settings.prune
              else optuna.pruners.NopPruner())
    return optuna.create_study(study_name=settings.study, storage=storage or settings.storage, sampler=sampler,
                               pruner=pruner, direction=settings.direction, load_if_exists=True)


def recover_interrupted(study) -> int:
    """Mark trials left RUNNING by a dead process as failed (with the reason) and enqueue each once again."""
    optuna = _optuna()
    recovered = 0
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(trial._trial_id, "error", INTERRUPTED)  # no public API for attrs
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        if "retry_of" not in trial.user_attrs:  # retried once, with the same parameters
            study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number}, skip_if_exists=False)
        recovered += 1
    return recovered


def _suggest(trial, space: Space) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, values in space.grid.items():
        choices = ["x".join(map(str, v)) if isinstance(v, tuple) else v for v in values]
        picked = trial.suggest_categorical(key, choices)
        params[key] = tuple(int(w) for w in picked.split("x")) if key == "hidden" else picked
    for key, r in space.sample.items():
        if r.kind == "int":
            value = trial.suggest_int(key, int(r.low), int(r.high))
            params[key] = (value,) if key == "hidden" else value
        else:
            params[key] = trial.suggest_float(key, r.low, r.high, log=r.kind == "log")
    return params


class _Pruning:
    """glassnet's callback protocol to Optuna: report each epoch's validation loss, stop when pruned."""

    def __init__(self, trial) -> None:
        self.trial, self.pruned = trial, False

    def on_epoch_end(self, record, state) -> bool:
        value = record.val_loss
        if math.isfinite(value):
            self.trial.report(value if self.trial.study.direction.name == "MINIMIZE" else -value, record.epoch)
        if self.trial.should_prune():
            self.pruned = True
            return True
        return False


def objective(trial, settings: SweepSettings) -> float:
    """One trial: train with the fixed values and the trial's parameters; the best validation metric."""
    optuna = _optuna()
    from glassnet.train.experiment import prepare, preset_config, train

    params = _suggest(trial, settings.space)
    try:
        config = preset_config(settings.preset, **{**settings.fixed, **params})
        if not config.val_split:
            raise ConfigError("a sweep judges trials on held-out data: set val_split > 0")
        prep = prepare(config)
        pruning = _Pruning(trial)
        started = time.perf_counter()
        result = train(prep, callbacks=[pruning] if settings.prune else [])
        seconds = time.perf_counter() - started
    except Exception as exc:  # kept with the trial: a failed trial says why
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
        raise
    history = result.history
    trial.set_user_attr("test_accuracy", float(result.test_accuracy))
    trial.set_user_attr("seconds_per_epoch", seconds / max(len(history), 1))
    trial.set_user_attr("epochs", len(history))
    trial.set_user_attr("val_curve", [float(r.val_accuracy) for r in history.records])
    trial.set_user_attr("pid", os.getpid())
    if settings.check_gradients and "activation" in params:
        from glassnet.check.gradcheck import check_layer
        from glassnet.nn.layers import Activation

        trial.set_user_attr("gradcheck_passed", bool(check_layer(Activation(params["activation"]), (8, 6)).passed))
    if settings.save_models:
        from glassnet.io.serialize import save_model

        Path(settings.save_models).mkdir(parents=True, exist_ok=True)
        save_model(Path(settings.save_models) / f"trial-{trial.number:04d}.npz", result.model)
    if pruning.pruned:
        raise optuna.TrialPruned(f"pruned at epoch {len(history)}")
    values = [getattr(r, settings.metric) for r in history.records]
    return max(values) if settings.direction == "maximize" else min(values)


def _remaining(study, settings: SweepSettings) -> int:
    optuna = _optuna()
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))
    waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
    return max(settings.n_trials() - len(done), 0) + len(waiting) if settings.space.sample else max(
        settings.n_trials() - len(done), len(waiting))


def _optimize(study, settings: SweepSettings, n_trials: int) -> None:
    if n_trials > 0:
        study.optimize(lambda trial: objective(trial, settings), n_trials=n_trials, catch=(Exception,))


def _worker(settings: SweepSettings, n_trials: int, threads: int) -> None:
    """One worker process: its BLAS pinned to ``threads``, the shared study loaded from the storage."""
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(threads, user_api="blas")
    except ImportError:
        limits = None
    try:
        _optimize(open_study(settings), settings, n_trials)
    finally:
        if limits is not None:
            limits.restore_original_limits()


def run_sweep(settings: SweepSettings, *, workers: int = 1, dask: str | None = None) -> Any:
    """Run (or continue) the sweep; returns the study.  ``workers`` processes on this machine, each with
    ``cores // workers`` BLAS threads, or the trials on a Dask cluster (``dask="local"``: a LocalCluster on
    127.0.0.1)."""
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    study = open_study(settings)
    recover_interrupted(study)
    remaining = _remaining(study, settings)
    if dask is not None:
        return _run_on_dask(settings, dask, remaining, workers)
    if workers == 1 or remaining <= 1:
        _optimize(study, settings, remaining)
        return study
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from glassnet.train.threads import cores

    threads = max(1, cores() // workers)
    shares = [remaining // workers + (i < remaining % workers) for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in [pool.submit(_worker, settings, share, threads) for share in shares if share]:
            future.result()
    return open_study(settings)


def _run_on_dask(settings: SweepSettings, address: str, remaining: int, workers: int) -> Any:
    try:
        from dask.distributed import Client, LocalCluster, wait
        from optuna_integration import DaskStorage
    except ImportError:
        raise ConfigError('--dask needs glassnet[dask]: pip install "glassnet[dask]"') from None
    cluster = None
    if address == "local":
        cluster = LocalCluster(n_workers=max(workers, 2), threads_per_worker=1, host="127.0.0.1",
                               dashboard_address=None, processes=True)
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        import warnings

        with warnings.catch_warnings():  # "DaskStorage is experimental": said once in docs/sweep.md instead
            warnings.simplefilter("ignore")
            storage = DaskStorage(storage=settings.storage, client=client)
        study = open_study(settings, storage=storage)
        n = len(client.scheduler_info()["workers"]) or 1
        shares = [remaining // n + (i < remaining % n) for i in range(n)]
        futures = [client.submit(_optimize, study, settings, share, pure=False) for share in shares if share]
        wait(futures)
        for future in futures:
            future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return open_study(settings)
