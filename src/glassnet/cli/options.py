"""Option types and the option groups that several commands share.

Every choice comes from a registry (activations, losses, optimizers,
schedules, scalings, datasets, presets), so a new entry appears in the
command line by itself.  Numbers are checked by :mod:`glassnet.core.validate`,
the same rules the library applies.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from glassnet.core.validate import describe_interval, in_interval

__all__ = [
    "Parser", "DEBUG", "number", "positive_float", "nonneg_float", "positive_int", "nonneg_int", "fraction",
    "positive_int_list", "existing_dir", "batch_size", "data_options", "model_options", "training_options",
]


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # sub-command parsers too: the line starts "glassnet: error:", like every other error
        self.exit(2, f"glassnet: error: {message}\n")


#: ``--debug``, accepted before or after the command; SUPPRESS keeps a sub-command from resetting it.
DEBUG: dict[str, Any] = {"action": "store_true", "default": argparse.SUPPRESS, "help": "show a traceback on errors"}


def number(kind: type, *, low: float, low_open: bool = False, high: float | None = None, high_open: bool = True,
           what: str | None = None):
    """An argparse type: ``kind`` (int or float) parsed from text and checked against an interval."""
    wanted = what or f"{'an integer' if kind is int else 'a finite number'} {describe_interval(low, high, low_open=low_open, high_open=high_open)}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if not in_interval(float(value), low, high, low_open=low_open, high_open=high_open):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
        return value

    return parse


positive_float = number(float, low=0.0, low_open=True, what="a positive finite number")
nonneg_float = number(float, low=0.0, what="a finite number >= 0")
positive_int = number(int, low=1, what="an integer >= 1")
nonneg_int = number(int, low=0, what="an integer >= 0")
#: a rate or fraction where 1 would leave nothing
fraction = number(float, low=0.0, high=1.0, what="a number in [0, 1)")


def positive_int_list(text: str) -> tuple[int, ...]:
    """Hidden layer sizes ``256,128`` -> ``(256, 128)``; ``""`` or ``none`` means no hidden layer."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes such as 256,128 (or 'none' for no hidden layer), got {text!r}"
        ) from None
    for i, size in enumerate(sizes):
        if size < 1:
            raise argparse.ArgumentTypeError(
                f"every hidden layer needs at least 1 unit, got {size} for hidden layer {i + 1} in {text!r} "
                "(use 'none' for no hidden layer)"
            )
    return sizes


def existing_dir(text: str) -> str:
    if not Path(text).expanduser().is_dir():
        raise argparse.ArgumentTypeError(f"no such folder: {text!r}")
    return text


def batch_size(text: str) -> int:
    """A positive batch size, or 0 for "full" (the whole training set in one step)."""
    if text in ("full", "all"):
        return 0
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'full', got {text!r}") from None


class ActivationChoices(list):
    """The registered activations as argparse choices (for --help and completion) that also accept a
    comma-separated list of them, one per hidden layer."""

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and all(list.__contains__(self, v.strip()) for v in value.split(","))


def threads_option(text: str) -> str | int:
    """``auto`` or a positive integer (``--threads``)."""
    if text == "auto":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer >= 1, got {text!r}") from None


def _defaults():
    """The values a plain ``glassnet train`` uses: the default dataset's preset (``preset_config(None)``).
    Other datasets bring their own preset; ``preset_epilog`` lists them in --help."""
    from glassnet.train.experiment import preset_config

    return preset_config(None)


