"""Training: the loop (``fit``), its records and state, run configurations and presets, checkpoints,
metrics, and the callbacks that watch a run."""

from glassnet.train.loop import (  # noqa: F401  (the public API of the old glassnet.train module)
    Callback,
    EarlyStopping,
    EpochRecord,
    History,
    StepInfo,
    TrainState,
    check_labels,
    evaluate_loss,
    fit,
    stratified_split,
)
