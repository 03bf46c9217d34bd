"""Learning curves of two `glassnet train --history` runs, without and with a normalisation layer.

    python benchmarks/norm_curves.py none.json batch.json [--png curves.png] [--title TEXT]

Prints a Markdown table (validation accuracy and training loss per epoch for
both runs) and the first epoch at which the second run reaches the first run's
final validation accuracy ("not reached" otherwise); with ``--png`` also draws
both validation-accuracy curves (matplotlib).  Reads the JSON histories only:
the runs themselves are the two commands in README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load(path: Path) -> list[dict]:
    return json.loads(path.read_text())["records"]


def epochs_to_reach(records: list[dict], target: float) -> int | None:
    """First epoch whose validation accuracy is at least ``target``, or None."""
    return next((r["epoch"] for r in records if r["val_accuracy"] >= target), None)


def table(base: list[dict], other: list[dict], names: tuple[str, str]) -> str:
    rows = [
        f"| epoch | val accuracy, {names[0]} | val accuracy, {names[1]} | train loss, {names[0]} | train loss, {names[1]} |",
        "|---:|---:|---:|---:|---:|",
    ]
    for k in range(max(len(base), len(other))):
        a = base[k] if k < len(base) else None
        b = other[k] if k < len(other) else None
        cells = [f"{a['val_accuracy']:.4f}" if a else "", f"{b['val_accuracy']:.4f}" if b else "",
                 f"{a['train_loss']:.4f}" if a else "", f"{b['train_loss']:.4f}" if b else ""]
        rows.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="history of the run without normalisation")
    parser.add_argument("other", type=Path, help="history of the run with normalisation")
    parser.add_argument("--names", nargs=2, default=["no norm", "--norm batch"])
    parser.add_argument("--png", type=Path)
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    base, other = load(args.base), load(args.other)
    target = base[-1]["val_accuracy"]
    reached = epochs_to_reach(other, target)
    print(table(base, other, tuple(args.names)))
    print()
    print(f"{args.names[0]}: final validation accuracy {target:.4f} after {len(base)} epochs; "
          f"{args.names[1]} reaches it " + (f"at epoch {reached}" if reached else f"in none of its {len(other)} epochs")
          + f" (best {max(r['val_accuracy'] for r in other):.4f})")
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
        for records, name in ((base, args.names[0]), (other, args.names[1])):
            ax.plot([r["epoch"] for r in records], [r["val_accuracy"] for r in records], marker="o", label=name)
        ax.axhline(target, color="grey", linestyle=":", linewidth=1, label=f"{args.names[0]} final")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy")
        ax.set_title(args.title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