class LinesFormatter(argparse.HelpFormatter):
    """Wraps each line of a description or epilog on its own (argparse joins them into one paragraph)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(super(LinesFormatter, self)._fill_text(line, width, indent) for line in text.splitlines())


def preset_epilog() -> str:
    """--help's list of what a run with each ``--dataset`` (and no --preset) uses where it differs from the
    defaults shown with the options: the resolved configuration, not just the keys the preset names (the
    fashion-mnist preset names no dropout, so its runs use 0, not the 0.2 shown as the default)."""
    from glassnet.data.datasets import DATASET_NAMES
    from glassnet.train.experiment import DATASET_PRESETS, preset_config

    def shown(value: Any) -> str:
        return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else f"{value:g}" if isinstance(
            value, float) else str(value)

    base = preset_config(None).to_dict()
    lines = ["Defaults come from a preset: the dataset's own (below) unless --preset names another; options given "
             "on the command line override it. Where a run with --dataset uses other values than the defaults "
             "shown above:"]
    for dataset in (*DATASET_NAMES, None):
        resolved = preset_config(None, dataset=dataset or "a-folder").to_dict()
        differs = ", ".join(f"{k.replace('_', '-')} {shown(v)}" for k, v in resolved.items()
                            if k not in ("dataset", "data_dir", "download") and v != base[k])
        preset = DATASET_PRESETS.get(dataset or "")
        lines.append(f"  --dataset {dataset or 'FOLDER'}: " + (f"preset {preset}" if preset else "no preset")
                     + (f": {differs}" if differs else ": the defaults above"))
    lines.append("--print-config shows the resolved configuration without training.")
    return "\n".join(lines)


def data_options(p: argparse.ArgumentParser) -> None:
    """--preset, --dataset, --data-dir, --no-download, --scaling, --seed (and --help's list of the presets)."""
    p.epilog = preset_epilog()
    p.formatter_class = LinesFormatter
    from glassnet.data.datasets import DATASET_NAMES
    from glassnet.data.preprocess import SCALINGS
    from glassnet.train.experiment import PRESETS

    defaults = _defaults()
    preset_help = "; ".join(f"{k}: {v[0]}" for k, v in PRESETS.items())
    p.add_argument("--preset", choices=sorted(PRESETS), help=f"a named configuration ({preset_help})")
    p.add_argument("--dataset", help=f"{', '.join(DATASET_NAMES)}, or a folder of IDX files "
                   f"(default {defaults.dataset})")
    p.add_argument("--data-dir", type=existing_dir, help="folder holding the dataset's files (checked first)")
    p.add_argument("--no-download", dest="download", action="store_false", default=None,
                   help="never download; fail if the dataset is not on disk")
    p.add_argument("--scaling", choices=list(SCALINGS),
                   help=f"input scaling: pixel = /255, standard = zero mean unit variance (default {defaults.scaling})")
    p.add_argument("--seed", type=nonneg_int, help=f"random seed: same seed, same result (default {defaults.seed})")


def model_options(p: argparse.ArgumentParser) -> None:
    """--hidden, --activation, --loss, --label-smoothing, --l2, --dropout, --norm, --dtype."""
    from glassnet.core.activations import ACTIVATIONS
    from glassnet.nn.losses import LOSSES
    from glassnet.nn.norm import NORMS

    defaults = _defaults()
    p.add_argument("--hidden", type=positive_int_list,
                   help=f"hidden layer sizes, e.g. 256,128, or 'none' for no hidden layer "
                   f"(default {','.join(map(str, defaults.hidden))})")
    p.add_argument("--activation", choices=ActivationChoices(sorted(ACTIVATIONS)),
                   help=f"hidden activation: one for all hidden layers, or one per layer separated by commas "
                   f"(relu,tanh) (default {defaults.activation})")
    p.add_argument("--loss", choices=sorted(LOSSES), help=f"loss (default {defaults.loss})")
    p.add_argument("--label-smoothing", type=fraction,
                   help=f"label smoothing for cross-entropy, in [0, 1) (default {defaults.label_smoothing:g})")
    p.add_argument("--class-weight", metavar="balanced|FILE",
                   help="weight each class in the loss: balanced = n / (k count_c) from the training labels, or a "
                   "file of one weight per class; without it every class weighs 1")
    p.add_argument("--l2", type=nonneg_float, help=f"L2 strength lambda in lambda/(2m) * sum W^2 (default {defaults.l2:g})")
    p.add_argument("--dropout", type=fraction,
                   help=f"dropout rate after each hidden layer, in [0, 1) (default {defaults.dropout:g})")
    p.add_argument("--norm", choices=["none", *NORMS],
                   help="normalisation between each hidden Dense layer and its activation: batch = BatchNorm, "
                   f"layer = LayerNorm (default {defaults.norm})")
    p.add_argument("--dtype", choices=["float32", "float64"], help=f"floating-point type (default {defaults.dtype})")


def training_options(p: argparse.ArgumentParser) -> None:
    """--optimizer, --lr, --momentum, --weight-decay, --schedule, ..., --clip-norm."""
    from glassnet.optim.optimizers import OPTIMIZERS
    from glassnet.optim.schedules import SCHEDULES

    defaults = _defaults()
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help=f"optimizer (default {defaults.optimizer})")
    p.add_argument("--lr", type=positive_float, help=f"learning rate (default {defaults.lr})")
    p.add_argument("--momentum", type=nonneg_float, help=f"momentum for {'/'.join(n for n, c in OPTIMIZERS.items() if c.takes_run_momentum)} (default {defaults.momentum})")
    p.add_argument("--weight-decay", type=nonneg_float, help="optimizer weight decay (decoupled for adamw)")
    p.add_argument("--schedule", choices=sorted(SCHEDULES), help=f"learning-rate schedule (default {defaults.schedule})")
    p.add_argument("--warmup-epochs", type=nonneg_float,
                   help=f"warm-up epochs for cosine_with_warmup (default {defaults.warmup_epochs:g}; a preset's warm-up "
                   "longer than the run becomes a tenth of it)")
    p.add_argument("--epochs", type=positive_int, help=f"epochs (default {defaults.epochs})")
    p.add_argument("--batch-size", type=batch_size,
                   help=f"samples per step; 1 = online, 'full' = full batch (default {defaults.batch_size})")
    p.add_argument("--val-split", type=fraction,
                   help=f"fraction of the training data held out for validation, stratified (default {defaults.val_split})")
    p.add_argument("--early-stopping", type=positive_int, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without a better validation loss and keep the best weights")
    p.add_argument("--clip-norm", type=positive_float, help="clip gradients to this global norm")

