"""Sweeps over activations and hyperparameters, on Optuna: the search space, the study and its results.

``space.py`` parses the search space (``--grid``, ``--sample``, a TOML file); ``study.py`` runs the trials
on an Optuna study (SQLite by default, any SQLAlchemy URL, worker processes, a Dask cluster), with Optuna's
median pruner fed through glassnet's callback protocol; ``results.py`` ranks the trials.  Optional extras:
``glassnet[sweep]`` (optuna) and ``glassnet[dask]`` (dask[distributed], optuna-integration).
"""
